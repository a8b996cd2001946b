"""``selfie3d demo`` (realtime/apps/demo.py): its headline output, ``tryon.mp4``, is H.264 in
yuv420p with the index first, so it plays in a browser, on a phone and in a chat app (the
headless Chromium test in test_web_browser.py plays it); the preview and the report come with
it, every file written atomically."""

from __future__ import annotations

import json

import cv2
import pytest

from realtime.apps.demo import DemoOptions, run_demo
from realtime.apps.live import probe_video

# Frames of the built-in clip: enough for fusion to settle and the preview to show glasses.
_DEMO_FRAMES = 40


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    report = run_demo(DemoOptions(out_dir=str(out), max_frames=_DEMO_FRAMES, bust=False))
    return out, report


def test_tryon_video_is_h264_yuv420p_faststart(demo_out):
    out, report = demo_out
    info = probe_video(out / "tryon.mp4")
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["faststart"]
    assert (info["width"], info["height"]) == (1280, 720)
    assert info["frames"] == report["frames"] == _DEMO_FRAMES
    assert abs(info["fps"] - 30.0) < 0.01


def test_demo_writes_only_its_outputs(demo_out):
    out, report = demo_out
    assert sorted(p.name for p in out.iterdir()) == ["preview.png", "report.json", "tryon.mp4"]
    assert json.loads((out / "report.json").read_text())["outputs"]["video"] == str(out / "tryon.mp4")
    assert cv2.imread(str(out / "preview.png")).shape == (720, 1280, 3)


def test_a_video_of_a_head_turning_gives_a_scanned_bust_from_its_most_frontal_frame(tmp_path, head_turn_video):
    # A user's phone video of a head turn: the demo's bust is made as the live window's S would make
    # it facing the camera, with the head scan the turn gave (realtime/apps/video.py's VideoBust).
    import trimesh

    from realtime.stages.capture import CaptureOptions
    from realtime.stages.scan import COVERAGE_READY
    from realtime.tools.likeness import bust_distance_mm

    video, last_yaw = head_turn_video
    assert abs(last_yaw) > 20  # the video ends with the head turned
    capture = CaptureOptions(path=video)
    scanned = run_demo(DemoOptions(out_dir=str(tmp_path / "scanned"), capture=capture))
    bust = scanned["bust"]
    assert bust["scan"]["used"] and bust["scan"]["coverage"] >= COVERAGE_READY, bust["scan"]
    assert bust["frame_turn_deg"] < 5.0, bust  # the most frontal frame's outline, not the last's
    assert bust["checks"]["watertight"] and bust["checks"]["shells"] == 1
    single_view = run_demo(DemoOptions(out_dir=str(tmp_path / "single"), capture=capture, scan=False))
    assert "scan" not in single_view["bust"] and single_view["bust"]["frame"] == bust["frame"]
    # The scan reshapes the head: the two busts differ by more than the carving's own noise.
    distance = bust_distance_mm(trimesh.load(bust["path"]), trimesh.load(single_view["bust"]["path"]))
    assert distance > 0.8, distance
