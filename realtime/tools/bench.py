"""``selfie3d bench``: per-stage latency of our pipeline against MediaPipe's own FaceMesh.

All frames are decoded into memory first, so decoding is excluded. Then, frame by frame and
interleaved (so both see the same machine load), our pipeline and the baseline —
``mp.solutions.face_mesh`` with ``refine_landmarks=False`` in video mode — process the same
frame. Reported: p50/p95/p99 per stage, FPS, the provider, the tracked fraction, the ratio of
our total to the baseline's, and how far our vertices are from the baseline's (median, in
inter-ocular distances). Jitter: the fused mesh against the raw network output on a still
face, in the image (as the viewer sees it) and in 3D, with the depth's wobble: on the built-in
clip held still, or with ``--video`` on the stillest stretch of that clip (``stillest_stretch``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass

import cv2
import numpy as np

from realtime.stages.capture import Capture, CaptureOptions
from realtime.stages.fusion import FusionOptions
from realtime.stages.pipeline import Pipeline, PipelineOptions, percentiles
from realtime.geometry import median_distance_iod



@dataclass(frozen=True)
class BenchOptions:
    capture: CaptureOptions = CaptureOptions()
    frames: int = 300  # at most this many frames from the source
    warmup: int = 10  # frames run before timing starts (session start-up, caches)
    baseline: bool = True
    pipeline: PipelineOptions = PipelineOptions()
    # Frames measured for the fusion jitter figures: the still demo face (webcam noise only),
    # or with a source (--video), its stillest stretch of this many frames.
    jitter_frames: int = 120
    # Frames fused before the measured ones: fusion's identity, scale and filters settle in
    # about a second (the first frame's depth is ~3% off until the iris scale settles).
    jitter_warmup: int = 30
    # Keep MediaPipe's native log lines off stderr (the command line's --debug turns this off).
    quiet_native_logs: bool = True


def load_frames(options: CaptureOptions, limit: int) -> list:
    frames = []
    with Capture(options) as capture:
        for frame in capture:
            frames.append(frame)
            if len(frames) >= limit:
                break
    return frames


@contextlib.contextmanager
def native_stderr_silenced(enabled: bool = True):
    """Point file descriptor 2 at /dev/null for the block (when ``enabled``).

    MediaPipe 0.10's C++ (absl before ``absl::InitializeLog``, TFLite's "Created TensorFlow Lite
    XNNPACK delegate", the calculators' W0000 lines) writes straight to fd 2, and neither
    GLOG_minloglevel nor TF_CPP_MIN_LOG_LEVEL reaches it (google-ai-edge/mediapipe#5737).
    Python's own stderr goes quiet too, so keep the block to the MediaPipe calls.
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        _flush_c_stdio()  # what C++ buffered in the block goes to /dev/null, not out later
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _flush_c_stdio() -> None:
    import ctypes

    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library to call (not a POSIX build): nothing buffered to lose
        pass


_WARM_FRAME_PX = 64
"""Side of the blank frame that starts MediaPipe's graph: any size does, small is quick."""


class MediaPipeBaseline:
    """MediaPipe's own FaceMesh solution in video mode; returns ``(468, 3)`` pixels or None.

    quiet: silence MediaPipe's native log lines (``native_stderr_silenced``) while it starts and
    on its first ``quiet_calls`` frames, where its one-off lines come (the first face logs a
    calculator warning). Later calls run bare: they are the timed ones, and the descriptor
    swaps would add their microseconds to the baseline's time.
    """

    def __init__(self, quiet: bool = True, quiet_calls: int = 10):
        import mediapipe as mp

        self.quiet = quiet
        self._quiet_calls_left = quiet_calls if quiet else 0
        with native_stderr_silenced(quiet):
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=False, max_num_faces=1, refine_landmarks=False)
            # The graph opens its calculators (and logs) on its own threads after the constructor
            # returns; one blank frame waits for that inside the silenced block.
            self._mesh.process(np.zeros((_WARM_FRAME_PX, _WARM_FRAME_PX, 3), np.uint8))

    def process_rgb(self, rgb: np.ndarray) -> np.ndarray | None:
        if self._quiet_calls_left > 0:
            self._quiet_calls_left -= 1
            with native_stderr_silenced():
                result = self._mesh.process(rgb)
        else:
            result = self._mesh.process(rgb)
        if not result.multi_face_landmarks:
            return None
        height, width = rgb.shape[:2]
        landmarks = result.multi_face_landmarks[0].landmark
        return np.array([[p.x * width, p.y * height, p.z * width] for p in landmarks], dtype=np.float32)

    def close(self):
        with native_stderr_silenced(self.quiet):
            self._mesh.close()


def _timed(function, *args):
    start = time.perf_counter()
    value = function(*args)
    return value, (time.perf_counter() - start) * 1e3


def run_bench(options: BenchOptions) -> dict:
    frames = load_frames(options.capture, options.frames + options.warmup)
    if len(frames) <= options.warmup:
        # Every frame would go to warm-up and nothing be timed: a report of NaN at 0 FPS that
        # exits 0 looks like a result, so refuse instead.
        from realtime.errors import InputError

        raise InputError(f"{options.capture.description} has {len(frames)} frame{'s' if len(frames) != 1 else ''}, "
                         f"fewer than the {options.warmup} warm-up frames plus one timed frame: give a longer "
                         f"video or folder of images (or no --video for the built-in demo clip)")
    stage_ms: dict[str, list[float]] = {}
    baseline_ms: list[float] = []
    errors_iod: list[float] = []
    tracked = 0
    # Quiet for the warm-up frames only: the timed calls run without the descriptor swaps.
    baseline = MediaPipeBaseline(options.quiet_native_logs, quiet_calls=options.warmup) if options.baseline else None
    with Pipeline(options.pipeline) as pipeline:
        for position, frame in enumerate(frames):
            timed = position >= options.warmup
            reference = None
            # MediaPipe takes RGB; the conversion is the caller's job there, so it is not counted
            # against the baseline. Doing it first also reads the frame into the cache, as a
            # capture thread that just decoded it would, so both sides start equally warm; the
            # order of the two alternates so neither always gets the other's leftovers.
            rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB) if baseline is not None else None
            baseline_first = baseline is not None and position % 2 == 1
            if baseline_first:
                reference, baseline_elapsed = _timed(baseline.process_rgb, rgb)
            result = pipeline.process(frame)
            if baseline is not None and not baseline_first:
                reference, baseline_elapsed = _timed(baseline.process_rgb, rgb)
            if baseline is not None and timed:
                baseline_ms.append(baseline_elapsed)
            if not timed:
                continue
            for name, value in result.timings_ms.items():
                stage_ms.setdefault(name, []).append(value)
            tracked += bool(result.faces)
            # The ONNX path alone (track + reconstruct), without fusion: issue 2's comparison.
            stage_ms.setdefault("track+reconstruct", []).append(result.timings_ms["total"] - result.timings_ms.get("fuse", 0.0))
            if result.faces and reference is not None:
                errors_iod.append(median_distance_iod(result.faces[0].vertices, reference))
        provider = pipeline.provider
    if baseline is not None:
        baseline.close()
    timed_frames = len(frames) - options.warmup if len(frames) > options.warmup else 0
    total = stage_ms.get("total", [])
    total_p50 = float(np.median(total)) if total else float("nan")
    report = {
        "source": options.capture.description,
        "frames": timed_frames,
        "tracked_fraction": round(tracked / timed_frames, 4) if timed_frames else 0.0,
        "provider": provider,
        "stages": {name: percentiles(values) for name, values in stage_ms.items()},
        "total_p50_ms": round(total_p50, 3),
        "fps": round(1000.0 / total_p50, 1) if total_p50 > 0 else 0.0,
    }
    if baseline_ms:
        baseline_p50 = float(np.median(baseline_ms))
        report["baseline"] = "mediapipe.solutions.face_mesh (refine_landmarks=False, video mode)"
        report["baseline_p50_ms"] = round(baseline_p50, 3)
        report["ratio_vs_baseline"] = round(total_p50 / baseline_p50, 3)
        report["ratio_track_reconstruct_vs_baseline"] = round(
            float(np.median(stage_ms["track+reconstruct"])) / baseline_p50, 3)
        report["median_error_vs_baseline_iod"] = round(float(np.median(errors_iod)), 5) if errors_iod else None
    if options.jitter_frames and options.pipeline.fusion:
        demo = options.capture.camera is None and options.capture.path is None
        if demo:
            report.update(still_face_jitter(options))
        else:
            from realtime.errors import InputError

            try:
                report.update(clip_jitter(frames, options))
            except InputError as error:  # the timings stand; say why there is no jitter figure
                report.update(jitter_source=options.capture.description, jitter_error=str(error))
    return report


def raw_meshes(frames: list, options: BenchOptions) -> tuple[list, list]:
    """Our pipeline's raw meshes (fusion off) of ``frames``: ``(vertices, irises)``, one entry
    per frame, ``(468, 3)`` pixels and ``(2, 5, 3)`` pixels or None (no face; no iris read)."""
    from dataclasses import replace

    vertices, irises = [], []
    with Pipeline(replace(options.pipeline, fusion=False)) as pipeline:
        for frame in frames:
            faces = pipeline.process(frame).faces
            vertices.append(faces[0].vertices if faces else None)
            irises.append(faces[0].iris if faces else None)
    return vertices, irises


def stillest_stretch(vertices: list, length: int) -> int | None:
    """Start of the ``length`` consecutive frames, all with a face, whose raw meshes move least
    (RMS frame-to-frame vertex motion over the inter-ocular distance), or None when no run of
    tracked frames is that long. vertices: per frame ``(468, 3)`` pixels or None."""
    from realtime.geometry import interocular

    if length < 2 or len(vertices) < length:
        return None
    motion = np.full(len(vertices), np.inf)  # motion[i]: from frame i - 1 to frame i
    for i in range(1, len(vertices)):
        if vertices[i] is not None and vertices[i - 1] is not None:
            step = np.asarray(vertices[i], np.float64) - np.asarray(vertices[i - 1], np.float64)
            iod = max(interocular(np.asarray(vertices[i], np.float64)), 1e-6)
            motion[i] = float(np.mean((step ** 2).sum(-1))) / iod ** 2
    # A window starting at s covers the steps s+1 .. s+length-1.
    sums = np.convolve(np.where(np.isfinite(motion), motion, 1e30), np.ones(length - 1), mode="valid")[1:]
    if len(sums) == 0 or sums.min() >= 1e29:
        return None
    return int(np.argmin(sums))


def _jitter_report(result, source: str, frames: str) -> dict:
    return {"jitter_source": source, "jitter_frames": frames,
            "jitter_raw": round(result.jitter_raw, 6), "jitter_fused": round(result.jitter_fused, 6),
            "jitter_ratio": round(result.jitter_ratio, 4),
            "jitter_3d_raw_mm": round(result.jitter_3d_raw_mm, 4), "jitter_3d_fused_mm": round(result.jitter_3d_fused_mm, 4),
            "depth_mm": round(result.depth_mm, 1), "depth_wobble_raw_mm": round(result.depth_wobble_raw_mm, 3),
            "depth_wobble_fused_mm": round(result.depth_wobble_fused_mm, 3),
            "fusion_ms_per_frame": round(result.ms_per_frame, 3)}


def still_face_jitter(options: BenchOptions) -> dict:
    """Jitter of the raw network output and of the fused mesh on the still demo face.

    The demo photo held still with the sensor noise a webcam adds: every frame-to-frame
    motion is noise. Raw meshes come from our pipeline with fusion off; fusion runs over the
    same sequence (``jitter_warmup`` frames first, then ``jitter_frames`` measured). Figures:
    RMS vertex motion per frame over the inter-ocular distance in the image, the same in 3D
    (mm), and the depth's wobble (``fusion.fusion_benchmark``).
    """
    from realtime.stages.democlip import DemoClipOptions

    total = options.jitter_frames + options.jitter_warmup
    still = DemoClipOptions(motion=False, duration_s=total / 30.0)
    frames = load_frames(CaptureOptions(demo=still), total)
    return _fused_jitter(frames, options, "built-in demo clip held still", 0, len(frames))


def clip_jitter(frames: list, options: BenchOptions) -> dict:
    """The jitter figures (``still_face_jitter``) on a source's own frames: its stillest
    stretch of ``jitter_frames`` tracked frames (``stillest_stretch``; the whole source when
    shorter), fused from ``jitter_warmup`` frames before it where the source has them."""
    from realtime.errors import InputError

    vertices, _ = raw_meshes(frames, options)
    length = min(options.jitter_frames, len(frames) - min(options.jitter_warmup, len(frames) // 3))
    start = stillest_stretch(vertices, length)
    if start is None:
        raise InputError(f"{options.capture.description}: no {length} consecutive frames with a face to measure "
                         f"jitter on; give a clip with a still stretch")
    first = max(0, start - options.jitter_warmup)
    return _fused_jitter(frames[first:start + length], options, options.capture.description, first, start + length,
                         warmup=start - first)


def _fused_jitter(frames: list, options: BenchOptions, source: str, first: int, end: int,
                  warmup: int | None = None) -> dict:
    """Raw meshes of ``frames`` (every one must show a face), then fusion over them; figures
    after ``warmup`` frames (default ``options.jitter_warmup``)."""
    from realtime.errors import InputError
    from realtime.stages.fusion import fusion_benchmark

    warmup = options.jitter_warmup if warmup is None else warmup
    vertices, irises = raw_meshes(frames, options)
    if any(v is None for v in vertices):
        raise InputError(f"{source}: frames {first}-{end - 1} lose the face; jitter needs a face in every frame")
    height, width = frames[0].image.shape[:2]
    times = np.array([frame.timestamp_s for frame in frames])
    steps = np.diff(times)
    fps = 1.0 / float(np.median(steps)) if len(steps) and np.median(steps) > 0 else 30.0
    with Pipeline(options.pipeline) as pipeline:
        intrinsics = pipeline.intrinsics_for(width, height)
    result = fusion_benchmark(np.asarray(vertices), irises, intrinsics, fps=fps, options=FusionOptions(),
                              warmup=warmup)
    return _jitter_report(result, source, f"{first + warmup}-{end - 1}")


def write_still_clip(image_bgr: np.ndarray, folder: str, frames: int = 150, noise_sigma: float = 2.0,
                     seed: int = 2017) -> list[str]:
    """A photo held still with a webcam's sensor noise, as a folder of PNG frames (lossless,
    so the noise is all that moves; ``selfie3d bench --video FOLDER`` reads it at 30 FPS).

    image_bgr: ``(h, w, 3) uint8``. noise_sigma: Gaussian noise per pixel, grey levels (the demo
    clip's 2.0: a webcam at indoor light). Returns the frame paths.
    """
    from pathlib import Path

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(frames):
        rng = np.random.default_rng((seed, i))
        noisy = np.clip(image_bgr.astype(np.float32) + rng.normal(0.0, noise_sigma, image_bgr.shape), 0, 255)
        path = out / f"frame_{i:04d}.png"
        cv2.imwrite(str(path), noisy.astype(np.uint8))
        paths.append(str(path))
    return paths


COMMAND_RUNS = 5
"""Fresh ``selfie3d photo`` processes timed by ``photo_command_benchmark`` (their median counts)."""


def photo_command_benchmark(runs: int = COMMAND_RUNS) -> dict:
    """The wall time of a fresh ``selfie3d photo`` process on the built-in photo (the astronaut) as
    a user runs it, beside ``python -c "import numpy, cv2"`` timed the same way in the same run
    (the floor any Python vision command pays), and its start-up: process start to the first
    network call. Medians of ``runs`` interleaved runs, seconds."""
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from realtime.stages.democlip import astronaut_bgr
    from realtime.stages.inference import FIRST_CALL_MARK_ENV

    command, floor, startup = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "astronaut.png"
        cv2.imwrite(str(photo), astronaut_bgr())
        env = dict(os.environ, **{FIRST_CALL_MARK_ENV: "1"})
        for i in range(runs):
            start_wall, start = time.time(), time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "realtime", "photo", str(photo), "-o",
                                   str(Path(folder) / f"bust{i}.stl")], capture_output=True, text=True, env=env)
            command.append(time.perf_counter() - start)
            if done.returncode != 0:
                raise RuntimeError(f"selfie3d photo failed: {done.stderr.strip()}")
            marks = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("selfie3d-first-network-call")]
            if marks:
                startup.append(float(marks[0]) - start_wall)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import numpy, cv2"], check=True)
            floor.append(time.perf_counter() - start)
    return {"photo_command_s": round(float(np.median(command)), 3),
            "import_numpy_cv2_s": round(float(np.median(floor)), 3),
            "photo_command_over_floor": round(float(np.median(command) / np.median(floor)), 2),
            "startup_s": round(float(np.median(startup)), 3) if startup else None}


def bust_benchmark(repeats: int = 3, batch_photos: int = 8) -> dict:
    """Seconds from a fused face to a validated STL (the live window's S key), from a photo to
    an STL (photo mode, one face), and photo-batch throughput on one worker against a pool of
    one worker per core (the batch must use every core).

    The fused face is the demo clip's after 90 frames; the photo is the astronaut portrait.
    """
    import os
    import tempfile
    from pathlib import Path

    from realtime.stages.democlip import astronaut_bgr
    from realtime.printing.bust import export_bust, photo_bust
    from realtime.apps.executors import LocalPoolExecutor, SerialExecutor
    from realtime.apps.jobs import PhotoJob, photo_reconstructor, run_photo_job
    from realtime.printing.snapshot import snapshot_bust

    frames = load_frames(CaptureOptions(), 90)
    with Pipeline(PipelineOptions()) as pipeline:
        for frame in frames:
            result = pipeline.process(frame)
    fused, image, vertices_px = result.fusion, frames[-1].image, result.faces[0].vertices
    snapshot_s, photo_s = [], []
    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "astronaut.png"
        cv2.imwrite(str(photo), astronaut_bgr())
        run_photo_job(PhotoJob(str(photo), str(Path(folder) / "warm.stl")))  # load the networks once
        for i in range(repeats):
            start = time.perf_counter()
            # As the live window's export process does it: segment the frame, build, write.
            export_bust(snapshot_bust(np.asarray(fused.identity_mm), image, vertices_px),
                        Path(folder) / f"snapshot{i}.stl")
            snapshot_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert run_photo_job(PhotoJob(str(photo), str(Path(folder) / f"photo{i}.stl"))).ok
            photo_s.append(time.perf_counter() - start)
        jobs = lambda tag: [PhotoJob(str(photo), str(Path(folder) / f"{tag}{i}.stl")) for i in range(batch_photos)]
        start = time.perf_counter()
        list(SerialExecutor().map(jobs("serial")))
        serial_s = time.perf_counter() - start
        workers = os.cpu_count() or 1
        pool = LocalPoolExecutor(workers)
        list(pool.map(jobs("warmup")[:workers]))  # start the workers and load their networks
        start = time.perf_counter()
        list(pool.map(jobs("pool")))
        pool_s = time.perf_counter() - start
        pool.close()
    builds = []
    for _ in range(repeats):
        found = photo_reconstructor(PhotoJob("", "")).run(astronaut_bgr())
        result = photo_bust(found, 0, astronaut_bgr())
        builds.append(sum(result.timings_ms.values()) / 1000.0)
    return {
        "bust_build_s": round(float(np.median(builds)), 3),
        **photo_command_benchmark(),
        "snapshot_to_stl_s": round(float(np.median(snapshot_s)), 3),
        "photo_to_stl_s": round(float(np.median(photo_s)), 3),
        "batch_photos": batch_photos,
        "batch_serial_photos_per_s": round(batch_photos / serial_s, 2),
        "batch_pool_photos_per_s": round(batch_photos / pool_s, 2),
        "batch_workers": workers,
        "batch_speedup": round(serial_s / pool_s, 2),
    }


SCAN_TIMED_FRAMES = 120
"""Frames timed per run of ``scan_benchmark`` (after the identity has settled)."""
SCAN_ROUNDS = 2
"""Interleaved rounds with and without the scan (a shared machine's load drifts)."""


def scan_benchmark(width: int = 1280, height: int = 720, timed_frames: int = SCAN_TIMED_FRAMES,
                   rounds: int = SCAN_ROUNDS) -> dict:
    """The live loop (a headless ``LiveSession`` on the built-in clip) with and without the head
    scan, interleaved: ``live_fps_no_scan``, ``live_fps_scan``, their ratio, the scan's cost per
    scanned frame (``scan_ms``: segmentation and carving, on its thread) and per loop frame
    (``scan_ms_per_frame``), and the coverage the clip reached."""
    from realtime.apps.live import LiveOptions, LiveSession
    from realtime.render import create_headless_context
    from realtime.stages.scan import SETTLED_FRAMES

    ctx = create_headless_context()
    fps = {False: [], True: []}
    costs, coverage, per_frame = [], 0.0, []
    try:
        for _ in range(rounds):
            for scan in (False, True):
                session = LiveSession(ctx, LiveOptions(width=width, height=height, scan=scan))
                try:
                    for _ in range(SETTLED_FRAMES + 10):
                        session.step(read=False)
                    start = time.perf_counter()
                    for _ in range(timed_frames):
                        session.step(read=False)
                        ctx.finish()
                    fps[scan].append(timed_frames / (time.perf_counter() - start))
                    if scan:
                        costs += session.scanner.cost_ms
                        coverage = max(coverage, session.scanner.result().coverage)
                        per_frame.append(sum(session.scanner.cost_ms) / max(session.frames_rendered, 1))
                finally:
                    session.close()
    finally:
        ctx.release()
    without, with_scan = float(np.mean(fps[False])), float(np.mean(fps[True]))
    return {"live_fps_no_scan": round(without, 1), "live_fps_scan": round(with_scan, 1),
            "live_fps_scan_ratio": round(with_scan / without, 3),
            "scan_ms": round(float(np.median(costs)), 2) if costs else None,
            "scan_ms_per_frame": round(float(np.mean(per_frame)), 2) if per_frame else None,
            "scan_coverage_demo_clip": round(coverage, 3)}


# The live loop's frame rate during a snapshot export (``bench --render``): frames the loop runs
# before timing (the face is found and fusion has settled, as when a person presses S), and
# frames timed without an export, before and after it (their mean: the load of a shared
# machine drifts).
LIVE_WARMUP_FRAMES = 60
LIVE_TIMED_FRAMES = 90
# The longest an export may take in the benchmark before it is abandoned, seconds.
LIVE_EXPORT_TIMEOUT_S = 300.0


def render_during_export_benchmark(width: int = 1280, height: int = 720, plain: bool = True,
                                   warmup_frames: int = LIVE_WARMUP_FRAMES, timed_frames: int = LIVE_TIMED_FRAMES) -> dict:
    """Frames per second of the live window's loop (capture, pipeline, composite: a headless
    ``LiveSession`` on the built-in clip, each frame finished as a window's swap would) with
    no export and while S's bust export runs in the background, as the window runs it (the
    lowest CPU priority, single-threaded libraries). ``plain``: also during an export at
    normal priority with the libraries' default threads, the baseline the priority is
    measured against.

    Keys: ``live_fps`` (no export), ``render_fps_during_export``, ``export_s`` (how long the
    export took while the loop ran), ``render_fps_during_export_ratio`` (during / without),
    and with ``plain`` the same two figures for the plain export.
    """
    import tempfile

    from realtime.apps.executors import LowPriorityProcessExecutor
    from realtime.apps.live import BustWorker, LiveOptions, LiveSession
    from realtime.render import create_headless_context

    ctx = create_headless_context()

    def run(session, frames=None, until=None) -> tuple[float, int]:
        count, start = 0, time.perf_counter()
        while (frames is not None and count < frames) or (until is not None and not until()):
            session.step(read=False)
            ctx.finish()  # the frame is drawn, as swap_buffers makes sure in the window
            count += 1
        return count / (time.perf_counter() - start), count

    report: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        exporters = {"": LowPriorityProcessExecutor()}
        if plain:
            exporters["plain_"] = LowPriorityProcessExecutor(nice=0, thread_env={})
        session = LiveSession(ctx, LiveOptions(width=width, height=height, bust_dir=folder))
        try:
            run(session, warmup_frames)
            without = [run(session, timed_frames)[0]]
            for prefix, executor in exporters.items():
                session._bust = BustWorker(executor=executor)
                session.key("s")
                start = time.perf_counter()
                deadline = start + LIVE_EXPORT_TIMEOUT_S
                fps, _ = run(session, until=lambda: not session._bust.busy or time.perf_counter() > deadline)
                seconds = time.perf_counter() - start
                if not session._bust.saved:
                    raise RuntimeError(f"the benchmark's bust export did not finish: {session._bust.summary()}")
                session._bust.close()
                without.append(run(session, timed_frames)[0])
                report[f"render_fps_during_{prefix}export"] = round(fps, 1)
                report[f"{prefix}export_s"] = round(seconds, 2)
        finally:
            session.close()
    live = float(np.mean(without))
    report["live_fps"] = round(live, 1)
    report["render_fps_during_export_ratio"] = round(report["render_fps_during_export"] / live, 3)
    if plain:
        report["render_fps_during_plain_export_ratio"] = round(report["render_fps_during_plain_export"] / live, 3)
    return dict(sorted(report.items(), key=lambda kv: _LIVE_KEYS.index(kv[0])))


_SCAN_KEYS = ("live_fps_no_scan", "live_fps_scan", "live_fps_scan_ratio", "scan_ms", "scan_ms_per_frame",
              "scan_coverage_demo_clip")
_LIVE_KEYS = ("live_fps", "render_fps_during_export", "render_fps_during_export_ratio", "export_s",
              "render_fps_during_plain_export", "render_fps_during_plain_export_ratio", "plain_export_s")
_JITTER_KEYS = ("jitter_frames", "jitter_raw", "jitter_fused", "jitter_ratio", "jitter_3d_raw_mm", "jitter_3d_fused_mm",
                "depth_mm", "depth_wobble_raw_mm", "depth_wobble_fused_mm", "fusion_ms_per_frame")


def format_report(report: dict) -> str:
    lines = [f"source: {report['source']}   frames: {report['frames']}   tracked: {report['tracked_fraction']:.1%}   provider: {report['provider']}"]
    lines.append(f"{'stage':<18}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for name, stats in report["stages"].items():
        lines.append(f"{name:<18}{stats['p50_ms']:>9.2f}{stats['p95_ms']:>9.2f}{stats['p99_ms']:>9.2f}")
    lines.append(f"total p50 {report['total_p50_ms']:.2f} ms  ({report['fps']:.0f} FPS)")
    if "baseline_p50_ms" in report:
        lines.append(f"baseline (MediaPipe FaceMesh) p50 {report['baseline_p50_ms']:.2f} ms   ratio ours/baseline {report['ratio_vs_baseline']:.2f} "
                     f"(track+reconstruct only: {report['ratio_track_reconstruct_vs_baseline']:.2f})")
        if report.get("median_error_vs_baseline_iod") is not None:
            lines.append(f"vertices vs baseline: median error {report['median_error_vs_baseline_iod'] * 100:.2f}% of inter-ocular distance")
    if "jitter_error" in report:
        lines.append(f"jitter not measured: {report['jitter_error']}")
    if "jitter_raw" in report:
        # Named: the built-in clip held still, or the source's stillest stretch (``clip_jitter``).
        lines.append(f"jitter on {report.get('jitter_source', 'built-in demo clip held still')} (RMS vertex motion per "
                     "frame / IOD in the image, mm in 3D; depth wobble: +/- mm):")
    for key in (*_JITTER_KEYS, "render_fps", "render_mean_ms",
                "render_p95_ms", "renderer", *_LIVE_KEYS, *_SCAN_KEYS, "bust_build_s", "photo_command_s", "import_numpy_cv2_s",
                "photo_command_over_floor", "startup_s", "snapshot_to_stl_s", "photo_to_stl_s", "batch_serial_photos_per_s",
                "batch_pool_photos_per_s", "batch_workers", "batch_speedup"):
        if key in report:
            lines.append(f"{'  ' if key in _JITTER_KEYS else ''}{key}: {report[key]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python -m realtime.tools.bench still-clip IMAGE FOLDER [--frames N] [--noise GREY]``: write a
    still clip of a photo (``write_still_clip``) for ``selfie3d bench --video FOLDER``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m realtime.tools.bench", description=main.__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    still = commands.add_parser("still-clip", help="a photo held still with sensor noise, as PNG frames")
    still.add_argument("image")
    still.add_argument("folder")
    still.add_argument("--frames", type=int, default=150, help="frames (default: 150, 5 s at 30 FPS)")
    still.add_argument("--noise", type=float, default=2.0, help="sensor noise, grey levels (default: 2.0)")
    args = parser.parse_args(argv)
    image = cv2.imread(args.image)
    if image is None:
        raise SystemExit(f"cannot read {args.image}")
    paths = write_still_clip(image, args.folder, args.frames, args.noise)
    print(f"wrote {len(paths)} frames to {args.folder}")


if __name__ == "__main__":
    main()
