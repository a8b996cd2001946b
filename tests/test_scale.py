"""Tests for realtime/scale.py: iris diameter, depth from the iris, the temporal fuse."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from realtime.camera import CameraIntrinsics
from realtime.fusion import mesh_px_from_camera
from realtime.scale import (
    IRIS_DIAMETER_MM, MetricScale, MetricScaleOptions, iris_depth_mm, iris_diameter_px, mm_per_px, robust_mean,
)

_DEPTH_REL_TOL = 0.05  # issue 3: metric scale within 5%
_EXACT_REL_TOL = 1e-9
_INTRINSICS = CameraIntrinsics(600.0, 600.0, 320.0, 240.0, 640, 480)


def _iris_px(centres_mm: np.ndarray, yaw_deg: float = 0.0) -> np.ndarray:
    """Iris points ``(2, 5, 3)`` px of two 11.7 mm irises facing the camera, turned by yaw."""
    r = IRIS_DIAMETER_MM / 2
    y = math.radians(yaw_deg)
    right, up = np.array([math.cos(y), 0, -math.sin(y)]), np.array([0.0, -1.0, 0.0])
    offsets = np.array([np.zeros(3), r * right, r * up, -r * right, -r * up])
    points = (centres_mm[:, None, :] + offsets[None]).reshape(-1, 3)
    return mesh_px_from_camera(points, _INTRINSICS, float(centres_mm[:, 2].mean())).reshape(2, 5, 3)


@pytest.mark.parametrize("distance_mm", [300.0, 600.0, 1200.0])
def test_depth_from_iris_at_known_distance(distance_mm):
    centres = np.array([[-31.0, 0.0, distance_mm], [31.0, 0.0, distance_mm]])
    diameters = iris_diameter_px(_iris_px(centres))
    assert_allclose(diameters, 600.0 * IRIS_DIAMETER_MM / distance_mm, rtol=1e-3)
    assert_allclose(iris_depth_mm(diameters, _INTRINSICS.fx), distance_mm, rtol=_DEPTH_REL_TOL)
    assert_allclose(mm_per_px(diameters), distance_mm / 600.0, rtol=_DEPTH_REL_TOL)


def test_turned_eye_uses_unforeshortened_chord():
    centres = np.array([[-31.0, 0.0, 500.0], [31.0, 0.0, 500.0]])
    assert_allclose(iris_diameter_px(_iris_px(centres, yaw_deg=40.0)), iris_diameter_px(_iris_px(centres)), rtol=1e-3)


def test_iris_shape_checked():
    with pytest.raises(ValueError, match="iris_px"):
        iris_diameter_px(np.zeros((5, 3)))


def test_robust_mean_ignores_outliers():
    values = np.r_[np.full(20, 10.0) + np.linspace(-0.1, 0.1, 20), [30.0, -50.0]]
    assert_allclose(robust_mean(values), 10.0, atol=0.05)


def test_metric_scale_converges_and_rejects_outliers():
    rng = np.random.default_rng(0)
    scale = MetricScale(MetricScaleOptions())
    assert scale.value is None
    for i in range(200):
        observation = 1.08 * (1 + rng.normal(0, 0.03))
        if i % 10 == 5:
            observation *= 1.5  # a misfit iris
        scale.update(observation)
    assert_allclose(scale.value, 1.08, rtol=0.01)
    assert scale.rejected >= 15
    scale.update(float("nan"))
    scale.update(1.0, weight=0.0)
    assert_allclose(scale.value, 1.08, rtol=0.01)
    scale.reset()
    assert scale.value is None


def test_scale_warning_flags_a_pd_outside_the_adult_range():
    from realtime.scale import ADULT_PD_RANGE_MM, scale_warning

    low, high = ADULT_PD_RANGE_MM
    assert scale_warning(63.0, "iris") is None and scale_warning(low, "iris") is None
    assert "80.0 mm is outside" in scale_warning(80.0, "iris")
    assert "outside" in scale_warning(low - 1.0, "iris")
    assert "mean adult PD" in scale_warning(63.4, "assumed mean PD")


def test_scale_warning_flags_an_implausible_face_width_and_a_turned_face():
    from realtime.scale import ADULT_FACE_WIDTH_RANGE_MM, TURNED_FACE_DEG, scale_warning

    low, high = ADULT_FACE_WIDTH_RANGE_MM
    assert scale_warning(63.0, "iris", 135.0, 10.0) is None
    assert "face width 190 mm is outside" in scale_warning(63.0, "iris", 190.0)
    assert "outside" in scale_warning(63.0, "iris", low - 5.0)
    turned = scale_warning(63.0, "iris", 135.0, -(TURNED_FACE_DEG + 10))
    assert "turned 45 deg" in turned and "outside" not in turned
    both = scale_warning(80.0, "iris", 190.0)
    assert "PD 80.0 mm" in both and "face width 190 mm" in both and "\n" not in both


def test_iris_eye_weights_discount_the_eye_turned_away():
    from realtime.scale import iris_eye_weights
    from realtime.synthetic_face import head_rotation

    assert_allclose(iris_eye_weights(head_rotation(0.0)), [1.0, 1.0])
    # head_rotation's positive yaw turns the nose to image left, towards the person's right
    # (image-left) eye, which goes away from the camera.
    right, left = iris_eye_weights(head_rotation(20.0))
    assert left == 1.0 and right < 0.05
    right, left = iris_eye_weights(head_rotation(-20.0))
    assert right == 1.0 and left < 0.05


def test_weighted_iris_diameter_is_a_weighted_geometric_mean():
    from realtime.scale import weighted_iris_diameter

    assert weighted_iris_diameter(np.array([10.0, 12.0]), np.array([1.0, 0.0])) == pytest.approx(10.0)
    assert weighted_iris_diameter(np.array([9.0, 16.0]), np.array([1.0, 1.0])) == pytest.approx(12.0)
