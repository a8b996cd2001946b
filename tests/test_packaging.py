"""``pip install .`` must give a working selfie3d: models, shaders and data travel in the wheel."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True, timeout=300)
    return next(out.glob("selfie3d-*.whl"))


def test_wheel_carries_models_shaders_and_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("realtime/models/face_landmark.onnx", "realtime/models/iris_landmark.onnx",
                     "realtime/models/face_detection_short_range.onnx", "realtime/models/manifest.json",
                     "realtime/data/face_triangles.npy", "realtime/data/fonts/DejaVuSans.ttf",
                     "realtime/data/fonts/LICENSE-DejaVu.txt", "realtime/apps/cli.py", "realtime/printing/export.py",
                     "realtime/render/renderer.py", "realtime/shaders/mesh.glsl",
                     "realtime/apps/web/static/index.html", "realtime/apps/web/static/vendor/three.module.min.js"):
        assert required in names, required
    assert not any(name.startswith("tests/") for name in names)


def test_installed_wheel_runs_from_another_directory(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import realtime, realtime.apps.cli; "
            "assert sys.argv[1] in realtime.__file__, realtime.__file__; "
            "sys.exit(realtime.apps.cli.main(['doctor']))")
    result = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "model face_landmark: ok" in result.stdout
