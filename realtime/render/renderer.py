"""The render stage: camera frame, head occluder, accessories, mesh views, 3D view and HUD.

``Renderer(ctx, RenderOptions)`` draws one composite per call into its own offscreen
framebuffer, so the live window (which copies it to the screen), ``selfie3d demo``, the tests
and recording all get the same pixels. Passes, in order, inside the camera viewport:

1. background: the camera frame;
2. occluder: the head proxy (face + skull + ears) into depth only, so glasses temples (any
   accessory's parts) vanish behind the head;
3. mesh view: wireframe, shaded clay or camera-textured face (``ViewMode``);
4. the HUD's status, notices and details, in the corner of the camera image that the face,
   the accessory and the 3D inset leave free (``choose_hud_corner``), clipped to the image;
5. the accessory's posed parts (``realtime.accessories.parts``): lit opaque parts, then
   transparent Fresnel ones (after the HUD, so they are never under it). The renderer fits
   nothing: the caller poses the parts (``realtime.accessories.dress``) and passes them in;
   their meshes stay on the GPU, one copy per mesh;

then the 3D view of the reconstruction (inset or split screen, orbiting camera) and, over
everything, the help panel.

In: ``frame_bgr (H, W, 3) uint8``, the fused face (``vertices_mm (468, 3)`` camera space,
OpenCV axes, mm), intrinsics (``fx, fy, cx, cy, width, height`` pixels), posed parts. Out:
``RenderResult(image (h, w, 3) uint8 BGR or None, render_ms)``.
"""

from __future__ import annotations

import collections
import enum
import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import moderngl
import numpy as np

from realtime import topology
from realtime.geometry import unique_edges, vertex_normals
from realtime.accessories.head_proxy import HeadProxy, build_head_proxy, fused_vertices
from realtime.accessories.parts import MeshPart, PosedPart, parts_points_mm
from realtime.render.hud import HudInfo, hud_panels, hud_scale
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

# GPU copies of accessory meshes kept at most: every built-in accessory's parts (four glasses of
# four parts, a headband of a few sizes) with room to spare.
MAX_GPU_PARTS = 64

# Polygon offset for the occluder: pushes its depth back a hair so the mesh views drawn on
# the same surface win the depth test without z-fighting.
_OCCLUDER_OFFSET = (1.0, 2.0)


# Where the HUD's stack of panels may go, in order of preference: the bottom of the image is
# where a face rarely is (chin and shoulders at worst), and the left leaves the right side to
# the 3D inset.
HUD_CORNERS = ("bottom-left", "bottom-right", "top-left", "top-right")
# Gap between stacked HUD panels, pixels at 720 output lines.
HUD_STACK_GAP_PX = 4
# The stack wraps short of the 3D inset when that leaves it at least this fraction of the
# camera image's width; else it wraps to the whole width and takes a corner the inset leaves.
HUD_MIN_ROOM_FRACTION = 0.5


def camera_box_px(camera_rect: tuple[int, int, int, int], output_height: int) -> tuple[int, int, int, int]:
    """A GL viewport ``(x, y, w, h)`` (y from the bottom, ``fit_viewport``) as a pixel box
    ``(x0, y0, x1, y1)`` with y down and the far edges exclusive."""
    left, bottom, w, h = camera_rect
    top = output_height - bottom - h
    return left, top, left + w, top + h


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def hud_stack_origins(sizes: list[tuple[int, int]], corner: str, camera_box: tuple[int, int, int, int],
                      margin: int, gap: int) -> list[tuple[int, int]]:
    """Top-left pixels (x, y down) of HUD panels stacked from ``corner`` of the camera image
    outwards: the first panel in the corner, each next one above it (bottom corners) or below
    it (top corners), all aligned to the corner's side.

    ``sizes``: ``(w, h)`` per panel; ``camera_box``: the camera image ``(x0, y0, x1, y1)`` in
    the output (``camera_box_px``): the panels sit on the image, never on the black bars of a
    pillarboxed or letterboxed source; ``margin``: pixels from the image's edges; ``gap``:
    pixels between panels.
    """
    if corner not in HUD_CORNERS:
        raise ValueError(f"corner: expected one of {', '.join(HUD_CORNERS)}, got {corner!r}")
    x0, y0, x1, y1 = camera_box
    vertical, horizontal = corner.split("-")
    origins, offset = [], 0
    for w, h in sizes:
        x = x0 + margin if horizontal == "left" else x1 - margin - w
        y = y1 - margin - offset - h if vertical == "bottom" else y0 + margin + offset
        origins.append((x, y))
        offset += h + gap
    return origins


def stack_box(sizes: list[tuple[int, int]], corner: str, camera_box: tuple[int, int, int, int], margin: int,
              gap: int) -> tuple[int, int, int, int]:
    """The box ``(x0, y0, x1, y1)`` a stack of panels (``hud_stack_origins``) covers."""
    origins = hud_stack_origins(sizes, corner, camera_box, margin, gap)
    xs0 = [x for x, _ in origins]
    ys0 = [y for _, y in origins]
    return (min(xs0), min(ys0), max(x + w for (x, _), (w, _) in zip(origins, sizes)),
            max(y + h for (_, y), (_, h) in zip(origins, sizes)))


def choose_hud_corner(sizes: list[tuple[int, int]], camera_box: tuple[int, int, int, int],
                      keep_out: list[list[tuple[float, float, float, float]]], margin: int, gap: int,
                      previous: str | None = None) -> str:
    """The corner of the camera image for the HUD's stack (``hud_stack_origins``).

    ``keep_out``: levels of boxes ``(x0, y0, x1, y1)`` the stack must not cover, strictest
    first (e.g. face, glasses and 3D inset; then glasses and inset); the first level some
    corner satisfies decides, and within it ``previous`` wins over ``HUD_CORNERS`` order, so
    the HUD does not hop between corners while both are free. Where no corner satisfies any
    level, ``previous`` (or the first corner) stays: the renderer draws the glasses after
    the HUD, so even then the glasses are never covered.
    """
    order = ([previous] if previous in HUD_CORNERS else []) + [c for c in HUD_CORNERS if c != previous]
    for boxes in keep_out:
        for corner in order:
            box = stack_box(sizes, corner, camera_box, margin, gap)
            if box[0] < camera_box[0] or box[1] < camera_box[1] or box[2] > camera_box[2] or box[3] > camera_box[3]:
                continue  # taller or wider than the image: try the next level's looser rules
            if not any(_overlaps(box, other) for other in boxes):
                return corner
    return order[0]


def hud_room_px(camera_box: tuple[int, int, int, int], inset_box: tuple[int, int, int, int] | None,
                margin: int) -> int:
    """How wide the HUD's stacked panels may be, pixels: the camera image less the margins,
    and less the 3D inset where it overlaps the image's side (when that leaves at least
    ``HUD_MIN_ROOM_FRACTION`` of the width)."""
    full = camera_box[2] - camera_box[0] - 2 * margin
    if inset_box is not None and inset_box[0] < camera_box[2] and inset_box[2] > camera_box[0]:
        beside = inset_box[0] - camera_box[0] - 2 * margin
        if beside >= HUD_MIN_ROOM_FRACTION * full:
            return max(1, beside)
    return max(1, full)


def projected_box_px(points_mm: np.ndarray, intrinsics: Any, camera_box: tuple[int, int, int, int],
                     near_mm: float) -> tuple[float, float, float, float] | None:
    """Output-pixel box ``(x0, y0, x1, y1)`` (y down) of camera-space points ``(n, 3)`` mm
    (OpenCV axes) seen through ``intrinsics`` and shown in ``camera_box``; None when no point
    is in front of the camera. ``u = fx X / Z + cx``, then the image's scale into the box."""
    points = np.asarray(points_mm, np.float64).reshape(-1, 3)
    points = points[points[:, 2] > near_mm]
    if len(points) == 0:
        return None
    u = intrinsics.fx * points[:, 0] / points[:, 2] + intrinsics.cx
    v = intrinsics.fy * points[:, 1] / points[:, 2] + intrinsics.cy
    sx = (camera_box[2] - camera_box[0]) / float(intrinsics.width)
    sy = (camera_box[3] - camera_box[1]) / float(intrinsics.height)
    return (camera_box[0] + float(u.min()) * sx, camera_box[1] + float(v.min()) * sy,
            camera_box[0] + float(u.max()) * sx, camera_box[1] + float(v.max()) * sy)


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
        self.programs = {name: load_program(ctx, name) for name in ("background", "mesh", "accessory", "lens", "overlay")}
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
        self._hud_layout: list[tuple[int, int, str]] = []  # (w, h, role) per overlay texture
        self._hud_corner: str | None = None
        self.hud_boxes: dict[str, tuple[int, int, int, int]] = {}  # role -> output pixel box, last frame
        self._proxy_mesh: _GpuMesh | None = None
        self._face_wire: _GpuMesh | None = None
        self._n_proxy_tris = 0
        self._n_face_indices = 0
        # GPU copies of accessory meshes, keyed by the mesh (holding it keeps id() unique), least
        # recently drawn first.
        self._part_meshes: collections.OrderedDict[int, tuple[MeshPart, _GpuMesh]] = collections.OrderedDict()
        self.orbit_yaw_rad = math.radians(40.0)
        self.orbit_pitch_rad = math.radians(8.0)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        for _, mesh in self._part_meshes.values():
            mesh.release()
        self._part_meshes.clear()
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
        parts: Sequence[PosedPart] = (),
        hud: HudInfo | None = None,
        view3d: View3D = View3D.INSET,
        read: bool = True,
        proxy: HeadProxy | None = None,
    ) -> RenderResult:
        """Draw one composite into the offscreen framebuffer (``self.fbo``).

        ``frame_bgr``: ``(H, W, 3) uint8`` with ``H, W`` = intrinsics height, width;
        ``fused``: None (no face), an object with ``vertices_mm``, or a ``(468, 3)`` array,
        camera space mm; ``intrinsics``: anything with ``fx, fy, cx, cy, width, height``.
        ``parts``: an accessory's posed parts (``realtime.accessories.dress``), drawn on the face.
        ``proxy``: the head proxy of ``fused`` when the caller has built it (``dress`` does), else
        it is built here. ``read``: read the composite back into ``RenderResult.image``.
        """
        start = time.perf_counter()
        o = self.options
        frame_bgr = check_shape("frame_bgr", frame_bgr, (int(intrinsics.height), int(intrinsics.width), 3))
        vertices = fused_vertices(fused, o.near_mm)
        if vertices is None:
            proxy = None
        elif proxy is None:
            proxy = build_head_proxy(vertices, self.face_triangles)
        parts = tuple(parts) if proxy is not None else ()

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
        draw_hud = None
        self.hud_boxes = {}
        if hud is not None:
            inset_box = camera_box_px(view_area, o.height) if view3d == View3D.INSET else None
            keep_out = self._hud_keep_out(vertices if proxy is not None else None, parts, intrinsics,
                                          camera_rect, inset_box)
            self._prepare_hud(hud, camera_rect, inset_box)

            def draw_hud():
                self._draw_hud_stack(camera_rect, keep_out)

        self._camera_view(camera_rect, proj, proxy, view_mode, parts, paused=bool(hud and hud.paused),
                          draw_hud=draw_hud)
        if view_area is not None:
            self._orbit_view(view_area, proj, proxy, view_mode, parts)
        ctx.viewport = full
        ctx.scissor = None
        if hud is not None:
            ctx.disable(moderngl.DEPTH_TEST)
            self._draw_overlays("help", lambda w, h: ((o.width - w) // 2, (o.height - h) // 2))

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

    def _part_gpu(self, mesh: MeshPart) -> _GpuMesh:
        """The GPU copy of an accessory mesh, made on first use; beyond ``MAX_GPU_PARTS`` the
        least recently drawn is released (an accessory that makes new meshes cannot fill the GPU)."""
        key = id(mesh)
        if key in self._part_meshes:
            self._part_meshes.move_to_end(key)
        else:
            self._part_meshes[key] = (mesh, _static_mesh(self.ctx, mesh))
            while len(self._part_meshes) > MAX_GPU_PARTS:
                _, (_, old) = self._part_meshes.popitem(last=False)
                old.release()
        return self._part_meshes[key][1]

    # ------------------------------------------------------------------ passes
    def _camera_view(self, rect, proj, proxy, view_mode, parts, paused: bool, draw_hud=None) -> None:
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
            if draw_hud is not None:
                draw_hud()
                ctx.disable(moderngl.DEPTH_TEST)
            return
        view = OPENCV_TO_GL
        self._draw_scene(proj, view, proj @ view, view_mode, parts, occlude=True, in_3d=False,
                         before_parts=draw_hud)

    def _orbit_view(self, area, camera_proj, proxy, view_mode, parts) -> None:
        ctx, o = self.ctx, self.options
        ctx.viewport = area
        ctx.scissor = area
        ctx.clear(*o.background_3d, 1.0, depth=1.0)
        if proxy is None:
            return
        # Orbit about the middle of the head: the face centroid moved a third of the way in.
        target = proxy.vertices[:topology.N_VERTICES].mean(axis=0) + proxy.face_axes[2] * 40.0
        # A tall viewport (split screen) narrows the horizontal field: back off to keep the head in.
        distance = o.orbit_distance_mm * max(1.0, 1.1 * area[3] / area[2])
        view = orbit_view(target, self.orbit_yaw_rad, self.orbit_pitch_rad, distance)
        proj = perspective(math.radians(o.orbit_fov_deg), area[2] / area[3], o.near_mm, o.far_mm)
        mode = ViewMode.SHADED if view_mode == ViewMode.TRYON else view_mode
        self._draw_scene(proj, view, camera_proj @ OPENCV_TO_GL, mode, parts, occlude=False, in_3d=True)

    def _set_common(self, program: moderngl.Program, proj: np.ndarray, view: np.ndarray, model: np.ndarray) -> None:
        program["m_proj"].write(np.ascontiguousarray(proj.T, dtype=np.float32).tobytes())
        program["m_view"].write(np.ascontiguousarray(view.T, dtype=np.float32).tobytes())
        program["m_model"].write(np.ascontiguousarray(model.T, dtype=np.float32).tobytes())
        if "u_light_dir" in program:
            program["u_light_dir"].value = self.options.light_dir

    def _draw_scene(self, proj, view, tex_matrix, view_mode, parts, occlude: bool, in_3d: bool,
                    before_parts=None) -> None:
        """The head (occluder or 3D shell), the mesh view and the accessory's parts.
        ``before_parts``: called after the mesh view and before the parts (the HUD: so the
        accessory is drawn over it, never under it); it must leave the viewport, scissor and
        depth test as found."""
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

        if before_parts is not None:
            before_parts()
        if parts:
            self._draw_parts(proj, view, parts)
        ctx.disable(moderngl.DEPTH_TEST | moderngl.BLEND)

    def _draw_parts(self, proj, view, parts: Sequence[PosedPart]) -> None:
        """Posed parts, whatever accessory they come from: opaque ones lit (``accessory``
        program), then transparent ones blended over them (``lens``: premultiplied, Fresnel,
        depth not written), each in the order given."""
        ctx = self.ctx
        ctx.depth_func = "<"
        prog = self.programs["accessory"]
        for part in parts:
            if part.material.kind != "opaque":
                continue
            material = part.material
            prog["u_color"].value = tuple(material.color)
            prog["u_metal"].value = 1.0 if material.metal else 0.0
            prog["u_shininess"].value = material.shininess
            self._set_common(prog, proj, view, part.model_f32())
            self._part_gpu(part.mesh).vao(prog).render(moderngl.TRIANGLES)
        lens = self.programs["lens"]
        for part in parts:
            if part.material.kind != "transparent":
                continue
            material = part.material
            self._set_common(lens, proj, view, part.model_f32())
            lens["u_tint"].value = tuple(material.tint)
            lens["u_opacity"].value = float(material.opacity)
            lens["u_f0"].value = material.fresnel_f0
            ctx.enable(moderngl.BLEND)
            ctx.blend_func = moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA  # premultiplied
            self.fbo.depth_mask = False
            self._part_gpu(part.mesh).vao(lens).render(moderngl.TRIANGLES)
            self.fbo.depth_mask = True
            ctx.disable(moderngl.BLEND)

    # ------------------------------------------------------------------ HUD
    def _hud_keep_out(self, vertices, parts, intrinsics, camera_rect, inset_box) -> list[list[tuple]]:
        """Boxes the HUD's stack must not cover, strictest level first (``choose_hud_corner``):
        the face, the accessory and the 3D inset; then the accessory and the inset; then the inset."""
        o = self.options
        box = camera_box_px(camera_rect, o.height)
        margin = o.inset_margin_px

        def grown(b):  # a margin of clear image around what must stay visible
            return None if b is None else (b[0] - margin, b[1] - margin, b[2] + margin, b[3] + margin)

        inset = [inset_box] if inset_box is not None else []
        parts_box = face_box = None
        if vertices is not None:
            face_box = grown(projected_box_px(vertices, intrinsics, box, o.near_mm))
            if parts:
                parts_box = grown(projected_box_px(parts_points_mm(parts), intrinsics, box, o.near_mm))
        strict = [b for b in (face_box, parts_box) if b is not None] + inset
        return [strict, [b for b in (parts_box,) if b is not None] + inset, inset]

    def _prepare_hud(self, hud: HudInfo, camera_rect, inset_box) -> None:
        """Rasterise the HUD's panels when what they say changed (numbers at most every
        ``HUD_REFRESH_S``) or the room they wrap in did."""
        o = self.options
        room = hud_room_px(camera_box_px(camera_rect, o.height), inset_box, o.inset_margin_px)
        key = (hud.messages, hud.show_help, hud.glasses, hud.view, hud.tracking, hud.paused, hud.provider,
               hud.mode, hud.bust, hud.extra, hud.face, room)
        now = time.perf_counter()
        if key != self._hud_key or now - self._hud_time >= HUD_REFRESH_S:
            self._hud_key, self._hud_time = key, now
            self._upload_hud(hud_panels(hud, o.height, max_width_px=room))

    def _draw_hud_stack(self, camera_rect, keep_out) -> None:
        """The status, notice and details panels in a corner of the camera image, clipped to it.
        Called inside the camera pass (viewport and scissor on the camera image, depth test on)."""
        ctx, o = self.ctx, self.options
        sizes = [(w, h) for w, h, role in self._hud_layout if role != "help"]
        if sizes:
            box = camera_box_px(camera_rect, o.height)
            gap = max(1, int(round(HUD_STACK_GAP_PX * hud_scale(o.height))))
            self._hud_corner = choose_hud_corner(sizes, box, keep_out, o.inset_margin_px, gap, self._hud_corner)
            origins = iter(hud_stack_origins(sizes, self._hud_corner, box, o.inset_margin_px, gap))
            ctx.disable(moderngl.DEPTH_TEST)
            ctx.viewport = (0, 0, o.width, o.height)
            ctx.scissor = camera_rect  # nothing on the black bars, whatever the text's length
            self._draw_overlays(None, lambda w, h: next(origins), exclude="help")
            ctx.viewport = ctx.scissor = camera_rect  # as the camera pass had them
            ctx.enable(moderngl.DEPTH_TEST)

    def _draw_overlays(self, role: str | None, origin, exclude: str | None = None) -> None:
        """Draw the overlay textures of ``role`` (None: all but ``exclude``) at
        ``origin(w, h) -> (x, y)`` top-left output pixels, alpha blended."""
        ctx, o = self.ctx, self.options
        chosen = [(tex, layout) for tex, layout in zip(self._overlay_textures, self._hud_layout)
                  if (role is None and layout[2] != exclude) or layout[2] == role]
        if not chosen:
            return
        ctx.enable(moderngl.BLEND)
        ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        prog = self.programs["overlay"]
        prog["u_image"].value = 0
        for tex, (w, h, panel_role) in chosen:
            tex.use(0)
            x0, y_top = origin(w, h)
            self.hud_boxes[panel_role] = (x0, y_top, x0 + w, y_top + h)
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
        for rgba, role in panels:
            h, w = rgba.shape[:2]
            tex = self.ctx.texture((w, h), 4, np.ascontiguousarray(rgba).tobytes(), alignment=1)
            tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
            self._overlay_textures.append(tex)
            self._hud_layout.append((w, h, role))
