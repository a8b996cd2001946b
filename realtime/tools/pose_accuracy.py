"""Pose accuracy on rendered heads: ``selfie3d bench --pose`` and the fusion acceptance tests.

A textured metric head (``realtime.tools.synthetic_face``) turns in front of a known camera for a
while, so fusion's identity settles, then visits known poses (yaw +-40, pitch +-20, roll +-30
degrees), each reached in a smooth turn and held. Every frame goes through the whole pipeline
(detection, tracking, the face-mesh and iris networks, fusion); at the end of each hold the
fused rotation is compared with the rendered one.

Two readings per pose:
- fused: what fusion reports (``FusionResult.rotation``);
- floor: the head's true face geometry fitted (perspective-n-point) to where the face-mesh
  network put its vertices in the image, each weighted as fusion weighs it
  (``fusion.POSE_WEIGHTS``): the best any fusion of those image positions
  could do. Fusion also weighs the network's relative depths, so it can beat the floor.

Fusion's canonical axes are its own (taken from the first frames), so errors are measured after
mapping the first (frontal) estimate onto the first truth: ``angle(E_k, T_k T_0^T E_0)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from realtime.camera import CameraIntrinsics
from realtime.stages.filters import rotation_angle_deg
from realtime.shapes import check_shape
from realtime.tools.synthetic_face import FRONTAL, head_rotation

# Poses visited (yaw, pitch, roll degrees, ``head_rotation``'s convention); frontal first: the reference.
SWEEP_POSES = ((0, 0, 0), (40, 0, 0), (-40, 0, 0), (0, 20, 0), (0, -20, 0), (0, 0, 30), (0, 0, -30),
               (25, 15, 20), (-25, -15, -20), (30, -15, 15), (-30, 15, -15), (20, 20, -30), (-20, -20, 30),
               (40, 10, -10), (-40, -10, 10))


@dataclass(frozen=True)
class PoseSweepOptions:
    poses: tuple[tuple[float, float, float], ...] = SWEEP_POSES
    # Frames of a head turning (yaw +-30, pitch +-10 degrees, ``turning_pose``) before the sweep:
    # the identity settles by ~100.
    turn_frames: int = 200
    # Each pose is reached in a smooth turn of this many frames from the last, then held (the
    # pose filter settles in ~5) and read on the last held frame.
    move_frames: int = 10
    hold_frames: int = 8
    distance_mm: float = 550.0  # a laptop user's face
    width: int = 640
    height: int = 480  # 60 deg horizontal field of view (CameraIntrinsics.default)
    fps: float = 30.0

    @property
    def intrinsics(self) -> CameraIntrinsics:
        return CameraIntrinsics.default(self.width, self.height)


@dataclass
class PoseSweepResult:
    """poses_deg: ``(k, 3)`` the visited poses (yaw, pitch, roll); the first is the reference.
    fused_deg, floor_deg: ``(k - 1,)`` rotation errors, degrees, of the other poses.
    fused_axes_deg, floor_axes_deg: ``(k - 1, 3)`` the same split into signed yaw, pitch, roll.
    fused_per_degree, floor_per_degree: ``(3,)`` degrees read per true degree of yaw, pitch, roll.
    turn, sweep: ``[(rotation (3, 3), translation_mm (3,))]`` rendered (sweep: the read frames);
    turn_results, sweep_results: their ``PipelineResult``s."""

    poses_deg: np.ndarray
    fused_deg: np.ndarray
    floor_deg: np.ndarray
    fused_axes_deg: np.ndarray
    floor_axes_deg: np.ndarray
    fused_per_degree: np.ndarray
    floor_per_degree: np.ndarray
    turn: list = field(repr=False, default_factory=list)
    turn_results: list = field(repr=False, default_factory=list)
    sweep: list = field(repr=False, default_factory=list)
    sweep_results: list = field(repr=False, default_factory=list)

    def report(self) -> dict:
        def rounded(values):
            return np.round(np.asarray(values, dtype=np.float64), 2).tolist()

        return {
            "pose_fused_median_deg": round(float(np.median(self.fused_deg)), 2),
            "pose_fused_max_deg": round(float(self.fused_deg.max()), 2),
            "pose_floor_median_deg": round(float(np.median(self.floor_deg)), 2),
            "pose_floor_max_deg": round(float(self.floor_deg.max()), 2),
            "pose_fused_read_per_degree": rounded(self.fused_per_degree),
            "pose_floor_read_per_degree": rounded(self.floor_per_degree),
            "poses": [{"pose_deg": rounded(pose), "fused_deg": round(float(fused), 2),
                       "floor_deg": round(float(floor), 2)}
                      for pose, fused, floor in zip(self.poses_deg[1:], self.fused_deg, self.floor_deg)],
        }


# --------------------------------------------------------------------------------------------
# Pure functions


def turning_pose(frame: int, fps: float) -> tuple[float, float]:
    """Yaw, pitch (degrees) of the turning head at ``frame``: incommensurate sines, +-30 / +-10."""
    t = frame / fps
    return 30.0 * math.sin(2 * math.pi * 0.25 * t), 10.0 * math.sin(2 * math.pi * 0.17 * t)


def sweep_rotations(poses: tuple, move_frames: int, hold_frames: int) -> tuple[list[np.ndarray], list[int]]:
    """Rotations of the sweep, frame by frame, and the indices of the frames read (one per pose).

    Each pose is reached from the previous one (the first from frontal) by interpolating the
    angles with a half-cosine ease over ``move_frames``, then held for ``hold_frames``.
    """
    rotations, read = [], []
    previous = np.zeros(3)
    for pose in poses:
        pose = np.asarray(pose, dtype=np.float64)
        for k in range(1, move_frames + 1):
            ease = 0.5 - 0.5 * math.cos(math.pi * k / move_frames)
            rotations.append(head_rotation(*(previous + (pose - previous) * ease)))
        rotations += [head_rotation(*pose)] * hold_frames
        read.append(len(rotations) - 1)
        previous = pose
    return rotations, read


def pose_angles_deg(rotation: np.ndarray) -> np.ndarray:
    """Inverse of ``head_rotation``: ``(3, 3)`` -> ``(3,)`` yaw, pitch, roll degrees (yaw within +-90)."""
    m = check_shape("rotation", rotation, (3, 3), dtype=np.float64) @ FRONTAL.T  # Rz(roll) Ry(yaw) Rx(pitch)
    yaw = math.asin(max(-1.0, min(1.0, -m[2, 0])))
    return np.degrees([yaw, math.atan2(m[2, 1], m[2, 2]), math.atan2(m[1, 0], m[0, 0])])


def relative_errors_deg(estimates: list[np.ndarray], truths: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rotation errors after mapping the first estimate onto the first truth.

    estimates, truths: ``k`` rotations ``(3, 3)`` each, canonical -> camera. The estimate's
    canonical axes are its own, so ``offset = T_0^T E_0`` and pose k is read as ``E_k offset^T``.
    Returns ``(angles (k - 1,), signed yaw / pitch / roll differences (k - 1, 3))``, degrees.
    """
    offset = truths[0].T @ estimates[0]
    angles = np.array([rotation_angle_deg(e, t @ offset) for e, t in zip(estimates[1:], truths[1:])])
    axes = np.array([pose_angles_deg(e @ offset.T) - pose_angles_deg(t) for e, t in zip(estimates[1:], truths[1:])])
    return angles, axes.reshape(-1, 3)


def read_per_degree(signed_errors_deg: np.ndarray, poses_deg: np.ndarray) -> np.ndarray:
    """Degrees read per true degree about each axis, ``(3,)``: the least-squares slope of
    ``truth + error`` against ``truth`` over the poses that turn about that axis (1 = exact,
    < 1 = under-turned). signed_errors_deg, poses_deg: ``(k, 3)`` yaw, pitch, roll."""
    errors = check_shape("signed_errors_deg", signed_errors_deg, (None, 3), dtype=np.float64)
    poses = check_shape("poses_deg", poses_deg, (len(errors), 3), dtype=np.float64)
    squares = (poses ** 2).sum(axis=0)
    return 1.0 + np.divide((errors * poses).sum(axis=0), squares, out=np.full(3, np.nan), where=squares > 0)


def perspective_n_point(model_mm: np.ndarray, image_px: np.ndarray, intrinsics: CameraIntrinsics,
                        weights: np.ndarray | None = None) -> np.ndarray:
    """Rotation ``(3, 3)`` of the rigid ``model_mm`` ``(n, 3)`` that best projects onto
    ``image_px`` ``(n, 2)`` (squared reprojection error, each point times ``weights`` ``(n,)``
    if given): SQPnP, which finds the global minimum of the unweighted error (the iterative
    solver can flip at 30 deg of roll), refined by Levenberg-Marquardt, then by Gauss-Newton
    on the weighted error (``fusion.reprojection_pose``)."""
    import cv2

    from realtime.geometry import reprojection_pose

    model = np.ascontiguousarray(check_shape("model_mm", model_mm, (None, 3), dtype=np.float64))
    image = np.ascontiguousarray(check_shape("image_px", image_px, (len(model), 2), dtype=np.float64))
    _, rvec, tvec = cv2.solvePnP(model, image, intrinsics.matrix, None, flags=cv2.SOLVEPNP_SQPNP)
    rvec, tvec = cv2.solvePnPRefineLM(model, image, intrinsics.matrix, None, rvec, tvec)
    rotation = cv2.Rodrigues(rvec)[0]
    if weights is None:
        return rotation
    w = check_shape("weights", weights, (len(model),), dtype=np.float64)
    rays = np.c_[(image[:, 0] - intrinsics.cx) / intrinsics.fx, (image[:, 1] - intrinsics.cy) / intrinsics.fy]
    # No outlier down-weighting (an infinite Huber threshold): the plain weighted least squares.
    rotation, _ = reprojection_pose(model, rays, w, 1.0, rotation, tvec.reshape(3), iterations=10, huber_k=np.inf)
    return rotation


# --------------------------------------------------------------------------------------------
# The run


def run_pose_sweep(options: PoseSweepOptions = PoseSweepOptions(), ctx=None, head=None) -> PoseSweepResult:
    """Render the turn and the sweep, run them through one pipeline, and read the poses.

    ctx: a ``moderngl.Context`` (default: a headless EGL one, released after). head: a
    ``SyntheticHead`` (default: ``astronaut_head()``). Raises ``RuntimeError`` if a read frame
    has no face.
    """
    from realtime.stages.capture import Frame
    from realtime.stages.fusion import POSE_WEIGHTS
    from realtime.stages.pipeline import Pipeline, PipelineOptions
    from realtime.tools.synthetic_face import SyntheticFaceRenderer, astronaut_head

    own_ctx = ctx is None
    if own_ctx:
        from realtime.render import create_headless_context

        ctx = create_headless_context()
    try:
        head = astronaut_head() if head is None else head
        intrinsics = options.intrinsics
        centre = np.array([0.0, 0.0, options.distance_mm])
        turn = [(head_rotation(*turning_pose(i, options.fps)), centre) for i in range(options.turn_frames)]
        rotations, read = sweep_rotations(options.poses, options.move_frames, options.hold_frames)
        sweep = [(rotation, centre) for rotation in rotations]
        results = []
        with SyntheticFaceRenderer(ctx, head) as renderer, Pipeline(PipelineOptions()) as pipeline:
            for i, (rotation, translation) in enumerate(turn + sweep):
                image = renderer.render(rotation, translation, intrinsics)
                results.append(pipeline.process(Frame(image, i, i / options.fps)))
    finally:
        if own_ctx:
            ctx.release()
    turn_results, sweep_results = results[:len(turn)], results[len(turn):]
    read_results = [sweep_results[i] for i in read]
    lost = [options.poses[k] for k, result in enumerate(read_results) if not result.faces or result.fusion is None]
    if lost:
        raise RuntimeError(f"no face at the poses {lost}")
    truths = [rotations[i] for i in read]
    fused = [result.fusion.rotation for result in read_results]
    floor = [perspective_n_point(head.face_mm, result.faces[0].vertices[:len(head.face_mm), :2], intrinsics,
                                 POSE_WEIGHTS) for result in read_results]
    poses_deg = np.asarray(options.poses, dtype=np.float64).reshape(-1, 3)
    fused_deg, fused_axes = relative_errors_deg(fused, truths)
    floor_deg, floor_axes = relative_errors_deg(floor, truths)
    return PoseSweepResult(
        poses_deg=poses_deg, fused_deg=fused_deg, floor_deg=floor_deg, fused_axes_deg=fused_axes,
        floor_axes_deg=floor_axes, fused_per_degree=read_per_degree(fused_axes, poses_deg[1:]),
        floor_per_degree=read_per_degree(floor_axes, poses_deg[1:]), turn=turn, turn_results=turn_results,
        sweep=[sweep[i] for i in read], sweep_results=read_results)


def format_pose_report(result: PoseSweepResult) -> str:
    """The sweep as a table: per pose, fused and floor errors and the fused signed axes."""
    lines = ["pose accuracy on rendered heads (degrees; floor: true geometry fitted to the network's landmarks)",
             f"{'yaw, pitch, roll':>18}{'fused':>8}{'floor':>8}{'d yaw':>8}{'d pitch':>8}{'d roll':>8}"]
    for pose, fused, floor, axes in zip(result.poses_deg[1:], result.fused_deg, result.floor_deg, result.fused_axes_deg):
        label = ", ".join(f"{angle:.0f}" for angle in pose)
        lines.append(f"{label:>18}{fused:8.2f}{floor:8.2f}{axes[0]:8.2f}{axes[1]:8.2f}{axes[2]:8.2f}")
    report = result.report()
    lines.append(f"fused median {report['pose_fused_median_deg']:.2f} (max {report['pose_fused_max_deg']:.2f}), "
                 f"floor median {report['pose_floor_median_deg']:.2f} (max {report['pose_floor_max_deg']:.2f})")
    lines.append("read per true degree (yaw, pitch, roll): fused " + ", ".join(f"{v:.3f}" for v in result.fused_per_degree)
                 + "; floor " + ", ".join(f"{v:.3f}" for v in result.floor_per_degree))
    return "\n".join(lines)
