"""Metric scale from the iris: pixels to millimetres, fused over time.

The human iris is nearly the same size in every adult (11.7 +/- 0.5 mm, the figure MediaPipe
Iris uses), so its diameter in the image fixes the scale of the face around it: a feature of
``d`` pixels at the eye is ``d * 11.7 / iris_px`` millimetres, with no need for the focal length,
and the eye's distance from the camera is ``focal_px * 11.7 / iris_px`` (MediaPipe Iris reports
< 10% depth error this way). In: the iris network's 5 points per eye, pixels. Out: diameters,
depths and a robust temporal estimate of one scale factor (``MetricScale``), which the fusion
stage uses to keep the identity mesh in millimetres. For a single photo (no frames to average)
``photo_scale`` weighs the iris by its expected error (its size in pixels, blur, eyelids, turn)
against adult face proportions and returns the scale with its standard deviation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from realtime import topology
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
                  turn_deg: float = 0.0, pd_sd_mm: float = float("nan")) -> str | None:
    """One line for reports when the millimetres look wrong, else None.

    pd_mm: the measured pupillary distance; scale_source: where the scale came from ("iris",
    or photo mode's "iris and face proportions"; "face proportions" when photo mode's iris
    carries too little weight to count as measured, ``photo_scale``; anything else: an assumed
    mean, no iris seen); face_width_mm: the
    measured face width (NaN: not checked); turn_deg: how far the face is turned from the
    camera (yaw, either way); pd_sd_mm: the PD's standard deviation (NaN: unknown).
    """
    problems = []
    low, high = ADULT_PD_RANGE_MM
    spread = f" +/- {pd_sd_mm:.1f} mm" if np.isfinite(pd_sd_mm) else ""
    if scale_source == "face proportions":
        problems.append(f"the iris is too small, soft, covered or turned to measure well: sizes lean on average "
                        f"adult face proportions (PD {pd_mm:.1f}{spread})")
        if np.isfinite(pd_mm) and not low <= pd_mm <= high:
            problems.append(f"PD {pd_mm:.1f} mm is outside the adult range {low:.0f}-{high:.0f} mm")
    elif not scale_source.startswith("iris"):
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


# --------------------------------------------------------------------------------------------
# One photo's scale: the iris weighed by its expected error against adult face proportions.
#
# A single photo has no second frame to average, and the iris of a small or soft photo is 6-10
# pixels across: a 1 px error is 10-16%. Each cue gives millimetres per pixel as a mean size
# over a measured length; in log space each is an estimate of the same log scale with its own
# variance (population spread + measuring error), and the best combination weighs each by the
# inverse of its variance (the face cues share a person's overall size, so they are combined
# with their correlation first).

# Iris: 11.7 +/- 0.5 mm across adults (MediaPipe Iris; Rüfer et al. 2005, white-to-white
# 11.71 +/- 0.42 mm over 1,000 eyes): 4.3% of population spread, whoever reads it.
IRIS_POPULATION_SD = 0.5 / IRIS_DIAMETER_MM
# The iris network's reading error in pixels on a sharp eye: resampling the shared photos'
# faces to 2-12 px irises moved the diameter by 2.4-6.6% RMS (0.2-0.3 px), about 0.3 px.
IRIS_READ_SD_PX = 0.3
# ...plus a floor for what a sharp, large iris still gets wrong on real photos (gaze, lids,
# lashes, the network's habit): the same person across a talking-head clip (clip_d3, 20-28 px
# irises) read 84-117 mm between the eye corners with the iris scale, against 89.5 +/- 3.6 mm
# in adults, where a still, expressive one (clip_d6) read 81-90 mm; the two eyes of one frame
# disagree by up to 13% (that part is measured per photo: ``eye_disagreement``). 4% of reading
# error per photo on top of what is measured.
IRIS_READ_FLOOR = 0.04
# Blur widens the iris edge the network looks for: each pixel of edge blur (Gaussian sigma,
# ``edge_blur_px``) counts as this many pixels of reading error.
IRIS_BLUR_WEIGHT = 0.5
# Eyelids covering the iris (a squint, a smile) cut its top and bottom and the network reads it
# small: a covered fraction f of the diameter beyond the usual adds (f - usual) x this to the
# relative error. Open eyes at rest show 70-90% of the iris's height (the lids' opening over
# the iris diameter on the shared photos and the astronaut: 0.68-0.98), so 0.3 is usual.
IRIS_LID_WEIGHT = 0.3
USUAL_LID_COVER = 0.3
# Seen obliquely, the near iris still reads ~3% small at 25 deg of turn on renders: sin(turn)
# x this of relative error.
IRIS_TURN_WEIGHT = 0.15


@dataclass(frozen=True)
class FacePrior:
    """An adult face length as a ruler: between mesh vertices ``a`` and ``b`` (3D), ``mean_mm``
    +/- ``sd_mm`` across adults (both sexes)."""

    name: str
    a: int
    b: int
    mean_mm: float
    sd_mm: float


# Means and spreads: Farkas, "Anthropometry of the Head and Face" (1994), North American
# adults, pooled over sexes (the difference of the sexes' means counted into the spread); the
# mesh's own landmarks sit where its network puts them, so each mean was checked against 26
# frontal real faces (shared photos and clips) scaled by sharp irises (14-35 px):
# - biocular width ex-ex (outer eye corners 33-263): men 91.2 +/- 3.0, women 87.8 +/- 3.2 mm
#   -> 89.5 +/- 3.6 mm; the mesh measured 89.5 mm (median).
# - face width at the outline's widest (234-454, beside the tragi; zy-zy in Farkas: men
#   ~139 +/- 5, women ~131 +/- 5 mm, spread ~6.3 mm pooled; ANSUR II's bizygomatic breadth
#   spreads alike): the mesh's outline sits inside the zygia, median 132.2 mm -> 132 +/- 6.3.
# - face height nasion-menton (168-152; n-gn: men ~121 +/- 7, women ~113 +/- 5 mm, ~7.3 pooled):
#   the mesh's 168 sits a little above the nasion, median 121.2 mm -> 121 +/- 7.3 (an open
#   mouth lengthens it: ``face_priors`` adds the opening to its error).
EYE_CORNER_PRIOR = FacePrior("eye_corners", topology.RIGHT_EYE_OUTER, topology.LEFT_EYE_OUTER, 89.5, 3.6)
FACE_WIDTH_PRIOR = FacePrior("face_width", topology.FACE_SIDE_RIGHT, topology.FACE_SIDE_LEFT, 132.0, 6.3)
FACE_HEIGHT_PRIOR = FacePrior("face_height", topology.NOSE_BRIDGE[0], topology.CHIN, 121.0, 7.3)
FACE_PRIORS = (EYE_CORNER_PRIOR, FACE_WIDTH_PRIOR, FACE_HEIGHT_PRIOR)
# Face lengths of one person are correlated through their overall size (r ~0.3-0.5 between
# face width, eye-corner width and face height in anthropometric surveys): 0.4 between each pair.
FACE_PRIOR_CORRELATION = 0.4
# The mesh's own error in locating the two ends of a face length, pixels (1-2% of the
# inter-ocular distance on real faces).
FACE_LANDMARK_SD_PX = 1.5
# The far half of a turned face is the network's guess: the face width's error grows by
# sin(turn) x this.
FACE_WIDTH_TURN_WEIGHT = 0.3
# Inner lips (13, 14): a mouth opening of d mm adds d / face height of relative error.
MOUTH_INNER = (topology.UPPER_LIP_INNER, topology.LOWER_LIP_INNER)
# Pupil centres are located to about this many pixels each (the PD's own measuring error).
PUPIL_CENTRE_SD_PX = 0.5


def edge_blur_px(gray: np.ndarray, centre_px: np.ndarray, radius_px: float) -> float:
    """Blur of the iris edge, Gaussian sigma in pixels (0 for a sharp edge).

    gray: ``(h, w)`` image, any range. centre_px: ``(2,)`` iris centre, pixels. radius_px:
    iris radius, pixels. Along the horizontal line through the centre, a step of contrast C
    blurred by a Gaussian of sigma s has a steepest slope of C / (s sqrt(2 pi)): the contrast is
    taken between the iris (inside 0.5 r) and the white of the eye (1.4-1.8 r out), the slope
    on 0.6-1.4 r, on both sides; a sharp, sampled edge reads about 0.5 px, which is taken out in
    quadrature (blurs add as sqrt(s1^2 + s2^2)).
    """
    import cv2

    image = np.asarray(gray, dtype=np.float32)
    r = max(float(radius_px), 1.0)
    offsets = np.arange(-1.8 * r, 1.8 * r + 0.25, 0.25, dtype=np.float32)
    xs = (float(centre_px[0]) + offsets).reshape(1, -1)
    ys = np.full_like(xs, float(centre_px[1]))
    profile = cv2.remap(image, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]
    slope = np.abs(np.gradient(profile, 0.25))
    inside = np.abs(offsets) <= 0.5 * r
    blurs = []
    for side in (-1.0, 1.0):
        outside = (side * offsets >= 1.4 * r)
        edge = (side * offsets >= 0.6 * r) & (side * offsets <= 1.4 * r)
        contrast = abs(float(np.median(profile[outside])) - float(np.median(profile[inside])))
        steepest = float(slope[edge].max()) if edge.any() else 0.0
        if contrast > 1e-6 and steepest > 1e-6:
            blurs.append(contrast / (steepest * math.sqrt(2.0 * math.pi)))
    if not blurs:
        return 0.0
    measured = float(np.median(blurs))
    return math.sqrt(max(measured * measured - SHARP_EDGE_BLUR_PX * SHARP_EDGE_BLUR_PX, 0.0))


# A perfectly sharp edge sampled on the pixel grid reads this blur (bilinear sampling).
SHARP_EDGE_BLUR_PX = 0.5


def iris_scale_sd(diameter_px: float, blur_px: float = 0.0, lid_cover: float = 0.0, turn_sin: float = 0.0,
                  eye_disagreement: float = 0.0) -> float:
    """Expected relative error (log-space SD) of the scale ``11.7 / diameter``.

    diameter_px: the iris diameter read, pixels. blur_px: edge blur, Gaussian sigma in pixels
    (``edge_blur_px``). lid_cover: fraction of the diameter the eyelids cover, [0, 1] (beyond
    ``USUAL_LID_COVER`` it counts).
    turn_sin: sine of the head's turn from the camera. eye_disagreement: |log(d_right /
    d_left)| of the two eyes' readings (a measured reading error; 0 with one eye).
    """
    d = max(float(diameter_px), 1e-3)
    read = math.hypot(IRIS_READ_SD_PX, IRIS_BLUR_WEIGHT * max(blur_px, 0.0)) / d
    lids = IRIS_LID_WEIGHT * max(min(lid_cover, 1.0) - USUAL_LID_COVER, 0.0)
    terms = (IRIS_POPULATION_SD, IRIS_READ_FLOOR, read, lids,
             IRIS_TURN_WEIGHT * abs(turn_sin), eye_disagreement / math.sqrt(2.0))
    return float(math.sqrt(sum(t * t for t in terms)))


def combine_log_estimates(log_values: np.ndarray, covariance: np.ndarray) -> tuple[float, float]:
    """Best linear unbiased combination of correlated estimates of one log quantity.

    log_values: ``(n,)``; covariance: ``(n, n)`` their error covariance. Weights
    ``w = C^-1 1 / (1' C^-1 1)``; returns ``(estimate, sd)`` in the same log units.
    """
    values = check_shape("log_values", log_values, (None,), dtype=np.float64)
    cov = check_shape("covariance", covariance, (len(values), len(values)), dtype=np.float64)
    inverse_ones = np.linalg.solve(cov, np.ones(len(values)))
    total = float(inverse_ones.sum())
    return float(inverse_ones @ values / total), float(math.sqrt(1.0 / total))


def face_prior_scales(vertices_px: np.ndarray, turn_sin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Millimetres per pixel from each face prior, and the covariance of their logs.

    vertices_px: ``(468, 3)`` pixels (z in the scale of x). Returns ``(scales (k,) mm/px,
    covariance (k, k))`` for ``FACE_PRIORS``: each length in 3D pixels against its adult mean;
    variances: population spread, the landmarks' own error, the far side of a turned face
    (width), an open mouth (height); correlations ``FACE_PRIOR_CORRELATION``.
    """
    v = check_shape("vertices_px", vertices_px, (None, 3), dtype=np.float64)
    lengths = np.array([np.linalg.norm(v[p.a] - v[p.b]) for p in FACE_PRIORS])
    population = np.array([p.sd_mm / p.mean_mm for p in FACE_PRIORS])
    measuring = FACE_LANDMARK_SD_PX / np.maximum(lengths, 1e-6)
    extra = np.zeros(len(FACE_PRIORS))
    extra[FACE_PRIORS.index(FACE_WIDTH_PRIOR)] = FACE_WIDTH_TURN_WEIGHT * abs(turn_sin)
    height = FACE_PRIORS.index(FACE_HEIGHT_PRIOR)
    extra[height] = np.linalg.norm(v[MOUTH_INNER[0]] - v[MOUTH_INNER[1]]) / max(lengths[height], 1e-6)
    # The shared part is the population's (a person's size); measuring errors are independent.
    covariance = FACE_PRIOR_CORRELATION * np.outer(population, population)
    covariance[np.diag_indices_from(covariance)] = population ** 2 + measuring ** 2 + extra ** 2
    scales = np.array([p.mean_mm for p in FACE_PRIORS]) / np.maximum(lengths, 1e-6)
    return scales, covariance


# The iris counts as measured (a photo's ``scale_source`` names it) when it carries at least
# this share of the scale's weight: an iris with at most ~2x the face proportions' combined
# error (a sharp iris of 8 px or more reads 0.18-0.24 on the shared photos; 3-5 px: 0.08-0.16).
IRIS_MEASURED_SHARE = 0.15


@dataclass(frozen=True)
class PhotoScale:
    """One photo's scale. mm_per_px: the combined estimate; sd: its relative error (log-space
    SD, so sizes are ``x exp(+/- sd)``); weights: each cue's share of it (``iris``,
    ``eye_corners``, ``face_width``, ``face_height``; sums to 1); iris_mm_per_px: the iris
    alone (None without irises); iris_sd: the iris's expected relative error (inf without)."""

    mm_per_px: float
    sd: float
    weights: dict
    iris_mm_per_px: float | None
    iris_sd: float


def photo_scale(vertices_px: np.ndarray, iris_px: np.ndarray | None, eye_weights: np.ndarray,
                turn_sin: float = 0.0, blur_px: np.ndarray | None = None) -> PhotoScale:
    """Millimetres per pixel at a face from its iris and its proportions, with the error.

    vertices_px: ``(468, 3)`` pixels. iris_px: ``(2, 5, 3)`` pixels or None. eye_weights:
    ``(2,)`` trust in each eye's iris (``iris_eye_weights``: the eye turned away reads small).
    turn_sin: sine of the head's turn. blur_px: ``(2,)`` each iris edge's blur (``edge_blur_px``),
    pixels, or None (sharp).
    """
    from realtime.topology import LEFT_EYE, RIGHT_EYE

    v = check_shape("vertices_px", vertices_px, (None, 3), dtype=np.float64)
    face_scales, face_cov = face_prior_scales(v, turn_sin)
    log_values, covariance = np.log(face_scales), face_cov
    names = [p.name for p in FACE_PRIORS]
    iris_scale, iris_sd = None, math.inf
    if iris_px is not None:
        diameters = iris_diameter_px(iris_px)
        if np.all(np.isfinite(diameters)) and np.all(diameters > 0):
            w = np.asarray(eye_weights, dtype=np.float64)
            diameter = weighted_iris_diameter(diameters, w)
            # Lids: the eyelid opening above and below the iris centre (upper 159 / 386, lower
            # 145 / 374) against the iris diameter, weighted as the eyes are.
            openings = np.array([np.linalg.norm(v[RIGHT_EYE[4]] - v[RIGHT_EYE[12]]),
                                 np.linalg.norm(v[LEFT_EYE[4]] - v[LEFT_EYE[12]])])
            cover = float(w @ np.clip(1.0 - openings / diameters, 0.0, 1.0) / w.sum())
            blur = 0.0 if blur_px is None else float(w @ np.asarray(blur_px, dtype=np.float64) / w.sum())
            # Two eyes that both face the camera should read alike; their disagreement is a
            # measured reading error (a turned-away eye's is expected, and discounted).
            disagreement = abs(math.log(diameters[0] / diameters[1])) * float(w.min() / w.max())
            iris_sd = iris_scale_sd(diameter, blur, cover, turn_sin, disagreement)
            iris_scale = IRIS_DIAMETER_MM / diameter
            k = len(log_values)
            log_values = np.append(log_values, math.log(iris_scale))
            covariance = np.pad(covariance, ((0, 1), (0, 1)))
            covariance[k, k] = iris_sd ** 2
            names.append("iris")
    estimate, sd = combine_log_estimates(log_values, covariance)
    inverse_ones = np.linalg.solve(covariance, np.ones(len(log_values)))
    shares = inverse_ones / inverse_ones.sum()
    return PhotoScale(float(math.exp(estimate)), sd, {n: round(float(s), 4) for n, s in zip(names, shares)},
                      iris_scale, iris_sd)


def photo_scale_source(scale: PhotoScale) -> str:
    """"iris and face proportions" when the iris carries at least ``IRIS_MEASURED_SHARE`` of
    the scale, else "face proportions" (a small, soft, covered or turned iris, or none)."""
    measured = scale.weights.get("iris", 0.0) >= IRIS_MEASURED_SHARE
    return "iris and face proportions" if measured else "face proportions"
