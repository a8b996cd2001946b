"""Benchmark helpers: percentiles, and the fusion jitter figure on our own
pipeline's output (issue 3's bar: fused jitter at most a fifth of the raw network's), on the
built-in clip and, with --video, on a given clip's stillest stretch (issue 14: a small, distant
face held still at least 5x stiller in the image, its depth within +/-1 mm)."""


import pytest

from realtime.stages.pipeline import percentiles
from realtime.tools.bench import BenchOptions, still_face_jitter

MAX_JITTER_RATIO = 0.2
MAX_DEPTH_WOBBLE_MM = 1.0
# The astronaut's head scaled to 0.8 in a 640x480 frame: ~1 m from a 60 deg camera, its
# inter-ocular distance ~35 px. Measured (before -> after counting its noise in its own
# units): lossless, jitter ratio 0.112 -> 0.066, depth +/-1.13 -> +/-0.74 mm; encoded as MPEG-4
# video, 0.227 -> 0.163.
_SMALL_FACE_SCALE = 0.8
_STILL_CLIP_FRAMES = 150


def test_percentiles_are_ordered_and_named():
    stats = percentiles(list(range(1, 101)))
    assert stats == {"p50_ms": 50.5, "p95_ms": 95.05, "p99_ms": 99.01}


def test_fused_mesh_is_five_times_stiller_than_the_raw_network_on_a_still_face():
    figures = still_face_jitter(BenchOptions(jitter_frames=60))
    assert figures["jitter_raw"] > 0  # webcam noise does move the raw mesh
    assert figures["jitter_ratio"] <= MAX_JITTER_RATIO
    assert figures["fusion_ms_per_frame"] > 0


def test_a_source_shorter_than_the_warm_up_is_an_input_error(tmp_path):
    # One still image and 10 warm-up frames: nothing would be timed, and the report used to
    # say "total p50 nan ms (0 FPS)" and exit 0.
    import cv2
    import numpy as np
    import pytest

    from realtime.tools.bench import run_bench
    from realtime.stages.capture import CaptureOptions
    from realtime.errors import InputError

    image = tmp_path / "noface.png"
    cv2.imwrite(str(image), np.full((120, 160, 3), 128, np.uint8))
    with pytest.raises(InputError, match=r"noface.png has 1 frame, fewer than the 10 warm-up frames"):
        run_bench(BenchOptions(capture=CaptureOptions(path=str(image)), frames=10, baseline=False))


def test_text_report_names_the_jitter_source():
    from realtime.tools.bench import format_report

    report = {"source": "video.mp4", "frames": 5, "tracked_fraction": 1.0, "provider": "cpu", "stages": {},
              "total_p50_ms": 10.0, "fps": 100.0, "jitter_source": "video.mp4", "jitter_frames": "40-159",
              "jitter_raw": 0.01, "jitter_fused": 0.001, "jitter_ratio": 0.1, "depth_wobble_fused_mm": 0.5,
              "fusion_ms_per_frame": 0.2}
    text = format_report(report)
    heading = next(line for line in text.splitlines() if line.startswith("jitter on "))
    assert "video.mp4" in heading
    assert text.index(heading) < text.index("jitter_raw") < text.index("depth_wobble_fused_mm")


def test_stillest_stretch_skips_motion_and_lost_frames():
    import numpy as np

    from realtime.tools.bench import stillest_stretch

    rng = np.random.default_rng(0)
    base = rng.uniform(100, 200, (468, 3))
    base[33, :2], base[133, :2], base[263, :2], base[362, :2] = (100, 150), (130, 150), (200, 150), (170, 150)
    frames = [base + rng.normal(0, 0.2, base.shape) + [3.0 * i, 0, 0] for i in range(40)]  # moving
    frames += [base + rng.normal(0, 0.2, base.shape) for _ in range(30)]  # still
    frames[45] = None  # lost in the still part
    assert 46 <= stillest_stretch(frames, 20) <= 50  # inside the still part, after the lost frame
    assert stillest_stretch(frames, 40) is not None and stillest_stretch([None] * 10, 5) is None


@pytest.fixture(scope="module")
def small_face_frame():
    """The astronaut's head small in a 640x480 frame (a face ~1 m from the camera)."""
    import cv2
    import numpy as np

    from realtime.stages.democlip import astronaut_bgr

    head = cv2.resize(astronaut_bgr()[0:300, 80:380], None, fx=_SMALL_FACE_SCALE, fy=_SMALL_FACE_SCALE,
                      interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 120, np.uint8)
    height, width = head.shape[:2]
    frame[100:100 + height, (640 - width) // 2:(640 - width) // 2 + width] = head
    return frame


def test_bench_video_measures_jitter_on_that_clip_small_face_held_still(tmp_path, small_face_frame):
    from realtime.tools.bench import BenchOptions, run_bench, write_still_clip
    from realtime.stages.capture import CaptureOptions

    folder = tmp_path / "still"
    write_still_clip(small_face_frame, str(folder), _STILL_CLIP_FRAMES)
    report = run_bench(BenchOptions(capture=CaptureOptions(path=str(folder)), frames=_STILL_CLIP_FRAMES - 10,
                                    baseline=False))
    assert report["jitter_source"] == str(folder)
    first, last = (int(v) for v in report["jitter_frames"].split("-"))
    assert last - first + 1 == BenchOptions().jitter_frames
    assert report["depth_mm"] > 900  # small and distant
    assert report["jitter_ratio"] <= MAX_JITTER_RATIO
    assert report["depth_wobble_fused_mm"] < MAX_DEPTH_WOBBLE_MM < report["depth_wobble_raw_mm"]
    assert 0 < report["jitter_3d_fused_mm"] < report["jitter_3d_raw_mm"]


def test_bench_video_small_face_in_an_encoded_clip(tmp_path, small_face_frame):
    # A video codec's frames flicker in blocks (its keyframe groups), which read as motion.
    import cv2

    from realtime.tools.bench import BenchOptions, run_bench, write_still_clip
    from realtime.stages.capture import CaptureOptions

    paths = write_still_clip(small_face_frame, str(tmp_path / "frames"), _STILL_CLIP_FRAMES)
    video = tmp_path / "still.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 480))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write MPEG-4 video")
    for path in paths:
        writer.write(cv2.imread(path))
    writer.release()
    report = run_bench(BenchOptions(capture=CaptureOptions(path=str(video)), frames=_STILL_CLIP_FRAMES - 10,
                                    baseline=False))
    assert report["jitter_source"] == str(video)
    assert report["jitter_ratio"] <= MAX_JITTER_RATIO


def test_bench_video_without_a_still_face_reports_why_there_is_no_jitter(tmp_path):
    import cv2
    import numpy as np

    from realtime.tools.bench import BenchOptions, format_report, run_bench
    from realtime.stages.capture import CaptureOptions

    for i in range(20):
        cv2.imwrite(str(tmp_path / f"frame_{i:02d}.png"), np.full((240, 320, 3), 100, np.uint8))
    report = run_bench(BenchOptions(capture=CaptureOptions(path=str(tmp_path)), frames=10, baseline=False))
    assert report["tracked_fraction"] == 0.0 and "jitter_ratio" not in report
    assert "no 14 consecutive frames with a face" in report["jitter_error"]
    assert "jitter not measured" in format_report(report)
