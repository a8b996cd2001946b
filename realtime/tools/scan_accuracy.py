"""How well the live head scan recovers a head and its hair: a rendered head with a known hair
volume turns left and right in front of the whole pipeline, and the scanned hull is compared with
the true head-and-hair surface on the sides and the back (``selfie3d bench --scan`` and the scan
acceptance test).

The head is ``synthetic_face.astronaut_head()`` with ``synthetic_face.with_hair``; it first turns
gently while fusion settles its identity (``scan.SETTLED_FRAMES``), then sweeps its yaw between
``+-yaw_deg`` while ``realtime.stages.scan.HeadScan`` carves with the fused pose refined on each
frame's landmarks and the turned frames aligned with the near-frontal ones' hull, as live (or
without the alignment; or with fusion's pose as given; or, to isolate the carving, with the pose
it was rendered at, neither refined nor aligned). Distances are radial, from the hull's centre along
its directions: the true surface's outermost point along each (``radial_envelope``) against the
hull's radius. Only directions the scan saw count, from the eyes' level up and away from the
face, split into sides (|x| > 0.6) and back (z < -0.6). The single view (the bust's head from one
frontal frame's outline) is measured the same way, as the baseline the scan must beat.

The sides are also measured where an outline can reach the surface at all ("reachable sides"):
the directions of the sides along which the true surface lies on its own convex hull (within
``REACHABLE_MM``). Elsewhere (the temples between the hairline and the ear, the hollow behind the
ear) the surface is concave and every outline passes outside it, whatever the pose: a visual hull
stays 7-9 mm out there by construction (measured with the rendered pose), and that part of the
error says nothing about the pose or the carving. Both figures are reported; the issue's
"sides" is the first.

What a snapshot exports is the bust builder's head with the scan merged in
(``realtime.printing.bust._with_scan``): the hull where it is tight, mirrored where only one side
was turned to, the gaps bridged, the single view below the ears. That head ("exported") is
measured over every direction of the sides and back from the eyes' level up, seen or not, and over
the lower back (behind the ears, from the eyes' level down to ``LOWER_BACK_ELEVATION``), where the
single view alone is furthest off.

Where the truth lies in the hull's frame is itself a fit: the hull lives in fusion's identity's
frame, and the identity is the network's face, not the rendered one (2.2 mm RMS apart after the
best similarity). The headline figures place the truth by the best 3D fit of the two faces' 468
vertices (``geometry.weighted_similarity``); but that fit's pitch depends on which part of the face
it trusts (fitting the eyes alone turns it 4.6 deg from the whole face's fit), and 3 deg of pitch
moves the hull's crown some 5 mm. So the hull and the exported head are also measured against the
truth "as the cameras place it" (``camera_alignment``: the rendered poses of the near-frontal frames
against the poses the scan carved them with): that figure leaves out the identity's own shape error,
which no scan can correct, and keeps the carving's and the poses' disagreement between frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realtime import geometry
from realtime.printing import raster, surface

ANGLE_STEP_RAD = np.radians(0.5)
"""Resolution of the angle grid ``radial_envelope`` rasterises on."""
LOWER_BACK_ELEVATION = -0.6
"""The lower back measured for the exported head reaches this far down (sin of the elevation from the
hull's centre, at the eyes' level): the nape; below it the outline is the neck's."""
REACHABLE_MM = 2.0
"""A direction counts as reachable by an outline where the true surface is within this of its convex
hull (a hull of outlines can never lie inside the convex hull; 2 mm: a quarter of the temples'
7-9 mm hollow, above the envelope's own rasterising error)."""


@dataclass(frozen=True)
class ScanSweepOptions:
    yaw_deg: float = 60.0  # the sweep's turn either way
    settle_frames: int = 100  # gentle turning (+-25 deg) while fusion settles
    sweep_frames: int = 140
    fps: float = 30.0
    distance_mm: float = 550.0
    width: int = 640
    height: int = 480
    true_pose: bool = False  # carve with the rendered pose instead of the fused one
    refine_pose: bool = True  # refine the fused pose on each frame's landmarks (``scan.landmark_pose``)
    align_turned: bool = True  # align turned frames with the near-frontal hull (``scan.consistent_turn``)


@dataclass
class ScanSweepResult:
    """RMS radial errors (mm) of the scanned hull and of the single view on the sides, the back and
    the reachable sides (``"sides"``, ``"back"``, ``"reachable_sides"``; see the module text),
    their signed means, the coverage reached, the frames carved, and the scan's cost (ms)."""

    scan_rms_mm: dict
    scan_mean_mm: dict
    single_view_rms_mm: dict
    coverage: float
    frames: int
    scan_ms: float
    exported_rms_mm: dict  # the exported head (see the module text): "sides", "back", "lower_back"
    single_view_lower_back_rms_mm: float
    camera_frame_rms_mm: dict  # against the truth as the frontal frames' cameras place it (see the module text):
    # "hull_sides", "hull_back", "exported_sides", "exported_back", "exported_lower_back"; "pitch_deg": that
    # frame's pitch from the faces' fit
    per_direction: dict | None = None  # diagnostics: directions, hull, truth, convex truth, regions

    def report(self) -> dict:
        return {"scan_rms_sides_mm": round(self.scan_rms_mm["sides"], 2),
                "scan_rms_back_mm": round(self.scan_rms_mm["back"], 2),
                "scan_mean_sides_mm": round(self.scan_mean_mm["sides"], 2),
                "scan_mean_back_mm": round(self.scan_mean_mm["back"], 2),
                "scan_rms_reachable_sides_mm": round(self.scan_rms_mm["reachable_sides"], 2),
                "scan_mean_reachable_sides_mm": round(self.scan_mean_mm["reachable_sides"], 2),
                "single_view_rms_sides_mm": round(self.single_view_rms_mm["sides"], 2),
                "single_view_rms_back_mm": round(self.single_view_rms_mm["back"], 2),
                "exported_rms_sides_mm": round(self.exported_rms_mm["sides"], 2),
                "exported_rms_back_mm": round(self.exported_rms_mm["back"], 2),
                "exported_rms_lower_back_mm": round(self.exported_rms_mm["lower_back"], 2),
                "single_view_rms_lower_back_mm": round(self.single_view_lower_back_rms_mm, 2),
                **{f"camera_frame_{key}" + ("" if key == "pitch_deg" else "_mm"): round(value, 2)
                   for key, value in self.camera_frame_rms_mm.items()},
                "scan_coverage": round(self.coverage, 3), "scan_frames": self.frames,
                "scan_ms": round(self.scan_ms, 2)}


def radial_envelope(vertices_mm: np.ndarray, faces: np.ndarray, centre_mm: np.ndarray,
                    directions: np.ndarray) -> np.ndarray:
    """Distance ``(N,)`` mm from ``centre_mm (3,)`` along unit ``directions (N, 3)`` to the outermost
    point of a closed surface (``vertices (n, 3)``, ``faces (m, 3)``) around it; NaN where the
    angle grid has no triangle. The azimuth seam is put at the front (+z), which is not measured."""
    rel = np.asarray(vertices_mm, np.float64) - centre_mm
    radius = np.linalg.norm(rel, axis=1)
    flip = np.array([1.0, 1.0, -1.0])
    angles = surface.angles(rel * flip)
    query = surface.angles(np.asarray(directions, np.float64) * flip)
    faces = np.asarray(faces)
    keep = np.ptp(angles[faces, 0], axis=1) < np.pi  # triangles across the seam
    step = ANGLE_STEP_RAD
    lo = angles.min(axis=0) - step
    shape = (int(np.ptp(angles[:, 1]) / step) + 4, int(np.ptp(angles[:, 0]) / step) + 4)
    grid = raster.front_heights(np.column_stack([angles, radius]), faces[keep], (lo[0], lo[1]), step, shape)
    return raster.sample_bilinear(grid, (query[:, 0] - lo[0]) / step, (query[:, 1] - lo[1]) / step)


def camera_alignment(true_poses: list, carved_poses: list, scale: float) -> tuple[float, np.ndarray, np.ndarray]:
    """The similarity ``identity ~ scale R truth + t`` the frames' poses imply: the truth placed in the
    hull's frame as the cameras saw it, rather than by the faces' best 3D fit (``geometry.weighted_similarity``).

    true_poses, carved_poses: per frame ``(rotation (3, 3), translation_mm (3,))``, the true head's
    rendered pose and the pose the scan carved that frame with (canonical -> camera).  scale: the
    identity's size over the truth's (the faces' fit's): a landmark fit of a face ``scale`` times
    the size puts it ``scale`` times as far away, so each frame says
    ``x_identity = R_i^T (scale (R_true_i x + t_true_i) - t_i)``. Returns ``(scale, R (3, 3), t (3,))``:
    the mean of the frames' rotations ``R_i^T R_true_i`` and the mean of their translations.
    """
    from scipy.spatial.transform import Rotation

    turns = [carved[0].T @ true[0] for true, carved in zip(true_poses, carved_poses)]
    shifts = [carved[0].T @ (scale * np.asarray(true[1]) - carved[1]) for true, carved in zip(true_poses, carved_poses)]
    return scale, Rotation.from_matrix(turns).mean().as_matrix(), np.mean(shifts, axis=0)


SETTLE_YAW_DEG = 25.0
"""The gentle turn either way while fusion settles, before the sweep's."""


def sweep_pose(frame_index: int, options: ScanSweepOptions) -> tuple[float, np.ndarray]:
    """The rendered head's pose in frame ``frame_index`` of the sweep: ``(yaw_deg, rotation (3, 3))``,
    a quarter-hertz turn of ``SETTLE_YAW_DEG`` while fusion settles, then of ``options.yaw_deg``
    either way, nodding 5 degrees."""
    from realtime.tools.synthetic_face import head_rotation

    t = frame_index / options.fps
    amplitude = options.yaw_deg if frame_index >= options.settle_frames else SETTLE_YAW_DEG
    yaw = amplitude * math.sin(2 * math.pi * 0.25 * t)
    return yaw, head_rotation(yaw, 5.0 * math.sin(t))


def _sweep_scene(options: ScanSweepOptions, ctx):
    """``(ctx, own_ctx, head, intrinsics, translation_mm)``: the GL context (a headless one made
    when ``ctx`` is None, to release after), the astronaut's head with hair, and the camera and
    distance the sweep renders it with."""
    from realtime.camera import CameraIntrinsics
    from realtime.tools.synthetic_face import astronaut_head, with_hair

    own_ctx = ctx is None
    if own_ctx:
        from realtime.render import create_headless_context

        ctx = create_headless_context()
    head, _ = with_hair(astronaut_head())
    intrinsics = CameraIntrinsics.default(options.width, options.height)
    return ctx, own_ctx, head, intrinsics, np.array([0.0, 0.0, options.distance_mm])


def write_sweep_video(path: str | Path, options: ScanSweepOptions = ScanSweepOptions(), ctx=None) -> float:
    """Write the sweep's frames (the head with hair turning, ``sweep_pose``) to the video file
    ``path`` (MP4, ``options.fps``), as a user's phone video of a head turn; returns the last
    frame's yaw, degrees."""
    import cv2

    from realtime.tools.synthetic_face import SyntheticFaceRenderer

    ctx, own_ctx, head, intrinsics, translation = _sweep_scene(options, ctx)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), options.fps, (options.width, options.height))
    yaw = 0.0
    try:
        with SyntheticFaceRenderer(ctx, head) as renderer:
            for i in range(options.settle_frames + options.sweep_frames):
                yaw, rotation = sweep_pose(i, options)
                writer.write(renderer.render(rotation, translation, intrinsics))
    finally:
        writer.release()
        if own_ctx:
            ctx.release()
    return yaw


def run_scan_sweep(options: ScanSweepOptions = ScanSweepOptions(), ctx=None) -> ScanSweepResult:
    """Render the turning head with hair, scan it, and measure the hull (see the module text)."""
    from realtime.printing import bust as bust_stage
    from realtime.stages.capture import Frame
    from realtime.stages.pipeline import Pipeline, PipelineOptions
    from realtime.printing import silhouette
    from realtime.stages.scan import SETTLED_FRAMES, TRUSTED_TURN_DEG, HeadScan, ScanOptions
    from realtime.stages.segmentation import PersonSegmenter
    from realtime.tools.synthetic_face import SyntheticFaceRenderer

    ctx, own_ctx, head, intrinsics, translation = _sweep_scene(options, ctx)
    scan = HeadScan(ScanOptions(every_n_frames=1, refine_pose=options.refine_pose and not options.true_pose,
                                align_turned=options.align_turned and not options.true_pose))
    front = None
    costs = []
    true_poses, carved_poses = [], []  # the near-frontal frames' (camera_alignment)
    try:
        with SyntheticFaceRenderer(ctx, head) as renderer, Pipeline(PipelineOptions()) as pipeline, \
                PersonSegmenter() as segmenter:
            total = options.settle_frames + options.sweep_frames
            for i in range(total):
                t = i / options.fps
                yaw, rotation = sweep_pose(i, options)
                image = renderer.render(rotation, translation, intrinsics)
                result = pipeline.process(Frame(image, i, t))
                fused = result.fusion
                if not result.faces or fused is None or fused.frames_fused < SETTLED_FRAMES:
                    continue
                vertices = result.faces[0].vertices
                if front is None and abs(yaw) < 3.0:
                    front = (image, np.array(vertices))
                if i % 2:
                    continue
                import time

                start = time.perf_counter()
                mask = segmenter.run(image, [vertices]).masks[0]
                if options.true_pose:
                    carved = scan.update(mask, vertices, rotation, translation, intrinsics, head.face_mm)
                else:
                    carved = scan.update(mask, vertices, fused.raw_rotation, fused.raw_translation_mm, intrinsics,
                                         fused.identity_mm)
                costs.append(1000.0 * (time.perf_counter() - start))
                if carved is not None and abs(yaw) < TRUSTED_TURN_DEG:
                    true_poses.append((np.asarray(rotation, np.float64), translation))
                    carved_poses.append(carved)
            identity = head.face_mm if options.true_pose else np.asarray(fused.identity_mm, np.float64)
            front_mask = segmenter.run(front[0], [front[1]]).masks[0] if front is not None else None
    finally:
        if own_ctx:
            ctx.release()
    hull = scan.result()
    # The truth, moved into the frame the hull was built in (fusion's identity's): by the faces'
    # best fit, and as the near-frontal frames' cameras place it.
    face_fit = geometry.weighted_similarity(head.face_mm.astype(np.float64), identity, np.ones(len(identity)))
    camera_fit = camera_alignment(true_poses, carved_poses, face_fit[0]) if true_poses else face_fit
    truth, convex_truth = _true_radii(head, face_fit, hull)
    camera_truth, _ = _true_radii(head, camera_fit, hull)
    # The single view: the bust's head and hair from the frontal frame's outline.
    single = np.full(len(hull.directions), np.nan)
    with_scan = np.full(len(hull.directions), np.nan)
    if front_mask is not None:
        rotation, origin = geometry.head_frame(identity)
        posed = (identity - origin) @ rotation.T
        view = silhouette.fit_affine_view(posed, front[1])
        _, _, sphere_faces, points, _ = bust_stage._head_field(posed, front[0], front[1], rotation, False,
                                                               front_mask, view)
        single = radial_envelope(points @ rotation + origin, sphere_faces, hull.centre_mm, hull.directions)
        _, _, sphere_faces, points, _ = bust_stage._head_field(posed, front[0], front[1], rotation, False,
                                                               front_mask, view,
                                                               bust_stage._scan_in_head(hull, rotation, origin))
        with_scan = radial_envelope(points @ rotation + origin, sphere_faces, hull.centre_mm, hull.directions)
    d = hull.directions
    head_dirs = scan._head_directions
    regions = {"sides": np.abs(d[:, 0]) > 0.6, "back": d[:, 2] < -0.6}
    regions["reachable_sides"] = regions["sides"] & (convex_truth - truth < REACHABLE_MM)

    def rms(values: np.ndarray, chosen: np.ndarray, against: np.ndarray = truth) -> float:
        chosen = chosen & np.isfinite(against) & np.isfinite(values)
        return float(np.sqrt(np.mean((values[chosen] - against[chosen]) ** 2))) if chosen.any() else float("nan")

    scan_rms, scan_mean, single_rms = {}, {}, {}
    for name, region in regions.items():
        chosen = head_dirs & region & hull.seen & np.isfinite(truth) & np.isfinite(hull.radius_mm)
        scan_rms[name] = rms(hull.radius_mm, chosen)
        scan_mean[name] = float(np.mean(hull.radius_mm[chosen] - truth[chosen])) if chosen.any() else float("nan")
        single_rms[name] = rms(single, head_dirs & region)
    lower_back = regions["back"] & (d[:, 1] > LOWER_BACK_ELEVATION) & (d[:, 1] < 0)
    exported = {"sides": rms(with_scan, head_dirs & regions["sides"]), "back": rms(with_scan, head_dirs & regions["back"]),
                "lower_back": rms(with_scan, lower_back)}
    camera_frame = {f"{what}_{name}": rms(values, head_dirs & regions[name] & seen, camera_truth)
                    for what, values, seen in (("hull", hull.radius_mm, hull.seen), ("exported", with_scan, True))
                    for name in ("sides", "back")}
    camera_frame["exported_lower_back"] = rms(with_scan, lower_back, camera_truth)
    from scipy.spatial.transform import Rotation

    camera_frame["pitch_deg"] = float(np.degrees(Rotation.from_matrix(camera_fit[1] @ face_fit[1].T).as_rotvec()[0]))
    per_direction = {"directions": d, "hull_mm": hull.radius_mm, "truth_mm": truth, "convex_truth_mm": convex_truth,
                     "camera_truth_mm": camera_truth, "single_mm": single, "bust_mm": with_scan, "seen": hull.seen,
                     "head": head_dirs, **regions}
    return ScanSweepResult(scan_rms, scan_mean, single_rms, hull.coverage, hull.frames,
                           float(np.median(costs)) if costs else float("nan"), exported, rms(single, lower_back),
                           camera_frame, per_direction)


def _true_radii(head, similarity: tuple, hull) -> tuple[np.ndarray, np.ndarray]:
    """The true head moved by ``similarity (s, R, t)`` into the hull's frame: its radial envelope and
    its convex hull's, ``(N,)`` mm each over the hull's directions."""
    import trimesh

    s, r, t = similarity
    true_vertices = s * head.vertices_mm.astype(np.float64) @ r.T + t
    convex = trimesh.Trimesh(true_vertices, head.triangles, process=False).convex_hull
    return (radial_envelope(true_vertices, head.triangles, hull.centre_mm, hull.directions),
            radial_envelope(np.asarray(convex.vertices), np.asarray(convex.faces), hull.centre_mm, hull.directions))


BENCH_TURNS_DEG = (45.0, 60.0, 75.0)
"""The turn sizes ``selfie3d bench --scan`` sweeps."""


def run_scan_bench(turns_deg: tuple[float, ...] | None = None) -> list[tuple[float, ScanSweepResult]]:
    """``run_scan_sweep`` as live at each turn size (None: ``BENCH_TURNS_DEG``), in one headless context."""
    from realtime.render import create_headless_context

    turns_deg = BENCH_TURNS_DEG if turns_deg is None else turns_deg
    ctx = create_headless_context()
    try:
        return [(turn, run_scan_sweep(ScanSweepOptions(yaw_deg=turn), ctx=ctx)) for turn in turns_deg]
    finally:
        ctx.release()


def format_scan_report(results: list[tuple[float, ScanSweepResult]]) -> str:
    """The sweeps as a table: per turn, the hull and the exported head against the truth (RMS mm)
    beside the single view, the sides of both against the truth as the cameras place it, the
    coverage, and the scan's cost per scanned frame."""
    lines = ["live head scan on a rendered turning head with hair (RMS mm against the true surface, placed by the "
             "faces' fit; the hull over the directions it saw, the exported head over all of them; 'camera frame': "
             "hull / exported sides against the truth as the cameras place it)",
             f"{'turn':>6}{'hull sides':>12}{'hull back':>11}{'exported sides':>16}{'exported back':>15}"
             f"{'lower back':>12}{'single view sides/back/lower':>30}{'camera frame':>14}{'coverage':>10}"
             f"{'ms/frame':>10}"]
    for turn, result in results:
        r = result.report()
        single = (f"{r['single_view_rms_sides_mm']:.1f} / {r['single_view_rms_back_mm']:.1f} / "
                  f"{r['single_view_rms_lower_back_mm']:.1f}")
        camera = f"{r['camera_frame_hull_sides_mm']:.2f} / {r['camera_frame_exported_sides_mm']:.2f}"
        lines.append(f"{turn:>5.0f}\u00b0{r['scan_rms_sides_mm']:12.2f}{r['scan_rms_back_mm']:11.2f}"
                     f"{r['exported_rms_sides_mm']:16.2f}{r['exported_rms_back_mm']:15.2f}"
                     f"{r['exported_rms_lower_back_mm']:12.2f}{single:>30}{camera:>14}{r['scan_coverage']:10.0%}"
                     f"{r['scan_ms']:10.1f}")
    return "\n".join(lines)
