"""Glasses library, user models and the fit onto a face."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
from numpy.testing import assert_allclose

from realtime.errors import InputError
from realtime.accessories.glasses import (
    GLASSES_LIBRARY, build_glasses, fit_glasses, glasses_by_name, lens_outline, load_user_glasses, rotation_between,
)

# Geometry built in float32: sub-micrometre agreement is plenty for millimetre sizes.
_MM_TOL = 1e-3
_ROTATION_TOL = 1e-9


def test_library_has_four_styles_with_printed_sizes():
    names = {spec.name for spec in GLASSES_LIBRARY}
    assert {"round", "rectangular", "aviator", "cat_eye"} <= names
    assert glasses_by_name("cat-eye").name == "cat_eye"
    assert glasses_by_name("Round").label == "49\u25a121-145"


def test_unknown_glasses_name_is_explained():
    with pytest.raises(InputError, match="unknown glasses 'monocle'"):
        glasses_by_name("monocle")


@pytest.mark.parametrize("shape", ["round", "rectangular", "aviator", "cat_eye"])
def test_lens_outline_is_boxed_to_size(shape):
    outline = lens_outline(shape, 52.0, 40.0)
    assert_allclose(np.ptp(outline, axis=0), [52.0, 40.0], atol=_MM_TOL)
    assert_allclose((outline.max(axis=0) + outline.min(axis=0)) / 2, [0.0, 0.0], atol=_MM_TOL)


@pytest.mark.parametrize("spec", GLASSES_LIBRARY, ids=lambda s: s.name)
def test_built_glasses_have_real_sizes(spec):
    model = build_glasses(spec)
    for part in [model.front, model.lenses, *model.temples]:
        assert part.triangles.min() >= 0 and part.triangles.max() < len(part.vertices)
        assert_allclose(np.linalg.norm(part.normals, axis=1), 1.0, atol=1e-4)
    # Lens width and bridge: the lens boxes' outer edges are 2A + DBL apart.
    lens_x = np.ptp(model.lenses.vertices[:, 0])
    assert_allclose(lens_x, 2 * spec.lens_width_mm + spec.bridge_mm, atol=0.05)
    # The gap between the lenses at the centre line is the bridge size (or more, for curved noses).
    centre_band = np.abs(model.lenses.vertices[:, 1]) < 3
    inner = np.abs(model.lenses.vertices[centre_band, 0]).min()
    assert spec.bridge_mm / 2 - 0.5 < inner < spec.bridge_mm / 2 + 6
    # Temples: the arc length of each arm is the printed temple length.
    temple = model.temples[0]
    assert np.ptp(temple.vertices[:, 2]) > spec.temple_mm - 45
    assert model.nose_rest_mm.shape == (3,) and model.ear_rest_mm.shape == (2, 3)


def test_rotation_between():
    rng = np.random.default_rng(1)
    for _ in range(20):
        a, b = rng.normal(size=(2, 3))
        r = rotation_between(a, b)
        assert_allclose(r @ (a / np.linalg.norm(a)), b / np.linalg.norm(b), atol=1e-9)
        assert_allclose(r @ r.T, np.eye(3), atol=_ROTATION_TOL)
    assert_allclose(rotation_between(np.array([1.0, 0, 0]), np.array([-1.0, 0, 0])) @ [1, 0, 0], [-1, 0, 0], atol=1e-9)


def test_fit_is_rigid_and_lands_on_the_anchors():
    model = build_glasses(GLASSES_LIBRARY[0])
    nose = np.array([5.0, -10.0, 420.0])
    ears = np.array([[-80.0, -5.0, 505.0], [78.0, -3.0, 500.0]])
    fit = fit_glasses(model, nose, ears)
    rot = fit.model[:3, :3]
    assert_allclose(rot @ rot.T, np.eye(3), atol=1e-9)
    assert_allclose(np.linalg.det(rot), 1.0, atol=1e-9)  # no scaling, no mirroring: metric
    assert_allclose(rot @ model.nose_rest_mm + fit.model[:3, 3], nose, atol=_MM_TOL)
    # Each swung temple's straight part points at its ear (plus the clearance outward).
    for k in range(2):
        hinge = model.hinges_mm[k]
        tip = fit.temples[k][:3, :3] @ model.ear_rest_mm[k] + fit.temples[k][:3, 3]
        tip_camera = rot @ tip + fit.model[:3, 3]
        hinge_camera = rot @ hinge + fit.model[:3, 3]
        direction = (tip_camera - hinge_camera) / np.linalg.norm(tip_camera - hinge_camera)
        to_ear = ears[k] - hinge_camera
        lateral = np.linalg.norm(to_ear - direction * np.dot(to_ear, direction))
        assert lateral < 4.0


def test_user_model_round_trip(tmp_path):
    """Export a procedural frame as OBJ in centimetres with z up, load it back with anchors."""
    model = build_glasses(GLASSES_LIBRARY[1])
    # glasses frame (x towards the left temple, y down, z back) -> a right-handed z-up model in cm
    to_user = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])
    mesh = trimesh.Trimesh(model.front.vertices @ to_user.T / 10.0, model.front.triangles, process=False)
    path = tmp_path / "frame.obj"
    mesh.export(path)
    anchors = {"nose_bridge": (to_user @ model.nose_rest_mm / 10).tolist(),
               "temple_right": (to_user @ model.ear_rest_mm[0] / 10).tolist(),
               "temple_left": (to_user @ model.ear_rest_mm[1] / 10).tolist(),
               "up": [0, 0, 1], "units": "cm", "material": "plastic"}
    (tmp_path / "frame.json").write_text(json.dumps(anchors))
    loaded = load_user_glasses(path, tmp_path / "frame.json")
    assert_allclose(loaded.ear_rest_mm, model.ear_rest_mm - model.nose_rest_mm, atol=_MM_TOL)
    # OBJ export merges coincident vertices, so compare extent and surface area, not arrays.
    original = model.front.vertices - model.nose_rest_mm
    assert_allclose(loaded.front.vertices.min(axis=0), original.min(axis=0), atol=_MM_TOL)
    assert_allclose(loaded.front.vertices.max(axis=0), original.max(axis=0), atol=_MM_TOL)
    area = trimesh.Trimesh(loaded.front.vertices, loaded.front.triangles, process=False).area
    assert_allclose(area, trimesh.Trimesh(original, model.front.triangles, process=False).area, rtol=1e-4)
    assert loaded.temples is None and loaded.lenses is None


def test_user_model_bad_anchor_file(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"nose_bridge": [0, 0, 0]}))
    with pytest.raises(InputError, match="needs nose_bridge, temple_right and temple_left"):
        load_user_glasses(tmp_path / "missing.obj", tmp_path / "a.json")


def _export_with_anchors(tmp_path, name: str, mesh_or_scene, model) -> str:
    """Write ``mesh_or_scene`` as ``tmp_path/name`` (format by extension) with an anchor file
    in the glasses frame's own units (mm, y down, so up is -y)."""
    path = tmp_path / name
    mesh_or_scene.export(path)
    anchors = {"nose_bridge": model.nose_rest_mm.tolist(), "temple_right": model.ear_rest_mm[0].tolist(),
               "temple_left": model.ear_rest_mm[1].tolist(), "up": [0, -1, 0], "units": "mm"}
    path.with_suffix(".json").write_text(json.dumps(anchors))
    return str(path)


@pytest.mark.parametrize("name", ["glasses.stl", "myglasses.obj", "Glass.stl", "lens.stl", "frame.stl"])
def test_a_one_part_model_is_frame_whatever_the_file_is_called(tmp_path, name):
    # STL has no part names and an OBJ without objects neither: trimesh names the part after the
    # file, which said "every part is named like a lens" for glasses.stl.
    model = build_glasses(GLASSES_LIBRARY[1])
    mesh = trimesh.Trimesh(model.front.vertices, model.front.triangles, process=False)
    path = _export_with_anchors(tmp_path, name, mesh, model)
    loaded = load_user_glasses(path, path.rsplit(".", 1)[0] + ".json")
    assert loaded.lenses is None
    assert len(loaded.front.triangles) == len(model.front.triangles)


def test_named_lens_parts_are_lenses_and_the_file_name_does_not_count(tmp_path):
    model = build_glasses(GLASSES_LIBRARY[0])
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.Trimesh(model.front.vertices, model.front.triangles, process=False),
                       geom_name="Frame", node_name="Frame")
    scene.add_geometry(trimesh.Trimesh(model.lenses.vertices, model.lenses.triangles, process=False),
                       geom_name="LensLeft.001", node_name="LensLeft.001")
    path = _export_with_anchors(tmp_path, "my_glasses.glb", scene, model)
    loaded = load_user_glasses(path, path.replace(".glb", ".json"))
    assert loaded.lenses is not None
    assert len(loaded.lenses.triangles) == len(model.lenses.triangles)
    assert len(loaded.front.triangles) == len(model.front.triangles)


def test_a_model_of_lenses_only_is_refused_naming_its_parts(tmp_path):
    model = build_glasses(GLASSES_LIBRARY[0])
    lens = trimesh.Trimesh(model.lenses.vertices, model.lenses.triangles, process=False)
    scene = trimesh.Scene()
    for name in ("lens_R", "lens_L"):
        scene.add_geometry(lens.copy(), geom_name=name, node_name=name)
    path = _export_with_anchors(tmp_path, "frame.glb", scene, model)
    with pytest.raises(InputError, match=r"every part is named as a lens \(lens_L, lens_R\)"):
        load_user_glasses(path, path.replace(".glb", ".json"))


@pytest.mark.parametrize("name, is_lens", [
    ("Lens_L", True), ("LensLeft.001", True), ("lenses", True), ("GLASS right", True), ("sunglass_lens", True),
    ("glasses", False), ("Glasses.stl", False), ("eyeglass_frame", False), ("lensholder", False), ("Frame_1", False),
])
def test_lens_names_match_whole_words(name, is_lens):
    from realtime.accessories.glasses import is_lens_name

    assert is_lens_name(name) is is_lens
