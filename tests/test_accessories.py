"""The accessory seam (realtime/accessories/__init__.py, parts.py): accessories are fitted outside
the renderer, and the renderer draws any accessory's posed parts without knowing what they are."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from realtime.accessories import Dressed, accessory_names, dress, library
from realtime.accessories.glasses import GLASSES_LIBRARY, GlassesAccessory, build_glasses, fit_glasses
from realtime.accessories.parts import Material, MeshPart, PosedPart, parts_points_mm
from realtime.camera import CameraIntrinsics
from realtime.render import Renderer, RenderOptions, View3D, ViewMode
from realtime.topology import face_triangles

_SIZE = (320, 240)
# A part changes the picture where it is: at least this many pixels of a 20 mm cube 500 mm away.
_CUBE_MIN_PIXELS = 100


@pytest.fixture(scope="module")
def face_mm() -> np.ndarray:
    from pathlib import Path

    return np.load(Path(__file__).parent / "reference" / "face_frontal_mm.npy")


def _cube(size_mm: float) -> MeshPart:
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float32) * size_mm / 2
    faces = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                      [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], np.int32)
    normals = corners / np.linalg.norm(corners, axis=1, keepdims=True)
    return MeshPart(corners, normals.astype(np.float32), faces)


class _Cube:
    """A stand-in accessory the renderer has never heard of: a cube floating in front of the nose."""

    name, label = "cube", "20 mm"
    mesh = _cube(20.0)

    def fit(self, proxy):
        pose = np.eye(4)
        pose[:3, 3] = proxy.nose_point_mm - 60.0 * proxy.face_axes[2]  # 60 mm out of the face
        return (PosedPart(self.mesh, Material("opaque", color=(0.1, 0.8, 0.2)), (pose,), role="cube"),)


def test_the_registry_lists_every_built_in_accessory_by_name():
    names = accessory_names()
    assert names[:len(GLASSES_LIBRARY)] == [spec.name for spec in GLASSES_LIBRARY]
    assert len(set(names)) == len(names)
    assert all(hasattr(a, "fit") and a.label for a in library())


def test_dress_without_a_face_or_accessory(face_mm):
    triangles = face_triangles()
    assert dress(None, library()[0], triangles) == Dressed(None)
    assert dress(np.zeros((468, 3), np.float32), library()[0], triangles).proxy is None  # an empty fusion result
    bare = dress(face_mm, None, triangles)
    assert bare.proxy is not None and bare.parts == ()


def test_glasses_fit_outside_the_renderer_as_posed_parts(face_mm):
    model = build_glasses(GLASSES_LIBRARY[1])
    dressed = dress(face_mm, GlassesAccessory(model), face_triangles())
    assert [p.role for p in dressed.parts] == ["front", "temple_0", "temple_1", "lenses"]
    assert [p.material.kind for p in dressed.parts] == ["opaque"] * 3 + ["transparent"]
    proxy = dressed.proxy
    fit = fit_glasses(model, proxy.nose_point_mm, proxy.ear_points_mm, proxy.temple_side_mm)
    assert_array_equal(dressed.parts[0].model, fit.model)
    assert_allclose(dressed.parts[1].model, fit.model @ fit.temples[0])
    # The GPU takes the chain multiplied in float32, as the renderer always did for a temple.
    assert_array_equal(dressed.parts[1].model_f32(), fit.model.astype(np.float32) @ fit.temples[0].astype(np.float32))


def test_parts_points_bound_what_the_parts_cover():
    part = PosedPart(_cube(10.0), Material())  # posed where it is made: the identity
    shifted = PosedPart(part.mesh, part.material, (np.array([[1, 0, 0, 5], [0, 1, 0, 0], [0, 0, 1, 100], [0, 0, 0, 1.0]]),))
    points = parts_points_mm([part, shifted])
    assert points.shape == (16, 3)
    assert_allclose(points.min(axis=0), [-5, -5, -5])
    assert_allclose(points.max(axis=0), [10, 5, 105])
    assert parts_points_mm([]).shape == (0, 3)


def test_a_material_kind_is_checked():
    with pytest.raises(ValueError, match="material kind"):
        Material("glowing")


def test_the_renderer_draws_any_accessory_and_keeps_one_gpu_copy_per_mesh(gl_ctx, face_mm):
    intrinsics = CameraIntrinsics.default(640, 480, 60.0)
    frame = np.full((480, 640, 3), 128, np.uint8)
    with Renderer(gl_ctx, RenderOptions(*_SIZE), face_triangles()) as renderer:
        worn = dress(face_mm, _Cube(), renderer.face_triangles)
        bare = renderer.render(frame, face_mm, intrinsics, ViewMode.TRYON, (), None, View3D.OFF).image
        cube = renderer.render(frame, face_mm, intrinsics, ViewMode.TRYON, worn.parts, None, View3D.OFF,
                               proxy=worn.proxy).image
        changed = np.abs(cube.astype(int) - bare.astype(int)).max(axis=2) > 30
        assert changed.sum() > _CUBE_MIN_PIXELS
        green = cube[changed]
        assert np.all(green[:, 1] >= green[:, 2]) and np.all(green[:, 1] >= green[:, 0])  # BGR: the cube's green
        # Where the cube projects: around the nose tip, 60 mm nearer.
        ys, xs = np.nonzero(changed)
        nose = worn.proxy.nose_point_mm - 60.0 * worn.proxy.face_axes[2]
        scale = _SIZE[0] / 640
        assert abs(np.median(xs) - (intrinsics.fx * nose[0] / nose[2] + intrinsics.cx) * scale) < 5
        again = renderer.render(frame, face_mm, intrinsics, ViewMode.TRYON, worn.parts, None, View3D.OFF,
                                proxy=worn.proxy).image
        assert_array_equal(again, cube)
        assert len(renderer._part_meshes) == 1  # one GPU copy of the one mesh, keyed by the mesh
