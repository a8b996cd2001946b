"""realtime/printing/export.py: what is written is the closed solid that was checked.

STL, 3MF and OBJ are print files (mm, Z up) whose positions as stored index one closed shell;
OBJ brings ``<stem>.mtl`` and ``<stem>_texture.png`` and is never left without them; GLB is a
viewing file in glTF's frame (metres, +Y up).
"""

import io
import json
import os
import re
import struct

import numpy as np
import pytest
import trimesh
from PIL import Image

from realtime.errors import Selfie3DError
from realtime.printing import export
from realtime.printing.export import check_obj, stored_mesh, write_solid
from slicer import prusa_info

VOLUME_RTOL = 1e-3
"""Volume kept by a file round trip (float32 vertices)."""
GLB_LENGTH_TOL_M = 1e-6
"""GLB lengths read back, metres: float32 storage of ~0.1 m values moves them by ~1e-8."""
SOLID_SIZE_MM = (30.0, 20.0, 80.0)
"""The textured test solid: an ellipsoid as wide, deep and tall as a small bust."""
SOLID_Y_OFFSET_MM = 15.0
"""The test solid's centre sits at +15 mm in Y, so a Y-up conversion that drops the sign of Y
(or swaps the wrong axes) shows in the bounds read back."""


def _solid_with_a_float32_sliver() -> trimesh.Trimesh:
    """A closed sphere (mm, on Z = 0) with one edge shortened to a few nanometres: closed in
    float64, but the edge's two ends are one point in float32, as a boolean can leave them."""
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=20.0)
    sphere.apply_translation((0.0, 0.0, 20.0 - sphere.vertices[:, 2].min()))
    a, b = sphere.edges_unique[0]
    vertices = sphere.vertices.copy()
    vertices[a] = vertices[a].astype(np.float32)  # a point float32 holds exactly...
    # ...and one a quarter of float32's spacing away from it: distinct in float64 only.
    vertices[b] = vertices[a] + 0.25 * np.spacing(vertices[a].astype(np.float32)).astype(np.float64)
    return trimesh.Trimesh(vertices, sphere.faces, process=False)


def _textured_solid() -> tuple[trimesh.Trimesh, trimesh.Trimesh]:
    """``(solid, textured)``: a closed ellipsoid (mm, Z up, base on Z = 0) and its textured copy
    whose vertices are split along a longitude seam, where u wraps from 1 back to 0 (the way
    manifold3d splits the bust's vertices where its texture coordinates jump)."""
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
    unit = sphere.vertices
    vertices = unit * (np.array(SOLID_SIZE_MM) / 2.0)
    vertices[:, 1] += SOLID_Y_OFFSET_MM
    vertices[:, 2] -= vertices[:, 2].min()
    solid = trimesh.Trimesh(vertices, sphere.faces, process=False)
    # Per-corner u = longitude / 2 pi; a face across the seam takes u + 1 at its wrapped corners.
    u = (np.arctan2(unit[:, 1], unit[:, 0]) / (2 * np.pi)) % 1.0
    v = 0.5 + np.arcsin(np.clip(unit[:, 2], -1.0, 1.0)) / np.pi
    corner_u = u[sphere.faces]
    wraps = corner_u.max(axis=1, keepdims=True) - corner_u > 0.5
    corner_u = corner_u + wraps
    keys = np.column_stack([sphere.faces.reshape(-1), corner_u.reshape(-1), v[sphere.faces].reshape(-1)])
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    split = vertices[unique[:, 0].astype(np.int64)]
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 32, 3), dtype=np.uint8))
    visual = trimesh.visual.TextureVisuals(uv=unique[:, 1:3] / [2.0, 1.0], image=image)
    textured = trimesh.Trimesh(split, inverse.reshape(-1, 3), visual=visual, process=False)
    assert len(textured.vertices) > len(solid.vertices)  # the seam really splits vertices
    return solid, textured


def _obj_as_written(path) -> trimesh.Trimesh:
    """The OBJ's ``v`` lines and the position index of each ``f`` corner, with no merging."""
    positions, faces = [], []
    for line in path.read_text().splitlines():
        if line.startswith("v "):
            positions.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("f "):
            faces.append([int(corner.split("/")[0]) - 1 for corner in line.split()[1:]])
    return trimesh.Trimesh(np.array(positions), np.array(faces), process=False)


def _glb_json(data: bytes) -> dict:
    """The JSON chunk of a binary glTF (12-byte header, then chunk length, type, content)."""
    length = struct.unpack("<I", data[12:16])[0]
    return json.loads(data[20:20 + length])


# ---- STL / 3MF: float32 ----------------------------------------------------------------------


def test_the_sliver_is_closed_in_memory_and_open_in_float32_without_the_fix():
    solid = _solid_with_a_float32_sliver()
    assert solid.is_watertight
    naive = trimesh.Trimesh(solid.vertices.astype(np.float32).astype(np.float64), solid.faces, process=False)
    naive.merge_vertices()
    assert not naive.is_watertight  # what a plain float32 STL of it loads back as


@pytest.mark.parametrize("fmt", ["stl", "3mf"])
def test_written_file_loads_back_closed(tmp_path, fmt):
    solid = _solid_with_a_float32_sliver()
    path = write_solid(solid, tmp_path / f"ball.{fmt}")
    loaded = trimesh.load(str(path), file_type=fmt, force="mesh")
    loaded.merge_vertices()
    assert loaded.is_watertight and loaded.is_winding_consistent
    assert loaded.volume == pytest.approx(solid.volume, rel=VOLUME_RTOL)


def test_stored_mesh_drops_only_the_collapsed_triangles():
    solid = _solid_with_a_float32_sliver()
    stored = stored_mesh(solid)
    assert stored.is_watertight
    assert len(stored.faces) == len(solid.faces) - 2  # the two triangles on the collapsed edge
    assert len(stored.vertices) == len(solid.vertices) - 1


# ---- OBJ: closed as written, texture beside it, never partial --------------------------------


def test_obj_positions_as_written_are_one_closed_shell(tmp_path):
    solid, textured = _textured_solid()
    path = write_solid(solid, tmp_path / "ball.obj", textured=textured)
    written = _obj_as_written(path)
    # Welded across the seam: each point once, and the v indices alone close the solid.
    assert len(written.vertices) == len(solid.vertices)
    assert written.is_watertight and written.is_winding_consistent
    assert written.body_count == 1
    assert written.volume == pytest.approx(solid.volume, rel=VOLUME_RTOL)
    # The seam lives in the texture coordinates: more vt than v.
    vt_count = sum(line.startswith("vt ") for line in path.read_text().splitlines())
    assert vt_count > len(written.vertices)


def test_untextured_obj_of_a_float32_sliver_has_no_collapsed_triangles(tmp_path):
    solid = _solid_with_a_float32_sliver()
    path = write_solid(solid, tmp_path / "ball.obj")
    written = _obj_as_written(path)
    assert written.is_watertight and written.body_count == 1
    # A slicer reads float32: no triangle may have two corners at one float32 point (a
    # degenerate facet it would have to repair), as in the STL.
    corners = written.vertices.astype(np.float32)[written.faces]
    same = [(corners[:, i] == corners[:, j]).all(axis=1) for i, j in ((0, 1), (1, 2), (0, 2))]
    assert not np.any(same)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ball.obj"]


def test_obj_round_trip_keeps_texture_and_seams(tmp_path):
    solid, textured = _textured_solid()
    path = write_solid(solid, tmp_path / "ball.obj", textured=textured)
    loaded = trimesh.load(str(path), process=False)  # trimesh finds ball.mtl and the texture by name
    image = textured.visual.material.image
    assert loaded.visual.material.image.size == image.size
    np.testing.assert_array_equal(np.asarray(loaded.visual.material.image.convert("RGB")), np.asarray(image))
    # Every corner keeps its own texture coordinate (u across the seam is > 1, not wrapped to 0).
    corners_in = np.column_stack([textured.vertices[textured.faces].reshape(-1, 3),
                                  textured.visual.uv[textured.faces].reshape(-1, 2)])
    corners_out = np.column_stack([loaded.vertices[loaded.faces].reshape(-1, 3),
                                   loaded.visual.uv[loaded.faces].reshape(-1, 2)])
    np.testing.assert_allclose(np.sort(corners_out, axis=0), np.sort(corners_in, axis=0), atol=1e-5)


def test_obj_texture_does_not_overwrite_a_photo_named_like_the_obj(tmp_path):
    solid, textured = _textured_solid()
    photo = tmp_path / "ball.png"
    photo.write_bytes(b"the user's photo")
    write_solid(solid, tmp_path / "ball.obj", textured=textured, overwrite=True)
    assert photo.read_bytes() == b"the user's photo"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ball.mtl", "ball.obj", "ball.png", "ball_texture.png"]
    mtl = (tmp_path / "ball.mtl").read_text()
    assert re.search(r"^map_Kd ball_texture\.png$", mtl, re.M)
    # The photo shows as it is: white diffuse (trimesh's default 0.4 darkened it).
    assert re.search(r"^Kd 1 1 1$", mtl, re.M)
    assert "mtllib ball.mtl" in (tmp_path / "ball.obj").read_text()


@pytest.mark.parametrize("fmt", ["obj", "glb"])
def test_format_argument_keeps_the_file_name(tmp_path, fmt):
    solid, textured = _textured_solid()
    path = write_solid(solid, tmp_path / "model.bin", fmt=fmt, textured=textured)
    assert path == tmp_path / "model.bin"
    names = {"obj": ["model.bin", "model.mtl", "model_texture.png"], "glb": ["model.bin"]}[fmt]
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    assert trimesh.load(str(path), file_type=fmt, force="mesh").visual.uv is not None


def test_ctrl_c_while_encoding_the_texture_leaves_nothing(tmp_path, monkeypatch):
    solid, textured = _textured_solid()

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    # trimesh's OBJ writer swallowed any exception here and wrote an untextured OBJ instead.
    monkeypatch.setattr(Image.Image, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_solid(solid, tmp_path / "ball.obj", textured=textured)
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_before_the_obj_is_moved_into_place_takes_its_companions_back(tmp_path, monkeypatch):
    solid, textured = _textured_solid()
    link = os.link

    def interrupted_at_the_obj(source, target, *args, **kwargs):
        if os.path.dirname(target) == str(tmp_path) and str(target).endswith(".obj"):
            raise KeyboardInterrupt
        return link(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "link", interrupted_at_the_obj)
    with pytest.raises(KeyboardInterrupt):
        write_solid(solid, tmp_path / "ball.obj", textured=textured)
    assert list(tmp_path.iterdir()) == []


def test_companions_are_moved_into_place_before_the_obj(tmp_path, monkeypatch):
    solid, textured = _textured_solid()
    order = []
    link = os.link

    def recording(source, target, *args, **kwargs):
        order.append(os.path.basename(target))
        return link(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "link", recording)
    write_solid(solid, tmp_path / "ball.obj", textured=textured)
    assert order == ["ball_texture.png", "ball.mtl", "ball.obj"]


def _obj_files(tmp_path):
    solid, textured = _textured_solid()
    write_solid(solid, tmp_path / "ball.obj", textured=textured)
    return solid, {p.name: p.read_bytes() for p in tmp_path.iterdir()}


def _drop_lines(data: bytes, prefix: str) -> bytes:
    return b"\n".join(line for line in data.split(b"\n") if not line.startswith(prefix))


@pytest.mark.parametrize("damage, message", [
    (lambda f: {**f, "ball.obj": _drop_lines(f["ball.obj"], b"mtllib")}, "does not reference its material"),
    (lambda f: {k: v for k, v in f.items() if k != "ball.mtl"}, "does not reference its material"),
    (lambda f: {**f, "ball.obj": re.sub(rb"/\d+", b"", _drop_lines(f["ball.obj"], b"vt "))},
     "has no texture coordinates"),
    (lambda f: {k: v for k, v in f.items() if k != "ball_texture.png"}, "has no texture image beside it"),
    (lambda f: {**f, "ball.mtl": _drop_lines(f["ball.mtl"], b"map_Kd")}, "has no texture image beside it"),
    (lambda f: {**f, "ball_texture.png": b"not a png"}, "is not a readable image"),
    (lambda f: {**f, "ball.obj": _drop_lines(f["ball.obj"], b"f 1/")}, "does not load back as a closed solid"),
])
def test_check_obj_refuses_an_obj_without_its_parts(tmp_path, damage, message):
    solid, files = _obj_files(tmp_path)
    check_obj(files, "ball.obj", solid, textured=True)  # the intact set passes
    with pytest.raises(Selfie3DError, match=message):
        check_obj(damage(files), "ball.obj", solid, textured=True)


def test_check_obj_refuses_positions_split_at_seams(tmp_path):
    # What trimesh's writer stored: one v per textured vertex, closed only after merging.
    solid, textured = _textured_solid()
    text = trimesh.exchange.obj.export_obj(textured, include_texture=False)
    with pytest.raises(Selfie3DError, match="does not load back as a closed solid"):
        check_obj({"ball.obj": text.encode()}, "ball.obj", solid, textured=False)


def test_a_failed_obj_check_leaves_nothing(tmp_path, monkeypatch):
    solid, textured = _textured_solid()
    monkeypatch.setattr(export, "_rows", lambda line, values: "" if line.startswith("vt") else
                        (line * len(values)) % tuple(np.asarray(values).ravel().tolist()))
    with pytest.raises(Selfie3DError):
        write_solid(solid, tmp_path / "ball.obj", textured=textured)
    assert list(tmp_path.iterdir()) == []


def test_prusa_slicer_reads_the_textured_obj_as_one_closed_part(tmp_path):
    solid, textured = _textured_solid()
    path = write_solid(solid, tmp_path / "ball.obj", textured=textured)
    info = prusa_info(path, tmp_path)
    assert "manifold = yes" in info, info
    assert re.search(r"number_of_parts\s*=\s*1\b", info), info


# ---- GLB: glTF's frame ------------------------------------------------------------------------


@pytest.mark.parametrize("with_texture", [True, False])
def test_glb_is_metres_with_y_up_and_the_base_at_the_bottom(tmp_path, with_texture):
    solid, textured = _textured_solid()
    path = write_solid(solid, tmp_path / "ball.glb", textured=textured if with_texture else None)
    scene = trimesh.load(str(path), process=False)
    loaded = scene.to_mesh()
    assert "matrix" not in _glb_json(path.read_bytes())["nodes"][0]  # converted vertices, no node transform
    width, depth, height = SOLID_SIZE_MM
    # (x, y, z) mm -> (x, z, -y) m: 0.08 m tall along +Y, base on Y = 0, the depth along -Z.
    lo, hi = loaded.bounds
    np.testing.assert_allclose(hi - lo, np.array([width, height, depth]) * 1e-3, atol=GLB_LENGTH_TOL_M)
    assert lo[1] == pytest.approx(0.0, abs=GLB_LENGTH_TOL_M)
    centre_z = -(SOLID_Y_OFFSET_MM * 1e-3)
    assert (lo[2] + hi[2]) / 2 == pytest.approx(centre_z, abs=GLB_LENGTH_TOL_M)
    # A rotation, not a mirror: merged, the solid is closed with its volume positive (outward).
    merged = trimesh.Trimesh(loaded.vertices, loaded.faces)
    assert merged.is_watertight and merged.is_winding_consistent
    assert merged.volume == pytest.approx(solid.volume * 1e-9, rel=VOLUME_RTOL)
    if with_texture:
        assert loaded.visual.uv.shape == (len(loaded.vertices), 2)
        material = _glb_json(path.read_bytes())["materials"][0]["pbrMetallicRoughness"]
        assert material["baseColorFactor"] == [1.0, 1.0, 1.0, 1.0]  # the photo as it is, not 0.4 of it
        assert "baseColorTexture" in material


def test_check_glb_refuses_a_glb_in_millimetres_z_up(tmp_path):
    solid, textured = _textured_solid()
    old_style = trimesh.exchange.gltf.export_glb(trimesh.Scene(textured))  # what was written before
    with pytest.raises(Selfie3DError, match="volume changed|not in metres"):
        export.check_glb(old_style, solid, textured=True, name="ball.glb")
    export.check_glb(export.glb_bytes(solid, textured), solid, textured=True, name="ball.glb")


# ---- the real bust ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bust():
    """The default bust of skimage's astronaut (mediapipe landmarks, as tests/test_bust.py)."""
    pytest.importorskip("mediapipe")
    from skimage import data

    from realtime import topology
    from realtime.printing.bust import BustOptions, build_bust
    from realtime.tools.topology_build import astronaut_landmarks_px

    px = astronaut_landmarks_px()
    ipd_px = np.linalg.norm(px[list(topology.LEFT_EYE)].mean(0)[:2] - px[list(topology.RIGHT_EYE)].mean(0)[:2])
    mm = (px * (63.0 / ipd_px)).astype(np.float32)
    image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    return build_bust(mm, None, BustOptions(label="TEST"), image=image, vertices_px=px.astype(np.float32))


def test_bust_obj_is_closed_as_written_and_slices_as_one_part(bust, tmp_path):
    path = write_solid(bust.mesh, tmp_path / "bust.obj", textured=bust.textured)
    written = _obj_as_written(path)
    assert written.is_watertight and written.body_count == 1
    assert written.volume == pytest.approx(bust.mesh.volume, rel=VOLUME_RTOL)
    info = prusa_info(path, tmp_path)
    assert "manifold = yes" in info, info
    assert re.search(r"number_of_parts\s*=\s*1\b", info), info


def test_bust_glb_stands_80_mm_tall_along_y(bust, tmp_path):
    path = write_solid(bust.mesh, tmp_path / "bust.glb", textured=bust.textured)
    loaded = trimesh.load(io.BytesIO(path.read_bytes()), file_type="glb", process=False).to_mesh()
    lo, hi = loaded.bounds
    assert hi[1] - lo[1] == pytest.approx(bust.options.height_mm * 1e-3, abs=GLB_LENGTH_TOL_M)
    assert lo[1] == pytest.approx(0.0, abs=GLB_LENGTH_TOL_M)
    # The front (the print frame's lowest Y, the face) is glTF's largest Z.
    assert hi[2] == pytest.approx(-bust.mesh.bounds[0][1] * 1e-3, abs=GLB_LENGTH_TOL_M)


def test_print_checks_count_shells_and_refuse_two():
    one = trimesh.creation.icosphere(3)
    two = trimesh.util.concatenate([one, one.copy().apply_translation([5.0, 0.0, 0.0])])
    # Two spheres touching at one vertex are still two shells (faces join only along edges).
    touching = trimesh.util.concatenate([one, one.copy().apply_translation([2.0, 0.0, 0.0])])
    touching.merge_vertices()
    assert [export.shell_count(m) for m in (one, two, touching)] == [1, 2, 2]
    assert export.shell_count(two) == len(two.split(only_watertight=False))
    checks = export.print_checks(two.apply_translation([0.0, 0.0, 1.0]), wall=False)
    checks["min_z"] = 0.0
    with pytest.raises(Selfie3DError, match="2 separate shells"):
        export.check_printable(checks)


def _frustum(bottom_radius: float, top_radius: float, height: float) -> trimesh.Trimesh:
    """A closed round frustum standing on Z = 0, mm."""
    import manifold3d

    solid = manifold3d.Manifold.cylinder(height, bottom_radius, top_radius, 96).to_mesh()
    return trimesh.Trimesh(np.asarray(solid.vert_properties)[:, :3], np.asarray(solid.tri_verts), process=False)


def test_min_wall_reads_plates_lying_or_standing_but_not_the_wedge_of_a_side_on_the_bed():
    lying = trimesh.creation.box((40.0, 40.0, 1.0)).apply_translation((0.0, 0.0, 0.5))
    standing = trimesh.creation.box((40.0, 1.0, 30.0)).apply_translation((0.0, 0.0, 15.0))
    assert export.min_wall_mm(lying) == pytest.approx(1.0, abs=0.02)
    assert export.min_wall_mm(standing) == pytest.approx(1.0, abs=0.02)
    # Sides facing 0.6-0.85 up come down to the bed at 30-55 degrees, thick everywhere above it
    # (12 mm from the top to the bed, more across): the wedges at the foot are not walls.
    for bottom, top, height in ((30.0, 10.0, 12.0), (30.0, 15.0, 12.0), (25.0, 10.0, 20.0)):
        frustum = _frustum(bottom, top, height)
        assert frustum.is_watertight
        assert export.min_wall_mm(frustum) >= 9.0
    # A thin plate lying on the bed still measures thin, probed from its top.
    disc = _frustum(20.0, 19.0, 0.8)
    assert export.min_wall_mm(disc) == pytest.approx(0.8, abs=0.02)
