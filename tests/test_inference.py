import json
import shutil

import numpy as np
import pytest

from realtime.errors import ModelError
from realtime.inference import choose_providers, file_sha256, model_spec, open_session, verified_model_bytes
from realtime.resources import models_dir

CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"


@pytest.mark.parametrize("available, expected", [
    ([CPU], (CPU,)),
    ([CUDA, CPU], (CUDA, CPU)),
    ([TRT, CUDA, CPU], (TRT, CUDA, CPU)),
    (["AzureExecutionProvider", CPU], (CPU,)),
])
def test_automatic_choice_prefers_tensorrt_then_cuda_then_cpu(available, expected):
    choice = choose_providers(available)
    assert choice.providers == expected
    assert choice.primary == expected[0]
    assert choice.reason


def test_explicit_request_keeps_order_and_adds_cpu_fallback():
    assert choose_providers([TRT, CUDA, CPU], ["cuda"]).providers == (CUDA, CPU)
    assert choose_providers([TRT, CUDA, CPU], ["cpu"]).providers == (CPU,)


def test_request_for_missing_provider_names_the_gpu_extra():
    with pytest.raises(ModelError, match=r"TensorrtExecutionProvider.*not available.*selfie3d\[gpu\]"):
        choose_providers([CPU], ["tensorrt"])


def test_shipped_models_match_their_checksums():
    manifest = json.loads((models_dir() / "manifest.json").read_text())
    assert {"face_detection_short_range", "face_landmark", "iris_landmark"} <= set(manifest["models"])
    for name, entry in manifest["models"].items():
        assert file_sha256(models_dir() / entry["file"]) == entry["sha256"], name


def test_altered_model_is_refused(tmp_path):
    for item in models_dir().iterdir():
        if item.suffix in (".onnx", ".json"):
            shutil.copy(item, tmp_path / item.name)
    spec = model_spec("face_landmark", tmp_path)
    data = bytearray(spec.path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    spec.path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum mismatch"):
        verified_model_bytes(spec)
    with pytest.raises(ModelError, match="checksum mismatch"):
        open_session("face_landmark", directory=tmp_path)


def test_missing_model_file_is_a_clear_error(tmp_path):
    shutil.copy(models_dir() / "manifest.json", tmp_path / "manifest.json")
    with pytest.raises(ModelError, match="model file missing"):
        open_session("face_landmark", directory=tmp_path)


def test_session_runs_on_cpu():
    session = open_session("face_landmark")
    assert session.provider == CPU
    outputs = session.session.run(None, {session.input_names[0]: np.zeros((1, 192, 192, 3), np.float32)})
    assert sum(o.size for o in outputs) >= 1404


def test_model_cards_state_the_shipped_checksums():
    manifest = json.loads((models_dir() / "manifest.json").read_text())
    cards = (models_dir() / "README.md").read_text()
    for name, entry in manifest["models"].items():
        assert entry["sha256"] in cards, f"models/README.md is out of date for {name}"


def test_engine_cache_key_separates_gpus_and_versions():
    from realtime.inference import engine_cache_key

    a = engine_cache_key("NVIDIA H100 80GB HBM3", "10.3.0", "1.20.0")
    assert a == "NVIDIA_H100_80GB_HBM3-trt10.3.0-ort1.20.0"
    assert a != engine_cache_key("NVIDIA L4", "10.3.0", "1.20.0")
    assert a != engine_cache_key("NVIDIA H100 80GB HBM3", "10.4.0", "1.20.0")
    assert "/" not in engine_cache_key("a/b", None, "1")


def test_failing_provider_falls_back_with_a_warning(monkeypatch, caplog):
    import onnxruntime as ort

    from realtime import inference

    real = ort.InferenceSession
    calls = []

    def flaky(data, sess_options=None, providers=None):
        calls.append([p for p, _ in providers])
        if providers[0][0] == "CUDAExecutionProvider":
            raise RuntimeError("CUDA driver version is insufficient")
        return real(data, sess_options=sess_options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(ort, "InferenceSession", flaky)
    monkeypatch.setattr(inference, "available_providers", lambda: (CUDA, CPU))
    with caplog.at_level("WARNING"):
        session = open_session("face_landmark")
    assert session.provider == CPU
    assert calls[0][0] == CUDA and calls[1] == [CPU]
    assert "CUDAExecutionProvider failed to start" in caplog.text


def test_corrupt_tensorrt_engine_cache_is_rebuilt(monkeypatch, tmp_path, caplog):
    import onnxruntime as ort

    from realtime import inference

    monkeypatch.setenv("SELFIE3D_TRT_CACHE", str(tmp_path))
    monkeypatch.setattr(inference, "gpu_name", lambda: "Test GPU")
    monkeypatch.setattr(inference, "available_providers", lambda: (TRT, CPU))
    cache = inference.trt_cache_dir()
    (cache / "face_landmark_fp16.engine").write_bytes(b"garbage")
    real = ort.InferenceSession
    attempts = []

    def engine_loader(data, sess_options=None, providers=None):
        names = [p for p, _ in providers]
        attempts.append((names[0], sorted(p.name for p in cache.iterdir())))
        if names[0] == TRT and any(cache.iterdir()):
            raise RuntimeError("TensorRT EP failed to deserialize engine")
        return real(data, sess_options=sess_options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(ort, "InferenceSession", engine_loader)
    with caplog.at_level("WARNING"):
        open_session("face_landmark")
    assert attempts[0] == (TRT, ["face_landmark_fp16.engine"])
    assert attempts[1] == (TRT, [])  # retried with the cache emptied, still on TensorRT
    assert "rebuilding it" in caplog.text
