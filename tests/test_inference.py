import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.testing import assert_allclose

from realtime.errors import ModelError
from realtime.stages.inference import choose_providers, file_sha256, model_spec, open_session, verified_model_bytes
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
    outputs = session.run({session.input_names[0]: np.zeros((1, 192, 192, 3), np.uint8)})
    assert outputs["landmarks"].size == 1404 and outputs["face_flag"].size == 1


def test_model_cards_state_the_shipped_checksums():
    manifest = json.loads((models_dir() / "manifest.json").read_text())
    cards = (models_dir() / "README.md").read_text()
    for name, entry in manifest["models"].items():
        assert entry["sha256"] in cards, f"models/README.md is out of date for {name}"


def test_engine_cache_key_separates_gpus_and_versions():
    from realtime.stages.inference import engine_cache_key

    a = engine_cache_key("NVIDIA H100 80GB HBM3", "10.3.0", "1.20.0")
    assert a == "NVIDIA_H100_80GB_HBM3-trt10.3.0-ort1.20.0"
    assert a != engine_cache_key("NVIDIA L4", "10.3.0", "1.20.0")
    assert a != engine_cache_key("NVIDIA H100 80GB HBM3", "10.4.0", "1.20.0")
    assert "/" not in engine_cache_key("a/b", None, "1")


def test_failing_provider_falls_back_with_a_warning(monkeypatch, caplog):
    import onnxruntime as ort

    from realtime.stages import inference

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

    from realtime.stages import inference

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


# ---------------------------------------------------------------------------------------------
# The shipped models' interface: uint8 BGR crops, any batch size (issue 7)

_GOLDEN = Path(__file__).parent / "reference" / "networks"
# Largest |ONNX Runtime - TFLite| on the golden crops: models/export.py's build tolerance
# (pixels of the crop for landmarks and regressors, logits for the scores).
_GOLDEN_TOLERANCE = 0.01
_MODELS = ("face_detection_short_range", "face_landmark", "iris_landmark")


def _golden(name: str) -> tuple[np.ndarray, dict]:
    """A test crop ``(1, H, W, 3) uint8`` BGR and TFLite's outputs on it (models/export.py)."""
    crop = cv2.imread(str(_GOLDEN / f"{name}.png"), cv2.IMREAD_COLOR)
    return crop[None], dict(np.load(_GOLDEN / f"{name}.npz"))


@pytest.mark.parametrize("name", _MODELS)
def test_manifest_declares_uint8_bgr_input_with_a_free_batch(name):
    [image] = model_spec(name).inputs
    assert image["dtype"] == "uint8" and image["channels"] == "BGR" and image["layout"] == "NHWC"
    assert isinstance(image["shape"][0], str) and image["shape"][3] == 3


@pytest.mark.parametrize("name", _MODELS)
def test_models_match_mediapipe_tflite_on_golden_crops(name):
    crop, expected = _golden(name)
    outputs = open_session(name).run({"image": crop})
    for output, reference in expected.items():
        assert outputs[output].shape == reference.shape
        assert np.max(np.abs(outputs[output] - reference)) <= _GOLDEN_TOLERANCE, output


def test_golden_check_sees_a_wrong_colour_order():
    # The conversion to the network's RGB range is in the graph: a caller feeding RGB by
    # mistake must show up in the golden comparison, or that test could not catch it.
    crop, expected = _golden("face_landmark")
    swapped = open_session("face_landmark").run({"image": np.ascontiguousarray(crop[..., ::-1])})
    assert np.max(np.abs(swapped["landmarks"] - expected["landmarks"])) > 20 * _GOLDEN_TOLERANCE


@pytest.mark.parametrize("name", _MODELS)
def test_a_batch_gives_what_single_calls_give(name):
    session = open_session(name)
    crop, _ = _golden(name)
    crops = np.concatenate([crop, crop[:, :, ::-1], np.roll(crop, 7, axis=1)])  # three different crops
    singles = [session.run({"image": np.ascontiguousarray(c[None])}) for c in crops]
    for max_batch in (1, 2, 16):  # chunked 1+1+1, 2+1, and all at once
        batched = session.run_batched(crops, max_batch)
        for output in session.output_names:
            assert batched[output].shape[0] == 3
            assert_allclose(batched[output], np.concatenate([s[output] for s in singles]), atol=1e-4)


def test_tensorrt_profile_spans_one_to_max_batch(monkeypatch, tmp_path):
    from realtime.stages.inference import MAX_BATCH, provider_options, trt_profile_shapes

    monkeypatch.setenv("SELFIE3D_TRT_CACHE", str(tmp_path))
    options = provider_options(TRT, model_spec("iris_landmark"))
    assert options["trt_profile_opt_shapes"] == "image:2x64x64x3"  # both eyes in one call
    assert options["trt_profile_max_shapes"] == f"image:{MAX_BATCH}x64x64x3" and options["trt_fp16_enable"]

    shapes = trt_profile_shapes("image", ["batch", 64, 64, 3], typical_batch=2)
    assert shapes == {"trt_profile_min_shapes": "image:1x64x64x3", "trt_profile_opt_shapes": "image:2x64x64x3",
                      "trt_profile_max_shapes": f"image:{MAX_BATCH}x64x64x3"}
    assert provider_options(CPU, model_spec("iris_landmark")) == {}
