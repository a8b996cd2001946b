"""Still pictures of a solid (a printable bust) for reports and the README.

One shaded "clay" view of a closed mesh in millimetres, Z up as printed, seen from the front
and a little to the side and above, framed to fit. Headless (EGL); uses the ``mesh`` program
in shaded mode.
"""

from __future__ import annotations

import math

import moderngl
import numpy as np

from realtime.geometry import creased_normals
from realtime.render.programs import create_headless_context, load_program
from realtime.render.projection import look_at, perspective
from realtime.shapes import check_shape

CLAY_RGB = (0.80, 0.74, 0.66)  # a warm grey that reads as printed PLA
BACKGROUND_RGB = (0.93, 0.94, 0.96)
# Viewing direction: 25 degrees to the side and 15 above, so the face's relief shows.
VIEW_YAW_DEG = 25.0
VIEW_PITCH_DEG = 15.0
FIELD_OF_VIEW_DEG = 30.0
LIGHT_DIRECTION_EYE = (0.4, 0.6, 0.7)  # eye space, towards the light: upper right, in front


def render_mesh_picture(vertices_mm: np.ndarray, faces: np.ndarray, size: tuple[int, int] = (800, 800),
                        ctx: moderngl.Context | None = None) -> np.ndarray:
    """A shaded picture ``(height, width, 3) uint8`` BGR of a Z-up mesh.

    vertices_mm: ``(n, 3)`` millimetres, Z up, the front facing -Y (the print frame of
    ``realtime.printing.bust``). faces: ``(f, 3)`` vertex indices.
    """
    vertices = check_shape("vertices_mm", vertices_mm, (None, 3)).astype(np.float64)
    faces = check_shape("faces", faces, (None, 3)).astype(np.int64)
    # Drawn unindexed with a normal per corner: creases (the plinth's edges, where the neck meets
    # the torso) shade crisp, the face and skull smooth.
    normals = creased_normals(vertices, faces).reshape(-1, 3)
    vertices = vertices[faces].reshape(-1, 3).astype(np.float32)
    own_context = ctx is None
    ctx = ctx or create_headless_context()
    width, height = size
    try:
        program = load_program(ctx, "mesh")
        vbo = ctx.buffer(np.hstack([vertices, normals]).astype("f4").tobytes())
        vao = ctx.vertex_array(program, [(vbo, "3f 3f", "in_position", "in_normal")])
        depth = ctx.depth_renderbuffer((width, height))
        color = ctx.renderbuffer((width, height))
        fbo = ctx.framebuffer(color_attachments=[color], depth_attachment=depth)
        fbo.use()
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.CULL_FACE)
        fbo.clear(*BACKGROUND_RGB, 1.0)

        lo, hi = vertices.min(axis=0), vertices.max(axis=0)
        centre = (lo + hi) / 2
        radius = float(np.linalg.norm(hi - lo)) / 2
        distance = radius / math.sin(math.radians(FIELD_OF_VIEW_DEG) / 2) * 1.05
        yaw, pitch = math.radians(VIEW_YAW_DEG), math.radians(VIEW_PITCH_DEG)
        # The front of the print faces -Y: the eye sits in front (negative y), up is +Z.
        eye = centre + distance * np.array([math.sin(yaw) * math.cos(pitch), -math.cos(yaw) * math.cos(pitch),
                                            math.sin(pitch)])
        view = look_at(eye, centre, np.array([0.0, 0.0, 1.0]))
        proj = perspective(math.radians(FIELD_OF_VIEW_DEG), width / height, distance * 0.1, distance * 3.0)
        program["m_proj"].write(proj.T.astype("f4").tobytes())
        program["m_view"].write(view.T.astype("f4").tobytes())
        program["m_model"].write(np.eye(4, dtype="f4").tobytes())
        if "m_tex" in program:
            program["m_tex"].write(np.eye(4, dtype="f4").tobytes())
        program["u_mode"].value = 1
        program["u_color"].value = CLAY_RGB
        program["u_alpha"].value = 1.0
        program["u_light_dir"].value = LIGHT_DIRECTION_EYE
        vao.render(moderngl.TRIANGLES)
        rgb = np.frombuffer(fbo.read(components=3), dtype=np.uint8).reshape(height, width, 3)
        image = np.ascontiguousarray(rgb[::-1, :, ::-1])  # GL rows start at the bottom; RGB -> BGR
        for item in (vao, vbo, fbo, color, depth):
            item.release()
        return image
    finally:
        if own_context:
            ctx.release()
