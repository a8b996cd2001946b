"""Render stage: camera matrices (pinhole round trips) and headless composites against
reference images (EGL, Mesa llvmpipe). Set SELFIE3D_UPDATE_REFERENCES=1 to rewrite the
references after a deliberate visual change, then look at them."""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.testing import assert_allclose

from realtime.camera import CameraIntrinsics
from realtime.stages.democlip import DemoClipOptions, render_demo_frame
from realtime.accessories import dress
from realtime.accessories.glasses import GLASSES_LIBRARY, GlassesAccessory, build_glasses
from realtime.geometry import face_frame
from realtime.render import HudInfo, Renderer, RenderOptions, View3D, ViewMode
from realtime.tools.render_bench import render_benchmark
from realtime.render.hud import hud_panels
from realtime.render.projection import (
    OPENCV_TO_GL, fit_viewport, orbit_view, perspective, project_points, projection_from_intrinsics,
)
from realtime.topology import face_triangles

REFERENCE_DIR = Path(__file__).parent / "reference"
UPDATE = os.environ.get("SELFIE3D_UPDATE_REFERENCES") == "1"
# Projection round trip: float32 matrices, points ~0.5 m away -> well under a thousandth of a pixel.
_PIXEL_TOL = 1e-3
# Rasterised silhouette vs projected vertices: pixel-centre sampling and edge rules, 1.5 px.
_SILHOUETTE_TOL_PX = 1.5
# Reference images: llvmpipe is deterministic, but LLVM versions round differently; allow a
# small mean difference and a sliver of pixels that moved (antialiased HUD text, edges).
_MEAN_ABS_TOL = 1.5
_BAD_PIXEL_LEVEL = 40
_BAD_PIXEL_FRACTION = 0.004
SIZE = (480, 360)  # small composites keep the suite fast on a shared CPU



@pytest.fixture(scope="session")
def face_mm() -> np.ndarray:
    """A frontal face of the demo clip, ``(468, 3)`` camera space mm (MediaPipe, unprojected)."""
    return np.load(REFERENCE_DIR / "face_frontal_mm.npy")


@pytest.fixture(scope="session")
def frame() -> np.ndarray:
    return render_demo_frame(0, DemoClipOptions(motion=False))


@pytest.fixture(scope="session")
def intrinsics() -> CameraIntrinsics:
    return CameraIntrinsics.default(640, 480, 60.0)


@pytest.fixture
def renderer(gl_ctx):
    with Renderer(gl_ctx, RenderOptions(*SIZE), face_triangles()) as r:
        yield r


def rotate_about_head(vertices: np.ndarray, yaw_deg: float) -> np.ndarray:
    """Turn a face about the vertical axis through the middle of its head (a side view)."""
    origin, axes = face_frame(vertices)
    centre = origin + axes[2] * 70.0
    a = math.radians(yaw_deg)
    rot = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    return ((vertices - centre) @ rot.T + centre).astype(np.float32)


def wear(renderer: Renderer, face_mm: np.ndarray, model):
    """The glasses ``model`` fitted to ``face_mm``: what the renderer draws (``dress``)."""
    return dress(face_mm, GlassesAccessory(model), renderer.face_triangles)


def check_reference(name: str, image: np.ndarray) -> None:
    path = REFERENCE_DIR / f"{name}.png"
    if UPDATE or not path.exists():
        cv2.imwrite(str(path), image)
        if not UPDATE:
            pytest.skip(f"wrote missing reference {path.name}; look at it and rerun")
    reference = cv2.imread(str(path))
    assert reference.shape == image.shape
    diff = np.abs(reference.astype(np.int16) - image.astype(np.int16)).max(axis=2)
    bad = float(np.mean(diff > _BAD_PIXEL_LEVEL))
    if diff.mean() > _MEAN_ABS_TOL or bad > _BAD_PIXEL_FRACTION:
        cv2.imwrite(str(path.with_name(f"{name}.actual.png")), image)
        pytest.fail(f"{name}: mean abs diff {diff.mean():.2f}, {bad:.2%} pixels off by > {_BAD_PIXEL_LEVEL}")


# ----------------------------------------------------------------------------- projection


def test_projection_matches_pinhole_formula(intrinsics):
    rng = np.random.default_rng(4)
    points = np.c_[rng.uniform(-200, 200, (50, 2)), rng.uniform(250, 1500, 50)]
    proj = projection_from_intrinsics(
        intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy, intrinsics.width, intrinsics.height, 10, 5000)
    got = project_points(points, proj @ OPENCV_TO_GL, intrinsics.width, intrinsics.height)
    # u = fx * X / Z + cx, v = fy * Y / Z + cy
    want = np.c_[intrinsics.fx * points[:, 0] / points[:, 2] + intrinsics.cx,
                 intrinsics.fy * points[:, 1] / points[:, 2] + intrinsics.cy]
    assert_allclose(got, want, atol=_PIXEL_TOL)


def test_projection_round_trip_with_off_centre_principal_point():
    fx, fy, cx, cy, w, h = 900.0, 880.0, 610.5, 377.25, 1280, 720
    proj = projection_from_intrinsics(fx, fy, cx, cy, w, h, 10, 5000)
    pixels = np.array([[0.0, 0.0], [w, h], [cx, cy], [100.5, 650.0]])
    depth = np.array([300.0, 450.0, 600.0, 1200.0])
    # Unproject with the pinhole model, project back through the GL matrices.
    points = np.c_[(pixels[:, 0] - cx) * depth / fx, (pixels[:, 1] - cy) * depth / fy, depth]
    assert_allclose(project_points(points, proj @ OPENCV_TO_GL, w, h), pixels, atol=_PIXEL_TOL)


def test_projection_depth_range_maps_to_ndc():
    proj = projection_from_intrinsics(500, 500, 320, 240, 640, 480, 10, 5000)
    for z, want in ((10.0, -1.0), (5000.0, 1.0)):
        clip = proj @ OPENCV_TO_GL @ np.array([0.0, 0.0, z, 1.0])
        assert_allclose(clip[2] / clip[3], want, atol=1e-5)


def test_orbit_view_frontal_and_side(face_mm):
    target = face_mm.mean(axis=0)
    proj = perspective(math.radians(30), 1.0, 10, 5000)
    for yaw in (0.0, 1.0, -2.0):
        centre = project_points(target[None], proj @ orbit_view(target, yaw, 0.3, 500.0), 100, 100)
        assert_allclose(centre, [[50.0, 50.0]], atol=1e-3)
    # Yaw 0 looks from the real camera's side: the person's right eye (33) is on image left.
    view = orbit_view(target, 0.0, 0.0, 500.0)
    px = project_points(face_mm[[33, 263]], proj @ view, 100, 100)
    assert px[0, 0] < px[1, 0]


def test_fit_viewport_letterboxes():
    assert fit_viewport(640, 480, (0, 0, 1280, 720)) == (160, 0, 960, 720)
    assert fit_viewport(1280, 720, (0, 0, 640, 720)) == (0, 180, 640, 360)


# ----------------------------------------------------------------------------- composites


def test_overlay_lands_on_pinhole_pixels(renderer, face_mm, intrinsics):
    """The shaded face's silhouette matches the projected vertices' bounding box."""
    black = np.zeros((480, 640, 3), np.uint8)
    with Renderer(renderer.ctx, RenderOptions(640, 480, shaded_alpha=1.0), face_triangles()) as r:
        image = r.render(black, face_mm, intrinsics, ViewMode.SHADED, (), None, View3D.OFF).image
    mask = image.max(axis=2) > 0
    ys, xs = np.nonzero(mask)
    u = intrinsics.fx * face_mm[:, 0] / face_mm[:, 2] + intrinsics.cx
    v = intrinsics.fy * face_mm[:, 1] / face_mm[:, 2] + intrinsics.cy
    assert_allclose([xs.min(), xs.max() + 1, ys.min(), ys.max() + 1], [u.min(), u.max(), v.min(), v.max()],
                    atol=_SILHOUETTE_TOL_PX)


def test_no_face_is_just_the_frame(renderer, frame, intrinsics):
    image = renderer.render(frame, None, intrinsics, ViewMode.TRYON, (), None, View3D.OFF).image
    # 640x480 letterboxed into 480x360 is an exact 0.75 scale with no bars.
    expected = cv2.resize(frame, SIZE, interpolation=cv2.INTER_LINEAR)
    assert np.abs(image.astype(int) - expected.astype(int)).mean() < 3.0
    empty = renderer.render(frame, np.zeros((468, 3), np.float32), intrinsics, parts=(), view3d=View3D.OFF).image
    assert_allclose(empty, image)


def test_glasses_frontal_reference(renderer, frame, face_mm, intrinsics):
    worn = wear(renderer, face_mm, build_glasses(GLASSES_LIBRARY[1]))
    image = renderer.render(frame, face_mm, intrinsics, ViewMode.TRYON, worn.parts, None, View3D.OFF, proxy=worn.proxy).image
    without = renderer.render(frame, face_mm, intrinsics, ViewMode.TRYON, (), None, View3D.OFF).image
    changed = np.abs(image.astype(int) - without.astype(int)).max(axis=2) > 30
    # The frame sits over the eyes: changed pixels cluster around the projected eye corners.
    u = intrinsics.fx * face_mm[[33, 263], 0] / face_mm[[33, 263], 2] + intrinsics.cx
    v = intrinsics.fy * face_mm[[33, 263], 1] / face_mm[[33, 263], 2] + intrinsics.cy
    ys, xs = np.nonzero(changed)
    scale = SIZE[0] / 640
    assert abs(np.median(ys) - v.mean() * scale) < 12
    assert xs.min() < u[0] * scale < u[1] * scale < xs.max()
    check_reference("glasses_frontal", image)


@pytest.mark.parametrize("mode", [ViewMode.WIREFRAME, ViewMode.SHADED, ViewMode.TEXTURED])
def test_view_mode_references(renderer, frame, face_mm, intrinsics, mode):
    image = renderer.render(frame, face_mm, intrinsics, mode, (), None, View3D.SPLIT).image
    check_reference(f"view_{mode.name.lower()}", image)


def test_inset_3d_view_and_hud_reference(renderer, frame, face_mm, intrinsics):
    hud = HudInfo(fps=30.0, timings_ms={"track": 2.0, "render": 9.0}, provider="CPUExecutionProvider",
                  pd_mm=63.0, tracking="tracking", glasses="round 49\u25a121-145", messages=("bust saved: out/b.stl",))
    worn = wear(renderer, face_mm, build_glasses(GLASSES_LIBRARY[0]))
    image = renderer.render(frame, face_mm, intrinsics, ViewMode.TRYON, worn.parts, hud, View3D.INSET, proxy=worn.proxy).image
    check_reference("inset_hud", image)


def test_side_view_temple_hidden_behind_head(gl_ctx, face_mm, intrinsics):
    """Turned 75 degrees, the far temple is behind the head: with the occluder those pixels
    are background, without it they are glasses."""
    side = rotate_about_head(face_mm, 75.0)
    grey = np.full((480, 640, 3), 200, np.uint8)
    model = build_glasses(GLASSES_LIBRARY[1])
    images = {}
    for occluder in (True, False):
        with Renderer(gl_ctx, RenderOptions(640, 480, occluder=occluder), face_triangles()) as r:
            worn = wear(r, side, model)
            images[occluder] = r.render(grey, side, intrinsics, ViewMode.TRYON, worn.parts, None, View3D.OFF).image
    glasses_open = np.abs(images[False].astype(int) - 200).max(axis=2) > 20
    glasses_occluded = np.abs(images[True].astype(int) - 200).max(axis=2) > 20
    hidden = glasses_open & ~glasses_occluded
    assert hidden.sum() > 150  # the far temple's run behind the skull
    assert np.all(images[True][hidden] == 200)  # exactly background there, no glasses colour
    assert glasses_occluded.sum() > 300  # the front and the near temple are still drawn
    assert not np.any(glasses_occluded & ~glasses_open)  # the occluder itself draws no colour
    check_reference("side_occluded", images[True])


def test_hud_panels():
    panels = hud_panels(HudInfo(fps=12.3, messages=("saved",), show_help=True), 720)
    assert [role for _, role in panels] == ["status", "notice", "help"]
    for rgba, _ in panels:
        assert rgba.dtype == np.uint8 and rgba.shape[2] == 4 and rgba[..., 3].max() > 200


def test_hud_panel_origin_in_the_camera_images_corners():
    from realtime.render.renderer import camera_box_px, hud_stack_origins

    # A 4:3 camera pillarboxed in 1280x720: the image spans x 160..1120.
    rect = fit_viewport(640, 480, (0, 0, 1280, 720))
    assert rect == (160, 0, 960, 720)
    box = camera_box_px(rect, 720)
    assert hud_stack_origins([(200, 90)], "top-left", box, 12, 4) == [(172, 12)]
    assert hud_stack_origins([(200, 40)], "bottom-left", box, 12, 4) == [(172, 720 - 12 - 40)]
    # Letterboxed (a wide camera in a square window): the image spans y 140..500 from the top.
    rect = fit_viewport(1280, 720, (0, 0, 640, 640))
    box = camera_box_px(rect, 640)
    assert hud_stack_origins([(100, 50)], "top-left", box, 8, 4) == [(8, 140 + 8)]
    assert hud_stack_origins([(100, 50)], "bottom-left", box, 8, 4) == [(8, 500 - 8 - 50)]
    with pytest.raises(ValueError):
        hud_stack_origins([(1, 1)], "centre", box, 8, 4)


def test_hud_backing_sits_on_a_pillarboxed_camera_image(gl_ctx, face_mm, intrinsics):
    # A 640x480 camera in a 640x360 window: the image spans x 80..560; the status panel's
    # dark backing must sit inside it, in its bottom-left corner, not on the black bar.
    grey = np.full((480, 640, 3), 200, np.uint8)
    with Renderer(gl_ctx, RenderOptions(640, 360), face_triangles()) as r:
        image = r.render(grey, None, intrinsics, ViewMode.TRYON, None, HudInfo(fps=30.0, pd_mm=63.0),
                         View3D.OFF).image
    rect = fit_viewport(640, 480, (0, 0, 640, 360))
    left = rect[0]
    assert image[:, :left - 1].max() == 0  # the bar stays black
    darkened = (image[:, :, 0] < 150) & (image[:, :, 0] > 0)  # backing over the grey image
    columns = np.flatnonzero(darkened.any(axis=0))
    rows = np.flatnonzero(darkened.any(axis=1))
    margin = RenderOptions(640, 360).inset_margin_px
    assert columns.min() == left + margin and rows.max() == 360 - margin - 1


def test_render_benchmark_reports_fps(gl_ctx, face_mm):
    result = render_benchmark(320, 240, frames=4, ctx=gl_ctx, vertices_mm=face_mm)
    assert result.fps > 0 and result.frames == 4 and result.p95_ms >= 0


def test_shader_includes_are_expanded():
    from realtime.render.programs import shader_source

    for name in ("accessory", "lens"):
        source = shader_source(name)
        assert "#include" not in source
        assert source.count("gl_Position = m_proj * eye;") == 1
        assert source.startswith("#version 330 core")
