"""Tests for realtime/apps/progress.py: the stage line of a single photo on a terminal."""

import io
import time

from realtime.apps.progress import TICK_S, StageLine


def test_a_quick_command_prints_nothing():
    out = io.StringIO()
    line = StageLine(out, quiet_s=5.0)
    line.stage("finding the face")
    time.sleep(3 * TICK_S)
    line.close()
    assert out.getvalue() == ""


def test_a_slow_command_shows_its_stages_and_erases_the_line():
    out = io.StringIO()
    line = StageLine(out, quiet_s=0.0)
    line.stage("finding the face")
    time.sleep(3 * TICK_S)
    line.stage("building the bust")
    time.sleep(3 * TICK_S)
    line.close()
    text = out.getvalue()
    assert "\rfinding the face... " in text and "\rbuilding the bust... " in text
    assert text.endswith("\r")  # erased: what follows starts on a clean line
    line.close()  # twice is fine
    assert out.getvalue() == text


def test_a_single_photo_on_a_terminal_shows_its_stages(face_photo_path, tmp_path):
    import os
    import pty
    import subprocess
    import sys

    controller, terminal = pty.openpty()
    env = dict(os.environ)
    result = subprocess.run([sys.executable, "-c",
                             "import realtime.apps.progress as p; p.QUIET_S = 0.0; import sys; from realtime.apps.cli import main; "
                             f"sys.exit(main(['photo', {face_photo_path!r}, '-o', {str(tmp_path / 'a.stl')!r}]))"],
                            stdout=subprocess.PIPE, stderr=terminal, env=env, timeout=300)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    progress = b"".join(chunks).decode()
    assert result.returncode == 0
    assert "finding the face" in progress and "building the bust" in progress
