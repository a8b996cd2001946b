"""Tests for realtime/stages/fusion.py: pose, identity, expression, scale, jitter and lag.

Raw per-frame meshes come from two sources: MediaPipe's own face mesh run on the still demo
clip (real network noise on a real face; computed once per session), and synthetic
observations (``synthetic_observation``: a known face at a known pose through a pinhole camera,
plus pixel noise). The synthetic face is the fused identity of the MediaPipe frames, so it is a
real face shape in millimetres.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from motion_metrics import lag_frames
from numpy.testing import assert_allclose

from realtime.camera import CameraIntrinsics
from realtime.stages.filters import rotation_angle_deg
from realtime.geometry import (canonical_frame, interocular, mesh_px_from_camera, reprojection_pose, robust_similarity,
                               unit_depth_points, weighted_similarity)
from realtime.stages.fusion import Fusion, FusionOptions, FusionResult, fusion_benchmark, synthetic_observation
from realtime.topology import IDENTITY_VERTICES
from realtime.topology import N_VERTICES as NUM_VERTICES

# Issue 14: a still, distant face's fused depth wobbles less than this (+/- mm), and its jitter
# ratio is within this factor of a near face's (the filters count its noise in its own units).
_DEPTH_WOBBLE_MAX_MM = 1.0
_SCALED_JITTER_RATIO_SPREAD = 1.5
# ...and its depth, filtered in units of its 2.6x larger noise at 900 mm, follows a 0.3 Hz,
# +/-40 mm motion 1.15 frames behind (0.79 before; yaw 0.80, sideways 0.96; at 500 mm unchanged).
_FAR_DEPTH_LAG_MAX_FRAMES = 1.25
# The network's own noise on a still face: 0.23 px RMS frame-to-frame on the still demo face,
# ~0.16 px per frame per vertex (the 0.6 px above is a harsher test for the pose).
_STILL_NOISE_PX = 0.16
# Issue 3 acceptance figures.
_JITTER_RATIO_MAX = 0.2  # fused / raw frame-to-frame motion on a still face
_LAG_MAX_FRAMES = 1.0  # fused pose behind the truth, 30 fps
_EXPRESSION_AMPLITUDE_MIN = 0.9  # fraction of a fast expression's amplitude kept
_POSE_MEDIAN_MAX_DEG = 3.0
_SCALE_REL_TOL = 0.05
_PD_TOL_MM = 2.0
_IDENTITY_DRIFT_MAX_MM = 0.2
# The identity's axes move this little between refinements (frames 30 and 45 here), degrees / mm.
_HEAD_FRAME_TOL_DEG = 0.5
_HEAD_FRAME_CENTRE_TOL_MM = 0.5
# Numerical round trips (float64).
_ROUND_TRIP_ATOL = 1e-9

_FPS = 30.0
_STILL_FRAMES = 45
# Pixel noise of the synthetic network output: MediaPipe's frame-to-frame vertex motion on the
# still demo face is ~0.8 px RMS, i.e. ~0.6 px per frame per vertex.
_VERTEX_NOISE_PX = 0.6
_IRIS_NOISE_PX = 0.2
_INTRINSICS = CameraIntrinsics(600.0, 600.0, 322.0, 238.0, 640, 480)


def _rotation(yaw_deg: float, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """Head pose (canonical -> camera): a frontal upright face is diag(1, -1, -1); yaw about the
    camera's y axis, pitch about x, roll about z."""
    y, p, r = (math.radians(v) for v in (yaw_deg, pitch_deg, roll_deg))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx @ np.diag([1.0, -1.0, -1.0])


def _yaw_deg(rotation: np.ndarray) -> float:
    frontal = rotation @ np.diag([1.0, -1.0, -1.0])
    return math.degrees(math.atan2(frontal[0, 2], frontal[2, 2]))




@pytest.fixture(scope="module")
def still_meshes() -> np.ndarray:
    """MediaPipe face mesh (refined, 478 points) on the still demo clip: ``(n, 478, 3)`` px."""
    mp = pytest.importorskip("mediapipe")
    import cv2

    from realtime.stages.democlip import DemoClipOptions, render_demo_frame

    options = DemoClipOptions(motion=False)
    meshes = []
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, refine_landmarks=True, max_num_faces=1) as mesh:
        for i in range(_STILL_FRAMES):
            frame = render_demo_frame(i, options)
            found = mesh.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).multi_face_landmarks
            assert found, f"no face in demo frame {i}"
            meshes.append([(p.x * options.width, p.y * options.height, p.z * options.width) for p in found[0].landmark])
    return np.asarray(meshes, dtype=np.float64)


@pytest.fixture(scope="module")
def face(still_meshes) -> tuple[np.ndarray, np.ndarray]:
    """A real face shape in mm (canonical frame) and its iris centres ``(2, 3)``."""
    intrinsics = CameraIntrinsics.default(640, 480)
    with Fusion() as fusion:
        for i, mesh in enumerate(still_meshes):
            result = fusion.update(mesh, None, intrinsics, i / _FPS)
    shape = result.identity_mm.astype(np.float64)
    eyes = np.array([0.5 * (shape[33] + shape[133]), 0.5 * (shape[263] + shape[362])])
    eyes[:, 2] += 3.0  # the iris sits a few mm in front of the eye-corner line
    return shape, eyes


def _observe(face, rotation, translation, rng, noise=_VERTEX_NOISE_PX, intrinsics=_INTRINSICS):
    vertices, iris = synthetic_observation(face[0], face[1], rotation, translation, intrinsics)
    return vertices + rng.normal(0, noise, vertices.shape), iris + rng.normal(0, _IRIS_NOISE_PX, iris.shape)


# ---------------------------------------------------------------------------------------------
# Pure functions


def test_unit_depth_round_trip():
    rng = np.random.default_rng(1)
    points = rng.uniform([-80, -80, 420], [80, 80, 580], (NUM_VERTICES, 3))
    centre_depth = 500.0
    px = mesh_px_from_camera(points, _INTRINSICS, centre_depth)
    assert_allclose(unit_depth_points(px, _INTRINSICS) * centre_depth, points, atol=_ROUND_TRIP_ATOL * 1e3)


def test_weighted_similarity_recovers_transform_and_ignores_outliers():
    rng = np.random.default_rng(2)
    source = rng.normal(0, 50, (100, 3))
    rotation, scale, translation = _rotation(20, -10, 5), 0.004, np.array([0.1, -0.05, 1.0])
    target = scale * source @ rotation.T + translation
    s, r, t = weighted_similarity(source, target, np.ones(100))
    assert_allclose([s], [scale], rtol=1e-9)
    assert_allclose(r, rotation, atol=1e-9)
    assert_allclose(t, translation, atol=1e-9)
    corrupted = target.copy()
    corrupted[:10] += rng.normal(0, 0.1, (10, 3))  # 10% gross outliers (~25x the face size x scale)
    s, r, t, robust = robust_similarity(source, corrupted, np.ones(100), iterations=5)
    assert rotation_angle_deg(r, rotation) < 0.5
    assert robust[:10].max() < robust[10:].min()


def test_reprojection_pose_with_depths_converges_to_the_truth():
    # Exact image positions and relative depths of a turned face, from a start 6 deg and a few
    # mm off: with or without the depth term the refinement lands on the pose (the depth term's
    # Jacobian is right), and where the depths alone disagree with the image (a pitch bias the
    # image does not show), their weight decides how far the pose follows them.
    rng = np.random.default_rng(4)
    source = rng.normal(0, 0.06, (60, 3))  # a face-sized cloud at unit depth
    rotation, translation, scale = _rotation(25, 15, -10), np.array([0.05, -0.02, 1.0]), 1.0
    camera = scale * source @ rotation.T + translation
    rays, depths = camera[:, :2] / camera[:, 2:3], camera[:, 2]
    turn = lambda yaw, pitch, roll: _rotation(yaw, pitch, roll) @ np.diag([1.0, -1.0, -1.0])  # about the camera's axes
    start = turn(3, -4, 2) @ rotation
    for depth_weight in (0.0, 0.6, 5.0):
        r, t = reprojection_pose(source, rays, np.ones(60), scale, start, translation + 0.01, iterations=8,
                                 depths=depths, depth_weight=depth_weight)
        assert rotation_angle_deg(r, rotation) < 1e-4  # arccos resolves ~1e-6 deg
        assert_allclose(t, translation, atol=1e-8)
    tilted = scale * source @ (turn(0, 5, 0) @ rotation).T + translation  # depths of a 5 deg more pitched face
    turned = [rotation_angle_deg(reprojection_pose(source, rays, np.ones(60), scale, rotation, translation,
                                                   iterations=8, depths=tilted[:, 2], depth_weight=w)[0], rotation)
              for w in (0.0, 0.6, 5.0)]
    assert turned[0] < 1e-4 < turned[1] < turned[2] < 5.0


def test_head_frame_is_upright(face):
    shape, _ = face
    axes, centre = canonical_frame(shape)
    # The identity is kept in its own head frame (refined up to frame 90; here 45 frames fused).
    assert rotation_angle_deg(axes, np.eye(3)) < _HEAD_FRAME_TOL_DEG
    assert_allclose(centre, 0.0, atol=_HEAD_FRAME_CENTRE_TOL_MM)
    assert shape[1, 2] > shape[:, 2].mean() + 20  # nose tip sticks out (+z)
    assert shape[10, 1] > 0 > shape[152, 1]  # forehead up, chin down
    assert shape[263, 0] > 0 > shape[33, 0]  # person's left eye at +x


# ---------------------------------------------------------------------------------------------
# Acceptance figures


def test_jitter_on_still_demo_face(still_meshes):
    figures = fusion_benchmark(still_meshes, None, CameraIntrinsics.default(640, 480), fps=_FPS)
    assert figures.jitter_raw > 0
    assert figures.jitter_ratio <= _JITTER_RATIO_MAX, figures


@pytest.mark.parametrize("distance_mm", [500.0, 900.0])
def test_pose_lag_on_sinusoidal_yaw(face, distance_mm):
    # 900 mm: a small, distant face, whose noise the filters count in its own units
    # (filter_noise_scales): they must not lag more for it.
    rng = np.random.default_rng(3)
    truth, fused = [], []
    with Fusion() as fusion:
        for i in range(240):
            t = i / _FPS
            yaw = 25.0 * math.sin(2 * math.pi * 0.5 * t)
            translation = np.array([40.0 * math.sin(2 * math.pi * 0.4 * t), 0.0,
                                    distance_mm + 40.0 * math.sin(2 * math.pi * 0.3 * t)])
            result = fusion.update(*_observe(face, _rotation(yaw), translation, rng), _INTRINSICS, t)
            truth.append((yaw, translation[0], translation[2]))
            fused.append((_yaw_deg(result.rotation), result.translation_mm[0], result.translation_mm[2]))
    truth, fused = np.asarray(truth)[30:], np.asarray(fused)[30:]
    assert lag_frames(truth[:, 0], fused[:, 0]) <= _LAG_MAX_FRAMES  # yaw
    assert lag_frames(truth[:, 1], fused[:, 1]) <= _LAG_MAX_FRAMES  # sideways
    depth_lag_max = _LAG_MAX_FRAMES if distance_mm < 600 else _FAR_DEPTH_LAG_MAX_FRAMES
    assert lag_frames(truth[:, 2], fused[:, 2]) <= depth_lag_max  # towards the camera


def test_filter_noise_scales_grow_with_millimetres_per_pixel():
    from realtime.stages.fusion import filter_noise_scales

    assert filter_noise_scales(400.0, 554.0, 1.0) == (1.0, 1.0)  # nearer than the tuning face: as tuned
    lateral, depth = filter_noise_scales(1108.0, 554.0, 1.0)
    assert lateral == pytest.approx(2.0) and depth == pytest.approx(4.0)  # depth noise grows as Z^2
    assert filter_noise_scales(1108.0, 1108.0, 1.0) == (1.0, 1.0)  # a longer lens sees it as large


def test_small_distant_face_is_as_still_as_a_near_one(face):
    # The same face at 450 and 900 mm with the same pixel noise: the far one's millimetres are
    # twice as noisy (depth four times), and fusion must reject the same share of it. The
    # distant face's depth must stay within 1 mm while held still.
    figures = {}
    for distance in (450.0, 900.0):
        rng = np.random.default_rng(11)
        raw, irises = [], []
        for _ in range(150):
            vertices, iris = _observe(face, _rotation(5.0), np.array([0.0, 0.0, distance]), rng, _STILL_NOISE_PX)
            raw.append(vertices)
            irises.append(iris)
        figures[distance] = fusion_benchmark(np.asarray(raw), irises, _INTRINSICS, fps=_FPS, warmup=30)
    near, far = figures[450.0], figures[900.0]
    assert far.jitter_ratio <= _JITTER_RATIO_MAX, far
    assert far.jitter_ratio <= _SCALED_JITTER_RATIO_SPREAD * near.jitter_ratio, (far, near)
    assert far.depth_wobble_fused_mm < _DEPTH_WOBBLE_MAX_MM, far


def _amplitude(signal: np.ndarray, times: np.ndarray, hz: float) -> float:
    basis = np.stack([np.sin(2 * np.pi * hz * times), np.cos(2 * np.pi * hz * times), np.ones_like(times)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, signal, rcond=None)
    return float(np.hypot(coef[0], coef[1]))


def test_fast_expression_keeps_amplitude(face):
    shape, eyes = face
    lower_lip = shape[14, 1]
    # Jaw opening: vertices below the lips, near the midline, drop with weight rising to 1 at the lip line.
    jaw = (shape[:, 1] < lower_lip + 2) & (np.abs(shape[:, 0]) < 35)
    amplitude_mm, hz = 6.0, 2.0  # a mouth opening and closing in 0.25 s each way
    rng = np.random.default_rng(4)
    times, truth, fused = [], [], []
    with Fusion() as fusion:
        for i in range(150):
            t = i / _FPS
            opening = amplitude_mm * 0.5 * (1 - math.cos(2 * math.pi * hz * t)) if i >= 30 else 0.0
            moved = shape.copy()
            moved[jaw, 1] -= opening
            result = fusion.update(*_observe((moved, eyes), _rotation(10), np.array([0, 0, 500.0]), rng), _INTRINSICS, t)
            canonical = (result.vertices_mm.astype(np.float64) - result.translation_mm) @ result.rotation
            times.append(t)
            truth.append(moved[17, 1])
            fused.append(canonical[17, 1])
    times, truth, fused = (np.asarray(v)[60:] for v in (times, truth, fused))
    assert _amplitude(fused, times, hz) >= _EXPRESSION_AMPLITUDE_MIN * _amplitude(truth, times, hz)


@pytest.mark.parametrize("yaw", [-40, 0, 40])
def test_pose_accuracy_across_range(face, yaw):
    rng = np.random.default_rng(abs(yaw))
    errors = []
    for pitch in (-20, 0, 20):
        for roll in (-30, 0, 30):
            truth = _rotation(yaw, pitch, roll)
            translation = np.array([25.0, -15.0, 550.0])
            with Fusion() as fusion:
                for i in range(5):  # the face is first seen frontal, then turns
                    fusion.update(*_observe(face, _rotation(0), translation, rng), _INTRINSICS, i / _FPS)
                for i in range(5, 15):
                    result = fusion.update(*_observe(face, truth, translation, rng), _INTRINSICS, i / _FPS)
            errors.append(rotation_angle_deg(result.rotation, truth))
    assert np.median(errors) <= _POSE_MEDIAN_MAX_DEG, errors


@pytest.mark.parametrize("distance_mm", [350.0, 700.0])
def test_metric_scale_and_pd(face, distance_mm):
    shape, eyes = face
    rng = np.random.default_rng(6)
    with Fusion() as fusion:
        for i in range(60):
            yaw = 15.0 * math.sin(2 * math.pi * 0.3 * i / _FPS)
            result = fusion.update(*_observe(face, _rotation(yaw), np.array([30.0, 10.0, distance_mm]), rng),
                                   _INTRINSICS, i / _FPS)
    assert result.scale_source == "iris"
    assert_allclose(result.translation_mm[2], distance_mm, rtol=_SCALE_REL_TOL)
    assert_allclose(interocular(result.identity_mm), interocular(shape), rtol=_SCALE_REL_TOL)
    assert_allclose(result.face_width_mm, np.linalg.norm(shape[454] - shape[234]), rtol=_SCALE_REL_TOL)
    assert abs(result.pd_mm - np.linalg.norm(eyes[1] - eyes[0])) <= _PD_TOL_MM


def test_identity_converges_and_stays_put(face):
    rng = np.random.default_rng(7)
    identities = {}
    with Fusion() as fusion:
        for i in range(200):
            t = i / _FPS
            pose = _rotation(35.0 * math.sin(2 * math.pi * 0.25 * t), 10.0 * math.sin(2 * math.pi * 0.17 * t))
            result = fusion.update(*_observe(face, pose, np.array([0, 0, 550.0]), rng), _INTRINSICS, t)
            identities[result.frames_fused] = result.identity_mm.astype(np.float64)
    drift = np.sqrt(((identities[200] - identities[100]) ** 2).sum(-1).mean())
    assert drift < _IDENTITY_DRIFT_MAX_MM
    assert result.confidence.min() >= 0 and result.confidence.max() <= 1
    assert result.confidence[IDENTITY_VERTICES].mean() > 0.9


# ---------------------------------------------------------------------------------------------
# Behaviour


def test_different_face_resets_identity_and_expression_does_not(face):
    shape, eyes = face
    other = shape * np.array([1.12, 0.92, 1.0])  # wider, shorter face: a different person
    other[[1, 4, 5, 195], 2] += 6.0  # and a longer nose
    rng = np.random.default_rng(8)
    resets = []
    with Fusion() as fusion:
        for i in range(60):
            smile = shape.copy()
            smile[[61, 291], 0] *= 1.0 + 0.1 * math.sin(i / 3.0)  # mouth corners widen and relax
            result = fusion.update(*_observe((smile, eyes), _rotation(10), np.array([0, 0, 500.0]), rng), _INTRINSICS, i / _FPS)
            resets.append(result.identity_reset)
        assert resets == [True] + [False] * 59
        for i in range(60, 80):
            result = fusion.update(*_observe((other, eyes), _rotation(10), np.array([0, 0, 500.0]), rng), _INTRINSICS, i / _FPS)
            resets.append(result.identity_reset)
    assert sum(resets[60:]) == 1
    assert resets.index(True, 60) <= 60 + FusionOptions().identity_change_frames
    assert result.frames_fused < 20


def test_reset_on_demand_and_missing_face(face):
    rng = np.random.default_rng(9)
    with Fusion() as fusion:
        empty = fusion.update(None, None, _INTRINSICS, 0.0)
        assert isinstance(empty, FusionResult) and not empty.tracking and empty.frames_fused == 0
        for i in range(1, 6):
            seen = fusion.update(*_observe(face, _rotation(0), np.array([0, 0, 500.0]), rng), _INTRINSICS, i / _FPS)
        missing = fusion.update_missing(6 / _FPS)
        assert not missing.tracking and missing.frames_fused == seen.frames_fused == 5
        assert_allclose(missing.vertices_mm, seen.vertices_mm)
        fusion.reset()
        again = fusion.update(*_observe(face, _rotation(0), np.array([0, 0, 500.0]), rng), _INTRINSICS, 7 / _FPS)
        assert again.identity_reset and again.frames_fused == 1


def test_accepts_refined_478_point_mesh(still_meshes):
    intrinsics = CameraIntrinsics.default(640, 480)
    with Fusion() as fusion:
        result = fusion.update(still_meshes[0], None, intrinsics, 0.0)
    assert result.vertices_mm.shape == (NUM_VERTICES, 3) and result.vertices_mm.dtype == np.float32
    assert result.identity_mm.dtype == np.float32 and result.confidence.shape == (NUM_VERTICES,)
    assert result.scale_source == "iris"
    assert 50 < result.pd_mm < 75 and 110 < result.face_width_mm < 170  # adult ranges


def test_rejects_wrong_shapes():
    with Fusion() as fusion, pytest.raises(ValueError, match="vertices_px"):
        fusion.update(np.zeros((468, 2)), None, _INTRINSICS, 0.0)


def test_fusion_benchmark_reports_time(face):
    rng = np.random.default_rng(10)
    meshes, irises = zip(*(_observe(face, _rotation(10), np.array([0, 0, 500.0]), rng) for i in range(80)))
    figures = fusion_benchmark(np.asarray(meshes), np.asarray(irises), _INTRINSICS, warmup=30)
    assert figures.frames == 50 and figures.ms_per_frame > 0
    assert figures.jitter_ratio <= _JITTER_RATIO_MAX


def test_lens_distortion_is_removed(face):
    import cv2

    distorted_camera = CameraIntrinsics(600.0, 600.0, 322.0, 238.0, 640, 480, np.array([-0.25, 0.08, 0.0, 0.0, 0.0]))
    rng = np.random.default_rng(11)
    truth = _rotation(20, 10, -5)
    with Fusion() as fusion:
        for i in range(10):
            vertices, iris = _observe(face, truth, np.array([40.0, 20.0, 450.0]), rng, intrinsics=distorted_camera)
            for points in (vertices, iris.reshape(-1, 3)):  # the network sees the distorted image
                rays = unit_depth_points(points, distorted_camera)
                px, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), distorted_camera.matrix,
                                          np.asarray(distorted_camera.distortion))
                points[:, :2] = px.reshape(-1, 2)
            result = fusion.update(vertices, iris, distorted_camera, i / _FPS)
    assert rotation_angle_deg(result.rotation, truth) < _POSE_MEDIAN_MAX_DEG
    assert_allclose(result.translation_mm, [40.0, 20.0, 450.0], rtol=_SCALE_REL_TOL, atol=3.0)


def test_fast_median_matches_numpy():
    from realtime.geometry import fast_median

    rng = np.random.default_rng(11)
    for n in (1, 2, 3, 10, 11, 468):
        values = rng.normal(size=n)
        assert fast_median(values) == pytest.approx(float(np.median(values)), abs=1e-12)
    assert fast_median(np.array([])) == 0.0
