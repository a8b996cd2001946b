"""Tests for realtime/stages/detection.py: the letterbox (both shrinking modes), SSD anchors, decoding."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.stages.detection import INPUT_SIZE, FaceDetector, DetectionOptions, letterbox, ssd_anchors

_PIXEL_TOL = 1.0  # a bright dot's centroid after resampling, input pixels


@pytest.mark.parametrize("resize", ["area", "linear"])
@pytest.mark.parametrize("shape", [(480, 640), (700, 300)])
def test_letterbox_maps_image_pixels_to_input_pixels(resize, shape):
    image = np.zeros((*shape, 3), np.uint8)
    y, x = shape[0] // 3, shape[1] // 4
    image[y - 4:y + 5, x - 4:x + 5] = 255
    canvas, scale, pad_x, pad_y = letterbox(image, INPUT_SIZE, resize)
    assert canvas.shape == (INPUT_SIZE, INPUT_SIZE, 3)
    weights = canvas[..., 0].astype(np.float64)
    rows, cols = np.indices(weights.shape)
    centroid = np.array([(cols * weights).sum(), (rows * weights).sum()]) / weights.sum()
    # input = image * scale + pad, pixel centres (the dot's centre is pixel (x, y)).
    expected = np.array([(x + 0.5) * scale + pad_x - 0.5, (y + 0.5) * scale + pad_y - 0.5])
    np.testing.assert_allclose(centroid, expected, atol=_PIXEL_TOL)


def test_letterbox_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match="resize"):
        letterbox(np.zeros((10, 10, 3), np.uint8), INPUT_SIZE, "cubic")


def test_both_modes_find_the_astronaut(astronaut):
    for resize in ("area", "linear"):
        found = FaceDetector(DetectionOptions(resize=resize)).detect(astronaut).detections
        assert found and found[0].score > 0.9, resize
        x0, y0, x1, y1 = found[0].box_px
        assert x0 < 225 < x1 and y0 < 123 < y1  # the face centre (democlip.ASTRONAUT_FACE_CENTER_PX)


def test_anchor_count():
    assert ssd_anchors().shape == (896, 2)
