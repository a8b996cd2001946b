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
