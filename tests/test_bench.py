"""Benchmark helpers: percentiles, and the fusion jitter figure on our own
pipeline's output (issue 3's bar: fused jitter at most a fifth of the raw network's)."""


from realtime.bench import BenchOptions, percentiles, still_face_jitter

MAX_JITTER_RATIO = 0.2


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

    from realtime.bench import run_bench
    from realtime.capture import CaptureOptions
    from realtime.errors import InputError

    image = tmp_path / "noface.png"
    cv2.imwrite(str(image), np.full((120, 160, 3), 128, np.uint8))
    with pytest.raises(InputError, match=r"noface.png has 1 frame, fewer than the 10 warm-up frames"):
        run_bench(BenchOptions(capture=CaptureOptions(path=str(image)), frames=10, baseline=False))


def test_text_report_says_jitter_is_from_the_built_in_still_clip():
    from realtime.bench import format_report

    report = {"source": "video.mp4", "frames": 5, "tracked_fraction": 1.0, "provider": "cpu", "stages": {},
              "total_p50_ms": 10.0, "fps": 100.0, "jitter_raw": 0.01, "jitter_fused": 0.001,
              "jitter_ratio": 0.1, "fusion_ms_per_frame": 0.2}
    text = format_report(report)
    heading = next(line for line in text.splitlines() if line.startswith("jitter ("))
    assert "built-in still demo clip" in heading
    assert text.index(heading) < text.index("jitter_raw")
