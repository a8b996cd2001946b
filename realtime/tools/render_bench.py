"""``render_benchmark``: frames per second of the full try-on composite (``selfie3d bench --render``).

Renders the built-in demo clip with a fused-looking face, glasses, the occluder, the 3D inset
and the HUD, reading every frame back (what recording costs), and reports the rate.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from realtime import topology

# Assumed pupillary distance that fixes the metric scale of the sample face (adult mean).
SAMPLE_PD_MM = 63.0
# Horizontal field of view of the sample camera: a typical laptop webcam.
SAMPLE_HFOV_DEG = 60.0
# Frames rendered before timing starts: shader compilation and first uploads.
WARMUP_FRAMES = 5


@dataclass(frozen=True)
class RenderBenchmarkResult:
    fps: float          # composites per second, read back included
    mean_ms: float      # mean wall time per composite, ms
    p95_ms: float       # 95th percentile, ms
    width: int
    height: int
    frames: int
    renderer: str       # GL_RENDERER, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"


def sample_face_mm(frame_bgr: np.ndarray) -> np.ndarray:
    """A face mesh ``(468, 3) float32`` in camera space (mm) for ``frame_bgr (H, W, 3) uint8``.

    MediaPipe's face mesh on the frame, unprojected through a 60-degree pinhole camera at the
    depth where the pupils are ``SAMPLE_PD_MM`` apart. For benchmarks and demos without fusion.
    """
    import cv2
    import mediapipe as mp

    h, w = frame_bgr.shape[:2]
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1) as mesh:
        found = mesh.process(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))
    if not found.multi_face_landmarks:
        raise ValueError("sample_face_mm: no face in the frame")
    lm = np.array([[p.x, p.y, p.z] for p in found.multi_face_landmarks[0].landmark])
    fx = (w / 2.0) / math.tan(math.radians(SAMPLE_HFOV_DEG) / 2.0)
    px = lm[:, :2] * (w, h)
    z_px = lm[:, 2] * w  # MediaPipe z is in the units of normalised x
    # The refined mesh's iris centres: the first point of each eye's iris after the face vertices.
    right_iris, left_iris = topology.N_VERTICES, topology.N_VERTICES + topology.N_IRIS_POINTS
    depth = fx * SAMPLE_PD_MM / np.linalg.norm(px[right_iris] - px[left_iris])
    z = depth + z_px * depth / fx  # Z = Z0 + dz, with dz in pixels at depth Z0
    x = (px[:, 0] - w / 2.0) * z / fx  # X = (u - cx) Z / fx
    y = (px[:, 1] - h / 2.0) * z / fx
    return np.stack([x, y, z], axis=1)[:topology.N_VERTICES].astype(np.float32)


def render_benchmark(width: int = 1280, height: int = 720, frames: int = 90, ctx=None,
                     vertices_mm: np.ndarray | None = None) -> RenderBenchmarkResult:
    """Time the full composite at ``width`` x ``height`` for ``frames`` frames.

    ``ctx``: a ``moderngl.Context`` (default: a new headless one); ``vertices_mm``: the face
    to draw, ``(468, 3)`` mm (default: ``sample_face_mm`` of the demo clip's first frame).
    """
    from realtime.camera import CameraIntrinsics
    from realtime.stages.democlip import DemoClipOptions, render_demo_frame
    from realtime.accessories import dress
    from realtime.accessories import library as accessory_library
    from realtime.render import HudInfo, Renderer, RenderOptions, View3D, ViewMode, create_headless_context

    clip = DemoClipOptions(motion=False)
    frame = render_demo_frame(0, clip)
    if vertices_mm is None:
        vertices_mm = sample_face_mm(frame)
    intrinsics = CameraIntrinsics.default(clip.width, clip.height, SAMPLE_HFOV_DEG)
    ctx = ctx or create_headless_context()
    glasses = accessory_library()[:4]  # the four glasses of the library
    times = []
    with Renderer(ctx, RenderOptions(width, height)) as renderer:
        for k in range(frames + WARMUP_FRAMES):
            hud = HudInfo(fps=30.0, timings_ms={"render": times[-1] if times else 0.0}, provider="bench",
                          pd_mm=SAMPLE_PD_MM, tracking="tracking", glasses=glasses[k % 4].label)
            start = time.perf_counter()
            # Fitting the accessory is part of a frame's composite, as the renderer once did it.
            dressed = dress(vertices_mm, glasses[k % 4], renderer.face_triangles)
            renderer.render(frame, vertices_mm, intrinsics, ViewMode.TRYON, dressed.parts, hud, View3D.INSET, read=True,
                            proxy=dressed.proxy)
            if k >= WARMUP_FRAMES:
                times.append((time.perf_counter() - start) * 1e3)
    t = np.array(times)
    return RenderBenchmarkResult(
        fps=1000.0 / float(t.mean()), mean_ms=float(t.mean()), p95_ms=float(np.percentile(t, 95)),
        width=width, height=height, frames=frames, renderer=ctx.info.get("GL_RENDERER", "?"),
    )
