from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.testing import assert_allclose

from realtime.stages.segmentation_model import input_size, open_segmentation_session, person_probability

_GOLDEN = Path(__file__).parent / "reference" / "networks"
# models/export.py's build tolerance for the mask (a probability), plus the float16 storage of
# the golden mask (within 2**-12 for values in [0, 1]).
_MASK_TOLERANCE = 1e-3 + 2.0**-12


def _golden(name: str = "selfie_segmentation") -> tuple[np.ndarray, np.ndarray]:
    """The golden crop ``(1, H, W, 3) uint8`` BGR and TFLite's mask on it ``(1, H, W)``."""
    crop = cv2.imread(str(_GOLDEN / f"{name}.png"), cv2.IMREAD_COLOR)
    return crop[None], np.load(_GOLDEN / f"{name}.npz")["mask"][..., 0].astype(np.float32)


@pytest.fixture(scope="module")
def session():
    return open_segmentation_session()


def test_person_probability_is_mediapipes_mask(session):
    crop, expected = _golden()
    probability = person_probability(session, crop)
    assert probability.shape == (1, 256, 256) and probability.dtype == np.float32
    assert_allclose(probability, expected, atol=_MASK_TOLERANCE, rtol=0)


def test_person_probability_separates_the_person_from_the_background(session):
    # The golden crop is the astronaut photo stretched to 256x256: her head fills rows 30-80,
    # columns 90-140; the top-left corner is the dark background.
    crop, _ = _golden()
    [probability] = person_probability(session, crop)
    assert probability.min() >= 0.0 and probability.max() <= 1.0
    assert probability[30:80, 90:140].mean() > 0.9
    assert probability[:30, :30].mean() < 0.05


def test_a_batch_is_one_mask_per_crop_in_order(session):
    crop, _ = _golden()
    crops = np.concatenate([crop, np.ascontiguousarray(crop[:, :, ::-1]), np.roll(crop, 64, axis=2)])
    singles = np.concatenate([person_probability(session, c[None]) for c in crops])
    assert_allclose(person_probability(session, crops, max_batch=2), singles, atol=1e-5)
    assert not np.allclose(singles[0], singles[2], atol=0.1)  # the crops do differ
    assert person_probability(session, crops[:0]).shape == (0, 256, 256)


def test_landscape_model_takes_256_by_144():
    landscape = open_segmentation_session(landscape=True)
    assert input_size(landscape) == (144, 256)
    crop, expected = _golden("selfie_segmentation_landscape")
    assert_allclose(person_probability(landscape, crop), expected, atol=_MASK_TOLERANCE, rtol=0)


@pytest.mark.parametrize("crops, message", [
    (np.zeros((256, 256, 3), np.uint8), r"crops_bgr: expected shape \(n, 256, 256, 3\), got \(256, 256, 3\)"),
    (np.zeros((1, 192, 192, 3), np.uint8), r"expected shape \(n, 256, 256, 3\)"),
    (np.zeros((1, 256, 256, 3), np.float32), "expected uint8 BGR pixels, got float32"),
])
def test_wrong_crops_are_refused_with_a_clear_message(session, crops, message):
    with pytest.raises(ValueError, match=message):
        person_probability(session, crops)
