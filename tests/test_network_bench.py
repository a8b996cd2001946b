"""``selfie3d bench --networks``: every model on every provider present (here: the CPU)."""

import json

import pytest

from realtime.apps.cli import main
from realtime.tools.network_bench import MODELS, NetworkBenchOptions, format_network_report, network_benchmark

CPU = "CPUExecutionProvider"


@pytest.fixture(scope="module")
def result():
    return network_benchmark(NetworkBenchOptions(iterations=3, warmup=1, batch_sizes=(1, 2)))


def test_every_model_is_timed_at_every_batch_size_on_the_cpu(result):
    assert result.providers[-1] == CPU
    for model in MODELS:
        timings = result.call_ms[model][CPU]
        # Only that each is timed: which is faster is the benchmark's to report, not a test's (with
        # three calls each, a machine busy with other work timed a batch of one 5.3 ms, of two 2.3).
        assert sorted(timings) == [1, 2] and all(ms > 0 for ms in timings.values())
    assert result.speedup_vs_cpu() == {CPU: 1.0}


def test_pre_processing_is_timed_and_copies_only_with_cuda(result):
    assert {"warp_mesh_crop_ms", "warp_eye_crops_ms", "host_float_conversion_ms",
            f"device_crops_ms[{CPU}]"} <= set(result.preprocess_ms)
    assert all(ms > 0 for ms in result.preprocess_ms.values())
    assert ("upload_frame_ms" in result.preprocess_ms) == ("CUDAExecutionProvider" in result.providers)


def test_report_and_table(result):
    report = result.report()
    assert report["models"]["face_landmark"][CPU]["batch_2_ms_per_crop"] == pytest.approx(
        result.call_ms["face_landmark"][CPU][2] / 2, abs=1e-3)
    table = format_network_report(result)
    assert table.count(f"| {CPU} |") == len(MODELS)


def test_cli_runs_it(capsys, monkeypatch):
    import realtime.tools.network_bench as network_bench

    monkeypatch.setattr(network_bench, "NetworkBenchOptions",
                        lambda **kw: NetworkBenchOptions(iterations=2, warmup=1, batch_sizes=(1,), **kw))
    assert main(["bench", "--networks", "--json", "--providers", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["providers"] == [CPU] and set(report["models"]) == set(MODELS)
