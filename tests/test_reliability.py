"""Fault injection across stages: the pipeline keeps going and loses nothing.

Faces: no face, a face at the border, a small face, occlusions and a different person, through
``Pipeline`` on the demo clip. Camera: a camera that disconnects mid-run under a running
pipeline. Files: the ``selfie3d`` command on missing, empty, truncated and fake images and on
an output it cannot write (subprocesses: exit code, one line, no traceback). Module-level
faults (altered model, failing provider, bad camera profile) are tested beside their modules
(``test_inference.py``, ``test_camera.py``).
"""

import logging
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from realtime.stages import capture as capture_module
from realtime.stages.capture import Capture, CaptureOptions, Frame
from realtime.stages.democlip import DemoClipOptions, render_demo_frame
from realtime.stages.pipeline import Pipeline

# Grey level of the empty scene pasted around shifted or shrunk faces.
_BACKGROUND = 40
# Demo-clip face width is ~0.3 of the 640-pixel frame (~190 px); these scales give ~115, ~75
# and ~40 px. Below ~65 px only the tracker's periodic tiled search finds the face.
_SMALL_SCALES = (0.6, 0.4, 0.2)
# Fraction of frames that must be tracked once the face is back or partly visible.
_MIN_TRACKED = 0.8
# Frames fusion may take to notice a different face (it waits for a run of mismatches so one
# bad frame does not throw away the identity).
_MAX_FRAMES_TO_RESET = 15
# While it waits, the wrong face may change the identity's proportions by at most this much
# (relative; measured: 0.1% for a face 30% wider).
_MAX_ABSORBED = 0.005


@pytest.fixture(scope="module")
def clip():
    """The first 60 frames of the demo clip (2 s of head motion), ``(480, 640, 3) uint8``."""
    options = DemoClipOptions()
    return [render_demo_frame(i, options) for i in range(60)]


def _run(pipeline, images, start=0):
    return [pipeline.process(Frame(image, start + i, (start + i) / 30.0)) for i, image in enumerate(images)]


def _shift(image, dx, dy=0):
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]), borderValue=(_BACKGROUND,) * 3)


def _shrink(image, scale):
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    out = np.full_like(image, _BACKGROUND)
    y, x = (image.shape[0] - small.shape[0]) // 2, (image.shape[1] - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def _tracked(results):
    return sum(bool(r.faces) for r in results) / len(results)


def test_no_face_keeps_the_identity_quietly_and_tracking_recovers(clip, caplog):
    blank = [np.full_like(clip[0], _BACKGROUND)] * 30
    with Pipeline() as pipeline, caplog.at_level(logging.WARNING):
        before = _run(pipeline, clip[:30])
        gap = _run(pipeline, blank, 30)
        after = _run(pipeline, clip[30:], 60)
    assert _tracked(before) == 1.0 and _tracked(gap) == 0.0
    assert not caplog.records  # no face is a normal state: no warning per frame
    fused_gap = gap[-1].fusion
    assert fused_gap is not None and not fused_gap.tracking
    assert fused_gap.frames_fused == before[-1].fusion.frames_fused  # the identity is kept
    assert np.all(np.isfinite(fused_gap.identity_mm))
    assert after[0].faces and after[0].detection_ran  # found again on the first frame back
    assert _tracked(after) == 1.0
    assert not any(r.fusion.identity_reset for r in after)  # same person: no reset


@pytest.mark.parametrize("dx, dy", [(-300, 0), (-335, 0), (0, -180)], ids=["third-out", "half-out", "top-out"])
def test_face_at_the_border_is_tracked(clip, dx, dy):
    with Pipeline() as pipeline:
        results = _run(pipeline, [_shift(image, dx, dy) for image in clip])
    assert _tracked(results) >= _MIN_TRACKED
    for result in results:
        for face in result.faces:
            assert np.all(np.isfinite(face.vertices))


@pytest.mark.parametrize("scale", _SMALL_SCALES)
def test_small_face_is_tracked(clip, scale):
    with Pipeline() as pipeline:
        results = _run(pipeline, [_shrink(image, scale) for image in clip[:30]])
    assert _tracked(results) >= _MIN_TRACKED


def _sunglasses(image):
    image = image.copy()
    cv2.rectangle(image, (240, 120), (440, 175), (10, 10, 10), -1)
    return image


def _mask(image):
    image = image.copy()
    cv2.rectangle(image, (250, 220), (430, 330), (200, 200, 210), -1)
    return image


def test_occlusions_do_not_lose_the_face_or_reset_the_identity(clip):
    with Pipeline() as pipeline:
        _run(pipeline, clip[:20])
        occluded = _run(pipeline, [_sunglasses(i) for i in clip[20:35]] + [_mask(i) for i in clip[35:50]], 20)
        after = _run(pipeline, clip[50:], 50)
    assert _tracked(occluded) >= _MIN_TRACKED and _tracked(after) == 1.0
    assert not any(r.fusion.identity_reset for r in occluded + after)


def _stretched(image, sx, sy):
    """``image`` resized by (sx, sy) about its centre, cropped or padded back to its size: the
    same pose and lighting, different face proportions."""
    h, w = image.shape[:2]
    big = cv2.resize(image, None, fx=sx, fy=sy)
    out = np.full_like(image, _BACKGROUND)
    y0, x0 = max((big.shape[0] - h) // 2, 0), max((big.shape[1] - w) // 2, 0)
    crop = big[y0 : y0 + h, x0 : x0 + w]
    oy, ox = (h - crop.shape[0]) // 2, (w - crop.shape[1]) // 2
    out[oy : oy + crop.shape[0], ox : ox + crop.shape[1]] = crop
    return out


@pytest.mark.parametrize("sx, sy", [(1.3, 1.0), (1.4, 0.85)])
def test_a_different_face_resets_the_identity(astronaut, sx, sy):
    other = _stretched(astronaut, sx, sy)
    with Pipeline() as pipeline:
        first = _run(pipeline, [astronaut] * 30)
        second = _run(pipeline, [other] * 30, 30)
    assert not any(r.fusion.identity_reset for r in first[1:])
    resets = [i for i, r in enumerate(second) if r.fusion.identity_reset]
    assert resets and resets[0] < _MAX_FRAMES_TO_RESET
    # Until the reset the wrong face is not absorbed into the identity ...
    before, just_before = _aspect(first[-1]), _aspect(second[resets[0] - 1]) if resets[0] else _aspect(first[-1])
    assert abs(just_before / before - 1) < _MAX_ABSORBED
    # ... and after it the identity is built from the new face alone: its proportions follow.
    assert _aspect(second[-1]) > before * (1 + (sx / sy - 1) / 2)


def _aspect(result):
    """Face width (cheek to cheek, 234-454) over height (forehead to chin, 10-152) of the fused
    identity: scale-free, so the iris scale does not hide a stretched face."""
    v = result.fusion.identity_mm
    return float(np.linalg.norm(v[234] - v[454]) / np.linalg.norm(v[10] - v[152]))


class _DemoCamera:
    """``cv2.VideoCapture`` stand-in that shows the demo clip and is unplugged for a while:
    reads fail from ``unplug_at`` until ``plugged_back`` is set (opening fails meanwhile)."""

    state: dict = {}

    def __init__(self, index, *args):
        self.opened = not self.state.get("unplugged")

    def isOpened(self):
        return self.opened

    def set(self, *args):
        return True

    def get(self, prop):
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self):
        state = self.state
        time.sleep(0.003)
        if state.get("unplugged") or not self.opened:
            return False, None
        state["n"] = state.get("n", 0) + 1
        if state["n"] == state["unplug_at"]:
            state["unplugged"] = True
        return True, state["frames"][state["n"] % len(state["frames"])]

    def release(self):
        self.opened = False


def test_pipeline_survives_a_camera_disconnect(clip, monkeypatch):
    _DemoCamera.state = {"frames": clip, "unplug_at": 20}
    monkeypatch.setattr(capture_module.cv2, "VideoCapture", _DemoCamera)
    statuses, results = set(), []
    options = CaptureOptions(camera=0, reconnect_delay_s=0.02, reconnect_max_delay_s=0.05)
    with Capture(options) as capture, Pipeline() as pipeline:
        deadline = time.monotonic() + 20.0
        while len(results) < 40 and time.monotonic() < deadline:
            frame = capture.poll()  # a window's loop: never blocks, shows the status meanwhile
            statuses.add(capture.status.state)
            if capture.status.state == "lost" and capture.status.attempt >= 2:
                _DemoCamera.state["unplugged"] = False  # plugged back in
            if frame is None:
                time.sleep(0.002)
                continue
            results.append(pipeline.process(frame))
    assert "lost" in statuses and capture.status.ok
    assert len(results) == 40
    assert results[-1].frame.index > 20  # frames after the reconnection
    assert _tracked(results[-10:]) == 1.0  # tracking resumed


# --- the command line ----------------------------------------------------------------------
def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "realtime", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def _error_lines(stderr):
    return [line for line in stderr.splitlines() if line.strip()]


def test_photo_batch_with_bad_files_goes_on_and_lists_the_failures(tmp_path, astronaut):
    good = tmp_path / "as tro naut é.png"
    cv2.imwrite(str(tmp_path / "tmp.png"), astronaut)
    (tmp_path / "tmp.png").rename(good)
    png = good.read_bytes()
    bad = {
        "missing.jpg": None,
        "empty.png": b"",
        "truncated.png": png[: len(png) // 4],
        "words.jpg": b"not a photo at all",
    }
    for name, data in bad.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
    out = tmp_path / "busts"
    result = run_cli("photo", str(good), *(str(tmp_path / n) for n in bad), "-o", str(out), "--jobs", "1", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = _error_lines(result.stderr)
    assert len(lines) == len(bad), result.stderr  # one line per bad file, nothing else
    for name, line in zip(bad, lines):
        assert line.startswith("selfie3d: error: ") and name in line
    assert (out / "as tro naut é.stl").exists()  # the good one was still done
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("1 of 5 photos done; failed:")
    for name in bad:
        assert name in summary
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_photo_refuses_to_clobber_and_cannot_write_under_a_file(tmp_path, face_photo_path):
    target = tmp_path / "bust.stl"
    target.write_bytes(b"keep me")
    result = run_cli("photo", face_photo_path, "-o", str(target))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(_error_lines(result.stderr)) == 1 and "exists" in result.stderr
    assert target.read_bytes() == b"keep me"
    blocker = tmp_path / "a file"
    blocker.write_bytes(b"")
    result = run_cli("photo", face_photo_path, "-o", str(blocker / "bust.stl"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(_error_lines(result.stderr)) == 1, result.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_demo_output_under_a_file_is_one_line(tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_bytes(b"")
    result = run_cli("demo", "--frames", "2", "--out", str(blocker / "demo"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = _error_lines(result.stderr)
    assert len(lines) == 1 and "a part of the path is a file" in lines[0], result.stderr


# --------------------------------------------------------------------------- GL and display


@pytest.mark.parametrize("display", [None, ":97"])
def test_live_without_a_display_is_one_line_pointing_to_demo(display, tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    if display:
        env["DISPLAY"] = display  # a display that does not exist
    result = subprocess.run([sys.executable, "-m", "realtime", "live", "--max-frames", "2"],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = _error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "no display" in lines[0] and "selfie3d demo" in lines[0]


def test_no_gl_context_names_the_packages(monkeypatch):
    import moderngl

    from realtime.errors import Selfie3DError
    from realtime.render import create_headless_context

    def no_driver(*args, **kwargs):
        raise Exception("libEGL.so.1: cannot open shared object file")

    monkeypatch.setattr(moderngl, "create_standalone_context", no_driver)
    with pytest.raises(Selfie3DError, match="no headless OpenGL 3.3 context.*libegl1.*libgl1-mesa-dri"):
        create_headless_context()


# --------------------------------------------------------------------------- kills between moves


def _textured_box():
    """A closed 20 mm box standing on Z = 0, and its textured copy (a flat grey texture)."""
    import trimesh
    from PIL import Image

    mesh = trimesh.creation.box(extents=(20.0, 20.0, 20.0))
    mesh.apply_translation((0.0, 0.0, 10.0))
    uv = np.c_[(mesh.vertices[:, 0] + 10.0) / 20.0, mesh.vertices[:, 2] / 20.0]
    image = Image.fromarray(np.full((16, 16, 3), 200, np.uint8))
    textured = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False,
                               visual=trimesh.visual.TextureVisuals(uv=uv, image=image))
    return mesh, textured


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
@pytest.mark.parametrize("kill_after", [1, 2, 3])
def test_a_kill_between_the_obj_sets_moves_never_leaves_an_obj_without_its_companions(tmp_path, kill_after):
    """An OBJ, its material and its texture are three files: no order of three moves is atomic
    under ``kill -9``. The OBJ names the material and the material the texture, so they are moved
    texture, material, OBJ: whatever a kill leaves, an OBJ is never there without the files it
    names (what may be left is a texture or a material without an OBJ, which nothing uses)."""
    import os

    from realtime.printing.export import write_solid

    mesh, textured = _textured_box()
    folder = tmp_path / "out"
    folder.mkdir()
    pid = os.fork()
    if pid == 0:  # the child exports and is "killed" (os._exit) right after its kill_after-th move
        try:
            moves = 0

            def counted(real):
                def move(source, target, *args, **kwargs):
                    nonlocal moves
                    real(source, target, *args, **kwargs)
                    if not os.path.basename(target).startswith("."):  # into place, not a temporary
                        moves += 1
                        if moves == kill_after:
                            os._exit(137)
                return move

            os.link, os.replace = counted(os.link), counted(os.replace)
            write_solid(mesh, folder / "bust.obj", "obj", textured=textured)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    placed = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    expected = [["bust_texture.png"], ["bust.mtl", "bust_texture.png"],
                ["bust.mtl", "bust.obj", "bust_texture.png"]][kill_after - 1]
    assert placed == expected
