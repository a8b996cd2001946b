"""Tests for the pure geometry of realtime.printing (head frame, surface, solids)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from realtime import topology
from realtime.printing import headframe, solids, surface

FRAME_TOL = 1e-9
"""Head-frame round trip of exact arithmetic (float64)."""
AREA_RTOL = 1e-2
"""Polygon area of a traced or meshed shape against its exact value."""
NEW_FOLDS_ALLOWED = 2
"""Face-mesh triangles that may turn over in (azimuth, elevation) when the jaw closes: the rolled
lips' rows at the corners, a fraction of a millimetre apart, which the surface's seam smoothing
merges. (A jaw whose turn ramps in over the opening's own height turns over 24 more on the
reference face, the cheeks and lip corners beside the mouth: shards in the bust.)"""
LIP_SEAM_TOL_MM = 0.1
"""The closed lips' gap against ``NEUTRAL_MOUTH_GAP_MM``: the gap is an arc about the hinge, the
check a straight distance across a ray."""


def _toy_face(seed=0):
    """A face-like point set: the 468 vertices on an ellipsoid cap with eyes, nose and chin placed."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(topology.N_VERTICES, 3)) * [30, 40, 5] + [0, 0, 60]
    v[topology.RIGHT_EYE_OUTER] = [-45, 0, 40]
    v[topology.LEFT_EYE_OUTER] = [45, 0, 40]
    v[topology.CHIN] = [0, -110, 50]
    v[topology.FOREHEAD_TOP] = [0, 50, 50]
    v[topology.NOSE_TIP] = [0, -35, 80]
    return v


def test_head_frame_round_trip_and_handedness():
    v = _toy_face()
    rotation, origin = headframe.head_frame(v)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=FRAME_TOL)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    head = headframe.to_head_frame(v)
    np.testing.assert_allclose(head @ rotation + origin, v, atol=FRAME_TOL)
    assert head[topology.LEFT_EYE_OUTER, 0] > 0 and head[topology.NOSE_TIP, 2] > 0
    assert head[topology.FOREHEAD_TOP, 1] > head[topology.CHIN, 1]


def test_head_frame_from_opencv_camera_axes():
    # Camera space (x right, y down, z away): a frontal face has its nose toward -z.
    v = _toy_face() * [1, -1, -1]
    rotation, _ = headframe.head_frame(v)
    np.testing.assert_allclose(rotation[1], [0, -1, 0], atol=0.2)  # up is -y in the image
    np.testing.assert_allclose(rotation[2], [0, 0, -1], atol=0.2)  # forward is toward the camera


def test_warped_sphere_is_a_closed_outward_surface():
    dirs, faces = surface.warped_sphere()
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0, atol=1e-12)
    mesh = trimesh.Trimesh(dirs, faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    front = dirs[:, 2] > 0.9
    assert front.mean() > (1 - 0.9) / 2  # denser than uniform near +z


def test_fill_on_sphere_makes_each_hole_the_mean_of_its_neighbours_and_keeps_the_rest():
    dirs, faces = surface.warped_sphere(3)
    values = 100.0 + 20.0 * dirs[:, 0] + 5.0 * dirs[:, 1] ** 2
    holes = (dirs[:, 2] < -0.5) & (np.abs(dirs[:, 0]) < 0.4)  # a patch at the back
    spoiled = np.where(holes, 0.0, values)  # what was there is irrelevant
    filled = surface.fill_on_sphere(spoiled, faces, holes)
    np.testing.assert_array_equal(filled[~holes], values[~holes])
    mean_of = surface.sphere_adjacency(faces, len(dirs))
    np.testing.assert_allclose((mean_of @ filled)[holes], filled[holes], atol=1e-9)
    edge = ~holes & (np.asarray(abs(mean_of[holes]).sum(axis=0)).ravel() > 0)
    assert filled[holes].min() >= values[edge].min() - 1e-9  # the maximum principle
    assert filled[holes].max() <= values[edge].max() + 1e-9
    # A constant stays constant; a sphere of nothing but holes keeps its values.
    np.testing.assert_allclose(surface.fill_on_sphere(np.full(len(dirs), 7.0), faces, holes), 7.0)
    np.testing.assert_array_equal(surface.fill_on_sphere(values, faces, np.ones(len(dirs), bool)), values)


def test_egg_radius_on_axes():
    axes = np.array([70.0, 100.0, 80.0, 95.0])
    dirs = np.array([[1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1.0]])
    np.testing.assert_allclose(surface.egg_radius(dirs, axes), axes)


def test_inside_distance_square():
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2.0]])
    d = surface.inside_distance(np.array([[1, 1], [3, 1], [1, 0.25]]), square)
    np.testing.assert_allclose(d, [1.0, -1.0, 0.25])


def test_heightfield_solid_volume():
    heights = np.full((5, 7), 2.0)
    heights[2, 3] = 3.0
    vertices, faces = solids.heightfield_solid(heights, 0.5, (1.0, -1.0))
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    # 3 x 2 mm at 2 mm high, plus a tent of height 1 over the six triangles (0.125 mm^2 each)
    # that meet at the raised vertex with this diagonal pattern.
    np.testing.assert_allclose(mesh.volume, 3.0 * 2.0 * 2.0 + 1.0 * 6 * 0.125 / 3, rtol=1e-9)
    solid = solids.to_manifold(vertices, faces)
    back, back_faces, _ = solids.from_manifold(solid)
    np.testing.assert_allclose(trimesh.Trimesh(back, back_faces).volume, mesh.volume, rtol=1e-6)


def test_label_outline_size_and_holes():
    polygons = solids.text_outline("O8", 10.0)
    xy = np.vstack(polygons)
    np.testing.assert_allclose(xy[:, 1].max() - xy[:, 1].min(), 10.0, rtol=0.15)
    assert len(polygons) >= 5  # two outers, three counters
    cutter = solids.label_cutter("O8", 10.0, 0.6, 5.0)
    lo, hi = np.array(cutter.bounding_box()[:3]), np.array(cutter.bounding_box()[3:])
    assert hi[0] - lo[0] <= 5.0 + 1e-6
    np.testing.assert_allclose([lo[2], hi[2]], [-0.6, solids.CUT_OVERSHOOT_MM], atol=1e-6)
    assert solids.label_cutter("   ", 10.0, 0.6, 50.0).is_empty()


def test_rounded_box_area():
    box = solids.rounded_box(40.0, 20.0, 10.0, 5.0)
    exact = (40 * 20 - (4 - np.pi) * 25) * 10
    np.testing.assert_allclose(box.volume(), exact, rtol=AREA_RTOL)


# --- the head prior -----------------------------------------------------------------------------

SMOOTH_SECOND_DIFF_MM = 1e-3
"""Largest second difference of the prior radius along a great circle sampled every 0.01 deg:
a C1 surface changes its slope by ~1e-6 mm per step there; a kink of one degree gives ~1e-2."""
SUBMENTAL_SLOPE_TOL_DEG = 4.0
"""The chin's underside against SUBMENTAL_RISE_RAD (the smoothed jaw border bends it a little)."""


def _unit_rows(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _random_directions(n=2000, seed=1):
    return _unit_rows(np.random.default_rng(seed).normal(size=(n, 3)))


def test_primitive_radii_land_on_their_surfaces():
    dirs = _random_directions()
    origin = np.array([1.0, -2.0, 3.0])
    centre, axes = np.array([0.0, 5.0, -4.0]), np.array([30.0, 50.0, 40.0])
    p = origin + dirs * surface.ellipsoid_radius(dirs, origin, centre, axes)[:, None]
    np.testing.assert_allclose(np.linalg.norm((p - centre) / axes, axis=1), 1.0, atol=1e-9)
    # Centred, it is the egg with equal halves.
    np.testing.assert_allclose(surface.ellipsoid_radius(dirs, centre, centre, axes),
                               surface.egg_radius(dirs, np.array([30.0, 50.0, 50.0, 40.0])), rtol=1e-12)
    point, normal = np.array([0.0, -20.0, 0.0]), _unit_rows([[0.0, -1.0, -0.3]])[0]
    r = surface.plane_radius(dirs, origin, point, normal)
    hit = r < surface._FAR_MM
    assert hit.any() and (~hit).any()
    np.testing.assert_allclose((origin + dirs[hit] * r[hit, None] - point) @ normal, 0.0, atol=1e-9)
    r = surface.vertical_cylinder_radius(dirs, origin, np.array([2.0, 1.0]), 25.0)
    p = origin + dirs * r[:, None]
    np.testing.assert_allclose(np.hypot(p[:, 0] - 2.0, p[:, 2] - 1.0), 25.0, atol=1e-9)


def test_smooth_min_and_max_bound_the_sharp_ones():
    a, b = np.linspace(0.0, 10.0, 101), np.full(101, 5.0)
    width = 2.0
    low = surface.smooth_min(a, b, width)
    assert np.all(low <= np.minimum(a, b)) and np.all(low >= np.minimum(a, b) - width / 4 - 1e-12)
    far = np.abs(a - b) >= width
    np.testing.assert_allclose(low[far], np.minimum(a, b)[far])
    np.testing.assert_allclose(surface.smooth_max(a, b, width), -surface.smooth_min(-a, -b, width))


def test_split_ellipsoid_is_smooth_across_its_seam():
    origin, centre = np.zeros(3), np.array([0.0, 18.0, -20.0])
    elevation = np.radians(np.linspace(-20.0, 40.0, 6001))
    for azimuth in np.radians([0.0, 60.0, 120.0, 170.0]):
        dirs = np.column_stack([np.cos(elevation) * np.sin(azimuth), np.sin(elevation), np.cos(elevation) * np.cos(azimuth)])
        r = surface.split_ellipsoid_radius(dirs, origin, centre, np.array([70.0, 90.0, 95.0]), np.array([70.0, 65.0, 95.0]))
        assert np.abs(np.diff(r, 2)).max() < SMOOTH_SECOND_DIFF_MM


@pytest.fixture(scope="module")
def astronaut_head():
    """The astronaut's face mesh in the head frame, mm (mediapipe's landmarks, 63 mm pupil distance)."""
    pytest.importorskip("mediapipe")
    from realtime.tools.topology_build import astronaut_landmarks_px

    px = astronaut_landmarks_px().astype(np.float64)
    ipd = np.linalg.norm(px[list(topology.LEFT_EYE)].mean(0)[:2] - px[list(topology.RIGHT_EYE)].mean(0)[:2])
    return headframe.to_head_frame(px * (63.0 / ipd))


def test_head_prior_is_smooth_everywhere(astronaut_head):
    shape = surface.fit_head(astronaut_head)
    elevation = np.radians(np.linspace(-85.0, 85.0, 17001))
    for azimuth in np.radians(np.arange(0.0, 180.0, 15.0)):
        dirs = np.column_stack([np.cos(elevation) * np.sin(azimuth), np.sin(elevation), np.cos(elevation) * np.cos(azimuth)])
        r = surface.prior_radius(dirs, shape)
        # The neck's base is cut off under the plinth; the rest must be C1.
        keep = (shape.centre + dirs * r[:, None])[:, 1] > shape.neck_bottom_y + 1.0
        second = np.abs(np.diff(r, 2))[keep[1:-1] & keep[:-2] & keep[2:]]
        assert second.max() < SMOOTH_SECOND_DIFF_MM, np.degrees(azimuth)


def test_head_prior_has_a_jaw_underside_a_neck_and_a_wide_cranium(astronaut_head):
    head = astronaut_head
    shape = surface.fit_head(head)
    chin = head[topology.CHIN]
    neck_front_z = shape.neck_axis_xz[1] + shape.neck_radius

    def midline_height(z):
        """Lowest surface point on the midline at depth z: march up from below along y."""
        ys = np.linspace(shape.neck_bottom_y, 0.0, 4000)
        points = np.column_stack([np.zeros_like(ys), ys, np.full_like(ys, z)]) - shape.centre
        radius = np.linalg.norm(points, axis=1)
        inside = radius <= surface.prior_radius(points / radius[:, None], shape)
        return ys[np.argmax(inside)]

    # Under the chin the surface rises toward the throat at about SUBMENTAL_RISE_RAD...
    z0, z1 = chin[2] - 10.0, neck_front_z + 8.0
    slope = (midline_height(z1) - midline_height(z0)) / (z0 - z1)
    assert abs(np.degrees(np.arctan(slope)) - np.degrees(surface.SUBMENTAL_RISE_RAD)) < SUBMENTAL_SLOPE_TOL_DEG
    # ...and the throat sits well above the chin's underside plane's lowest point: not an egg bottom.
    assert midline_height(neck_front_z - 5.0) < midline_height(z1)  # the neck drops away below the throat
    # The cranium is wider at its widest section, above the ears, than at the ears.
    def cranium_half_width(y):
        toward = _unit_rows([[1.0, y - shape.centre[1], shape.cranium_centre[2] - shape.centre[2]]])
        return surface.cranium_radius(toward, shape)[0] * toward[0, 0]

    assert shape.cranium_centre[1] > head[234, 1]
    assert cranium_half_width(shape.cranium_centre[1]) > cranium_half_width(head[234, 1])
    assert cranium_half_width(shape.cranium_centre[1]) <= shape.side_half_width  # flat parietal walls
    # Below the jaw the neck is a circle of neck_radius around its axis.
    y = chin[1] - 0.3 * shape.semi_axes[0]
    angle = np.linspace(0.0, 2 * np.pi, 72, endpoint=False)
    reach = 0.99 * shape.neck_radius  # just inside the neck's surface: the ray leaves through the side
    ring = np.column_stack([shape.neck_axis_xz[0] + reach * np.cos(angle), np.full_like(angle, y),
                            shape.neck_axis_xz[1] + reach * np.sin(angle)])
    dirs = _unit_rows(ring - shape.centre)
    p = shape.centre + dirs * surface.prior_radius(dirs, shape)[:, None]
    np.testing.assert_allclose(np.hypot(p[:, 0] - shape.neck_axis_xz[0], p[:, 2] - shape.neck_axis_xz[1]),
                               shape.neck_radius, rtol=0.02)


def test_the_prior_does_not_touch_the_face(astronaut_head):
    """Where the face weight is 1 the radius is the network's face, whatever the skull prior."""
    import dataclasses

    head = astronaut_head
    shape = surface.fit_head(head)
    dirs, _ = surface.warped_sphere()
    field = surface.radial_field(head, shape, dirs)
    other = dataclasses.replace(shape, semi_axes=shape.semi_axes * 1.2, jaw_axes=shape.jaw_axes * 0.8,
                                neck_radius=shape.neck_radius * 0.7)
    moved = surface.radial_field(head, other, dirs)
    face = field.face_weight >= 1.0
    assert face.sum() > 1000
    np.testing.assert_array_equal(moved.face_weight, field.face_weight)
    np.testing.assert_allclose(moved.radius[face], field.radius[face], rtol=0, atol=1e-12)
    assert not np.allclose(moved.radius[~face], field.radius[~face])


def test_ears_are_mirrored_proper_and_on_the_head(astronaut_head):
    head = astronaut_head
    shape = surface.fit_head(head)
    centres, rotations, axes = surface.ear_ellipsoids(head, shape)
    np.testing.assert_allclose(np.linalg.det(rotations), 1.0, atol=1e-12)
    for rotation in rotations:
        np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-12)
    assert centres[0, 0] > 0 > centres[1, 0]
    np.testing.assert_allclose(centres[0] * [-1, 1, 1], centres[1], atol=1.0)
    # Each ear's centre lies within its own thickness of the head surface, behind the face contour.
    for centre in centres:
        toward = _unit_rows((centre - shape.centre)[None])
        gap = np.linalg.norm(centre - shape.centre) - surface.skull_radius(toward, shape)[0]
        assert abs(gap) < axes[0]
        assert centre[2] < head[234, 2]


def test_ellipsoid_solid_volume():
    rotation = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    solid = solids.ellipsoid(np.array([5.0, 0.0, 1.0]), np.array([3.0, 2.0, 1.0]), rotation, refine=96)
    np.testing.assert_allclose(solid.volume(), 4.0 / 3.0 * np.pi * 6.0, rtol=AREA_RTOL)
    lo, hi = np.array(solid.bounding_box()[:3]), np.array(solid.bounding_box()[3:])
    np.testing.assert_allclose(hi - lo, [4.0, 6.0, 2.0], rtol=AREA_RTOL)


@pytest.fixture(scope="module")
def open_mouth_head():
    """The reference frontal face (a smile with the teeth apart: 10.5 mm between the inner lips),
    head frame, mm."""
    head = headframe.to_head_frame(np.load(Path(__file__).parent / "reference" / "face_frontal_mm.npy"))
    assert headframe.mouth_gap_mm(head) > 10.0
    return head


def _folded_triangles(head: np.ndarray, centre: np.ndarray) -> int:
    """Face-mesh triangles turned over in (azimuth, elevation) seen from ``centre``: where the
    radial head field would alternate between two sheets of skin."""
    corners = surface.angles(head - centre)[topology.face_triangles()]
    edge1, edge2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    area = edge1[:, 0] * edge2[:, 1] - edge1[:, 1] * edge2[:, 0]
    return int((np.sign(area) != np.sign(np.median(area))).sum())


def test_neutral_jaw_folds_no_skin(open_mouth_head):
    head = open_mouth_head
    centre = surface.field_centre(head)
    closed = headframe.neutral_jaw(head, centre)
    assert _folded_triangles(closed, centre) <= _folded_triangles(head, centre) + NEW_FOLDS_ALLOWED
    # The field centre depends on the eyes and ears only: closing the jaw does not move it.
    np.testing.assert_allclose(surface.field_centre(closed), centre, atol=FRAME_TOL)


def test_neutral_jaw_meets_the_upper_lip_as_seen_from_the_centre(open_mouth_head):
    head = open_mouth_head
    centre = surface.field_centre(head)
    upper, lower = topology.UPPER_LIP_INNER, topology.LOWER_LIP_INNER
    # Seen from the centre (the bust's radial field), the lower lip stops just below the upper
    # one: the jaw's turn also carries it forward, and matching heights would overlap the lips.
    closed = headframe.neutral_jaw(head, centre)
    elevation = surface.angles(closed[[upper, lower]] - centre)[:, 1]
    distance = np.linalg.norm(closed[lower] - centre)
    np.testing.assert_allclose((elevation[0] - elevation[1]) * distance, headframe.NEUTRAL_MOUTH_GAP_MM,
                               atol=LIP_SEAM_TOL_MM)
    # Seen from the front (a relief), it stops just below the upper lip's height.
    front = headframe.neutral_jaw(head)
    np.testing.assert_allclose(front[upper, 1] - front[lower, 1], headframe.NEUTRAL_MOUTH_GAP_MM, atol=LIP_SEAM_TOL_MM)
    # The face above the mouth opening and the mouth corners stay where they are.
    above = head[:, 1] > head[list(topology.LIPS_INNER), 1].max()
    corners = [topology.MOUTH_RIGHT, topology.MOUTH_LEFT]
    for moved in (closed, front):
        np.testing.assert_allclose(moved[above], head[above], atol=FRAME_TOL)
        np.testing.assert_allclose(moved[corners], head[corners], atol=FRAME_TOL)
