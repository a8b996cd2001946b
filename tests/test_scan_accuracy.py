"""The scan's measuring tools (realtime/tools/scan_accuracy.py): the radial envelope of a closed
surface and the frame the cameras place the truth in."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from realtime.tools.scan_accuracy import camera_alignment, radial_envelope

ENVELOPE_TOLERANCE_MM = 0.05  # a 60 mm sphere's flat facets and the 0.5 deg grid


def test_the_radial_envelope_of_a_sphere_is_its_radius_from_its_centre():
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=5, radius=60.0)
    centre = np.array([5.0, -3.0, 2.0])
    directions = trimesh.creation.icosphere(subdivisions=2).vertices
    # The grid's seam is at the front and its poles straight up and down, which are not measured.
    directions = directions[(directions[:, 2] < 0.5) & (np.abs(directions[:, 1]) < 0.95)]
    off_centre = np.array([0.0, 10.0, 0.0])  # seen from 10 mm above the centre, the reach varies
    radius = radial_envelope(sphere.vertices + centre, sphere.faces, centre + off_centre, directions)
    along = directions @ -off_centre
    expected = along + np.sqrt(along**2 - off_centre @ off_centre + 60.0**2)
    np.testing.assert_allclose(radius, expected, atol=ENVELOPE_TOLERANCE_MM)
    centred = radial_envelope(sphere.vertices + centre, sphere.faces, centre, directions)
    np.testing.assert_allclose(centred, 60.0, atol=ENVELOPE_TOLERANCE_MM)


def _frames(rng, count: int = 12):
    """Poses of a head ~ 550 mm from the camera, turned and tilted a little: ``[(R (3, 3), t (3,))]``."""
    turns = Rotation.from_euler("yxz", rng.uniform([-30, -10, -5], [30, 10, 5], (count, 3)), degrees=True)
    return [(r, np.array([0.0, 0.0, 550.0]) + rng.normal(0.0, 20.0, 3)) for r in turns.as_matrix()]


def test_camera_alignment_recovers_the_frame_the_poses_imply():
    # The identity is the truth scaled by 1.03, turned 3 deg in pitch and shifted: a landmark fit puts
    # it 1.03 times as far away, turned against the truth's pose so its projection stays the same.
    rng = np.random.default_rng(4)
    scale, offset_turn, offset = 1.03, Rotation.from_euler("x", 3.0, degrees=True).as_matrix(), np.array([1.0, -2.0, 4.0])
    true_poses = _frames(rng)
    carved = []
    for rotation, translation in true_poses:
        carved_rotation = rotation @ offset_turn.T
        carved.append((carved_rotation, scale * translation - carved_rotation @ offset))
    s, r, t = camera_alignment(true_poses, carved, scale)
    assert s == scale
    np.testing.assert_allclose(r, offset_turn, atol=1e-12)
    np.testing.assert_allclose(t, offset, atol=1e-9)
    # Every frame then maps the truth's points to the identity's exactly.
    points = rng.normal(0.0, 60.0, (20, 3))
    for (rotation, translation), (carved_rotation, carved_translation) in zip(true_poses, carved):
        camera = scale * (points @ rotation.T + translation)
        np.testing.assert_allclose((camera - carved_translation) @ carved_rotation, s * points @ r.T + t, atol=1e-9)


def test_camera_alignment_averages_the_frames_disagreement():
    rng = np.random.default_rng(5)
    true_poses = _frames(rng, 200)
    jitter = Rotation.from_rotvec(rng.normal(0.0, np.radians(1.0), (200, 3))).as_matrix()
    carved = [(rotation @ wobble, translation + rng.normal(0.0, 1.0, 3))
              for (rotation, translation), wobble in zip(true_poses, jitter)]
    _, r, t = camera_alignment(true_poses, carved, 1.0)
    assert np.degrees(Rotation.from_matrix(r).magnitude()) < 0.3
    assert np.linalg.norm(t) < 3.0 * 1.0 * np.sqrt(3.0 / 200) + 60.0 * np.radians(0.3)
