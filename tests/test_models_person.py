"""The person networks (selfie segmentation, its landscape variant, pose landmarks) as shipped:
interface, agreement with MediaPipe's TFLite on golden crops, batching.

The golden crops and TFLite's outputs on them are written by ``models/export.py`` into
``tests/reference/networks/``; large outputs are stored at reduced precision (see
``write_golden`` there), which the tolerances below account for.
"""

from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.testing import assert_allclose

from realtime.stages.inference import model_spec, open_session

_GOLDEN = Path(__file__).parent / "reference" / "networks"
_MODELS = ("selfie_segmentation", "selfie_segmentation_landscape", "pose_landmark_full")

# models/export.py's build tolerances, |ONNX Runtime - TFLite| per output, in the output's own
# unit: probability for masks and the pose flag, pixels of the 256x256 crop for pose landmarks
# (their visibility and presence logits share it), metres for world landmarks, and for the pose
# segmentation and heatmap logits the difference of their sigmoids (the golden holds those).
_TOLERANCES = {
    "selfie_segmentation": {"mask": 1e-3},
    "selfie_segmentation_landscape": {"mask": 1e-3},
    "pose_landmark_full": {"landmarks": 0.02, "pose_flag": 1e-3, "segmentation": 0.02,
                           "heatmap": 1e-3, "world_landmarks": 2e-4},
}
# Reduced-precision golden entries: float16 holds a value in [0, 1] within 2**-12 (and any value
# within 2**-11 of its size); "<name>_sigmoid" entries are probabilities rounded to 2**-11.
_STORED_ABSOLUTE_ERROR = 2.0**-12
_STORED_RELATIVE_ERROR = 2.0**-11
# MediaPipe drops a pose whose flag is below this (TensorsToPoseLandmarksAndSegmentation).
_MIN_POSE_PRESENCE = 0.5


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # As tanh: the pose segmentation logits reach -1800, where exp(-x) overflows.
    return 0.5 + 0.5 * np.tanh(0.5 * np.asarray(x, np.float64))


def _golden(name: str) -> tuple[np.ndarray, dict]:
    """A test crop ``(1, H, W, 3) uint8`` BGR and TFLite's outputs on it."""
    crop = cv2.imread(str(_GOLDEN / f"{name}.png"), cv2.IMREAD_COLOR)
    return crop[None], dict(np.load(_GOLDEN / f"{name}.npz"))


def _worst_excess(name: str, outputs: dict, expected: dict) -> dict[str, float]:
    """Per golden entry, max |ONNX - golden| divided by its tolerance (<= 1 passes)."""
    excess = {}
    for key, reference in expected.items():
        output = key.removesuffix("_sigmoid")
        actual = outputs[output].astype(np.float64)
        if key.endswith("_sigmoid"):
            actual = _sigmoid(actual)
        reference = reference.astype(np.float64)
        allowed = _TOLERANCES[name][output] + (
            _STORED_ABSOLUTE_ERROR + _STORED_RELATIVE_ERROR * np.abs(reference)
            if expected[key].dtype == np.float16 else 0.0)
        assert actual.shape == reference.shape, key
        excess[key] = float(np.max(np.abs(actual - reference) / allowed))
    return excess


@pytest.mark.parametrize("name", _MODELS)
def test_manifest_declares_uint8_bgr_input_with_a_free_batch(name):
    [image] = model_spec(name).inputs
    assert image["dtype"] == "uint8" and image["channels"] == "BGR" and image["layout"] == "NHWC"
    assert isinstance(image["shape"][0], str) and image["shape"][3] == 3
    assert image["network_range"] == [0.0, 1.0]  # MediaPipe feeds these networks RGB / 255


def test_manifest_documents_every_pose_output():
    outputs = {o["name"]: o for o in model_spec("pose_landmark_full").outputs}
    assert list(outputs) == ["landmarks", "pose_flag", "segmentation", "heatmap", "world_landmarks"]
    assert outputs["landmarks"]["shape"] == ["batch", 195]
    assert outputs["heatmap"]["shape"] == ["batch", 64, 64, 39]
    assert outputs["pose_flag"]["value_range"] == [0.0, 1.0]
    assert "value_range" not in outputs["segmentation"]  # a logit, unbounded
    assert all(o["meaning"] for o in outputs.values())


@pytest.mark.parametrize("name", _MODELS)
def test_models_match_mediapipe_tflite_on_golden_crops(name):
    crop, expected = _golden(name)
    outputs = open_session(name).run({"image": crop})
    assert set(k.removesuffix("_sigmoid") for k in expected) == set(outputs)
    for key, excess in _worst_excess(name, outputs, expected).items():
        assert excess <= 1.0, f"{name} {key}: {excess:.2f} x tolerance"


@pytest.mark.parametrize("name", _MODELS)
def test_golden_check_sees_a_wrong_colour_order(name):
    # The conversion to the network's RGB range is inside the graph: a caller feeding RGB by
    # mistake must fail the golden comparison, or that comparison could not catch it.
    crop, expected = _golden(name)
    swapped = open_session(name).run({"image": np.ascontiguousarray(crop[..., ::-1])})
    assert max(_worst_excess(name, swapped, expected).values()) > 20


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
            assert_allclose(batched[output], np.concatenate([s[output] for s in singles]),
                            rtol=1e-5, atol=1e-4, err_msg=f"{name} {output}")


def test_pose_outputs_mean_what_the_model_card_says():
    # The golden crop is the astronaut photo (upper body, facing the camera): the decoding
    # documented in models/README.md must put her nose on her face, her shoulders either side
    # of it and below, and the world landmarks' origin at her hips with y pointing down.
    crop, _ = _golden("pose_landmark_full")
    outputs = open_session("pose_landmark_full").run({"image": crop})
    assert outputs["pose_flag"][0, 0] >= _MIN_POSE_PRESENCE
    landmarks = outputs["landmarks"].reshape(39, 5)  # x, y, z (pixels), visibility, presence
    world = outputs["world_landmarks"].reshape(39, 3)  # metres
    nose, left_shoulder, right_shoulder = landmarks[0], landmarks[11], landmarks[12]
    assert 80 < nose[0] < 150 and 20 < nose[1] < 90  # her face in the 256x256 crop
    assert right_shoulder[0] < nose[0] < left_shoulder[0]  # subject's right on the image's left
    assert min(left_shoulder[1], right_shoulder[1]) > nose[1]
    assert _sigmoid(nose[3]) > 0.9  # visibility is a logit
    hips_middle = (world[23] + world[24]) / 2
    assert_allclose(hips_middle, 0.0, atol=0.02)  # origin between the hips, within 2 cm
    assert world[0, 1] < -0.3  # nose more than 30 cm above the hips: y down
