"""Tests for realtime/printing/silhouette.py: the affine view, outlines, clipping and hair growth."""

import functools

import numpy as np
import pytest

from realtime.printing import silhouette

ROTATION = np.array([[0.96, 0.0, 0.28], [0.0, 1.0, 0.0], [-0.28, 0.0, 0.96]])  # ~16 deg of yaw
OUTLINE_TOLERANCE_PX = 1.5  # the outlines are sampled on a pixel grid


def _view(scale=2.0, shift=(128.0, 128.0)):
    # Head frame (y up) -> crop pixels (y down): a rotation, then an image flip of y, scaled.
    matrix = np.zeros((2, 4))
    matrix[0, :3] = scale * ROTATION[0]
    matrix[1, :3] = -scale * ROTATION[1]
    matrix[:, 3] = shift
    return silhouette.AffineView(matrix)


def test_fit_affine_view_recovers_an_affine_camera():
    view = _view()
    points = np.random.default_rng(0).normal(scale=60.0, size=(468, 3))
    fitted = silhouette.fit_affine_view(points, view.project(points))
    np.testing.assert_allclose(fitted.matrix, view.matrix, atol=1e-9)
    assert fitted.px_per_mm == pytest.approx(2.0)
    # The view direction is the unseen axis, pointing away from the camera.
    np.testing.assert_allclose(abs(fitted.matrix[:, :3] @ fitted.view_dir), 0.0, atol=1e-12)


def test_then_composes_a_2d_map_after_the_view():
    view = _view()
    crop = np.array([[0.5, 0.0, 10.0], [0.0, 0.5, -4.0]])
    p = np.array([[10.0, 20.0, 30.0]])
    np.testing.assert_allclose(view.then(crop).project(p), view.project(p) @ crop[:, :2].T + crop[:, 2])


def _disc(radius, centre=(128.0, 128.0), size=256):
    ys, xs = np.mgrid[0:size, 0:size]
    return np.hypot(xs - centre[0], ys - centre[1]) <= radius


def test_polar_extent_of_a_disc_is_its_radius():
    angles = np.linspace(-np.pi, np.pi, 36, endpoint=False)
    first = silhouette.polar_extent(_disc(60.0), np.array([128.0, 128.0]), angles, last=False)
    last = silhouette.polar_extent(_disc(60.0), np.array([128.0, 128.0]), angles, last=True)
    np.testing.assert_allclose(first, 60.0, atol=OUTLINE_TOLERANCE_PX)
    np.testing.assert_allclose(last, 60.0, atol=OUTLINE_TOLERANCE_PX)


def test_polar_extent_first_exit_stops_at_a_gap_and_last_bridges_it():
    region = _disc(80.0) & ~(_disc(50.0) & ~_disc(40.0))  # a ring-shaped gap between 40 and 50
    angles = np.array([0.0])
    first = silhouette.polar_extent(region, np.array([128.0, 128.0]), angles, last=False)
    last = silhouette.polar_extent(region, np.array([128.0, 128.0]), angles, last=True)
    assert first[0] == pytest.approx(40.0, abs=OUTLINE_TOLERANCE_PX)
    assert last[0] == pytest.approx(80.0, abs=OUTLINE_TOLERANCE_PX)


@functools.lru_cache(maxsize=1)
def _unit_sphere() -> np.ndarray:
    import trimesh

    return np.asarray(trimesh.creation.icosphere(subdivisions=6).vertices, np.float64)


def _sphere_directions() -> np.ndarray:
    """``(40962, 3)`` unit directions over the sphere (an icosphere's vertices), a fresh copy."""
    return _unit_sphere().copy()


def _drawn_silhouette(region, hair=None, chin_row=200.0):
    """The ``Silhouette`` of a drawn head-and-hair ``region (256, 256) bool`` (also the person and
    the hair region) seen through ``_view()`` from the head frame's origin, wholly inside the
    photo: ``hair`` is a function of the outline's angles (None: hair all round)."""
    view = _view()
    centre_px = view.project(np.zeros((1, 3)))[0]
    angles = np.linspace(-np.pi, np.pi, silhouette.ANGLE_BINS, endpoint=False)
    head_px = silhouette.polar_extent(region, centre_px, angles, last=True)
    person_px = silhouette.polar_extent(region, centre_px, angles, last=False, beyond=True)
    hair = np.ones(len(angles), bool) if hair is None else hair(angles)
    return silhouette.Silhouette(view, np.zeros(3), centre_px, angles, head_px, person_px, hair, region, region,
                                 chin_row, np.ones(region.shape, bool), region)


def _silhouette(radius_px, hair=None):
    return _drawn_silhouette(_disc(radius_px), hair)


def test_clip_radius_is_the_outline_for_directions_across_the_view():
    sil = _silhouette(80.0)  # 80 px at 2 px/mm: 40 mm
    across = np.array([ROTATION[0], -ROTATION[0], ROTATION[1]])
    np.testing.assert_allclose(silhouette.clip_radius(across, sil), 40.0, atol=OUTLINE_TOLERANCE_PX / 2)
    along = ROTATION[2][None]  # the view axis never leaves the outline
    assert np.isinf(silhouette.clip_radius(along, sil)[0])


def test_hair_grows_a_small_head_until_its_outline_meets_the_hair():
    directions = _sphere_directions()
    base = np.full(len(directions), 30.0)  # the skull: 30 mm, the outline: 45 mm
    sil = _silhouette(90.0)
    grown = silhouette.hair_radius(directions, base, sil)
    outline = silhouette.outline_px(directions * grown[:, None], sil)
    np.testing.assert_allclose(outline / sil.view.px_per_mm, 45.0, atol=2.0)
    assert np.all(grown >= base - 1e-9)


def test_hair_only_grows_where_the_outline_is_hair():
    directions = _sphere_directions()
    base = np.full(len(directions), 30.0)
    # Hair only in the upper half of the image (crop y < centre: negative angles).
    sil = _silhouette(90.0, hair=lambda a: a < 0)
    grown = silhouette.hair_radius(directions, base, sil)
    up, down = directions @ ROTATION[1], directions @ ROTATION[1]
    assert grown[up > 0.9].mean() > 40.0
    # Below, only the mean thickness toward the view axis reaches: the bottom rim stays near the skull.
    assert grown[down < -0.9].mean() < grown[up > 0.9].mean() - 5.0


def test_hair_down_both_sides_goes_round_the_back_at_the_same_height():
    directions = _sphere_directions()
    base = np.full(len(directions), 30.0)  # the skull: 30 mm (60 px)
    # A bob: a 35 mm head whose hair hangs at both sides, 40 mm out, from the ears' height (10 mm
    # below the centre) to 30 mm below it; not below the chin.
    ys, xs = np.mgrid[0:256, 0:256]
    bob = _disc(70.0) | ((np.abs(xs - 128.0) <= 80.0) & (ys >= 148.0) & (ys <= 188.0))
    sil = _drawn_silhouette(bob, lambda a: ~((a > np.radians(60.0)) & (a < np.radians(120.0))), chin_row=230.0)
    grown = silhouette.hair_radius(directions, base, sil)
    in_view = directions @ ROTATION.T  # (right, up, toward the camera) of the view
    low = (in_view[:, 1] < -0.45) & (in_view[:, 1] > -0.6)
    high = (in_view[:, 1] > 0.45) & (in_view[:, 1] < 0.6)
    sides = low & (np.abs(in_view[:, 0]) > 0.75)
    back = in_view[:, 2] < -0.75
    # Behind the head the hair hangs as low and as thick as at its sides ...
    assert grown[low & back].mean() > 0.8 * grown[sides].mean()
    # ... thicker there than above it, where the sides' hair is the head's own outline.
    assert grown[low & back].mean() > grown[high & back].mean() + 3.0
    # In front (the face's side) only the outline's mean reaches.
    front = low & (in_view[:, 2] > 0.75)
    assert grown[front].mean() < grown[low & back].mean() - 3.0


def _long_hair_scene(chin_row: float):
    """A 35 mm head (2 px/mm) whose hair hangs at both sides, 40 mm out, from 10 mm to 61 mm below
    the centre; the chin's row as given (the centre is at row 128)."""
    ys, xs = np.mgrid[0:256, 0:256]
    hair_down = _disc(70.0) | ((np.abs(xs - 128.0) <= 80.0) & (ys >= 148.0) & (ys <= 250.0))
    # Hair all round but at the chin and neck.
    return _drawn_silhouette(hair_down, lambda a: ~((a > np.radians(70.0)) & (a < np.radians(110.0))), chin_row)


def test_hair_that_hangs_below_the_chin_falls_straight_down_behind_the_head():
    directions = _sphere_directions()
    in_view = directions @ ROTATION.T  # (right, up, toward the camera) of the view
    # The skull: 30 mm, narrowing under the occiput to a 15 mm neck.
    base = 30.0 - 15.0 * np.clip((-in_view[:, 1] - 0.2) / 0.6, 0.0, 1.0)
    long_hair = silhouette.hair_radius(directions, base, _long_hair_scene(chin_row=200.0))  # chin 36 mm down
    bob = silhouette.hair_radius(directions, base, _long_hair_scene(chin_row=250.0))  # the hair ends at the chin
    horizontal = np.hypot(in_view[:, 0], in_view[:, 2])
    back = in_view[:, 2] < -0.8
    widest = (long_hair * horizontal)[back & (np.abs(in_view[:, 1]) < 0.2)].max()
    low_back = back & (in_view[:, 1] < -0.55) & (in_view[:, 1] > -0.75)
    # Behind the head the hair falls from the head's widest point ...
    assert np.median((long_hair * horizontal)[low_back]) > 0.9 * widest
    # ... where hair that ends at the chin follows the skull in under the occiput.
    assert np.median(long_hair[low_back]) > np.median(bob[low_back]) + 10.0
    # It ends where the photo shows it end (61 mm below the centre), and the face's side is as it was.
    below_centre = -long_hair * in_view[:, 1]
    assert below_centre[long_hair > bob + 1e-6].max() < 61.0 + 2.0
    front = in_view[:, 2] > 0.3
    np.testing.assert_allclose(long_hair[front], bob[front])


def test_an_ear_that_stands_out_of_the_outline_grows_no_brim_behind_it():
    directions = _sphere_directions()
    in_view = directions @ ROTATION.T  # (right, up, toward the camera) of the view
    base = np.full(len(directions), 30.0)
    # Short hair: a 35 mm head (2 px/mm) down to the ears, the 30 mm skull bare below them, and an
    # ear standing 5 mm out of the hair at each side, at the centre's height, 20 mm long.
    ys, xs = np.mgrid[0:256, 0:256]
    ears_in_view = np.array([[sign * 36.0, end, 0.0] for end in (10.0, -10.0) for sign in (1.0, -1.0)])
    ear_ends = ears_in_view @ ROTATION  # head frame
    view = _view()
    region = (_disc(70.0) & (ys < 128.0 + 10.0)) | _disc(60.0)
    for side in (1.0, -1.0):
        centre = view.project(np.array([[side * 36.0, 0.0, 0.0]]) @ ROTATION)[0]
        region |= (np.abs(xs - centre[0]) <= 8.0) & (np.abs(ys - centre[1]) <= 20.0)
    sil = _drawn_silhouette(region, chin_row=250.0)
    with_ears = silhouette.hair_radius(directions, base, sil, ear_ends_mm=ear_ends)
    without = silhouette.hair_radius(directions, base, sil)
    at_ears = np.abs(in_view[:, 1]) < 0.15
    behind = in_view[:, 2] < -0.5
    above = (in_view[:, 1] > 0.45) & (in_view[:, 1] < 0.6) & behind
    # Behind the head at the ears' height the hair is as thick as above them, not a brim ...
    assert np.median(with_ears[at_ears & behind]) < np.median(with_ears[above]) + 1.0
    assert np.median(without[at_ears & behind]) > np.median(without[above]) + 2.0
    # ... while the camera sees the hair above the ears as before.
    top = np.sin(sil.angles) < -0.3
    outline_with = silhouette.outline_px(directions * with_ears[:, None], sil)
    outline_without = silhouette.outline_px(directions * without[:, None], sil)
    np.testing.assert_allclose(outline_with[top], outline_without[top], atol=OUTLINE_TOLERANCE_PX)


def test_hair_behind_the_head_reaches_below_where_the_sides_show_the_ears():
    directions = _sphere_directions()
    base = np.full(len(directions), 30.0)
    # Short, full hair: wide at the sides down to just above the ears' height (the centre), the
    # head's own 35 mm outline below it.
    ys, xs = np.mgrid[0:256, 0:256]
    region = _disc(70.0) | ((np.abs(xs - 128.0) <= 85.0) & (ys >= 88.0) & (ys <= 124.0))
    sil = _drawn_silhouette(region, lambda a: a < np.radians(-3.0), chin_row=230.0)
    grown = silhouette.hair_radius(directions, base, sil)
    in_view = directions @ ROTATION.T
    behind = in_view[:, 2] < -0.8
    above = behind & (in_view[:, 1] > 0.1) & (in_view[:, 1] < 0.3)
    just_below = behind & (in_view[:, 1] > -0.15) & (in_view[:, 1] < -0.05)
    # Behind the ears' height the hair goes on as thick (43.6 mm against 45.0 above it; without
    # the carry down it fell to the outline's mean, 36.7: a ledge round the back).
    assert grown[just_below].mean() > 0.9 * grown[above].mean()


def test_arc_position_runs_along_each_run_of_bins_round_the_circle():
    arcs = np.zeros(12, bool)
    arcs[3:7] = True
    arcs[10:] = arcs[:2] = True  # a run across the circle's start
    np.testing.assert_allclose(silhouette._arc_position(arcs),
                               [0.6, 0.8, 0, 0.2, 0.4, 0.6, 0.8, 0, 0, 0, 0.2, 0.4])


def _bob_cut_by_the_photo(cut_row=0, cut_col=0):
    """A bob (hair 42 mm out at the sides from 20 mm above the centre to 16 mm below it, a 35 mm
    head) in a photo whose top edge is ``cut_row`` and left edge ``cut_col``: ``(Silhouette, cut
    (A,) bool)``."""
    ys, xs = np.mgrid[0:256, 0:256]
    in_photo = (ys >= cut_row) & (xs >= cut_col)
    region = (_disc(70.0) | ((np.abs(xs - 128.0) <= 85.0) & (ys >= 88.0) & (ys <= 160.0))) & in_photo
    view = _view()
    centre_px = view.project(np.zeros((1, 3)))[0]
    angles = np.linspace(-np.pi, np.pi, silhouette.ANGLE_BINS, endpoint=False)
    head_px = silhouette.polar_extent(region, centre_px, angles, last=True)
    end_x, end_y = centre_px[:, None] + np.stack([np.cos(angles), np.sin(angles)]) * head_px
    cut = ((end_y <= cut_row + silhouette.EDGE_GAP_PX) | (end_x <= cut_col + silhouette.EDGE_GAP_PX)) & (angles < 0)
    sil = silhouette.Silhouette(view, np.zeros(3), centre_px, angles, head_px,
                                np.where(cut, np.inf, silhouette.polar_extent(region, centre_px, angles, last=False,
                                                                              beyond=True)),
                                (angles < 0) | cut, region, region, 230.0, in_photo, region, None, cut)
    return sil, cut


def test_hair_on_a_side_the_photo_cuts_off_is_as_thick_as_on_the_other_side():
    # The photo's left edge cuts the bob (42 mm out) 39 mm left of the centre, above and below the
    # centre's row; the other side shows it whole. Hair is on the upper half of the outline.
    directions = _sphere_directions()
    base = np.full(len(directions), 30.0)
    whole, _ = _bob_cut_by_the_photo()
    sil, cut = _bob_cut_by_the_photo(cut_col=50)
    assert cut.any() and np.all(np.cos(sil.angles[cut]) < 0)  # the left side alone
    in_view = directions @ ROTATION.T  # x right in the image, y up
    widest = (np.abs(in_view[:, 2]) < 0.2) & (in_view[:, 1] > 0.05) & (in_view[:, 1] < 0.35)
    left, right = widest & (in_view[:, 0] < -0.5), widest & (in_view[:, 0] > 0.5)
    uncut = silhouette.hair_radius(directions, base, whole)
    grown = silhouette.hair_radius(directions, base, sil)
    # The cut side's hair is as thick as the other side's (and as the whole photo's): symmetric
    # where the photo gives no evidence. From the cut's ends alone it fell toward CUT_HAIR_MM in
    # the cut's middle (3.5 mm short of the whole photo's here).
    hair_whole = uncut[left].mean() - 30.0
    assert abs(grown[left].mean() - uncut[left].mean()) < 0.15 * hair_whole
    assert abs(grown[left].mean() - grown[right].mean()) < 0.15 * hair_whole


def test_hair_over_a_crown_the_photo_cuts_off_goes_on_from_the_hair_beside_the_cut():
    import dataclasses

    directions = _sphere_directions()
    base = np.full(len(directions), 30.0)  # the skull: 30 mm (60 px)
    sil, cut = _bob_cut_by_the_photo(cut_row=100)  # 14 mm above the centre: inside the skull
    assert cut.any() and not cut[np.abs(sil.angles + np.pi / 2) > np.radians(80)].any()
    in_view = directions @ ROTATION.T
    top = in_view[:, 1] > 0.9
    sides = (np.abs(in_view[:, 2]) < 0.2) & (in_view[:, 1] > 0.05) & (in_view[:, 1] < 0.35)  # the bob's widest
    grown = silhouette.hair_radius(directions, base, sil)
    # Not bald between two wings of hair (the photo says nothing of the crown) ...
    assert grown[top].mean() >= 30.0 + 0.8 * silhouette.CUT_HAIR_MM
    # ... nor as thick as the bob at the sides.
    assert grown[top].mean() <= 30.0 + 1.2 * silhouette.CUT_HAIR_MM < grown[sides].mean()
    # Without the cut the crown was the bare skull.
    bald = silhouette.hair_radius(directions, base, dataclasses.replace(sil, cut=None))
    assert bald[top].mean() < 30.0 + 0.25 * silhouette.CUT_HAIR_MM
    # Where the outline beside the cut's ends is not hair (temples read as skin), the crown takes
    # the hair further on as before: only an end below the head's centre (the jaw) has none.
    near_ends = np.convolve(np.tile((~cut & (np.roll(cut, 1) | np.roll(cut, -1))).astype(float), 3),
                            np.ones(11), mode="same")[len(cut):2 * len(cut)] > 0
    temples = silhouette.hair_radius(directions, base, dataclasses.replace(sil, hair=sil.hair & ~(near_ends & ~cut)))
    assert temples[top].mean() >= 30.0 + 0.8 * silhouette.CUT_HAIR_MM


def test_a_cut_s_end_beside_the_jaw_grows_no_hair_there_and_the_crown_s_hair_carries_on_above():
    # face_recognition's obama_partial_face2: the photo's edge cuts the head's side, and the cut
    # (above the ears) ends where the outline is his jaw, not hair. Here a 45 mm head round a 30 mm
    # skull, the photo's right edge 25 mm right of the centre, hair over the crown's left up to the
    # cut. The cut's thickness was interpolated from the nearest hair on either side: past its lower
    # end that lay across the chin, on the crown's far side, and the end beside the jaw took the
    # crown's 15 mm (a ledge round his ear). The jaw's outline is where that end's hair ends.
    import dataclasses

    directions = _sphere_directions()
    base = np.full(len(directions), 30.0)
    ys, xs = np.mgrid[0:256, 0:256]
    sil = _drawn_silhouette(_disc(90.0) & (xs < 178))
    end_x = sil.centre_px[0] + np.cos(sil.angles) * sil.head_px
    cut = (end_x >= 178 - 1 - silhouette.EDGE_GAP_PX) & (sil.angles < 0)  # above the centre's row
    crown = (sil.angles > np.radians(-130)) & (sil.angles < 0) & ~cut
    sil = dataclasses.replace(sil, cut=cut, hair=crown | cut)
    assert cut.any() and crown[np.roll(cut, -1) & ~cut].all()  # hair meets the cut's upper end
    assert not sil.hair[(sil.angles > 0) & (sil.angles < np.pi / 2)].any()  # the jaw: no hair
    # The mirror of the cut's lower part (the left side beside the head) shows no hair.
    assert not sil.hair[silhouette._mirror_bins(len(sil.angles))[cut & (sil.angles > np.radians(-45))]].any()
    grown = silhouette.hair_radius(directions, base, sil)
    unfilled = silhouette.hair_radius(directions, base, dataclasses.replace(sil, cut=None))
    in_view = directions @ ROTATION.T  # x right in the image, y up
    across = np.abs(in_view[:, 2]) < 0.2
    cut_end = across & (in_view[:, 0] > 0.9) & (in_view[:, 1] > 0.02) & (in_view[:, 1] < 0.2)  # 1-12 degrees up
    cut_middle = across & (in_view[:, 0] > 0.5) & (in_view[:, 1] > 0.4) & (in_view[:, 1] < 0.7)  # 24-44 degrees up
    # 39.4 mm at the end before; 31.8 now.
    assert grown[cut_end].mean() < 30.0 + 0.4 * silhouette.CUT_HAIR_MM
    # Up the cut the crown's hair carries on: 37.6 mm, without the cut's fill 31.4.
    assert grown[cut_middle].mean() > unfilled[cut_middle].mean() + 0.5 * silhouette.CUT_HAIR_MM


def test_a_body_beside_the_head_that_goes_on_above_what_is_looked_at_is_not_seen_to_its_top():
    # Columns of a body frame (here the head frame: x right, y up) looked down from 20 mm above a
    # chin at -36 mm (crop row 200). On the left a shrug's shoulder, its top at -26 mm: seen. On the
    # right something fills the highest sample looked at (an arm raised beside the head, a listener
    # behind the shoulder) and, in the same run of columns, a lower part of it at -28.5 mm: neither
    # is the shoulders' top. BODY_ABOVE_CHIN's row is drawn far above, so only the highest sample
    # tells.
    import dataclasses

    rows, cols = np.mgrid[0:256, 0:256]
    chin_row = 200.0
    body = (rows >= chin_row) & (cols >= 30) & (cols <= 226)
    reaching = (cols >= 167) & (cols <= 189) & (rows >= 140) & (rows < chin_row)  # x 20-32 mm
    lower = (cols >= 190) & (cols <= 212) & (rows >= 185) & (rows < chin_row)  # x 32-44 mm
    shrug = (cols >= 44) & (cols <= 90) & (rows >= 180) & (rows < chin_row)  # x -44 to -20 mm
    raised = reaching | lower | shrug
    sil = dataclasses.replace(_drawn_silhouette(_disc(40.0), chin_row=chin_row), person=body | raised,
                              raised_body=raised, raised_top_row=110.0)
    xs = np.arange(-50.0, 51.0, 1.0)
    top, seen = silhouette.person_tops(sil, np.eye(3), 0.0, xs, -36.0, -60.0, raised_from_y=-20.0)
    left, neck, right = (xs >= -42) & (xs <= -22), np.abs(xs) <= 15, (xs >= 21) & (xs <= 43)
    assert seen[left].all() and seen[neck].all()
    np.testing.assert_allclose(top[left], -26.0, atol=1.0)
    np.testing.assert_allclose(top[neck], -36.0, atol=1.0)
    assert not seen[right].any()
