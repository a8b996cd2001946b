"""Tests for realtime/accessories/headband.py: a band sized to the head, above the brows, drawn
by the renderer like any accessory (reference image ``tests/reference/headband_frontal.png``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from realtime import topology
from realtime.accessories import accessory_names, dress
from realtime.accessories.headband import (BAND_THICKNESS_MM, BAND_WIDTH_MM, BROW_CLEARANCE_MM, SKIN_CLEARANCE_MM,
                                           Headband, band_mesh, ellipse_enclosing, ellipse_perimeter)
from realtime.camera import CameraIntrinsics
from realtime.geometry import face_frame
from realtime.render import Renderer, RenderOptions, View3D, ViewMode
from realtime.stages.democlip import DemoClipOptions, render_demo_frame

# Adult head circumference at the forehead (ANSUR II: 5th-95th percentile of both sexes ~525-605
# mm), with room for the band's own clearance.
_CIRCUMFERENCE_MM = (500.0, 640.0)
# Sizes are rounded to a millimetre, the skin clearance kept: a section point may sit this far
# outside the unrounded ellipse, never inside the skin.
_ROUNDING_MM = 0.5
_PERIMETER_TOL = 1e-6  # Ramanujan's second approximation against numeric integration, relative


@pytest.fixture(scope="module")
def face_mm() -> np.ndarray:
    return np.load(Path(__file__).parent / "reference" / "face_frontal_mm.npy")


@pytest.fixture(scope="module")
def worn(face_mm):
    return dress(face_mm, Headband(), topology.face_triangles())


def _local(proxy, points):
    origin, axes = face_frame(proxy.vertices[:topology.N_VERTICES])
    return (np.asarray(points, np.float64) - origin) @ axes.T


def test_the_band_goes_round_the_head_above_the_brows(worn):
    [band] = worn.parts
    assert band.material.kind == "opaque" and band.role == "band"
    local_band = _local(worn.proxy, (np.c_[band.mesh.vertices, np.ones(len(band.mesh.vertices))] @ band.model.T)[:, :3])
    local_head = _local(worn.proxy, worn.proxy.vertices)
    brows = local_head[list(topology.RIGHT_EYEBROW + topology.LEFT_EYEBROW), 1].min()
    top, bottom = local_band[:, 1].min(), local_band[:, 1].max()
    assert_allclose([bottom - top, brows - bottom], [BAND_WIDTH_MM, BROW_CLEARANCE_MM], atol=1e-3)
    # The inner wall clears every vertex of the head at the band's height by the skin clearance.
    inner = np.abs(band.mesh.vertices[:, 0]).max() - BAND_THICKNESS_MM, np.abs(band.mesh.vertices[:, 2]).max() - BAND_THICKNESS_MM
    centre_z = band.transforms[1][2, 3]
    section = local_head[(local_head[:, 1] >= top) & (local_head[:, 1] <= bottom)]
    assert len(section) > 50
    radius = np.sqrt((section[:, 0] / inner[0]) ** 2 + ((section[:, 2] - centre_z) / inner[1]) ** 2)
    assert radius.max() <= 1.0 + _ROUNDING_MM / min(inner)
    assert radius.max() >= 1.0 - (SKIN_CLEARANCE_MM + _ROUNDING_MM) / min(inner)  # it rests on the head
    assert _CIRCUMFERENCE_MM[0] < ellipse_perimeter(*inner) < _CIRCUMFERENCE_MM[1]


def test_a_settled_head_reuses_one_mesh_and_a_larger_head_gets_a_larger_band(face_mm):
    headband = Headband()
    triangles = topology.face_triangles()
    first = dress(face_mm, headband, triangles).parts[0]
    assert dress(face_mm + np.float32(0.1), headband, triangles).parts[0].mesh is first.mesh  # moved, same head
    origin = face_mm.mean(axis=0)
    larger = dress(((face_mm - origin) * 1.1 + origin).astype(np.float32), headband, triangles).parts[0]
    assert larger.mesh is not first.mesh
    assert np.abs(larger.mesh.vertices[:, 0]).max() > np.abs(first.mesh.vertices[:, 0]).max() + 5.0


def test_ellipse_helpers():
    t = np.linspace(0, 2 * math.pi, 200_001)
    a, b = 80.0, 100.0
    numeric = np.sum(np.hypot(np.diff(a * np.cos(t)), np.diff(b * np.sin(t))))
    assert ellipse_perimeter(a, b) == pytest.approx(numeric, rel=_PERIMETER_TOL)
    points = np.array([[70.0, 10.0], [-70.0, 10.0], [0.0, -90.0], [0.0, 110.0], [60.0, 80.0]])
    centre_z, half_x, half_z = ellipse_enclosing(points)
    assert centre_z == pytest.approx(10.0)
    assert np.max((points[:, 0] / half_x) ** 2 + ((points[:, 1] - centre_z) / half_z) ** 2) == pytest.approx(1.0)
    mesh = band_mesh(80.0, 100.0)
    assert mesh.vertices.dtype == np.float32 and mesh.triangles.max() < len(mesh.vertices)
    assert_allclose(np.linalg.norm(mesh.normals, axis=1), 1.0, rtol=1e-6)


def test_the_headband_is_selectable_like_glasses():
    from realtime.apps.live import load_accessory_choice

    assert "headband" in accessory_names()
    assert isinstance(load_accessory_choice("headband"), Headband)


def test_headband_frontal_reference(gl_ctx, face_mm, worn):
    from test_rendering import SIZE, check_reference

    intrinsics = CameraIntrinsics.default(640, 480, 60.0)
    frame = render_demo_frame(0, DemoClipOptions(motion=False))
    with Renderer(gl_ctx, RenderOptions(*SIZE), topology.face_triangles()) as renderer:
        image = renderer.render(frame, face_mm, intrinsics, ViewMode.TRYON, worn.parts, None, View3D.OFF,
                                proxy=worn.proxy).image
        without = renderer.render(frame, face_mm, intrinsics, ViewMode.TRYON, (), None, View3D.OFF).image
    changed = np.abs(image.astype(int) - without.astype(int)).max(axis=2) > 30
    ys, xs = np.nonzero(changed)
    scale = SIZE[0] / 640
    eyes = face_mm[[topology.RIGHT_EYE_OUTER, topology.LEFT_EYE_OUTER]]
    eye_v = (intrinsics.fy * eyes[:, 1] / eyes[:, 2] + intrinsics.cy).mean() * scale
    eye_u = intrinsics.fx * eyes[:, 0] / eyes[:, 2] + intrinsics.cx
    assert changed.sum() > 1000 and np.percentile(ys, 95) < eye_v  # a band across the forehead
    assert xs.min() < eye_u[0] * scale and xs.max() > eye_u[1] * scale  # wider than the eyes
    red = image[changed].astype(int)
    assert np.median(red[:, 2] - red[:, 1]) > 40  # BGR: the fabric's red
    check_reference("headband_frontal", image)
