"""Fusion stage: per-frame face meshes in, one stable, metric face mesh out.

In: each frame's 468-vertex mesh in image pixels (MediaPipe convention, z in the pixel scale
of x relative to the face), the iris network's points, the camera intrinsics and a timestamp.
Each frame is unprojected to "unit depth" (exact perspective: a vertex at pixel (u, v) with
relative depth z lies on its viewing ray at depth ``Zc * (1 + z / fx)``, so all vertices scale
together with the unknown face depth ``Zc``). A weighted, outlier-robust similarity transform
(Umeyama with iteratively reweighted residuals)
registers the running identity shape to that frame (every vertex weighted by the inverse
variance of its non-rigid motion on real faces: ``POSE_WEIGHTS``); its scale fixes the depth, since the
identity is kept in millimetres by the iris (``realtime.stages.scale``: the eye turned away from the
camera is discounted, it reads small). The camera pose is then refined on the image positions
alone (perspective-n-point): the network's x, y are measured, its z is a guess that leans towards
frontal and makes a 3D fit under-turn the head. The frame, brought back (by the 3D fit) into
the canonical head frame, updates the identity (a per-vertex running mean weighted by how
frontally the vertex is seen, and by how neutral it looks), and what remains is the expression,
filtered with a One Euro filter; pose is filtered the same way (rotation as a quaternion, in
the tangent space). The filters count speeds in units of the face's noise, which grows with the
millimetres per pixel at the face (``filter_noise_scales``), so a small, distant face is as
still as a near one. Out (``FusionResult``): the fused mesh in camera space (OpenCV axes, mm),
the neutral identity in the canonical frame (mm, centred; x from the person's right eye to
their left, y up along the face, z out of the face, so it stands upright for printing), the
pose ``camera = rotation @ canonical + translation``, and quality figures. A different face is
detected by its shape and resets the identity.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from realtime.camera import CameraIntrinsics, undistort_pixels
from realtime.geometry import (canonical_frame, eye_corner_depths, interocular, mesh_px_from_camera, point_normals,
                               reprojection_pose, robust_similarity, unit_depth_points, visibility, weighted_similarity)
from realtime.stages.filters import OneEuroArray, OneEuroOptions, OneEuroRotation
from realtime.stages.scale import (FAR_EYE_SIN, IRIS_DIAMETER_MM, MEAN_PD_MM, MetricScale, MetricScaleOptions,
                            iris_diameter_px, iris_eye_weights, scale_warning, weighted_iris_diameter)
from realtime.shapes import check_shape
from realtime.topology import FACE_SIDE_LEFT, FACE_SIDE_RIGHT, IDENTITY_VERTICES, N_REFINED_VERTICES, N_VERTICES

def pose_vertex_weights(rigidity: np.ndarray) -> np.ndarray:
    """Weight of each vertex in the pose fit, ``(n,) float64`` in (0, 1]: the inverse variance
    of its motion that no rigid pose explains (maximum likelihood), relative to the most rigid.

    rigidity: ``(n,)`` RMS non-rigid residual per vertex (any unit; ``realtime.tools.rigidity_build``).
    """
    residual = check_shape("rigidity", rigidity, (None,), dtype=np.float64)
    return (residual.min() / residual) ** 2


def _load_vertex_rigidity() -> np.ndarray:
    from realtime.resources import data_dir

    return np.load(data_dir() / "vertex_rigidity.npy").astype(np.float64)


# How far each vertex moves off the head's rigid motion in real footage, fraction of the
# inter-ocular distance (``realtime.tools.rigidity_build``, measured on 1,440 frames of real faces
# talking and grimacing: 0.6% around the nose bridge and lower eyelids, 2.8% median, 10% on
# the lips and jaw). Every vertex takes part in the pose fit with the inverse variance as its
# weight. On rendered heads this reads the pose sweep to 2.77 deg (median) where a hand-picked
# set of 63 "stable" vertices with equal weights (forehead, nose bridge and tip, eye corners,
# cheekbones, temples) read 3.42 deg: on real faces its outline and nose-tip vertices move
# 2-3% of the inter-ocular distance, several times the most rigid.
POSE_WEIGHTS = pose_vertex_weights(_load_vertex_rigidity())



def jitter(meshes: np.ndarray, scale: float) -> float:
    """RMS frame-to-frame vertex motion of a mesh sequence, divided by ``scale``.

    meshes: ``(t, n, 3)`` any unit. scale: a length in the same unit (the inter-ocular
    distance), so the figure is dimensionless. Returns 0 for fewer than 2 frames.
    """
    meshes = np.asarray(meshes, dtype=np.float64)
    if len(meshes) < 2:
        return 0.0
    step = np.diff(meshes, axis=0)
    return float(np.sqrt((step ** 2).sum(-1).mean()) / scale)


def split_refined(vertices_px: np.ndarray, iris_px: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Accept MediaPipe's refined 478-point mesh: ``(478, 3)`` -> ``(468, 3)`` and ``(2, 5, 3)`` iris."""
    v = np.asarray(vertices_px, dtype=np.float64)
    if v.shape == (N_REFINED_VERTICES, 3):
        if iris_px is None:
            iris_px = v[N_VERTICES:].reshape(2, 5, 3)
        v = v[:N_VERTICES]
    return check_shape("vertices_px", v, (N_VERTICES, 3)), iris_px


# --------------------------------------------------------------------------------------------
# Stage


@dataclass(frozen=True)
class FusionOptions:
    # Pose fit: IRLS iterations and Huber threshold (robust sigmas); 2 sigmas keeps > 95% of
    # Gaussian inliers at full weight. One reweighting is enough before the image-space
    # refinement (which reweights again): a second left the rendered pose sweep and the pose
    # jitter on real clips as they were and cost 0.07 ms a frame, with all 468 vertices in the fit.
    fit_iterations: int = 1
    fit_huber_k: float = 2.0
    # Residuals below this fraction of the inter-ocular distance are never down-weighted:
    # the network's own noise is ~0.5%, so a near-perfect fit must not turn noise into outliers.
    fit_noise_floor: float = 0.005
    # Weight floor of stable vertices seen edge-on or from behind in the pose fit: the network
    # still places them plausibly, and a floor keeps a profile view from fitting on a handful.
    fit_min_visibility: float = 0.05
    # Gauss-Newton steps that refine the pose on the vertices' image positions alone (0: keep
    # the 3D fit). The network's x, y are measured in the image; its z is a guess that leans
    # towards frontal, so a 3D fit under-turns the head (by ~15% of the yaw on rendered heads:
    # 30 deg read as 25). Two steps from the 3D fit are within 0.07 deg (median, rendered
    # pose sweep) of three, and the third cost 0.1 ms a frame.
    fit_reprojection_iterations: int = 2
    # ...and how much the network's relative depths count in that refinement against the image
    # positions, per unit of each: the ratio of their noise (maximum likelihood), measured on
    # the still demo face as frame-to-frame RMS: x, y 0.125 px against z 0.207 px. The image
    # positions read the yaw of rendered heads best and the depths their pitch (0.83 and 1.08
    # of the truth alone); together they read both.
    fit_depth_weight: float = 0.6
    # Identity settling, frames x visibility weight: a vertex's running-mean gain w / W is
    # further scaled by settle / (settle + W), so the identity converges (the gains sum to a
    # finite total) and then stays put, instead of wandering with the network's pose-dependent
    # bias (its z leans towards frontal, so a head that pitches down for a while pulls the
    # mean). A vertex first seen late (the side of a turning head) still starts at full gain.
    # 5: on a rendered head turning +-30 deg yaw, +-10 deg pitch the shape moves 0.08 mm RMS
    # between frames 100 and 200 (0.24 mm at 20), and is as close to the truth (1.9 mm RMS).
    identity_settle_weight: float = 5.0
    # Residuals from the identity larger than this (fraction of the inter-ocular distance,
    # ~2.5 mm) are expressions and enter the neutral identity with Cauchy-reduced weight.
    identity_expression_scale: float = 0.04
    # Vertices seen less frontally than this (n . view) add nothing to the identity: the network
    # guesses the hidden side of a turned face.
    identity_min_visibility: float = 0.2
    # Per-vertex confidence = weight / (weight + this): 0.5 after ~10 frontal frames.
    confidence_half_weight: float = 10.0
    # Identity change: RMS distance of the stable vertices from the identity after alignment,
    # fraction of the inter-ocular distance. Same face: ~1% (noise, pose); different adults
    # differ by 4-8%.
    identity_change_threshold: float = 0.05
    # ... for this many consecutive frames (a blink or a bad frame is not a new person).
    identity_change_frames: int = 8
    # ... judged only on frames whose head turns less than this from the camera (degrees): on
    # rendered heads the same face reads 1.6% frontal, 3.5% (max 4.6%) at 30 deg and 4.4% (max
    # 5.3%) at 40 deg, at the threshold: a user holding a look aside for 8 frames reset the
    # identity. Turned frames leave the count as it is.
    identity_change_max_angle_deg: float = 25.0
    # Frame counts at which the identity is turned back into its own head frame: the axes are
    # first taken from one noisy frame; once ~30 and ~90 frames are averaged they are refined,
    # after that the identity has converged and its frame stays put.
    recanonicalise_at_frames: tuple[int, ...] = (10, 30, 90)
    # Pose filter (One Euro). Rotation: min cutoff Hz at rest, beta Hz per rad/s.
    rotation_filter: OneEuroOptions = OneEuroOptions(min_cutoff=0.4, beta=6.0, d_cutoff=1.0, lead=0.0)
    # Translation, per axis: beta Hz per mm/s.
    translation_filter: OneEuroOptions = OneEuroOptions(min_cutoff=0.4, beta=0.1, d_cutoff=1.0, lead=0.0)
    # Expression residual, per vertex: beta Hz per mm/s of that vertex. A mouth opening in
    # 0.25 s moves ~40 mm/s; at rest the network's noise reads as ~5 mm/s, so the velocity lead
    # (gated at 40 mm/s) is off for a still face and restores the amplitude of fast expressions
    # (97% at 2 Hz instead of 88% without it).
    expression_filter: OneEuroOptions = OneEuroOptions(min_cutoff=0.25, beta=0.08, d_cutoff=1.0, lead=1.0,
                                                       lead_speed=40.0)
    # Millimetres per pixel at the face up to which the filters above hold as tuned (the demo
    # clip's face at 394 mm and the rendered heads and synthetic faces of the tests at 500-550
    # mm, all with a 554 px focal length): a face at more millimetres per pixel is noisier by
    # the ratio, and its speeds are counted in units of that noise (``filter_noise_scales``).
    # Without this, photo_s0 held still at ~880 mm with sensor noise kept 1/9.1 of the raw
    # mesh's motion in the image (1/3.9 with its clip encoded as video) and its depth wobbled
    # +/-0.94 mm (+/-1.94): its noise opened the filters; with it, 1/15 (1/6.3) and +/-0.61 mm
    # (+/-1.53; docs/BENCHMARKS.md).
    noise_reference_mm_per_px: float = 1.0
    # ...never scaled below this: a nearer, larger face keeps the tuned filters (its lag
    # was measured with them).
    noise_scale_min: float = 1.0
    # A face lost for longer than this restarts the pose and expression filters (the head has
    # moved; gliding from the old pose would be a visible artefact), seconds.
    max_gap_s: float = 0.5
    # Iris scale observations: frames whose two iris diameters differ by more than this ratio
    # are skipped (a blink or a misfit).
    iris_max_disagreement: float = 0.25
    # Iris observations are weighted by (head facing the camera)^this: foreshortening and
    # eyelids bias a turned eye.
    iris_frontal_power: float = 4.0
    # The eye turned away from the camera reads small (``realtime.stages.scale.iris_eye_weights``).
    iris_far_eye_sin: float = FAR_EYE_SIN
    # The iris network runs on every 10th frame (ReconstructionOptions.iris_interval), so the
    # scale sees ~3 observations a second, each ~4% noisy. It must be settled by frame 100 (the
    # identity it scales may then move < 0.2 mm): robust mean of the first ~4 frontal
    # observations, then gains that sum to a finite total. Measured on rendered heads: depth
    # within 3% at 400-650 mm, the identity's scale moves 0.02% between frames 100 and 200 (0.9%
    # with the general-purpose defaults, which assume an observation per frame).
    scale: MetricScaleOptions = MetricScaleOptions(settle_weight=3.0, converge_weight=3.0)


@dataclass
class FusionResult:
    """One frame's fused face.

    vertices_mm: ``(468, 3) float32`` fused mesh, camera space (OpenCV axes), mm.
    identity_mm: ``(468, 3) float32`` neutral identity, canonical frame (centred; x to the
        person's left, y up, z out of the face), mm.
    expression_mm: ``(468, 3) float32`` filtered expression offset, canonical frame, mm.
    rotation: ``(3, 3) float64`` and translation_mm: ``(3,) float64``, filtered:
        ``vertices = (identity + expression) @ rotation.T + translation``.
    raw_rotation, raw_translation_mm: this frame's unfiltered fit.
    frames_fused: frames in the current identity. confidence: ``(468,) float32`` in [0, 1].
    pd_mm: pupillary distance, mm. face_width_mm: bizygomatic width (vertices 234-454), mm.
    distance_mm: distance of the face centre from the camera, mm.
    scale_source: "iris" or "assumed mean PD" (no iris seen yet).
    identity_reset: this frame started a new identity. tracking: a face was seen this frame.
    """

    vertices_mm: np.ndarray
    identity_mm: np.ndarray
    expression_mm: np.ndarray
    rotation: np.ndarray
    translation_mm: np.ndarray
    raw_rotation: np.ndarray
    raw_translation_mm: np.ndarray
    frames_fused: int
    confidence: np.ndarray
    pd_mm: float
    face_width_mm: float
    distance_mm: float
    scale_source: str
    identity_reset: bool
    tracking: bool
    timestamp_s: float
    timings_ms: dict = field(default_factory=dict)
    # A line when the millimetres look wrong (``realtime.stages.scale.scale_warning``), else None.
    scale_warning: str | None = None

    @classmethod
    def empty(cls, timestamp_s: float = 0.0) -> "FusionResult":
        """No face seen yet: zero arrays, ``frames_fused == 0``, NaN measurements."""
        zeros = np.zeros((N_VERTICES, 3), np.float32)
        return cls(zeros, zeros.copy(), zeros.copy(), np.eye(3), np.zeros(3), np.eye(3), np.zeros(3), 0,
                   np.zeros(N_VERTICES, np.float32), math.nan, math.nan, math.nan, "none", False, False, timestamp_s)


class Fusion:
    """Stateful fusion of per-frame meshes; see the module docstring. One face at a time."""

    def __init__(self, options: FusionOptions = FusionOptions()):
        self.options = options
        self._rotation_filter = OneEuroRotation(options.rotation_filter)
        self._translation_filter = OneEuroArray(options.translation_filter)
        self._expression_filter = OneEuroArray(options.expression_filter)
        self._scale = MetricScale(options.scale)
        self._last = FusionResult.empty()
        self.reset()

    # ---- lifecycle
    def reset(self) -> None:
        """Forget the identity, the scale and the filters (on demand, or a new face)."""
        self._identity = None  # (468, 3) float64, canonical frame, "identity units" (mm at bootstrap)
        self._weights = np.zeros(N_VERTICES)
        self._normals = None
        self._iris_centres = np.zeros((2, 3))
        self._iris_weight = 0.0
        self._frames = 0
        self._mismatch = 0
        self._scale.reset()
        self._reset_filters()
        self._last_seen_s = None

    def _reset_filters(self) -> None:
        self._last_fit = None  # (s, rotation, t) of the last frame's 3D fit, while tracking
        self._rotation_filter.reset()
        self._translation_filter.reset()
        self._expression_filter.reset()

    def close(self) -> None:
        self.reset()

    def __enter__(self) -> "Fusion":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- per frame
    def update_missing(self, timestamp_s: float) -> FusionResult:
        """A frame without a face: the last fused mesh, with ``tracking = False``."""
        last = self._last
        self._last = FusionResult(**{**last.__dict__, "tracking": False, "identity_reset": False,
                                     "timestamp_s": float(timestamp_s), "timings_ms": {}})
        return self._last

    def update(self, vertices_px: np.ndarray | None, iris_px: np.ndarray | None, intrinsics: CameraIntrinsics,
               timestamp_s: float) -> FusionResult:
        """Fuse one frame.

        vertices_px: ``(468, 3)`` pixels (MediaPipe convention), or ``(478, 3)`` with the iris
            points appended, or ``None`` for a frame without a face.
        iris_px: ``(2, 5, 3)`` pixels (right eye first; centre then contour), or ``None``.
        intrinsics: the camera at this frame's size. timestamp_s: seconds, increasing.
        """
        if vertices_px is None:
            return self.update_missing(timestamp_s)
        start = time.perf_counter()
        options = self.options
        vertices, iris_px = split_refined(vertices_px, iris_px)
        if iris_px is not None:
            iris_px = check_shape("iris_px", iris_px, (2, 5, 3), dtype=np.float64)
        if intrinsics.has_distortion:
            vertices = vertices.copy()
            vertices[:, :2] = undistort_pixels(vertices[:, :2], intrinsics)
            if iris_px is not None:
                iris_px = iris_px.copy()
                iris_px[..., :2] = undistort_pixels(iris_px[..., :2].reshape(-1, 2), intrinsics).reshape(2, 5, 2)
        unit = unit_depth_points(vertices, intrinsics)

        if self._last_seen_s is not None and timestamp_s - self._last_seen_s > options.max_gap_s:
            self._reset_filters()
        self._last_seen_s = timestamp_s

        identity_reset = False
        if self._identity is None:
            self._bootstrap(unit, iris_px, intrinsics)
            identity_reset = True

        identity = self._identity
        iod = interocular(identity)
        # Pose, on every vertex weighted by how rigidly it moves on real faces (POSE_WEIGHTS):
        # first fit with those weights, then weight also by how frontally each vertex is seen
        # at that pose, and reweight the outliers.
        # Visibility at the last frame's fit while tracking (a frame's turn changes it little),
        # else at a first fit with the rigidity weights alone.
        if self._last_fit is None:
            s, rotation, t = weighted_similarity(identity, unit, POSE_WEIGHTS)
        else:
            s, rotation, t = self._last_fit
        fit_weights = POSE_WEIGHTS * np.maximum(visibility(self._normals, rotation, t), options.fit_min_visibility)
        s, rotation, t, _ = robust_similarity(identity, unit, fit_weights, options.fit_iterations, options.fit_huber_k,
                                              noise_floor=options.fit_noise_floor * iod * s)
        self._last_fit = s, rotation, t
        vis = visibility(self._normals, rotation, t)

        # This frame in the canonical frame, identity units.
        observed = (unit - t) @ rotation / s
        difference = observed - identity
        residual = np.sqrt(np.einsum("ij,ij->i", difference, difference))

        # Identity change: a different face stays far from the identity however it is posed.
        judged_w = vis[IDENTITY_VERTICES]
        mismatch = math.sqrt(float((judged_w * residual[IDENTITY_VERTICES] ** 2).sum()
                                   / max(judged_w.sum(), 1e-9))) / iod
        # Only a face seen near frontally is judged: the network's shape of a turned face leans
        # towards frontal, so the same face reads further from its identity the more it turns.
        judged = -float(rotation[2, 2]) >= math.cos(math.radians(options.identity_change_max_angle_deg))
        if not identity_reset and judged:
            self._mismatch = self._mismatch + 1 if mismatch > options.identity_change_threshold else 0
            if self._mismatch >= options.identity_change_frames:
                self.reset()
                self._last_seen_s = timestamp_s
                return self._finish(self.update(vertices, iris_px, _undistorted(intrinsics), timestamp_s),
                                    start, identity_reset=True)

        # Metric scale from the iris (mm per identity unit).
        rho = self._observe_scale(iris_px, unit, rotation, t, s, intrinsics)

        # Identity: visibility- and neutrality-weighted running mean.
        expression_scale = options.identity_expression_scale * iod
        w = np.where(vis >= options.identity_min_visibility, vis, 0.0) / (1.0 + (residual / expression_scale) ** 2)
        total = self._weights + w
        settle = options.identity_settle_weight
        gain = np.where(total > 0, w / np.maximum(total, 1e-12), 0.0) * (settle / (settle + self._weights))
        identity = identity + gain[:, None] * (observed - identity)
        self._identity = identity
        self._weights = total
        self._frames += 1
        if self._frames in options.recanonicalise_at_frames:
            axes, centre = self._recanonicalise()
            self._last_fit = None  # its pose is in the old frame
            identity, observed = self._identity, (observed - centre) @ axes
            # camera = s R (axes c' + centre) + t; the filters' states move to the new frame too,
            # so the output does not twitch.
            shift_mm = rotation @ centre * self._scale_value()
            rotation, t = rotation @ axes, t + s * rotation @ centre
            self._rotation_filter.rebase(axes)
            self._translation_filter.remap(lambda x: x + shift_mm[:, None], lambda v: v)
            self._expression_filter.remap(lambda x: x @ axes)

        # The camera pose of the identity: refined on where the image shows its vertices (the 3D
        # fit above registers the network's frame, z guess included, for the identity).
        if options.fit_reprojection_iterations > 0:
            s, rotation, t = self._image_pose(identity, unit, fit_weights, s, rotation, t, iod)

        # Pose in millimetres: camera = Zc * unit, Zc = rho / s.
        depth = rho / s
        translation = t * depth
        expression_mm = (observed - identity) * rho

        # The filters were tuned on a face whose network noise is a known size; a smaller or more
        # distant face is noisier (``filter_noise_scales``), and its speeds count in units of
        # that noise, so its noise does not open the filters.
        lateral, depth_scale = filter_noise_scales(float(translation[2]), intrinsics.fx, options.noise_reference_mm_per_px,
                                                   options.noise_scale_min)
        filtered_rotation = self._rotation_filter(rotation, timestamp_s, lateral)
        # One speed per axis: depth is ~10x noisier than x and y (it comes from the face's size in
        # the image) and must not open the filter for the precise lateral position.
        filtered_translation = self._translation_filter(translation[:, None], timestamp_s,
                                                        np.array([[lateral], [lateral], [depth_scale]]))[:, 0]
        filtered_expression = self._expression_filter(expression_mm, timestamp_s, lateral)

        identity_mm = identity * rho
        fused = (identity_mm + filtered_expression) @ filtered_rotation.T + filtered_translation
        pd_mm = self._pd_mm(identity, rho)
        face_width_mm = float(np.linalg.norm(identity[FACE_SIDE_LEFT] - identity[FACE_SIDE_RIGHT]) * rho)
        scale_source = "iris" if self._scale.weight > 0 and self._iris_weight > 0 else "assumed mean PD"
        result = FusionResult(
            vertices_mm=fused.astype(np.float32),
            identity_mm=identity_mm.astype(np.float32),
            expression_mm=filtered_expression.astype(np.float32),
            rotation=filtered_rotation,
            translation_mm=filtered_translation,
            raw_rotation=rotation,
            raw_translation_mm=translation,
            frames_fused=self._frames,
            confidence=(self._weights / (self._weights + options.confidence_half_weight)).astype(np.float32),
            pd_mm=pd_mm,
            face_width_mm=face_width_mm,
            distance_mm=float(np.linalg.norm(filtered_translation)),
            scale_source=scale_source,
            identity_reset=identity_reset,
            tracking=True,
            timestamp_s=float(timestamp_s),
            scale_warning=scale_warning(pd_mm, scale_source, face_width_mm),
        )
        return self._finish(result, start, identity_reset)

    def _image_pose(self, source: np.ndarray, target: np.ndarray, weights: np.ndarray, s: float, rotation: np.ndarray,
                    t: np.ndarray, iod: float) -> tuple[float, np.ndarray, np.ndarray]:
        """The identity's pose from the image positions of its vertices (``reprojection_pose``),
        in the network's unit-depth scale. source ``(n, 3)`` identity units, target ``(n, 3)``
        unit-depth points, weights ``(n,)``; (s, rotation, t) the 3D fit to start from."""
        options = self.options
        rays = target[:, :2] / target[:, 2:3]
        rotation, t = reprojection_pose(source, rays, weights, s, rotation, t, options.fit_reprojection_iterations,
                                        options.fit_huber_k, noise_floor=options.fit_noise_floor * iod * s / t[2],
                                        depths=target[:, 2], depth_weight=options.fit_depth_weight)
        # The projection is the same when s and t scale together: choose the scale at which the
        # fitted vertices' mean depth is the network's, as the 3D fit's is.
        ratio = float(weights @ target[:, 2]) / float(weights @ (s * source @ rotation[2] + t[2]))
        return s * ratio, rotation, t * ratio

    def _finish(self, result: FusionResult, start: float, identity_reset: bool) -> FusionResult:
        result.identity_reset = identity_reset
        result.timings_ms = {"fusion": (time.perf_counter() - start) * 1000.0}
        self._last = result
        return result

    # ---- helpers
    def _bootstrap(self, unit: np.ndarray, iris_px: np.ndarray | None, intrinsics: CameraIntrinsics) -> None:
        """Start an identity from one frame: metric by the iris (or the mean PD), head-aligned."""
        iris_unit = _iris_unit_diameters(iris_px, unit, intrinsics)
        if iris_unit is not None:
            depth = IRIS_DIAMETER_MM / float(iris_unit.mean())
        else:
            depth = MEAN_PD_MM / interocular(unit)
        camera = unit * depth
        axes, centre = canonical_frame(camera)
        self._identity = (camera - centre) @ axes
        self._normals = point_normals(self._identity)
        self._weights = np.zeros(N_VERTICES)
        self._frames = 0

    def _recanonicalise(self) -> tuple[np.ndarray, np.ndarray]:
        """Turn the identity (and what lives in its frame) into its own head frame, centred.
        Returns ``(axes, centre)``: new = (old - centre) @ axes."""
        axes, centre = canonical_frame(self._identity)
        self._identity = (self._identity - centre) @ axes
        self._normals = self._normals @ axes
        self._iris_centres = (self._iris_centres - centre) @ axes
        return axes, centre

    def _observe_scale(self, iris_px, unit, rotation, t, s, intrinsics) -> float:
        """Feed this frame's iris to the scale estimate; returns mm per identity unit."""
        options = self.options
        iris_unit = _iris_unit_diameters(iris_px, unit, intrinsics)
        if iris_unit is not None:
            facing = max(0.0, -float(rotation[2, 2]))
            eye_weights = iris_eye_weights(rotation, options.iris_far_eye_sin)
            both_open = float(eye_weights.min()) >= 0.5
            ratio = iris_unit.max() / iris_unit.min()
            # Two eyes that both face the camera must agree (a blink or a misfit shows as a
            # disagreement); a turned-away eye is discounted instead, since it reads small.
            if not both_open or ratio - 1.0 <= options.iris_max_disagreement:
                weight = facing ** options.iris_frontal_power * float(eye_weights.mean())
                diameter = weighted_iris_diameter(iris_unit, eye_weights)
                # Zc from the iris is 11.7 / d_unit; from the identity rho / s: rho = 11.7 s / d_unit.
                self._scale.update(IRIS_DIAMETER_MM * s / diameter, weight)
                # Pupil centres, canonical frame, for the PD: both eyes are needed, so the weight
                # follows the less trusted one.
                centre_weight = facing ** options.iris_frontal_power * float(eye_weights.min())
                centres = unit_depth_points(_iris_centres_px(iris_px, unit, intrinsics), intrinsics)
                canonical = (centres - t) @ rotation / s
                self._iris_weight += centre_weight
                if self._iris_weight > 0:
                    self._iris_centres += (centre_weight / self._iris_weight) * (canonical - self._iris_centres)
        return self._scale_value()

    def _scale_value(self) -> float:
        value = self._scale.value
        return 1.0 if value is None else value

    def _pd_mm(self, identity: np.ndarray, rho: float) -> float:
        if self._iris_weight > 0:
            return float(np.linalg.norm(self._iris_centres[1] - self._iris_centres[0]) * rho)
        return interocular(identity) * rho


def _undistorted(intrinsics: CameraIntrinsics) -> CameraIntrinsics:
    """The same camera without distortion (for inputs already undistorted)."""
    from dataclasses import replace

    return replace(intrinsics, distortion=np.zeros(5)) if intrinsics.has_distortion else intrinsics


def filter_noise_scales(depth_mm: float, fx: float, reference_mm_per_px: float,
                        minimum: float = 1.0) -> tuple[float, float]:
    """How many times noisier a face's fused quantities are than the tuning face's:
    ``(lateral, depth)``, each at least ``minimum``.

    The network's noise is about a fixed fraction of a pixel, so at ``depth_mm / fx``
    millimetres per pixel (fx: focal length, pixels) positions, expression offsets and (over
    the face's size in pixels) rotations are noisier by ``k = (depth_mm / fx) /
    reference_mm_per_px``; depth comes from the face's size in pixels, ``Z = f L / size``, so
    its noise ``Z^2 / (f L) x noise_px`` grows as ``k^2``.
    """
    k = max(float(depth_mm) / float(fx) / reference_mm_per_px, minimum)
    return k, k * k


def _eye_depth_px(unit: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Relative depth (pixel scale) of each eye, ``(2,)``, from its corners."""
    return (eye_corner_depths(unit[:, 2]) - 1.0) * intrinsics.fx


def _iris_unit_diameters(iris_px, unit, intrinsics) -> np.ndarray | None:
    """Iris diameters at unit face depth, ``(2,)`` (diameter_px x (1 + z_eye / fx) / fx)."""
    if iris_px is None:
        return None
    diameters = iris_diameter_px(iris_px)
    if not np.all(np.isfinite(diameters)) or np.any(diameters <= 0):
        return None
    return diameters * (1.0 + _eye_depth_px(unit, intrinsics) / intrinsics.fx) / intrinsics.fx


def _iris_centres_px(iris_px, unit, intrinsics) -> np.ndarray:
    """Iris centres ``(2, 3)`` in the mesh's pixel convention, at the eyes' depth."""
    centres = np.array(iris_px[:, 0, :], dtype=np.float64)
    centres[:, 2] = _eye_depth_px(unit, intrinsics)
    return centres


# --------------------------------------------------------------------------------------------
# Figures for `selfie3d bench`


@dataclass(frozen=True)
class FusionBenchmark:
    """jitter_raw / jitter_fused: RMS frame-to-frame vertex motion over the inter-ocular
    distance (dimensionless), both measured in the image (pixels, MediaPipe convention; the
    fused mesh is projected back, as the viewer sees it), after ``warmup`` frames. jitter_ratio:
    fused over raw. jitter_3d_raw_mm / jitter_3d_fused_mm: the same motion in 3D, millimetres
    (camera space: the raw mesh unprojected at its own frame's depth). depth_mm: the fused face's
    mean distance; depth_wobble_raw_mm / depth_wobble_fused_mm: half the peak-to-peak range of
    the face's depth over the measured frames (the "+/-" of a still face), millimetres.
    ms_per_frame: median fusion time per frame, milliseconds (fusion alone). ms_first_frame:
    the first frame, which also builds the identity (normals), milliseconds. frames: frames
    measured."""

    jitter_raw: float
    jitter_fused: float
    jitter_ratio: float
    ms_per_frame: float
    ms_first_frame: float
    frames: int
    jitter_3d_raw_mm: float = float("nan")
    jitter_3d_fused_mm: float = float("nan")
    depth_mm: float = float("nan")
    depth_wobble_raw_mm: float = float("nan")
    depth_wobble_fused_mm: float = float("nan")


def half_range(values: np.ndarray) -> float:
    """Half the peak-to-peak range of ``(t,)`` values (same unit): the "+/-" of a wobble."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.ptp(values) / 2) if len(values) else 0.0


def fusion_benchmark(raw_vertices_px: np.ndarray, raw_iris_px: np.ndarray | None, intrinsics: CameraIntrinsics,
                     fps: float = 30.0, options: FusionOptions = FusionOptions(), warmup: int = 10) -> FusionBenchmark:
    """Run fusion over a sequence of raw meshes and measure jitter (image and 3D), depth wobble
    and time.

    raw_vertices_px: ``(t, 468, 3)`` (or ``(t, 478, 3)``) pixels. raw_iris_px: ``(t, 2, 5, 3)``
    pixels, a length-t sequence of ``(2, 5, 3)`` arrays or None (frames without iris), or None.
    intrinsics: the camera. fps: frame rate for the timestamps. warmup: frames fused before
    the measured ones (fusion settles its identity, scale and filters).
    """
    raw = np.asarray(raw_vertices_px, dtype=np.float64)
    if raw.ndim != 3 or raw.shape[1:] not in ((N_VERTICES, 3), (N_REFINED_VERTICES, 3)):
        raise ValueError(f"raw_vertices_px: expected shape (t, 468, 3), got {raw.shape}")
    fused_px, fused_mm, raw_mm, fused_depth, raw_depth = [], [], [], [], []
    elapsed = []
    with Fusion(options) as fusion:
        for i, vertices in enumerate(raw):
            iris = None if raw_iris_px is None else raw_iris_px[i]
            start = time.perf_counter()
            result = fusion.update(vertices, iris, intrinsics, i / fps)
            elapsed.append(time.perf_counter() - start)
            fused_px.append(mesh_px_from_camera(result.vertices_mm, intrinsics, float(result.translation_mm[2])))
            fused_mm.append(result.vertices_mm.astype(np.float64))
            # The raw mesh in millimetres: unprojected at this frame's own (unfiltered) depth.
            raw_mm.append(unit_depth_points(vertices[:N_VERTICES], intrinsics) * float(result.raw_translation_mm[2]))
            fused_depth.append(float(result.translation_mm[2]))
            raw_depth.append(float(result.raw_translation_mm[2]))
    raw = raw[warmup:, :N_VERTICES]
    fused = np.asarray(fused_px)[warmup:]
    iod = float(np.mean([interocular(m) for m in raw]))
    jitter_raw = jitter(raw, iod)
    jitter_fused = jitter(fused, iod)
    times_ms = np.asarray(elapsed) * 1000.0
    steady = times_ms[1:] if len(times_ms) > 1 else times_ms
    return FusionBenchmark(jitter_raw, jitter_fused, jitter_fused / max(jitter_raw, 1e-12),
                           float(np.median(steady)), float(times_ms[0]), len(raw),
                           jitter_3d_raw_mm=jitter(np.asarray(raw_mm)[warmup:], 1.0),
                           jitter_3d_fused_mm=jitter(np.asarray(fused_mm)[warmup:], 1.0),
                           depth_mm=float(np.mean(fused_depth[warmup:])) if len(fused_depth) > warmup else float("nan"),
                           depth_wobble_raw_mm=half_range(raw_depth[warmup:]),
                           depth_wobble_fused_mm=half_range(fused_depth[warmup:]))


# --------------------------------------------------------------------------------------------
# Synthetic observations (tests, benchmarks): a known face at a known pose through a pinhole.


def synthetic_observation(face_mm: np.ndarray, eye_centres_mm: np.ndarray, rotation: np.ndarray,
                          translation_mm: np.ndarray, intrinsics: CameraIntrinsics,
                          iris_diameter_mm: float = IRIS_DIAMETER_MM) -> tuple[np.ndarray, np.ndarray]:
    """What a perfect face network would output for a known face at a known pose.

    face_mm: ``(468, 3)`` canonical frame (x to the person's left, y up, z out of the face), mm.
    eye_centres_mm: ``(2, 3)`` iris centres (right eye first), canonical, mm.
    rotation ``(3, 3)``, translation_mm ``(3,)``: canonical to camera (OpenCV axes).
    Returns ``(vertices_px (468, 3), iris_px (2, 5, 3))`` float64 in the MediaPipe convention,
    z relative to the depth of ``translation_mm`` (the canonical origin). The iris contour is a
    circle of ``iris_diameter_mm`` facing along the head's z axis, points right, up, left, down.
    """
    face = check_shape("face_mm", face_mm, (N_VERTICES, 3), dtype=np.float64)
    eyes = check_shape("eye_centres_mm", eye_centres_mm, (2, 3), dtype=np.float64)
    r = iris_diameter_mm / 2.0
    offsets = np.array([[0, 0, 0], [r, 0, 0], [0, r, 0], [-r, 0, 0], [0, -r, 0]], dtype=np.float64)
    iris = (eyes[:, None, :] + offsets[None]).reshape(-1, 3)
    camera = np.concatenate([face, iris]) @ np.asarray(rotation).T + np.asarray(translation_mm)
    px = mesh_px_from_camera(camera, intrinsics, float(translation_mm[2]))
    return px[:N_VERTICES], px[N_VERTICES:].reshape(2, 5, 3)
