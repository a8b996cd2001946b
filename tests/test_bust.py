"""Tests for realtime.printing.bust: every style and pose gives a closed, printable, round-trippable solid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime import topology
from realtime.printing import bust
from realtime.printing.bust import BustOptions, BustResult, build_bust, export_bust
from realtime.errors import InputError, Selfie3DError
from slicer import assert_slices_cleanly
from realtime.printing import headframe

ASSUMED_IPD_MM = 63.0
"""Inter-pupillary distance used to turn the photo's pixels into millimetres."""
HEIGHT_TOL_MM = 0.05
"""Height of the solid against --height-mm (float32 storage and simplification move < 0.01)."""
BASE_TOL_MM = 1e-3
VOLUME_RTOL = 1e-3
"""Volume kept by a file round trip (float32 vertices)."""
POSE_VOLUME_RTOL = 0.03
"""Volume of the same face built from a rigidly moved copy: the head frame is re-estimated from
landmarks, so only resampling differences remain."""
MOUTH_REACH_MM = 15.0
"""The mouth region: head-surface points this close to a lip landmark (life size)."""
MOUTH_ROUGHNESS_MM = 2.5
"""Largest step of the head surface's radius from the mean of its neighbours in the mouth region,
life-size mm. On the reference face with its lower lip pulled down 10 / 15 mm, the closed lips
measure 1.22 / 1.45 mm (1.08 / 0.67 left open); skin folded over itself by a jaw whose turn ramps
in over the opening's own height measured 2.96 / 5.40 mm: shards."""


def _rotation(yaw, pitch, roll):
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx @ ry


@pytest.fixture(scope="module")
def astronaut():
    """(image BGR, vertices_px (468, 3), vertices_mm (468, 3)) from mediapipe on skimage's astronaut."""
    pytest.importorskip("mediapipe")
    from skimage import data

    from realtime.tools.topology_build import astronaut_landmarks_px

    px = astronaut_landmarks_px()
    ipd_px = np.linalg.norm(px[list(topology.LEFT_EYE)].mean(0)[:2] - px[list(topology.RIGHT_EYE)].mean(0)[:2])
    mm = px * (ASSUMED_IPD_MM / ipd_px)
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1]), px.astype(np.float32), mm.astype(np.float32)


@pytest.fixture(scope="module")
def default_bust(astronaut):
    image, px, mm = astronaut
    return build_bust(mm, topology.face_triangles(), BustOptions(label="Grandpa 1931"), image=image, vertices_px=px)


def _assert_printable(result: BustResult, height_mm: float, up_axis: int = 2):
    mesh = result.mesh
    assert mesh.is_watertight
    assert mesh.is_winding_consistent
    assert mesh.volume > 0
    assert len(mesh.split(only_watertight=False)) == 1
    assert abs(mesh.bounds[0][2]) <= BASE_TOL_MM
    extent = mesh.bounds[1] - mesh.bounds[0]
    np.testing.assert_allclose(extent[up_axis], height_mm, atol=HEIGHT_TOL_MM)
    checks = result.checks
    assert checks["watertight"] and checks["winding_consistent"] and checks["shells"] == 1
    np.testing.assert_allclose(checks["volume_mm3"], mesh.volume, rtol=1e-9)
    assert checks["triangles"] == len(mesh.faces)


def test_default_bust_is_printable(default_bust):
    _assert_printable(default_bust, 80.0)
    assert default_bust.checks["min_wall_mm"] >= 1.2
    assert default_bust.textured is not None
    # Face toward -Y: the nose tip is the front-most point above the plinth.
    v = default_bust.mesh.vertices
    upper = v[v[:, 2] > 0.5 * v[:, 2].max()]
    assert upper[:, 1].min() < v[:, 1].mean()


def test_a_wall_thinner_than_a_nozzle_prints_is_a_warning_not_a_refusal(default_bust):
    from realtime.printing.bust import MIN_WALL_MM, wall_warning

    assert wall_warning(MIN_WALL_MM) is None and wall_warning(3.0) is None
    line = wall_warning(0.84)
    assert "0.8 mm" in line and "1.2 mm" in line and "--height-mm" in line
    assert not any("thinnest wall" in warning for warning in default_bust.warnings)


@pytest.mark.parametrize("style", ["relief", "mask"])
def test_other_styles_are_printable(astronaut, style):
    image, px, mm = astronaut
    label = "Ann 2024" if style == "relief" else None
    result = build_bust(mm, None, BustOptions(style=style, height_mm=60.0, label=label), image=image, vertices_px=px)
    _assert_printable(result, 60.0, up_axis=1 if style == "relief" else 2)
    assert result.checks["min_wall_mm"] >= 1.2


@settings(max_examples=5, deadline=None, derandomize=True)
@given(
    yaw=st.floats(-0.5, 0.5),
    pitch=st.floats(-0.35, 0.35),
    roll=st.floats(-0.3, 0.3),
    scale=st.floats(0.85, 1.15),
    jaw=st.floats(0.0, 0.25),
    height=st.sampled_from([50.0, 80.0, 120.0]),
)
def test_poses_and_expressions_are_printable(astronaut, yaw, pitch, roll, scale, jaw, height):
    _, _, mm = astronaut
    head = headframe.to_head_frame(mm)
    # Open the jaw by `jaw` radians about the ear axis: a different expression of the same face.
    lower = head[:, 1] < head[topology.UPPER_LIP_INNER, 1] - 1.0
    pivot = 0.5 * (head[234] + head[454])
    rel = head[lower] - pivot
    c, s = np.cos(jaw), np.sin(jaw)
    head[lower, 1] = pivot[1] + rel[:, 1] * c - rel[:, 2] * s
    head[lower, 2] = pivot[2] + rel[:, 1] * s + rel[:, 2] * c
    moved = scale * head @ _rotation(yaw, pitch, roll).T + np.array([10.0, -20.0, 600.0])
    for expression in ("neutral", "current"):
        result = build_bust(moved, None, BustOptions(height_mm=height, expression=expression, detail=False))
        _assert_printable(result, height)


def test_pose_invariance(astronaut):
    _, _, mm = astronaut
    options = BustOptions(detail=False)
    base = build_bust(mm, None, options).mesh.volume
    moved = mm.astype(np.float64) @ _rotation(0.4, -0.2, 0.1).T + np.array([50.0, 0.0, 300.0])
    np.testing.assert_allclose(build_bust(moved, None, options).mesh.volume, base, rtol=POSE_VOLUME_RTOL)


def _drop_lower_lip(head: np.ndarray, depth_mm: float, width_mm: float = 12.0, ramp_mm: float = 5.0) -> np.ndarray:
    """Open the mouth as a tongue or a wide jaw does: pull the lower lip and the skin under it down
    by ``depth_mm`` on the midline, less toward the corners (a Gaussian of ``width_mm``), fading in
    over ``ramp_mm`` below the upper lip. ``head (468, 3)`` mm, head frame; returns a copy."""
    below = np.clip((head[topology.UPPER_LIP_INNER, 1] - head[:, 1]) / ramp_mm, 0.0, 1.0)
    weight = below * below * (3.0 - 2.0 * below) * np.exp(-0.5 * (head[:, 0] / width_mm) ** 2)
    opened = head.copy()
    opened[:, 1] -= depth_mm * weight
    return opened


def _mouth_roughness_mm(vertices_mm: np.ndarray, options: BustOptions) -> float:
    """Largest ``|r - mean(r of neighbours)|`` (mm) of the head surface near the lips, as built."""
    from scipy import sparse
    from scipy.spatial import cKDTree

    head, rotation, _, _ = bust._posed_head(np.asarray(vertices_mm, dtype=np.float64), options)
    shape, _, faces, points, _ = bust._head_field(head, None, None, rotation, False)
    radius = np.linalg.norm(points - shape.centre, axis=1)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    adjacency = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(len(points),) * 2)
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64).tocsr()
    step = np.abs(radius - adjacency @ radius / np.asarray(adjacency.sum(axis=1)).ravel())
    lips = list(topology.LIPS_OUTER) + list(topology.LIPS_INNER)
    near = cKDTree(head[lips]).query(points)[0] < MOUTH_REACH_MM
    return float(step[near].max())


@pytest.mark.parametrize("depth_mm", [10.0, 15.0])
def test_neutral_closes_a_wide_open_mouth_without_shards(depth_mm):
    # The reference face smiles with its teeth apart (10.5 mm); pulled down further, the lower lip
    # hangs 20-25 mm below the upper one, like a tongue out. Closing it must not fold the skin
    # beside the mouth over itself: the bust's radial field would zigzag between the sheets.
    reference = np.load(Path(__file__).parent / "reference" / "face_frontal_mm.npy")
    opened = _drop_lower_lip(headframe.to_head_frame(reference), depth_mm)
    assert headframe.mouth_gap_mm(opened) > depth_mm + 10.0
    assert _mouth_roughness_mm(opened, BustOptions()) < MOUTH_ROUGHNESS_MM
    result = build_bust(opened, None, BustOptions(detail=False))
    _assert_printable(result, 80.0)


def test_neutral_closes_the_mouth(astronaut):
    _, _, mm = astronaut
    head = headframe.to_head_frame(mm)
    assert headframe.mouth_gap_mm(headframe.neutral_jaw(head)) < max(headframe.mouth_gap_mm(head), 2.0)


@pytest.mark.parametrize("fmt", ["stl", "3mf"])
def test_round_trip_through_trimesh(default_bust, tmp_path, fmt):
    path = export_bust(default_bust, tmp_path / f"bust.{fmt}")
    assert path.exists() and not list(tmp_path.glob(".*.tmp"))
    loaded = trimesh.load(str(path), force="mesh")
    loaded.merge_vertices()
    assert loaded.is_watertight and loaded.is_winding_consistent
    np.testing.assert_allclose(loaded.volume, default_bust.mesh.volume, rtol=VOLUME_RTOL)
    np.testing.assert_allclose(loaded.bounds, default_bust.mesh.bounds, atol=HEIGHT_TOL_MM)


def test_binary_stl_and_3mf_units(default_bust, tmp_path):
    stl = export_bust(default_bust, tmp_path / "a.stl")
    assert len(stl.read_bytes()) == 84 + 50 * len(default_bust.mesh.faces)  # binary STL size
    import zipfile

    with zipfile.ZipFile(export_bust(default_bust, tmp_path / "a.3mf")) as archive:
        model = archive.read("3D/3dmodel.model").decode()
    assert 'unit="millimeter"' in model


def test_textured_obj_and_glb(default_bust, tmp_path):
    obj = export_bust(default_bust, tmp_path / "head.obj")
    assert (tmp_path / "head.mtl").exists() and (tmp_path / "head_texture.png").exists()
    assert "map_Kd head_texture.png" in (tmp_path / "head.mtl").read_text()
    loaded = trimesh.load(str(obj), force="mesh")
    assert loaded.visual.uv is not None and len(loaded.visual.uv) == len(loaded.vertices)
    glb = export_bust(default_bust, tmp_path / "head.glb")
    scene = trimesh.load(str(glb))
    assert len(scene.geometry) == 1


def test_format_argument_overrides_extension(default_bust, tmp_path):
    path = export_bust(default_bust, tmp_path / "model.bin", fmt="stl")
    assert trimesh.load(str(path), file_type="stl").is_watertight


def test_refuses_overwrite_and_unknown_format(default_bust, tmp_path):
    path = tmp_path / "bust.stl"
    path.write_bytes(b"keep me")
    with pytest.raises(InputError, match="exists"):
        export_bust(default_bust, path)
    assert path.read_bytes() == b"keep me"
    export_bust(default_bust, path, overwrite=True)
    assert path.read_bytes() != b"keep me"
    with pytest.raises(InputError, match="unknown print format"):
        export_bust(default_bust, tmp_path / "bust.xyz")


def test_failed_validation_keeps_no_file(tmp_path):
    broken = trimesh.creation.box()
    broken.faces = broken.faces[:-1]  # one triangle missing: not a solid
    with pytest.raises(Selfie3DError, match="closed solid"):
        export_bust(broken, tmp_path / "broken.stl")
    assert list(tmp_path.iterdir()) == []


def test_options_and_input_errors(astronaut):
    with pytest.raises(InputError, match="style"):
        BustOptions(style="statue")
    with pytest.raises(InputError, match="height"):
        BustOptions(height_mm=5.0)
    with pytest.raises(InputError, match="label"):
        BustOptions(style="mask", label="x")
    with pytest.raises(InputError, match="thinner"):
        BustOptions(style="mask", mask_wall_mm=0.8)
    with pytest.raises(ValueError, match="vertices_mm"):
        build_bust(np.zeros((100, 3)), None)
    _, _, mm = astronaut
    with pytest.raises(InputError, match="topology"):
        build_bust(mm, np.array([[0, 1, 2]]))


def test_prusa_slicer_accepts_the_bust(default_bust, tmp_path):
    assert_slices_cleanly(export_bust(default_bust, tmp_path / "bust.stl"), tmp_path)


def test_disk_full_during_export_is_one_line_and_leaves_nothing(default_bust, tmp_path, monkeypatch):
    import errno

    from realtime.fileio import OutputError
    from realtime.printing import export as export_module

    bust = default_bust

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export_module.os, "fsync", full_disk)
    with pytest.raises(OutputError, match="No space left on device.*disk is full"):
        export_bust(bust, tmp_path / "bust.stl")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("style", ["bust", "relief"])
def test_label_the_font_cannot_draw_is_refused_naming_the_characters(astronaut, style):
    # OpenCV's Hershey font draws '?' for anything outside printable ASCII: refuse, don't engrave '?'.
    image, px, mm = astronaut
    with pytest.raises(InputError, match=r"cannot draw: 'ë' '日' '本'; use printable ASCII"):
        build_bust(mm, None, BustOptions(style=style, label="Zoë 日本"), image=image, vertices_px=px)
    with pytest.raises(InputError, match=r"cannot draw: '\\t'"):
        build_bust(mm, None, BustOptions(style=style, label="A\tB"), image=image, vertices_px=px)


@pytest.mark.parametrize("style", ["bust", "relief"])
def test_label_too_long_to_print_says_how_many_characters_fit(astronaut, style):
    import re

    from realtime.printing.solids import LABEL_MIN_CAP_MM

    image, px, mm = astronaut
    with pytest.raises(InputError, match=rf"too long for this print size: .* under the {LABEL_MIN_CAP_MM} mm "
                                         r"minimum; at most \d+ characters") as error:
        build_bust(mm, None, BustOptions(style=style, label="W" * 60), image=image, vertices_px=px)
    fit = int(re.search(r"at most (\d+) characters", str(error.value)).group(1))
    assert 3 <= fit < 60
    # The length the message offers does print (the minimum is computed from the same geometry).
    result = build_bust(mm, None, BustOptions(style=style, label="W" * fit), image=image, vertices_px=px)
    assert result.mesh.is_watertight


def test_label_on_a_print_too_small_for_legible_letters_is_refused(astronaut):
    image, px, mm = astronaut
    with pytest.raises(InputError, match=r"too small for a label: its letters would be 1\.\d mm tall"):
        build_bust(mm, None, BustOptions(height_mm=25.0, label="A"), image=image, vertices_px=px)
    build_bust(mm, None, BustOptions(height_mm=25.0), image=image, vertices_px=px)  # no label: fine


def _scan_of(radius_of, seen_where, slant_of=None, centre=np.zeros(3)):
    """A head scan in the head frame (canonical = head frame), as ``_scan_in_head`` returns it."""
    from realtime.stages.scan import ScanResult, sphere_directions

    dirs = sphere_directions()
    seen = seen_where(dirs)
    slant = np.zeros(len(dirs)) if slant_of is None else slant_of(dirs)
    result = ScanResult(centre, dirs, np.where(seen, radius_of(dirs), np.inf), seen, float(seen.mean()), 40, True,
                        slant=slant)
    return bust._scan_in_head(result, np.eye(3), np.zeros(3))


def back_heavy(d):
    """A head reaching further back than the single view: radius (mm) along unit directions (N, 3)."""
    return 110.0 - 20.0 * d[:, 2]


SINGLE_MM = 100.0


def _merged(scan):
    from types import SimpleNamespace

    from realtime.printing import surface

    dirs, faces = surface.warped_sphere(4)
    merged = bust._with_scan(np.full(len(dirs), SINGLE_MM), dirs, faces, SimpleNamespace(centre=np.zeros(3)), scan)
    return dirs, merged


def test_the_scan_gives_the_head_where_it_saw_it_and_mirrors_the_side_it_did_not():
    dirs, merged = _merged(_scan_of(back_heavy, lambda d: d[:, 0] > 0.2))  # turned one way only
    truth = back_heavy(dirs)
    head = (dirs[:, 1] > 0.1) & (dirs[:, 2] < 0.4)
    for side in (dirs[:, 0] > 0.4, dirs[:, 0] < -0.4):  # seen; mirrored
        chosen = head & side
        assert np.abs(merged[chosen] - truth[chosen]).max() < 1.5
    # The ears, jaw and neck below the eyes' level at the sides stay the single view's.
    low_sides = (dirs[:, 1] < -0.6) & (np.abs(dirs[:, 0]) > 0.6) & (np.abs(dirs[:, 2]) < 0.2)
    np.testing.assert_allclose(merged[low_sides], SINGLE_MM, atol=0.5)


def test_gaps_and_slanted_views_are_bridged_from_the_hull_around_them_not_the_single_view():
    # The back's middle unseen, and a band beside it seen only at a slant with a bound 15 mm out:
    # the bust bridges both from the tight hull around them (before, the single view showed
    # through the gap as a groove 20 mm deep down the back of the head).
    def loose(d):
        return back_heavy(d) + np.where(np.abs(d[:, 0] - 0.25) < 0.08, 15.0, 0.0)

    scan = _scan_of(loose, lambda d: np.abs(d[:, 0]) > 0.12,
                    lambda d: np.where(np.abs(d[:, 0] - 0.25) < 0.08, 0.3, 0.05))
    dirs, merged = _merged(scan)
    truth = back_heavy(dirs)
    back = (dirs[:, 2] < -0.6) & (dirs[:, 1] > 0.1)
    gap = back & (np.abs(dirs[:, 0]) < 0.1)
    slanted = back & (np.abs(dirs[:, 0] - 0.25) < 0.05)
    assert gap.sum() > 5 and slanted.sum() > 5
    assert np.abs(merged[gap] - truth[gap]).max() < 3.0
    assert np.abs(merged[slanted] - truth[slanted]).max() < 3.0
    # Behind the ears the scan reaches down to the nape.
    nape = (dirs[:, 2] < -0.8) & (dirs[:, 1] < -0.2) & (dirs[:, 1] > -0.3) & (np.abs(dirs[:, 0]) > 0.15)
    assert nape.sum() > 3
    assert np.abs(merged[nape] - truth[nape]).max() < 2.0


def test_a_bust_with_a_scan_is_printable(astronaut):
    from realtime import geometry
    from realtime.stages.scan import ScanResult, sphere_directions

    image, px, mm = astronaut
    rotation, origin = geometry.head_frame(mm.astype(np.float64))
    dirs = sphere_directions()
    centre = origin + rotation.T @ np.array([0.0, 0.0, -85.0])
    head_dirs = dirs @ rotation.T
    seen = (head_dirs[:, 1] > -0.6) & (head_dirs[:, 2] < 0.5)
    radius = np.where(seen, 105.0 - 10.0 * head_dirs[:, 2], np.inf)
    scan = ScanResult(centre, dirs, radius, seen, 0.9, 40, True, slant=np.zeros(len(dirs)))
    plain = build_bust(mm, topology.face_triangles(), BustOptions(), image=image, vertices_px=px)
    scanned = build_bust(mm, topology.face_triangles(), BustOptions(), image=image, vertices_px=px, scan=scan)
    _assert_printable(scanned, BustOptions().height_mm)
    assert not np.isclose(scanned.mesh.volume, plain.mesh.volume, rtol=1e-3)


def test_with_a_scan_the_face_meets_the_scanned_head_over_a_narrow_band_above_the_eyes_only(astronaut):
    # The hull only bounds the head from outside and cannot reach into the temples' hollow beside
    # the face: over the skull prior's 14 deg band the face's edge was lifted toward it. Above the
    # eyes the face now keeps its own surface to within SCAN_BLEND_BAND_RAD of its outline; below
    # them (jaw, cheeks), where the single view gives the head, the band is the prior's.
    from realtime.printing import surface

    _, _, mm = astronaut
    head, rotation, _, _ = bust._posed_head(np.asarray(mm, np.float64), BustOptions(style="head"))
    scan = _scan_of(lambda d: np.full(len(d), 130.0), lambda d: np.ones(len(d), bool))
    shape, plain, _, _, _ = bust._head_field(head, None, None, rotation, False)
    _, scanned, _, _, _ = bust._head_field(head, None, None, rotation, False, scan=scan)
    d = plain.directions
    inside = surface.face_contour_distance(head, shape.centre, d)
    band = (inside > np.radians(6.0)) & (inside < np.radians(12.0)) & np.isfinite(plain.radius)
    above, below = band & (d[:, 1] > 0.35), band & (d[:, 1] < -0.5)
    assert above.sum() > 20 and below.sum() > 20
    np.testing.assert_allclose(scanned.face_weight[above], 1.0)
    assert plain.face_weight[above].max() < 0.95
    np.testing.assert_allclose(scanned.face_weight[below], plain.face_weight[below], atol=1e-9)
    assert bust._scan_share(np.array([[0.0, 0.6, -0.8], [0.0, -0.95, 0.312]])).tolist() == [1.0, 0.0]


@pytest.mark.parametrize("roll_deg", [-10.0, 0.0, 15.0, 40.0])
def test_the_body_frame_stands_on_the_photo_s_up_turned_by_the_camera_s_roll(roll_deg):
    from realtime.printing.silhouette import AffineView

    # A frontal camera, 3 px a mm: the person's left (head x) is the photo's right, head up the photo's up.
    view = AffineView(np.array([[3.0, 0.0, 0.0, 200.0], [0.0, -3.0, 0.0, 150.0]]))
    frame = bust.body_frame(view, np.radians(roll_deg))
    np.testing.assert_allclose(frame @ frame.T, np.eye(3), atol=1e-12)
    # The body's up, seen in the photo, leans its top to the right by the roll (within the tilt allowed).
    seen = view.matrix[:, :3] @ frame[1]
    lean = np.degrees(np.arctan2(seen[0], -seen[1]))
    assert lean == pytest.approx(np.clip(roll_deg, -np.degrees(bust.MAX_HEAD_TILT_RAD), np.degrees(bust.MAX_HEAD_TILT_RAD)))
    np.testing.assert_allclose(frame[2], [0.0, 0.0, 1.0], atol=1e-12)  # still toward the camera


@pytest.mark.parametrize("head_lean_deg,roll_deg", [(20.0, 10.0), (20.0, -15.0), (-10.0, 20.0)])
def test_the_camera_s_roll_turns_a_bust_no_further_than_25_degrees_from_its_head_s_up(head_lean_deg, roll_deg):
    from realtime.printing.silhouette import AffineView

    # A frontal camera looking at a head that leans head_lean_deg in the photo (top to the right).
    t = np.radians(head_lean_deg)
    view = AffineView(np.array([[3.0 * np.cos(t), 3.0 * np.sin(t), 0.0, 200.0],
                                [3.0 * np.sin(t), -3.0 * np.cos(t), 0.0, 150.0]]))

    def seen_lean(frame):
        up = view.matrix[:, :3] @ frame[1]
        return np.degrees(np.arctan2(up[0], -up[1]))

    cap = np.degrees(bust.MAX_HEAD_TILT_RAD)
    turned = bust.body_frame(view, np.radians(roll_deg))
    assert seen_lean(turned) == pytest.approx(head_lean_deg + np.clip(roll_deg - head_lean_deg, -cap, cap))
    applied = np.degrees(bust.applied_roll_rad(view, np.radians(roll_deg)))
    assert applied == pytest.approx(seen_lean(turned) - seen_lean(bust.body_frame(view)))


def test_a_photo_upside_down_stands_its_bust_on_the_head_s_up_and_says_half_a_turn():
    from realtime.printing.silhouette import AffineView

    # The same frontal camera with the photo upside down: the head's up is the photo's down.
    view = AffineView(np.array([[-3.0, 0.0, 0.0, 200.0], [0.0, 3.0, 0.0, 150.0]]))
    # The photo's up exactly opposite the head's, unturned: held back to 25 deg, not NaN.
    held = bust.body_frame(view)
    assert np.all(np.isfinite(held)) and np.degrees(np.arccos(held[1, 1])) == pytest.approx(25.0)
    # Turned half round, the bust stands on the head's up; 10 deg more leans it 10 deg.
    frame = bust.body_frame(view, np.pi)
    np.testing.assert_allclose(frame[1], [0.0, 1.0, 0.0], atol=1e-9)
    tilted = bust.body_frame(view, np.pi + np.radians(10.0))
    assert np.degrees(np.arccos(np.clip(tilted[1, 1], -1.0, 1.0))) == pytest.approx(10.0)
