"""Tests for realtime/stages/scale.py: iris diameter, depth from the iris, the temporal fuse."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from realtime.camera import CameraIntrinsics
from realtime.geometry import mesh_px_from_camera
from realtime.stages.scale import (
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
    from realtime.stages.scale import ADULT_PD_RANGE_MM, scale_warning

    low, high = ADULT_PD_RANGE_MM
    assert scale_warning(63.0, "iris") is None and scale_warning(low, "iris") is None
    assert "80.0 mm is outside" in scale_warning(80.0, "iris")
    assert "outside" in scale_warning(low - 1.0, "iris")
    assert "mean adult PD" in scale_warning(63.4, "assumed mean PD")


def test_scale_warning_flags_an_implausible_face_width_and_a_turned_face():
    from realtime.stages.scale import ADULT_FACE_WIDTH_RANGE_MM, TURNED_FACE_DEG, scale_warning

    low, high = ADULT_FACE_WIDTH_RANGE_MM
    assert scale_warning(63.0, "iris", 135.0, 10.0) is None
    assert "face width 190 mm is outside" in scale_warning(63.0, "iris", 190.0)
    assert "outside" in scale_warning(63.0, "iris", low - 5.0)
    turned = scale_warning(63.0, "iris", 135.0, -(TURNED_FACE_DEG + 10))
    assert "turned 45 deg" in turned and "outside" not in turned
    both = scale_warning(80.0, "iris", 190.0)
    assert "PD 80.0 mm" in both and "face width 190 mm" in both and "\n" not in both


def test_iris_eye_weights_discount_the_eye_turned_away():
    from realtime.stages.scale import iris_eye_weights
    from realtime.tools.synthetic_face import head_rotation

    assert_allclose(iris_eye_weights(head_rotation(0.0)), [1.0, 1.0])
    # head_rotation's positive yaw turns the nose to image left, towards the person's right
    # (image-left) eye, which goes away from the camera.
    right, left = iris_eye_weights(head_rotation(20.0))
    assert left == 1.0 and right < 0.05
    right, left = iris_eye_weights(head_rotation(-20.0))
    assert right == 1.0 and left < 0.05


def test_weighted_iris_diameter_is_a_weighted_geometric_mean():
    from realtime.stages.scale import weighted_iris_diameter

    assert weighted_iris_diameter(np.array([10.0, 12.0]), np.array([1.0, 0.0])) == pytest.approx(10.0)
    assert weighted_iris_diameter(np.array([9.0, 16.0]), np.array([1.0, 1.0])) == pytest.approx(12.0)


# --- one photo's scale: the iris weighed against face proportions (issue 14) --------------------
_BLUR_TOL_PX = 0.35  # the edge-blur reading of a synthetic Gaussian edge


def test_combine_log_estimates_is_inverse_variance_weighting():
    from realtime.stages.scale import combine_log_estimates

    value, sd = combine_log_estimates(np.array([0.0, 1.0]), np.diag([1.0, 1.0]))
    assert value == pytest.approx(0.5) and sd == pytest.approx(math.sqrt(0.5))
    value, sd = combine_log_estimates(np.array([0.0, 1.0]), np.diag([1.0, 4.0]))
    assert value == pytest.approx(0.2) and sd == pytest.approx(math.sqrt(0.8))
    # Fully correlated estimates carry no more information than one of them.
    _, sd = combine_log_estimates(np.array([0.0, 0.0]), np.array([[1.0, 0.999999], [0.999999, 1.0]]))
    assert sd == pytest.approx(1.0, rel=1e-3)


def test_iris_error_grows_as_the_iris_gets_small_soft_covered_or_turned():
    from realtime.stages.scale import IRIS_POPULATION_SD, iris_scale_sd

    sharp = iris_scale_sd(30.0)
    assert IRIS_POPULATION_SD < sharp < iris_scale_sd(8.0) < iris_scale_sd(4.0)
    assert iris_scale_sd(8.0, blur_px=2.0) > iris_scale_sd(8.0)
    assert iris_scale_sd(30.0, lid_cover=0.2) == pytest.approx(sharp)  # lids at rest cover this much
    assert iris_scale_sd(30.0, lid_cover=0.6) > sharp
    assert iris_scale_sd(30.0, turn_sin=0.5) > sharp
    assert iris_scale_sd(30.0, eye_disagreement=0.1) > sharp


@pytest.mark.parametrize("sigma", [0.0, 1.5, 3.0])
def test_edge_blur_reads_the_blur_of_an_iris_edge(sigma):
    import cv2

    from realtime.stages.scale import edge_blur_px

    image = np.full((120, 120), 220.0, np.float32)  # the white of the eye
    cv2.circle(image, (60, 60), 20, 60.0, -1)  # a dark iris, radius 20 px
    if sigma:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    assert edge_blur_px(image, np.array([60.0, 60.0]), 20.0) == pytest.approx(sigma, abs=_BLUR_TOL_PX)


def _average_face_px(mm_per_pixel: float) -> np.ndarray:
    """A mesh whose prior lengths are the adult means at ``mm_per_pixel`` (other vertices spread)."""
    from realtime.stages.scale import FACE_PRIORS

    rng = np.random.default_rng(2)
    vertices = rng.uniform(-60, 60, (468, 3))
    for prior in FACE_PRIORS:
        half = prior.mean_mm / mm_per_pixel / 2
        axis = np.array([1.0, 0, 0]) if prior.name != "face_height" else np.array([0, 1.0, 0])
        vertices[prior.a], vertices[prior.b] = -half * axis, half * axis
    vertices[13] = vertices[14] = [0.0, 40.0, 0.0]  # mouth closed
    return vertices


def test_photo_scale_weighs_a_small_iris_less():
    from realtime.stages.scale import photo_scale, photo_scale_source

    truth = 0.5  # mm per pixel; the face's proportions are the mean's
    vertices = _average_face_px(truth)
    shares = []
    for diameter in (40.0, 12.0, 5.0):
        # An iris that reads 20% small (too large a scale).
        iris = np.zeros((2, 5, 3))
        iris[:, 1, 0], iris[:, 3, 0] = diameter / 2, -diameter / 2
        scale = photo_scale(vertices, iris, np.ones(2))
        assert scale.iris_mm_per_px == pytest.approx(IRIS_DIAMETER_MM / diameter)
        assert sum(scale.weights.values()) == pytest.approx(1.0, abs=1e-3)
        shares.append(scale.weights["iris"])
        # Between the two cues, the nearer the better-measured one.
        low, high = sorted((truth, scale.iris_mm_per_px))
        assert low <= scale.mm_per_px <= high
    assert shares[0] > shares[1] > shares[2]
    assert photo_scale_source(photo_scale(vertices, None, np.ones(2))) == "face proportions"
    no_iris = photo_scale(vertices, None, np.ones(2))
    assert no_iris.mm_per_px == pytest.approx(truth, rel=1e-6) and "iris" not in no_iris.weights


def test_scale_warning_for_a_scale_from_face_proportions():
    from realtime.stages.scale import scale_warning

    text = scale_warning(62.0, "face proportions", 130.0, 0.0, 3.1)
    assert "face proportions" in text and "+/- 3.1 mm" in text
    assert scale_warning(62.0, "iris and face proportions", 130.0, 0.0, 2.0) is None
    assert "outside the adult range" in scale_warning(80.0, "iris and face proportions", 130.0)
