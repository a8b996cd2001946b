"""``realtime.tools.rigidity_build`` (the non-rigid motion per vertex) and the shipped data fusion weighs
the pose with."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from realtime.stages.fusion import POSE_WEIGHTS, pose_vertex_weights
from realtime.topology import IDENTITY_VERTICES
from realtime.tools.rigidity_build import aligned_to_mean, nonrigid_residuals, vertex_rigidity
from realtime.tools.synthetic_face import head_rotation


def _moving_face(rng, frames=40, n=468, wobble=None):
    """A rigid random face seen at random similarity poses, plus optional per-vertex wobble."""
    shape = rng.normal(size=(n, 3))
    out = []
    for _ in range(frames):
        rotation = head_rotation(*rng.uniform(-20, 20, size=3))
        points = 0.8 * shape @ rotation.T + rng.normal(scale=0.3, size=3)
        if wobble is not None:
            points = points + rng.normal(size=(n, 3)) * wobble[:, None]
        out.append(points)
    return np.asarray(out)


def test_a_rigid_face_aligns_exactly():
    frames = _moving_face(np.random.default_rng(1))
    aligned, mean = aligned_to_mean(frames, np.ones(frames.shape[1]))
    assert_allclose(aligned, np.broadcast_to(mean, aligned.shape), atol=1e-9)
    assert nonrigid_residuals(frames, np.ones(frames.shape[1])).max() < 1e-9


def test_residuals_find_the_vertices_that_move():
    wobble = np.zeros(468)
    wobble[[3, 7, 11]] = [0.05, 0.1, 0.2]
    frames = _moving_face(np.random.default_rng(2), frames=200, wobble=wobble)
    residuals = vertex_rigidity([frames])
    assert set(np.argsort(residuals)[-3:]) == {3, 7, 11}
    assert residuals[11] > residuals[7] > residuals[3] > 10 * np.median(residuals)
    # Reweighting takes the moving vertices out of the alignment: the rigid ones settle near 0.
    assert np.median(residuals) < 0.1 * residuals[3]


def test_pose_weights_are_inverse_variances_relative_to_the_most_rigid():
    assert_allclose(pose_vertex_weights(np.array([0.01, 0.02, 0.04])), [1.0, 0.25, 0.0625])


def test_shipped_weights_trust_the_nose_bridge_over_the_lips():
    assert POSE_WEIGHTS.shape == (468,) and np.all(POSE_WEIGHTS > 0) and POSE_WEIGHTS.max() == pytest.approx(1.0)
    nose_bridge, lips = [6, 168, 197], [13, 14, 61, 291]  # MediaPipe face-mesh indices
    assert POSE_WEIGHTS[nose_bridge].min() > 3 * POSE_WEIGHTS[lips].max()  # 4.4x shipped
    assert len(IDENTITY_VERTICES) == 63
