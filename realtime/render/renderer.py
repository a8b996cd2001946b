"""The render stage: camera frame, head occluder, glasses, mesh views, 3D view and HUD.

``Renderer(ctx, RenderOptions)`` draws one composite per call into its own offscreen
framebuffer, so the live window (which copies it to the screen), ``selfie3d demo``, the tests
and recording all get the same pixels. Passes, in order, inside the camera viewport:

1. background: the camera frame;
2. occluder: the head proxy (face + skull + ears) into depth only, so glasses temples vanish
   behind the head;
3. mesh view: wireframe, shaded clay or camera-textured face (``ViewMode``);
4. glasses: lit opaque frame and temples, then transparent Fresnel lenses;

then the 3D view of the reconstruction (inset or split screen, orbiting camera) and the HUD.

In: ``frame_bgr (H, W, 3) uint8``, the fused face (``vertices_mm (468, 3)`` camera space,
OpenCV axes, mm), intrinsics (``fx, fy, cx, cy, width, height`` pixels). Out:
``RenderResult(image (h, w, 3) uint8 BGR or None, render_ms)``.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass
from typing import Any

import cv2
import moderngl
import numpy as np

from realtime.glasses import GlassesModel, MeshPart, fit_glasses
from realtime.head_proxy import HeadProxy, build_head_proxy
from realtime.render.geometry import unique_edges, vertex_normals
from realtime.render.hud import HudInfo, hud_panels
from realtime.render.programs import load_program
from realtime.render.projection import OPENCV_TO_GL, fit_viewport, orbit_view, perspective, projection_from_intrinsics
from realtime.shapes import check_shape


class ViewMode(str, enum.Enum):
    """How the reconstruction is drawn over the camera frame (M cycles)."""

    TRYON = "try-on"
    WIREFRAME = "wireframe"
    SHADED = "shaded"
    TEXTURED = "textured"

    def next(self) -> "ViewMode":
        members = list(ViewMode)
        return members[(members.index(self) + 1) % len(members)]


class View3D(str, enum.Enum):
    """Where the orbiting 3D view of the reconstruction goes (V cycles)."""

    INSET = "inset"
    SPLIT = "split"
    OFF = "off"

    def next(self) -> "View3D":
        members = list(View3D)
        return members[(members.index(self) + 1) % len(members)]


@dataclass(frozen=True)
class RenderOptions:
    width: int = 1280   # output size, pixels
    height: int = 720
    # Depth range of the camera view, mm: faces sit 0.25-1.5 m from a webcam; 10 mm / 5 m
    # keeps 24-bit depth resolution far below a millimetre at face distance.
    near_mm: float = 10.0
    far_mm: float = 5000.0
    occluder: bool = True        # draw the head proxy into depth (False: debug, temples show through)
    inset_fraction: float = 0.36  # inset 3D view height as a fraction of the output height
    inset_margin_px: int = 12
    orbit_distance_mm: float = 520.0  # 3D view camera distance from the head centre
    orbit_fov_deg: float = 30.0
    # Wireframe over the image: bright enough on skin, thin lines stay readable.
    wire_color: tuple[float, float, float] = (0.25, 1.0, 0.55)
    clay_color: tuple[float, float, float] = (0.82, 0.78, 0.74)
    shell_color: tuple[float, float, float] = (0.45, 0.52, 0.62)  # back of head in the 3D view
    shaded_alpha: float = 0.9   # shaded clay over the image, lets the frame show through a bit
    background_3d: tuple[float, float, float] = (0.11, 0.12, 0.14)
    # Light direction in eye space (towards the light): above, left, in front, like a window.
    light_dir: tuple[float, float, float] = (-0.35, 0.55, 0.75)


@dataclass(frozen=True)
class RenderResult:
    """``image``: ``(height, width, 3) uint8`` BGR, top row first, or None when not read
    back; ``render_ms``: wall time of the call in milliseconds."""

    image: np.ndarray | None
    render_ms: float


# HUD numbers (FPS, timings) refresh at most this often, seconds: readable, and the text
# rasterisation and upload (~3 ms at 720p on a CPU) are not paid every frame.
HUD_REFRESH_S = 0.25

# Polygon offset for the occluder: pushes its depth back a hair so the mesh views drawn on
# the same surface win the depth test without z-fighting.
_OCCLUDER_OFFSET = (1.0, 2.0)


def hud_panel_origin(anchor: str, panel_size: tuple[int, int], camera_rect: tuple[int, int, int, int],
                     output_size: tuple[int, int], margin: int) -> tuple[int, int]:
    """Top-left pixel (x, y down) of a HUD panel in the output.

    The status and message panels sit in the camera image's corners (``top-left``,
    ``bottom-left``), not the output's: a 4:3 camera in a 16:9 window is pillarboxed, and a
    translucent backing over the black bar would not show, so the box would look shifted
    from its text. ``centre`` (help) is centred in the output. panel_size ``(w, h)``;
    camera_rect ``(x, y, w, h)`` GL convention (y from the bottom, ``fit_viewport``);
    output_size ``(w, h)``; margin: pixels from the image's edges.
    """
    w, h = panel_size
    out_w, out_h = output_size
    if anchor == "centre":
        return (out_w - w) // 2, (out_h - h) // 2
    left, bottom, _, rect_h = camera_rect
    top = out_h - bottom - rect_h
    if anchor == "top-left":
        return left + margin, top + margin
    if anchor == "bottom-left":
        return left + margin, top + rect_h - margin - h
    raise ValueError(f"anchor: expected top-left, bottom-left or centre, got {anchor!r}")


class _GpuMesh:
    """Vertex buffer (position + normal interleaved) and index buffer of one mesh."""

    def __init__(self, ctx: moderngl.Context, n_vertices: int, indices: np.ndarray, dynamic: bool,
                 shared_vbo: moderngl.Buffer | None = None):
        self.owns_vbo = shared_vbo is None
        self.vbo = ctx.buffer(reserve=n_vertices * 24, dynamic=dynamic) if shared_vbo is None else shared_vbo
        self.ibo = ctx.buffer(np.ascontiguousarray(indices, dtype=np.int32).tobytes())
        self.vaos: dict[int, moderngl.VertexArray] = {}
        self.ctx = ctx

    def write(self, vertices: np.ndarray, normals: np.ndarray) -> None:
        self.vbo.write(np.hstack([vertices, normals]).astype(np.float32).tobytes())

    def vao(self, program: moderngl.Program) -> moderngl.VertexArray:
        key = id(program)
        if key not in self.vaos:
            attrs = ["in_position"] + (["in_normal"] if "in_normal" in program else [])
            fmt = "3f 3f" if "in_normal" in program else "3f 12x"
            self.vaos[key] = self.ctx.vertex_array(program, [(self.vbo, fmt, *attrs)], self.ibo)
        return self.vaos[key]

    def release(self) -> None:
        for vao in self.vaos.values():
            vao.release()
        if self.owns_vbo:
            self.vbo.release()
        self.ibo.release()


def _static_mesh(ctx: moderngl.Context, part: MeshPart) -> _GpuMesh:
    mesh = _GpuMesh(ctx, len(part.vertices), part.triangles, dynamic=False)
    mesh.write(part.vertices, part.normals)
    return mesh


class Renderer:
    """Draws try-on composites with the ``moderngl.Context`` it is given (window or headless)."""

    def __init__(self, ctx: moderngl.Context, options: RenderOptions = RenderOptions(), face_triangles: np.ndarray | None = None):
        if face_triangles is None:
            from realtime.topology import face_triangles as load_face_triangles

            face_triangles = load_face_triangles()
        self.ctx = ctx
        self.options = options
        self.face_triangles = check_shape("face_triangles", face_triangles, (None, 3)).astype(np.int32)
        self.programs = {name: load_program(ctx, name) for name in ("background", "mesh", "glasses", "lens", "overlay")}
        self.fbo = ctx.framebuffer(
            color_attachments=[ctx.renderbuffer((options.width, options.height), 4)],
            depth_attachment=ctx.depth_renderbuffer((options.width, options.height)),
        )
        self._empty_vao = ctx.vertex_array(self.programs["background"], [])
        self._overlay_vao = ctx.vertex_array(self.programs["overlay"], [])
        self._frame_texture: moderngl.Texture | None = None
        self._overlay_textures: list[moderngl.Texture] = []
        self._hud_key = None
        self._hud_time = -math.inf
        self._hud_layout: list[tuple[int, int, str]] = []
        self._proxy_mesh: _GpuMesh | None = None
        self._face_wire: _GpuMesh | None = None
        self._n_proxy_tris = 0
        self._n_face_indices = 0
        self._glasses_cache: dict[int, tuple[GlassesModel, dict[str, Any]]] = {}
        self.orbit_yaw_rad = math.radians(40.0)
        self.orbit_pitch_rad = math.radians(8.0)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        for _, gpu in self._glasses_cache.values():
            for mesh in gpu.values():
                if mesh is not None:
                    mesh.release()
        self._glasses_cache.clear()
        for mesh in (self._proxy_mesh, self._face_wire):
            if mesh is not None:
                mesh.release()
        for tex in self._overlay_textures + ([self._frame_texture] if self._frame_texture else []):
            tex.release()
        self._overlay_textures, self._frame_texture = [], None
        self._proxy_mesh = self._face_wire = None
        self.fbo.release()
        for program in self.programs.values():
            program.release()

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ API
    def orbit(self, d_yaw_rad: float, d_pitch_rad: float) -> None:
        """Turn the 3D view camera (mouse drag); pitch is kept off the poles."""
        self.orbit_yaw_rad = (self.orbit_yaw_rad + d_yaw_rad + math.pi) % (2 * math.pi) - math.pi
        self.orbit_pitch_rad = float(np.clip(self.orbit_pitch_rad + d_pitch_rad, -1.3, 1.3))

    def render(
        self,
        frame_bgr: np.ndarray,
        fused: Any,
        intrinsics: Any,
        view_mode: ViewMode = ViewMode.TRYON,
        glasses: GlassesModel | None = None,
        hud: HudInfo | None = None,
        view3d: View3D = View3D.INSET,
        read: bool = True,
    ) -> RenderResult:
        """Draw one composite into the offscreen framebuffer (``self.fbo``).

        ``frame_bgr``: ``(H, W, 3) uint8`` with ``H, W`` = intrinsics height, width;
        ``fused``: None (no face), an object with ``vertices_mm``, or a ``(468, 3)`` array,
        camera space mm; ``intrinsics``: anything with ``fx, fy, cx, cy, width, height``.
        ``read``: read the composite back into ``RenderResult.image`` (recording, tests).
        """
        start = time.perf_counter()
        o = self.options
        frame_bgr = check_shape("frame_bgr", frame_bgr, (int(intrinsics.height), int(intrinsics.width), 3))
        vertices = None
        if fused is not None:
            vertices = fused if isinstance(fused, np.ndarray) else getattr(fused, "vertices_mm", None)
        proxy = None
        if vertices is not None:
            vertices = check_shape("vertices_mm", vertices, (468, 3), dtype=np.float32)
            # An empty fusion result (zeros) or a broken one (NaN) is "no face", not an error.
            if np.all(np.isfinite(vertices)) and np.all(vertices[:, 2] > o.near_mm):
                proxy = build_head_proxy(vertices, self.face_triangles)

        ctx = self.ctx
        self.fbo.use()
        ctx.scissor = None
        ctx.clear(0.0, 0.0, 0.0, 1.0, depth=1.0)
        self._upload_frame(frame_bgr)
        if proxy is not None:
            self._upload_proxy(proxy)

        full = (0, 0, o.width, o.height)
        if view3d == View3D.SPLIT:
            half = o.width // 2
            camera_area, view_area = (0, 0, half, o.height), (half, 0, o.width - half, o.height)
        else:
            camera_area, view_area = full, None
        camera_rect = fit_viewport(int(intrinsics.width), int(intrinsics.height), camera_area)
        if view3d == View3D.INSET:
            ih = int(round(o.height * o.inset_fraction))
            iw = int(round(ih * 4 / 3))
            view_area = (o.width - iw - o.inset_margin_px, o.inset_margin_px, iw, ih)

        proj = projection_from_intrinsics(
            intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy, intrinsics.width, intrinsics.height, o.near_mm, o.far_mm
        )
        fit = None
        if proxy is not None and glasses is not None:
            fit = fit_glasses(glasses, proxy.nose_point_mm, proxy.ear_points_mm, proxy.temple_side_mm)

        self._camera_view(camera_rect, proj, proxy, view_mode, glasses, fit, paused=bool(hud and hud.paused))
        if view_area is not None:
            self._orbit_view(view_area, proj, proxy, view_mode, glasses, fit)
        ctx.viewport = full
        ctx.scissor = None
        if hud is not None:
            self._draw_hud(hud, camera_rect)

        image = None
        if read:
            raw = self.fbo.read(components=3, alignment=1)
            rgb = np.frombuffer(raw, np.uint8).reshape(o.height, o.width, 3)
            image = cv2.cvtColor(cv2.flip(rgb, 0), cv2.COLOR_RGB2BGR)
        return RenderResult(image=image, render_ms=(time.perf_counter() - start) * 1000.0)

    # ------------------------------------------------------------------ uploads
    def _upload_frame(self, frame_bgr: np.ndarray) -> None:
        h, w = frame_bgr.shape[:2]
        if self._frame_texture is None or self._frame_texture.size != (w, h):
            if self._frame_texture is not None:
                self._frame_texture.release()
            self._frame_texture = self.ctx.texture((w, h), 3, alignment=1)
            self._frame_texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
            self._frame_texture.repeat_x = self._frame_texture.repeat_y = False
        self._frame_texture.write(np.ascontiguousarray(frame_bgr).tobytes())

    def _upload_proxy(self, proxy: HeadProxy) -> None:
        if self._proxy_mesh is None or self._n_proxy_tris != len(proxy.triangles):
            if self._proxy_mesh is not None:
                self._face_wire.release()
                self._proxy_mesh.release()
            self._proxy_mesh = _GpuMesh(self.ctx, len(proxy.vertices), proxy.triangles, dynamic=True)
            # Wireframe shares the proxy's vertex buffer: its first 468 vertices are the face.
            self._face_wire = _GpuMesh(self.ctx, 0, unique_edges(self.face_triangles), dynamic=True,
                                       shared_vbo=self._proxy_mesh.vbo)
            self._n_proxy_tris = len(proxy.triangles)
        self._n_face_indices = proxy.n_face_triangles * 3
        self._proxy_mesh.write(proxy.vertices, vertex_normals(proxy.vertices, proxy.triangles))

    def _glasses_gpu(self, glasses: GlassesModel) -> dict[str, Any]:
        key = id(glasses)
        if key not in self._glasses_cache:
            gpu = {
                "front": _static_mesh(self.ctx, glasses.front),
                "lenses": _static_mesh(self.ctx, glasses.lenses) if glasses.lenses is not None else None,
                "temple_0": _static_mesh(self.ctx, glasses.temples[0]) if glasses.temples else None,
                "temple_1": _static_mesh(self.ctx, glasses.temples[1]) if glasses.temples else None,
            }
            self._glasses_cache[key] = (glasses, gpu)  # holding the model keeps id() unique
        return self._glasses_cache[key][1]

    # ------------------------------------------------------------------ passes
    def _camera_view(self, rect, proj, proxy, view_mode, glasses, fit, paused: bool) -> None:
        ctx = self.ctx
        ctx.viewport = rect
        ctx.scissor = rect
        ctx.disable(moderngl.DEPTH_TEST | moderngl.BLEND | moderngl.CULL_FACE)
        bg = self.programs["background"]
        self._frame_texture.use(0)
        bg["u_image"].value = 0
        bg["u_dim"].value = 0.6 if paused else 1.0
        self._empty_vao.render(moderngl.TRIANGLE_STRIP, vertices=4)
        if proxy is None:
            return
        view = OPENCV_TO_GL
        self._draw_scene(proj, view, proj @ view, view_mode, glasses, fit, occlude=True, in_3d=False)

    def _orbit_view(self, area, camera_proj, proxy, view_mode, glasses, fit) -> None:
        ctx, o = self.ctx, self.options
        ctx.viewport = area
        ctx.scissor = area
        ctx.clear(*o.background_3d, 1.0, depth=1.0)
        if proxy is None:
            return
        # Orbit about the middle of the head: the face centroid moved a third of the way in.
        target = proxy.vertices[:468].mean(axis=0) + proxy.face_axes[2] * 40.0
        # A tall viewport (split screen) narrows the horizontal field: back off to keep the head in.
        distance = o.orbit_distance_mm * max(1.0, 1.1 * area[3] / area[2])
        view = orbit_view(target, self.orbit_yaw_rad, self.orbit_pitch_rad, distance)
        proj = perspective(math.radians(o.orbit_fov_deg), area[2] / area[3], o.near_mm, o.far_mm)
        mode = ViewMode.SHADED if view_mode == ViewMode.TRYON else view_mode
        self._draw_scene(proj, view, camera_proj @ OPENCV_TO_GL, mode, glasses, fit, occlude=False, in_3d=True)

    def _set_common(self, program: moderngl.Program, proj: np.ndarray, view: np.ndarray, model: np.ndarray) -> None:
        program["m_proj"].write(np.ascontiguousarray(proj.T, dtype=np.float32).tobytes())
        program["m_view"].write(np.ascontiguousarray(view.T, dtype=np.float32).tobytes())
        program["m_model"].write(np.ascontiguousarray(model.T, dtype=np.float32).tobytes())
        if "u_light_dir" in program:
            program["u_light_dir"].value = self.options.light_dir

    def _draw_scene(self, proj, view, tex_matrix, view_mode, glasses, fit, occlude: bool, in_3d: bool) -> None:
        ctx, o = self.ctx, self.options
        mesh_prog = self.programs["mesh"]
        identity = np.eye(4, dtype=np.float32)
        self._set_common(mesh_prog, proj, view, identity)
        mesh_prog["m_tex"].write(np.ascontiguousarray(tex_matrix.T, dtype=np.float32).tobytes())
        self._frame_texture.use(0)
        mesh_prog["u_image"].value = 0
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.depth_func = "<="
        proxy_vao = self._proxy_mesh.vao(mesh_prog)
        n_face = self._n_face_indices

        # Occluder / head: depth only over the camera image; shaded in the 3D view.
        if in_3d:
            mesh_prog["u_mode"].value = 1
            mesh_prog["u_color"].value = o.shell_color
            mesh_prog["u_alpha"].value = 1.0
            proxy_vao.render(moderngl.TRIANGLES, vertices=self._proxy_mesh.ibo.size // 4 - n_face, first=n_face)
        if occlude or view_mode == ViewMode.WIREFRAME:
            ctx.polygon_offset = _OCCLUDER_OFFSET
            mesh_prog["u_mode"].value = 0
            mesh_prog["u_color"].value = (0.0, 0.0, 0.0)
            mesh_prog["u_alpha"].value = 1.0
            # Depth only: blending (0, 1) keeps the colour; a colour mask would need fbo.use(),
            # which resets the viewport.
            ctx.enable(moderngl.BLEND)
            ctx.blend_func = moderngl.ZERO, moderngl.ONE
            if occlude and o.occluder:
                proxy_vao.render(moderngl.TRIANGLES)
            else:  # the face alone hides the far side of its own wireframe
                proxy_vao.render(moderngl.TRIANGLES, vertices=n_face)
            ctx.disable(moderngl.BLEND)
            ctx.polygon_offset = (0.0, 0.0)

        if view_mode == ViewMode.WIREFRAME:
            if in_3d:  # clay under the wires so the 3D view reads as a surface
                mesh_prog["u_mode"].value = 1
                mesh_prog["u_color"].value = tuple(c * 0.5 for c in o.clay_color)
                proxy_vao.render(moderngl.TRIANGLES, vertices=n_face)
            mesh_prog["u_mode"].value = 0
            mesh_prog["u_color"].value = o.wire_color
            mesh_prog["u_alpha"].value = 1.0
            self._face_wire.vao(mesh_prog).render(moderngl.LINES)
        elif view_mode in (ViewMode.SHADED, ViewMode.TEXTURED):
            alpha = 1.0 if in_3d else (o.shaded_alpha if view_mode == ViewMode.SHADED else 1.0)
            mesh_prog["u_mode"].value = 1 if view_mode == ViewMode.SHADED else 2
            mesh_prog["u_color"].value = o.clay_color
            mesh_prog["u_alpha"].value = alpha
            if alpha < 1.0:
                ctx.enable(moderngl.BLEND)
                ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
            proxy_vao.render(moderngl.TRIANGLES, vertices=n_face)
            ctx.disable(moderngl.BLEND)

        if glasses is not None and fit is not None:
            self._draw_glasses(proj, view, glasses, fit)
        ctx.disable(moderngl.DEPTH_TEST | moderngl.BLEND)

    def _draw_glasses(self, proj, view, glasses: GlassesModel, fit) -> None:
        ctx = self.ctx
        gpu = self._glasses_gpu(glasses)
        material = glasses.material
        prog = self.programs["glasses"]
        model = fit.model.astype(np.float32)
        ctx.depth_func = "<"
        prog["u_color"].value = tuple(material.color)
        prog["u_metal"].value = 1.0 if material.metal else 0.0
        prog["u_shininess"].value = material.shininess
        self._set_common(prog, proj, view, model)
        gpu["front"].vao(prog).render(moderngl.TRIANGLES)
        for k in (0, 1):
            if gpu[f"temple_{k}"] is not None:
                self._set_common(prog, proj, view, model @ fit.temples[k].astype(np.float32))
                gpu[f"temple_{k}"].vao(prog).render(moderngl.TRIANGLES)
        if gpu["lenses"] is not None:
            lens = self.programs["lens"]
            self._set_common(lens, proj, view, model)
            lens["u_tint"].value = tuple(material.lens_tint)
            lens["u_opacity"].value = float(material.lens_opacity)
            lens["u_f0"].value = 0.04  # normal-incidence reflectance of glass / CR-39 (n ~ 1.5)
            ctx.enable(moderngl.BLEND)
            ctx.blend_func = moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA  # premultiplied
            self.fbo.depth_mask = False
            gpu["lenses"].vao(lens).render(moderngl.TRIANGLES)
            self.fbo.depth_mask = True
            ctx.disable(moderngl.BLEND)

    def _draw_hud(self, hud: HudInfo, camera_rect: tuple[int, int, int, int]) -> None:
        ctx, o = self.ctx, self.options
        # Text that changes meaning (messages, help, mode) redraws at once; numbers at most
        # every HUD_REFRESH_S.
        key = (hud.messages, hud.show_help, hud.glasses, hud.view, hud.tracking, hud.paused, hud.provider)
        now = time.perf_counter()
        if key != self._hud_key or now - self._hud_time >= HUD_REFRESH_S:
            self._hud_key, self._hud_time = key, now
            self._upload_hud(hud_panels(hud, o.height))
        ctx.enable(moderngl.BLEND)
        ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        prog = self.programs["overlay"]
        prog["u_image"].value = 0
        for tex, (w, h, anchor) in zip(self._overlay_textures, self._hud_layout):
            tex.use(0)
            x0, y_top = hud_panel_origin(anchor, (w, h), camera_rect, (o.width, o.height), o.inset_margin_px)
            # Pixel rect (y down) -> NDC.
            nx0, nx1 = 2.0 * x0 / o.width - 1.0, 2.0 * (x0 + w) / o.width - 1.0
            ny1, ny0 = 1.0 - 2.0 * y_top / o.height, 1.0 - 2.0 * (y_top + h) / o.height
            prog["u_rect"].value = (nx0, ny0, nx1, ny1)
            self._overlay_vao.render(moderngl.TRIANGLE_STRIP, vertices=4)
        ctx.disable(moderngl.BLEND)

    def _upload_hud(self, panels: list[tuple[np.ndarray, str]]) -> None:
        for tex in self._overlay_textures:
            tex.release()
        self._overlay_textures, self._hud_layout = [], []
        for rgba, anchor in panels:
            h, w = rgba.shape[:2]
            tex = self.ctx.texture((w, h), 4, np.ascontiguousarray(rgba).tobytes(), alignment=1)
            tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
            self._overlay_textures.append(tex)
            self._hud_layout.append((w, h, anchor))
