"""PrusaSlicer's command line as the tests' judge of a printable file: ``--info`` (manifold?) and
a slice to G-code that must finish without a warning. Skipped where the slicer is missing, except
in CI, which installs it (``.ci/run``)."""

import os
import shutil
import subprocess

import pytest

SLICER_TIMEOUT_S = 120
COMPLAINTS = ("warning", "error", "repair", "non-manifold", "open edges")
"""Words in the slicer's output that mean it had to fix or could not use the model."""


def _slicer(arguments: list[str], tmp_path) -> subprocess.CompletedProcess:
    if shutil.which("prusa-slicer") is None:
        if os.environ.get("CI"):
            pytest.fail("prusa-slicer is not installed; CI must install it (apt-get install prusa-slicer)")
        pytest.skip("prusa-slicer is not installed (apt-get install prusa-slicer)")
    env = dict(os.environ, HOME=str(tmp_path))  # the slicer writes its settings folder under HOME
    return subprocess.run(["prusa-slicer", *arguments], capture_output=True, text=True, timeout=SLICER_TIMEOUT_S,
                          env=env)


def prusa_info(path, tmp_path) -> str:
    """``prusa-slicer --info`` of a file (its standard output); the command must succeed."""
    info = _slicer(["--info", str(path)], tmp_path)
    assert info.returncode == 0, info.stderr
    return info.stdout


def assert_slices_cleanly(stl_path, tmp_path) -> None:
    """The file is manifold for the slicer and slices to G-code without any complaint."""
    assert "manifold = yes" in prusa_info(stl_path, tmp_path)
    gcode = tmp_path / (os.path.basename(str(stl_path)) + ".gcode")
    run = _slicer(["--export-gcode", str(stl_path), "--output", str(gcode)], tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert gcode.stat().st_size > 0
    log = (run.stdout + run.stderr).lower()
    for word in COMPLAINTS:
        assert word not in log, log
