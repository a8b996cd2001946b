"""Metric scale from the iris: pixels to millimetres, fused over time.

The human iris is nearly the same size in every adult (11.7 +/- 0.5 mm, the figure MediaPipe
Iris uses), so its diameter in the image fixes the scale of the face around it: a feature of
``d`` pixels at the eye is ``d * 11.7 / iris_px`` millimetres, with no need for the focal length,
and the eye's distance from the camera is ``focal_px * 11.7 / iris_px`` (MediaPipe Iris reports
< 10% depth error this way). In: the iris network's 5 points per eye, pixels. Out: diameters,
depths and a robust temporal estimate of one scale factor (``MetricScale``), which the fusion
stage uses to keep the identity mesh in millimetres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from realtime.shapes import check_shape

# Mean horizontal visible iris diameter of adults, millimetres (MediaPipe Iris; anatomical
# studies give 11.7 +/- 0.5 mm, which bounds the method's error at ~5%).
IRIS_DIAMETER_MM = 11.7

# Mean adult pupillary distance, millimetres (Dodgson 2004: 63.4 mm over ~4000 adults). Used
# only to guess the scale when no iris is available; results then say the scale is assumed.
MEAN_PD_MM = 63.4

# Adult pupillary distances lie within 50-75 mm (Dodgson 2004, the extremes of ~4000 adults;
# children's start near 40 mm). A PD outside it most likely means the iris was read wrong, not
# an unusual face: eyelids covering the iris (a squint, a smile), a blurred or low-resolution
# eye (TV footage, a face far away), a strongly turned head. On a 1280x720 interview clip with
# a squinting, turned face the iris read ~20% small and the PD came out 80 mm.
ADULT_PD_RANGE_MM = (50.0, 75.0)

# Face width between the face outline's widest points (mesh vertices 234 and 454, near the
# tragus): adult bizygomatic breadths lie within roughly 120-155 mm across populations
# (anthropometric surveys, e.g. Farkas 1994), and this outline reads a little wider (131.6 mm
# on the astronaut portrait, 139 mm fused on renders of her head). Outside this range the
# width is wrong, most often because the iris scale is (see above) or because the far side of
# a strongly turned face is hidden and the network guesses it.
ADULT_FACE_WIDTH_RANGE_MM = (110.0, 175.0)
# A face turned further than this from the camera (degrees) is measured less surely: its far
# half (and so its width, and that half of a bust) is more and more the network's guess, and
# the irises, seen obliquely, read small. On renders of a head with painted irises (which turn
# with the head, unlike eyes looking at the camera) photo mode's PD and face width are within
# 5% and 3% up to 20 deg of turn, +8% and +12% at 30 deg, +14% and +27% at 50 deg.
TURNED_FACE_DEG = 35.0
# The eye turned away from the camera reads small (``iris_eye_weights``): its weight falls as
# exp(-(sin(turn) / this)^2), 0.27 at 10 deg of turn, 0.05 at 15 deg.
FAR_EYE_SIN = 0.15


def iris_diameter_px(iris_px: np.ndarray) -> np.ndarray:
    """Iris diameters in the image, ``(2,) float64`` pixels, one per eye.

    iris_px: ``(2, 5, 3)`` or ``(2, 5, 2)`` pixels; point 0 is the centre, points 1..4 the
    contour (right, top, left, bottom). The largest chord between opposite contour points is
    used: a turned eye foreshortens one axis, never lengthens it, and the eyelids cover the top
    and bottom first, so the longest chord is the closest to the true diameter.
    """
    iris = np.asarray(iris_px, dtype=np.float64)
    if iris.shape not in ((2, 5, 3), (2, 5, 2)):
        raise ValueError(f"iris_px: expected shape (2, 5, 3), got {iris.shape}")
    xy = iris[..., :2]
    horizontal = np.linalg.norm(xy[:, 1] - xy[:, 3], axis=-1)
    vertical = np.linalg.norm(xy[:, 2] - xy[:, 4], axis=-1)
    return np.maximum(horizontal, vertical)


def iris_depth_mm(iris_diameter: np.ndarray | float, focal_px: float) -> np.ndarray:
    """Distance of the eye from the camera, millimetres: ``z = f * 11.7 / d`` (similar triangles).

    iris_diameter: pixels, any shape. focal_px: focal length, pixels.
    """
    return focal_px * IRIS_DIAMETER_MM / np.asarray(iris_diameter, dtype=np.float64)


def mm_per_px(iris_diameter: np.ndarray | float) -> np.ndarray:
    """Millimetres per pixel at the eye's depth: ``11.7 / d``. Independent of the focal length."""
    return IRIS_DIAMETER_MM / np.asarray(iris_diameter, dtype=np.float64)


def robust_mean(values: np.ndarray, weights: np.ndarray | None = None, k: float = 2.5, iterations: int = 3) -> float:
    """Outlier-resistant weighted mean of ``(n,)`` values (same units out).

    Iteratively reweighted with Huber weights around the current estimate; ``k`` is the Huber
    threshold in units of the median absolute deviation (x1.4826, so Gaussian sigmas).
    """
    values = check_shape("values", values, (None,), dtype=np.float64)
    if len(values) == 0:
        raise ValueError("values: empty")
    w = np.ones_like(values) if weights is None else check_shape("weights", weights, (len(values),), dtype=np.float64)
    estimate = float(np.median(values))
    for _ in range(iterations):
        residual = np.abs(values - estimate)
        sigma = 1.4826 * float(np.median(residual)) + 1e-12
        huber = np.minimum(1.0, k * sigma / np.maximum(residual, 1e-12))
        total = w * huber
        if total.sum() <= 0:
            break
        estimate = float(np.sum(total * values) / total.sum())
    return estimate


@dataclass(frozen=True)
class MetricScaleOptions:
    # Observations further than this from the current estimate (relative) are rejected once
    # the estimate has settled: a blink or a misfit iris reads 20-40% off, real drift never.
    outlier_ratio: float = 0.12
    # Until this much weight (frames x weight) is in, the estimate is a robust (Huber) mean of
    # all observations and nothing is rejected, so a wrong first observation can neither anchor
    # the estimate nor lock the right ones out.
    settle_weight: float = 10.0
    # ... or until this many observations (low-weight ones, e.g. a face kept in profile), which
    # bounds the cost of the robust mean (~4 s at 30 fps).
    max_early_observations: int = 120
    # Settling, frames x weight: the running-mean gain w / W is further scaled by
    # converge / (converge + W), so the estimate converges (the gains sum to a finite total) and
    # then stays put, as the identity mesh it scales must (issue 3: < 0.2 mm drift). With
    # ~1.5% noise per frame the estimate still averages the equivalent of ~50 frontal frames.
    converge_weight: float = 30.0


class MetricScale:
    """Running robust estimate of one positive scale factor (e.g. mm per model unit).

    Fuses in log space (ratios average symmetrically) as a weighted running mean whose gain
    shrinks faster than 1/n once ``converge_weight`` is reached (it converges, then stays put);
    once ``settle_weight`` is in, observations further than ``outlier_ratio`` from the estimate
    are rejected.
    """

    def __init__(self, options: MetricScaleOptions = MetricScaleOptions()):
        self.options = options
        self.reset()

    def reset(self) -> None:
        self._log = 0.0
        self._weight = 0.0
        self._early: list[tuple[float, float]] = []  # (log observation, weight) until settled
        self.rejected = 0

    @property
    def weight(self) -> float:
        return self._weight

    @property
    def value(self) -> float | None:
        """The current estimate, or ``None`` before the first observation."""
        return float(np.exp(self._log)) if self._weight > 0 else None

    def update(self, observation: float, weight: float = 1.0) -> float | None:
        """Add one observation (> 0) with a weight in [0, 1]; returns the estimate."""
        if not (np.isfinite(observation) and observation > 0 and weight > 0):
            return self.value
        log_obs = float(np.log(observation))
        options = self.options
        if self._weight < options.settle_weight and len(self._early) < options.max_early_observations:
            # Until settled, the estimate is a robust mean of everything seen, so an outlier
            # among the first frames cannot anchor it.
            self._early.append((log_obs, weight))
            logs, weights = np.array(self._early).T
            self._log = robust_mean(logs, weights)
            self._weight = float(weights.sum())
            return self.value
        if abs(log_obs - self._log) > np.log1p(options.outlier_ratio):
            self.rejected += 1
            return self.value
        converge = options.converge_weight
        gain = weight / (self._weight + weight) * converge / (converge + self._weight)
        self._log += gain * (log_obs - self._log)
        self._weight += weight
        return self.value


def iris_eye_weights(rotation: np.ndarray, far_eye_sin: float = FAR_EYE_SIN) -> np.ndarray:
    """How much to trust each eye's iris diameter at a head pose, ``(2,)`` in (0, 1], right eye first.

    rotation: ``(3, 3)`` canonical -> camera (canonical x from the person's right eye to the
    left). An eye turned away from the camera (seen past the nose bridge) reads small: on
    rendered heads the far iris is ~10% small at 12 deg of yaw and ~30% at 25 deg, the near one
    within ~3%. The canonical x axis has camera depth component ``sin(turn)``: positive when
    the left eye is the far one. The far eye's weight is ``exp(-(sin(turn) / far_eye_sin)^2)``;
    the near eye keeps 1.
    """
    turn = float(check_shape("rotation", rotation, (3, 3))[2, 0])
    away = np.array([-turn, turn])
    return np.exp(-(np.maximum(away, 0.0) / far_eye_sin) ** 2)


def weighted_iris_diameter(diameters: np.ndarray, eye_weights: np.ndarray) -> float:
    """One iris diameter from both eyes' ``(2,)``, weighted ``(2,)`` (geometric mean: the
    scale is a ratio). Same unit as ``diameters``."""
    d = np.asarray(diameters, dtype=np.float64)
    w = np.asarray(eye_weights, dtype=np.float64)
    return float(np.exp((w @ np.log(d)) / w.sum()))


def scale_warning(pd_mm: float, scale_source: str, face_width_mm: float = float("nan"),
                  turn_deg: float = 0.0) -> str | None:
    """One line for reports when the millimetres look wrong, else None.

    pd_mm: the measured pupillary distance; scale_source: where the scale came from ("iris",
    or an assumed mean when no iris was seen); face_width_mm: the measured face width (NaN:
    not checked); turn_deg: how far the face is turned from the camera (yaw, either way).
    """
    problems = []
    low, high = ADULT_PD_RANGE_MM
    if scale_source != "iris":
        problems.append("no iris seen: sizes assume the mean adult PD (63.4 mm)")
    elif np.isfinite(pd_mm) and not low <= pd_mm <= high:
        problems.append(f"PD {pd_mm:.1f} mm is outside the adult range {low:.0f}-{high:.0f} mm: the iris was "
                        "probably read wrong (squinting or covered eyes, a blurred or small eye, a turned head); "
                        "sizes may be off")
    width_low, width_high = ADULT_FACE_WIDTH_RANGE_MM
    if abs(turn_deg) > TURNED_FACE_DEG:
        problems.append(f"the face is turned {abs(turn_deg):.0f} deg from the camera: its sizes are less certain "
                        "and its far side (that half of a bust) is guessed; a frontal photo measures best")
    elif np.isfinite(face_width_mm) and not width_low <= face_width_mm <= width_high:
        problems.append(f"face width {face_width_mm:.0f} mm is outside the adult range "
                        f"{width_low:.0f}-{width_high:.0f} mm")
    return "; ".join(problems) if problems else None
