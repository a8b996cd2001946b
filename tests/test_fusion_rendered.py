"""Fusion acceptance on rendered faces (issue 3): images through the whole pipeline.

``tests/test_fusion.py`` proves fusion on pinhole projections of points; here the input is
images: the astronaut's photo-mode mesh, closed into a textured metric head with a jaw and a
neck (``realtime.tools.synthetic_face``), relit for each pose and rendered headless at known poses
through a known camera and run through detection, tracking, the face-mesh and iris networks and fusion
(``realtime.stages.pipeline.Pipeline``). Truth: the rendered pose, distance and the head's own PD.
One module-scoped run turns the head for 200 frames (identity drift, lag) and then visits 15
poses (pose accuracy); three short runs stand at known distances (scale, PD).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from motion_metrics import lag_frames
from numpy.testing import assert_allclose

from realtime.camera import CameraIntrinsics
from realtime.stages.capture import Frame
from realtime.stages.pipeline import Pipeline, PipelineOptions
from realtime.tools.pose_accuracy import SWEEP_POSES, PoseSweepOptions, run_pose_sweep
from realtime.stages.scale import IRIS_DIAMETER_MM
from realtime.tools.synthetic_face import SyntheticFaceRenderer, astronaut_head, head_rotation, project_head_points, yaw_deg

# Issue 3 acceptance figures.
_POSE_MEDIAN_MAX_DEG = 3.0
_SCALE_REL_TOL = 0.05
_PD_TOL_MM = 2.0
_IDENTITY_DRIFT_MAX_MM = 0.2
_LAG_MAX_FRAMES = 1.0
# What limits the pose is the face-mesh network's reading of the renders: its landmarks slide on
# the skin as the head turns (the outline most: 5-8 px off the true projection at 20 deg of
# pitch), and under-turn pitch (~0.9 deg read per degree). Fusion weighs every vertex by how
# rigidly it moves on real faces (fusion.POSE_WEIGHTS, measured on real footage, not on these
# renders): 2.77 deg median (6.0 max), where 63 hand-picked vertices with equal weights read
# 3.42 (6.5). The head's true geometry fitted with the same weights to the landmarks' image
# positions (the floor) reads 2.3. Over seven variants of the sweep (distance 450-650 mm,
# holds, turns, 1280x720) the median is 2.4-3.2 deg, mean 2.76 (docs/BENCHMARKS.md).
# Fusion may add at most this much to what the network's image positions allow, degrees.
_POSE_OVER_NETWORK_MAX_DEG = 0.5
# The worst pose of the sweep: 40 deg of yaw (6.0 deg fused), where the network's depths, which
# fusion also weighs, under-read the turn most.
_POSE_MAX_DEG = 7.0
# The head is scaled by the photo's iris, so its painted irises are 11.7 mm across: the scale
# is the two irises' geometric mean (each eye weighted by how it faces the camera), their size
# here the arithmetic mean, which differs by ~1e-5 of it.
_IRIS_TRUTH_TOL_MM = 1e-3
# Network landmarks on the frontal render vs. the render's true projection of the same vertices:
# the photo's mesh is within ~1 px of the photo, interior landmarks stay so, pixels (median).
_FRONTAL_LANDMARK_MEDIAN_PX = 1.5

_FPS = 30.0
_INTRINSICS = CameraIntrinsics.default(640, 480)  # 60 deg horizontal field of view, fx = 554 px
_DISTANCE_MM = 550.0  # a laptop user's face
_TURN_FRAMES = 200
_SCALE_DISTANCES_MM = (400.0, 550.0, 650.0)
_SCALE_FRAMES = 90  # 9 iris observations (the iris network runs every 10th frame)


@pytest.fixture(scope="module")
def head():
    return astronaut_head()


@pytest.fixture(scope="module")
def renderer(gl_ctx, head):
    with SyntheticFaceRenderer(gl_ctx, head) as renderer:
        yield renderer


def _run(renderer, poses, pipeline: Pipeline, start: int = 0) -> list:
    """Render ``poses`` [(rotation, translation_mm)] and process them; returns PipelineResults."""
    results = []
    for i, (rotation, translation) in enumerate(poses, start):
        image = renderer.render(rotation, translation, _INTRINSICS)
        results.append(pipeline.process(Frame(image, i, i / _FPS)))
    return results


@pytest.fixture(scope="module")
def turning_then_sweep(gl_ctx, head):
    """200 frames of a turning head, then the pose sweep (``realtime.tools.pose_accuracy``: 15 poses,
    each reached in a 10-frame turn, held 8 frames and read), in one pipeline (one identity)."""
    options = PoseSweepOptions(turn_frames=_TURN_FRAMES, distance_mm=_DISTANCE_MM, width=_INTRINSICS.width,
                               height=_INTRINSICS.height, fps=_FPS)
    return run_pose_sweep(options, ctx=gl_ctx, head=head)


# ---------------------------------------------------------------------------------------------
# The synthetic head and its renders


def test_head_truth_is_consistent(head):
    # Scaled by the photo's iris: the painted irises are 11.7 mm across in the head's mm.
    assert abs(head.iris_diameter_mm - IRIS_DIAMETER_MM) <= _IRIS_TRUTH_TOL_MM
    assert 55.0 < head.pd_mm < 72.0  # adult range
    assert abs(head.pd_mm - head.eye_pd_mm) < 1.0  # she looks at the camera
    face = head.face_mm
    assert_allclose(face.mean(axis=0), 0.0, atol=1e-4)  # origin: the mean face vertex
    assert face[263, 0] > 0 > face[33, 0] and face[10, 1] > 0 > face[152, 1]  # left eye +x, forehead up
    assert face[1, 2] > face[:, 2].mean() + 20  # nose out (+z)


def test_render_is_deterministic_and_lands_where_projected(renderer, head):
    rotation, translation = head_rotation(0), np.array([0.0, 0.0, _DISTANCE_MM])
    image = renderer.render(rotation, translation, _INTRINSICS)
    assert image.shape == (480, 640, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, renderer.render(rotation, translation, _INTRINSICS))
    with Pipeline(PipelineOptions(fusion=False)) as pipeline:
        faces = pipeline.process(Frame(image, 0, 0.0)).faces
    assert len(faces) == 1
    truth = project_head_points(head.face_mm, rotation, translation, _INTRINSICS)
    error = np.linalg.norm(faces[0].vertices[:, :2] - truth, axis=1)
    assert np.median(error) <= _FRONTAL_LANDMARK_MEDIAN_PX


def test_lambert_shade_spans_ambient_to_full_light():
    from realtime.tools.synthetic_face import lambert_shade

    normals = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 0.6, 0.8]])
    shade = lambert_shade(normals, np.array([0.0, 0.0, 2.0]), ambient=0.3)  # light_dir need not be unit
    assert_allclose(shade, [1.0, 0.3, 0.3, 0.3 + 0.7 * 0.8])


def test_relit_render_lights_what_turns_towards_the_light(renderer):
    # The light sits above the camera: tipping the head back (chin up) turns the underside of
    # the nose towards it, and it brightens (~88 -> ~134 grey levels here). With the photo's
    # shading baked in (the first renders) it kept its frontal shadow whatever the pose.
    def under_nose_brightness(pitch_deg):
        rotation, translation = head_rotation(0, pitch_deg), np.array([0.0, 0.0, _DISTANCE_MM])
        image = renderer.render(rotation, translation, _INTRINSICS)
        [[x, y]] = project_head_points(renderer.head.face_mm[[2]], rotation, translation, _INTRINSICS)
        return float(image[int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2].mean())

    assert under_nose_brightness(-20) > under_nose_brightness(0) + 20


# ---------------------------------------------------------------------------------------------
# Acceptance figures


def test_identity_settles_on_turning_head(turning_then_sweep):
    results = [r.fusion for r in turning_then_sweep.turn_results]
    assert [r.frames_fused for r in results] == list(range(1, _TURN_FRAMES + 1))  # never reset
    identities = {r.frames_fused: r.identity_mm.astype(np.float64) for r in results}
    drift = np.sqrt(((identities[200] - identities[100]) ** 2).sum(-1).mean())
    assert drift < _IDENTITY_DRIFT_MAX_MM, drift


def test_pose_lag_on_turning_head(turning_then_sweep):
    truth = np.array([yaw_deg(rotation) for rotation, _ in turning_then_sweep.turn])
    fused = np.array([yaw_deg(r.fusion.rotation) for r in turning_then_sweep.turn_results])
    assert lag_frames(truth[30:], fused[30:]) <= _LAG_MAX_FRAMES


def test_pose_across_range_is_as_good_as_the_network_allows(turning_then_sweep):
    fused, network = turning_then_sweep.fused_deg, turning_then_sweep.floor_deg
    assert len(fused) == len(SWEEP_POSES) - 1
    assert np.median(fused) <= np.median(network) + _POSE_OVER_NETWORK_MAX_DEG, (fused, network)
    assert fused.max() <= _POSE_MAX_DEG, fused


def test_pose_across_range_issue_target(turning_then_sweep):
    fused = turning_then_sweep.fused_deg
    assert np.median(fused) <= _POSE_MEDIAN_MAX_DEG, fused


@pytest.fixture(scope="module", params=_SCALE_DISTANCES_MM, ids=lambda d: f"{d:.0f}mm")
def standing(renderer, request):
    """A head at a known distance, slightly off-centre, turning a little: its last result."""
    distance = request.param
    poses = [(head_rotation(15.0 * math.sin(2 * math.pi * 0.3 * i / _FPS), 5.0 * math.sin(2 * math.pi * 0.2 * i / _FPS)),
              np.array([30.0, 10.0, distance])) for i in range(_SCALE_FRAMES)]
    with Pipeline(PipelineOptions()) as pipeline:
        return distance, _run(renderer, poses, pipeline)[-1].fusion


def test_metric_scale_and_pd_on_renders(standing, head):
    distance, result = standing
    assert result.scale_source == "iris"
    assert_allclose(result.translation_mm[2], distance, rtol=_SCALE_REL_TOL)
    assert abs(result.pd_mm - head.pd_mm) <= _PD_TOL_MM, (result.pd_mm, head.pd_mm)
