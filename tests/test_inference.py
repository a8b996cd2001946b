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
