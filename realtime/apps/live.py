"""The live try-on window: capture -> pipeline -> renderer, keys, recording, virtual camera.

``run_live(LiveOptions)`` opens a moderngl-window (pyglet) window and runs the loop; the
same ``LiveSession`` drives headless runs (``render_tryon_video`` for ``selfie3d demo``), so
the window, the demo, the tests and the recording all show the renderer's offscreen pixels.
Per frame: read a frame (files and the demo clip loop), run the pipeline, render the composite with the
current accessory, mesh view and 3D view, copy it to the screen, and hand it to the recorder
(H.264 .mp4, written atomically) and the virtual camera when they are on. The S key hands the
fused identity to the bust exporter in a background process at the lowest CPU priority with
single-threaded libraries, so the loop neither waits for it nor loses its frame rate; the HUD
shows the export's progress, then the saved file's absolute path until the next snapshot,
and when the window closes the terminal lists what was saved (waiting for exports still
running, or saying they were cancelled).

Keys: S bust snapshot, G next accessory (glasses, headband), M mesh view, V 3D view, R reset fusion, I HUD (one
line / details / off), Space pause, ? or H help, Esc or Q quit; dragging the mouse orbits the
3D view.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import errno
import json
import math
import os
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from realtime.apps.executors import ExportCancelled, LowPriorityProcessExecutor, report_progress, spawn_pool
from realtime.errors import Selfie3DError
from realtime.accessories import Accessory, accessory_names, dress
from realtime.accessories import library as accessory_library
from realtime.accessories.glasses import GlassesAccessory, load_user_glasses
from realtime.errors import InputError
from realtime.render import HudInfo, HudMode, Renderer, RenderOptions, View3D, ViewMode

if TYPE_CHECKING:
    from realtime.stages.pipeline import PipelineOptions

# How long a HUD message stays up, seconds: long enough to read a saved path.
MESSAGE_SECONDS = 6.0
# Frame-time smoothing for the FPS readout: ~1 s of frames at 30 FPS.
FPS_SMOOTHING = 0.06
# Orbit speed of the 3D view per pixel of mouse drag, radians.
ORBIT_RAD_PER_PX = 0.01
# The status file is rewritten every this many frames (cheap, and fresh enough for scripts).
STATUS_EVERY_FRAMES = 5


@dataclass(frozen=True)
class LiveOptions:
    camera: int | None = None       # webcam index; None with no video: the built-in demo clip
    video: str | None = None        # video file, image or folder instead of a camera
    glasses: str = "round"          # accessory name (realtime.accessories), or a glasses model file with anchors
    glasses_anchors: str | None = None  # anchor JSON for a model file (default: model path + .json)
    record: str | None = None       # write the rendered try-on to this .mp4
    virtual_cam: bool = False       # send the rendered try-on to a virtual webcam (pyvirtualcam)
    width: int = 1280               # window / render size, pixels
    height: int = 720
    camera_size: tuple[int, int] | None = None  # requested camera frame size (width, height)
    bust_dir: str = "out"           # where S writes busts
    loop: bool = True               # restart video files and the built-in demo clip at their end
    max_frames: int | None = None   # quit after this many frames (scripted runs)
    status_file: str | None = None  # JSON with frame count and snapshot state, for automation
    # Build the head and hair from every side as the head turns (``realtime.stages.scan``); S uses it
    # once enough of the head has been seen.
    scan: bool = True
    # Tracking, reconstruction (providers, device crops) and fusion (camera profile): the same
    # flags as demo and bench. None: the defaults.
    pipeline: PipelineOptions | None = None


# --------------------------------------------------------------------------- bust worker

def export_bust_job(identity_mm: np.ndarray, triangles: np.ndarray, path: str,
                    image: np.ndarray | None = None, vertices_px: np.ndarray | None = None, **extra) -> str:
    """Build and write a printable bust; runs in the worker process. Returns the path written.

    ``identity_mm (468, 3) float32``: the fused neutral face, mm; ``triangles (F, 3) int32``;
    ``image (H, W, 3) uint8`` BGR and ``vertices_px (468, 3)`` pixels: the frame of the
    snapshot and the face in it: the person's outline (hair, shoulders) and the shading detail;
    ``extra``: further keyword arguments for ``realtime.printing.snapshot.snapshot_bust`` (``scan``,
    ``options``, ``person``). ``triangles`` is the face's topology, kept for callers' sake (the
    bust builder knows it).
    """
    from realtime.printing.bust import export_bust
    from realtime.printing.snapshot import snapshot_bust

    bust = snapshot_bust(identity_mm, image, vertices_px, progress=report_progress, **extra)
    report_progress(f"writing {Path(path).name}")
    return str(export_bust(bust, path))


@dataclass
class Export:
    """One snapshot's export: its absolute ``path``, the ``future`` and when it was queued."""

    path: str
    future: concurrent.futures.Future
    queued: float
    started: float | None = None
    reported: bool = False


class BustWorker:
    """Runs bust exports in one background process; the live loop only submits and polls.

    ``job``: what runs, ``job(identity_mm, triangles, path, **frame) -> path written``;
    ``executor``: where (default: ``LowPriorityProcessExecutor``, a process at the lowest CPU
    priority with single-threaded libraries, so the window keeps its frame rate).
    """

    def __init__(self, job: Callable[..., str] = export_bust_job,
                 executor: concurrent.futures.Executor | None = None):
        self.job = job
        if executor is None:
            executor = (LowPriorityProcessExecutor() if os.name == "posix" else
                        # No nice or fd passing elsewhere: a spawned process at normal priority.
                        spawn_pool(1))
        self.executor = executor
        self.exports: list[Export] = []
        self.saved: list[str] = []

    def submit(self, identity_mm: np.ndarray, triangles: np.ndarray, path: str, **frame) -> None:
        """Queue one export; ``frame`` may carry ``image``, ``vertices_px`` and whatever else the
        job takes, passed through as keyword arguments."""
        future = self.executor.submit(self.job, np.asarray(identity_mm), np.asarray(triangles), path, **frame)
        self.exports.append(Export(path, future, time.perf_counter()))

    @property
    def pending(self) -> list[Export]:
        return [e for e in self.exports if not e.reported]

    def poll(self) -> list[str]:
        """Messages for exports that finished since the last call."""
        messages = []
        for export in self.exports:
            if export.reported or not export.future.done():
                continue
            export.reported = True
            messages.append(self.outcome(export))
            if not export.future.cancelled() and export.future.exception() is None:
                self.saved.append(export.future.result())
        return messages

    @staticmethod
    def outcome(export: Export) -> str:
        """One line for a finished export: saved (with the path), failed (why) or cancelled."""
        future = export.future
        if future.cancelled() or isinstance(future.exception(), ExportCancelled):
            return f"bust export cancelled: {export.path} (not written)"
        if future.exception() is not None:
            return f"bust export failed: {export.path}: {future.exception()}"
        return f"bust saved: {future.result()}"

    @property
    def busy(self) -> bool:
        return bool(self.pending)

    def progress(self) -> str | None:
        """The running export's line for the HUD (what it does, for how long), or None."""
        pending = self.pending
        if not pending:
            return None
        now = time.perf_counter()
        current = pending[0]
        if current.future.running() and current.started is None:
            current.started = now
        stage = getattr(self.executor, "progress", {}).get(current.future) or (
            "starting" if current.started is None else "exporting")
        elapsed = now - (current.started if current.started is not None else current.queued)
        more = f" (+{len(pending) - 1} queued)" if len(pending) > 1 else ""
        return f"bust: {stage}\u2026 {elapsed:.0f} s{more}"

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for every queued export; True when all are done."""
        done, not_done = concurrent.futures.wait([e.future for e in self.pending], timeout)
        return not not_done

    def cancel(self) -> None:
        """Cancel the queued exports and stop the one that runs."""
        for export in self.pending:
            export.future.cancel()
        if hasattr(self.executor, "terminate"):
            self.executor.terminate()

    def summary(self) -> list[str]:
        """What became of every export, one line each (for the terminal when the window closes)."""
        self.poll()
        return [self.outcome(e) if e.future.done() else f"bust export still running: {e.path}" for e in self.exports]

    def close(self, wait: bool = True) -> None:
        """Shut the worker down: ``wait`` for the queued exports, else cancel them."""
        if not wait:
            self.cancel()
        self.executor.shutdown(wait=True, cancel_futures=not wait)


# --------------------------------------------------------------------------- outputs


def check_video_folder(path: str | Path, create: bool = True) -> None:
    """Make sure a new file can be created where ``path`` goes, or raise an ``OutputError`` line
    that names the folder. OpenCV's ``VideoWriter`` only says "not opened", whatever the
    reason, so the folder is tried first and the encoder is blamed only when the folder is
    fine. ``create``: make the missing folders; else try the deepest one that exists (a check
    before the run, which must leave nothing behind if the run fails to start)."""
    from realtime.fileio import nearest_existing, output_error, probe_writable

    folder = Path(path).parent
    not_a_folder = OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):  # the folder, or one above it, is a file
            raise output_error(path, not_a_folder, f"cannot create the folder {folder}") from None
        except OSError as error:
            raise output_error(path, error, f"cannot create the folder {folder}") from None
    else:
        folder = nearest_existing(folder)
        if not folder.is_dir():
            raise output_error(path, not_a_folder, f"cannot create a folder under the file {folder}")
    try:
        probe_writable(folder)
    except OSError as error:  # read-only, no permission, a pseudo file system such as /proc
        raise output_error(path, error, f"cannot create a file in {folder}") from None


# The recorded and demo videos: H.264 in yuv420p with the index (moov) at the front, the one
# combination every browser, phone and chat app plays, and that starts playing before the
# whole file has arrived. libx264 ships in PyAV's wheels.
VIDEO_CODEC = "libx264"
VIDEO_PIX_FMT = "yuv420p"
# x264 speed/quality: "veryfast" encodes 720p several times faster than real time on two
# cores, within a few per cent of "medium"'s size at the same quality; CRF 20 shows no
# artefacts on the try-on's fine glasses rims (lower is larger files, higher blurs them).
VIDEO_PRESET = "veryfast"
VIDEO_CRF = 20
# Frame rates as exact fractions (29.97 = 30000/1001): the largest denominator allowed.
_FPS_DENOMINATOR = 1001


def h264_available() -> bool:
    """Whether PyAV is installed with an H.264 encoder."""
    try:
        import av
    except ImportError:
        return False
    return VIDEO_CODEC in av.codecs_available


class VideoRecorder:
    """Writes BGR frames to an H.264 .mp4 (yuv420p, faststart) with PyAV, atomically: the file
    appears under its name when ``close()`` finishes it, never half-written; ``discard()``
    drops it. The folder is created when missing. An odd width or height (H.264 in 4:2:0
    needs even ones) gets one black row or column."""

    def __init__(self, path: str | Path, size: tuple[int, int], fps: float):
        import contextlib
        from fractions import Fraction

        from realtime.fileio import atomic_output

        check_video_folder(path)
        try:
            import av
        except ImportError as exc:
            raise Selfie3DError("writing an .mp4 needs PyAV: pip install av (a dependency of selfie3d; "
                                "reinstall it)") from exc
        if VIDEO_CODEC not in av.codecs_available:
            raise Selfie3DError(f"this PyAV build has no H.264 encoder ({VIDEO_CODEC}); install PyAV's own "
                                "wheel: pip install --force-reinstall av")
        self.path = str(path)
        self.size = (int(size[0]), int(size[1]))
        self.even_size = tuple(v + v % 2 for v in self.size)
        self._stack = contextlib.ExitStack()
        temp = self._stack.enter_context(atomic_output(path))
        try:
            self.container = av.open(str(temp), "w", format="mp4", options={"movflags": "+faststart"})
            rate = Fraction(float(fps)).limit_denominator(_FPS_DENOMINATOR) if fps and fps > 0 else Fraction(30)
            self.rate = rate
            self.stream = self.container.add_stream(VIDEO_CODEC, rate=rate)
            self.stream.width, self.stream.height = self.even_size
            self.stream.pix_fmt = VIDEO_PIX_FMT
            self.stream.options = {"preset": VIDEO_PRESET, "crf": str(VIDEO_CRF)}
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        self.frames = 0
        self._closed = False

    def write(self, image_bgr: np.ndarray) -> None:
        """Append one frame, ``(h, w, 3) uint8`` BGR of the recorder's size."""
        import av

        image = np.ascontiguousarray(image_bgr)
        if image.shape[:2] != self.size[::-1]:
            raise ValueError(f"frame is {image.shape[1]}x{image.shape[0]}, the video {self.size[0]}x{self.size[1]}")
        if self.even_size != self.size:
            image = np.pad(image, ((0, self.even_size[1] - self.size[1]), (0, self.even_size[0] - self.size[0]), (0, 0)))
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = self.frames
        frame.time_base = 1 / self.rate
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Finish the file (flush the encoder, write the index first) and put it in place."""
        if self._closed:
            return
        self._closed = True
        try:
            for packet in self.stream.encode():
                self.container.mux(packet)
            self.container.close()
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        self._stack.close()

    def __enter__(self) -> "VideoRecorder":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        """Finish the file, or drop it when the block failed (a half-made video is no result)."""
        if exc_type is None:
            self.close()
        else:
            self.discard()

    def discard(self) -> None:
        """Drop the recording: nothing appears under its name."""
        if self._closed:
            return
        self._closed = True
        try:
            self.container.close()
        except Exception:  # an encoder that failed may fail again on close: the file goes anyway
            pass
        self._stack.__exit__(ExportCancelled, ExportCancelled("recording discarded"), None)


def probe_video(path: str | Path) -> dict:
    """What a video file holds, read back with PyAV: ``codec``, ``pix_fmt``, ``width``,
    ``height``, ``frames`` (decoded), ``fps`` and ``faststart`` (the mp4 index, ``moov``, comes
    before the media data, ``mdat``)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        info = {"codec": stream.codec_context.name, "pix_fmt": stream.codec_context.pix_fmt,
                "width": stream.codec_context.width, "height": stream.codec_context.height,
                "frames": frames, "fps": float(stream.average_rate or 0)}
    info["faststart"] = _mp4_box_order(path).index("moov") < _mp4_box_order(path).index("mdat")
    return info


def _mp4_box_order(path: str | Path) -> list[str]:
    """The top-level box types of an MP4 file, in file order (``["ftyp", "moov", "mdat"]``)."""
    import struct

    boxes = []
    with open(path, "rb") as handle:
        while True:
            header = handle.read(8)
            if len(header) < 8:
                break
            size, kind = struct.unpack(">I4s", header)
            if size == 1:  # 64-bit size follows the type
                size = struct.unpack(">Q", handle.read(8))[0] - 8
            elif size == 0:  # the box runs to the end of the file
                boxes.append(kind.decode("latin-1"))
                break
            boxes.append(kind.decode("latin-1"))
            handle.seek(size - 8, os.SEEK_CUR)
    return boxes


class VirtualCamera:
    """Sends BGR frames to a virtual webcam through pyvirtualcam (optional extra)."""

    def __init__(self, size: tuple[int, int], fps: float):
        try:
            import pyvirtualcam
        except ImportError as exc:
            raise Selfie3DError(
                "--virtual-cam needs pyvirtualcam: pip install 'selfie3d[virtualcam]'") from exc
        try:
            self.camera = pyvirtualcam.Camera(width=size[0], height=size[1], fps=fps, fmt=pyvirtualcam.PixelFormat.BGR)
        except Exception as exc:  # pyvirtualcam raises RuntimeError with the backend's reason
            raise Selfie3DError(
                "no virtual camera device found: on Linux load v4l2loopback "
                "(sudo modprobe v4l2loopback devices=1 exclusive_caps=1); on Windows/macOS install "
                f"OBS Studio and start its virtual camera once ({exc})") from exc

    def write(self, image_bgr: np.ndarray) -> None:
        self.camera.send(image_bgr)

    def close(self) -> None:
        self.camera.close()


def load_accessory_choice(name_or_path: str, anchors: str | None = None) -> Accessory:
    """A built-in accessory by name (``realtime.accessories``: the glasses library, the
    headband...), or a user's glasses model file with its anchor JSON."""
    path = Path(name_or_path)
    if path.suffix.lower() in (".obj", ".glb", ".gltf", ".stl", ".ply"):
        anchor_path = Path(anchors) if anchors else path.with_suffix(".json")
        return GlassesAccessory(load_user_glasses(path, anchor_path))
    for accessory in accessory_library():
        if accessory.name == name_or_path.lower():
            return accessory
    raise InputError(f"unknown glasses {name_or_path!r}: choose one of {', '.join(accessory_names())} "
                     "or pass a glasses model file")


# --------------------------------------------------------------------------- session


class LiveSession:
    """One running try-on: state, per-frame work and key handling, independent of the window.

    ``ctx``: the ``moderngl.Context`` to render with (the window's, or a headless one).
    """

    def __init__(self, ctx, options: LiveOptions, pipeline=None, bust_worker: BustWorker | None = None,
                 accessory: Accessory | None = None):
        from realtime.stages.capture import Capture, CaptureOptions
        from realtime.stages.pipeline import Pipeline, PipelineOptions
        from realtime.topology import face_triangles

        self.options = options
        self.capture_options = CaptureOptions(camera=options.camera, path=options.video, size=options.camera_size)
        self._Capture = Capture
        self.capture = Capture(self.capture_options)
        self.pipeline = pipeline or Pipeline(options.pipeline or PipelineOptions())
        self.triangles = face_triangles()
        self.renderer = Renderer(ctx, RenderOptions(options.width, options.height), self.triangles)
        first = accessory or load_accessory_choice(options.glasses, options.glasses_anchors)
        # What G cycles through: the chosen accessory first, then every other built-in one.
        self.accessories: list[Accessory] = [first]
        self.accessories += [a for a in accessory_library() if a.name != first.name]
        self.accessory_index = 0
        self.view_mode = ViewMode.TRYON
        self.view3d = View3D.INSET
        self.paused = False
        self.show_help = False
        self.hud_mode = HudMode.COMPACT
        self.quit = False
        self.frames_rendered = 0
        self.fps = 0.0
        self._last_time: float | None = None
        self._messages: deque[tuple[float, str]] = deque(maxlen=4)
        self._last_result = None
        self._bust = bust_worker
        self._snapshots = 0
        # The snapshot line: progress, then the outcome with the absolute path, until the next S.
        self._bust_line = ""
        self.scanner = None
        if options.scan:
            from realtime.stages.scan import LiveScanner

            self.scanner = LiveScanner()
        self.recorder = None
        self.virtual_cam = None
        fps = self.capture.fps or 30.0
        if options.record:
            self.recorder = VideoRecorder(options.record, (options.width, options.height), fps)
        if options.virtual_cam:
            try:
                self.virtual_cam = VirtualCamera((options.width, options.height), fps)
            except BaseException:
                if self.recorder is not None:
                    self.recorder.discard()  # nothing was recorded: no empty video left behind
                raise

    # ---------------------------------------------------------------- keys
    def message(self, text: str) -> None:
        self._messages.append((time.perf_counter(), text))

    def key(self, name: str) -> None:
        """Handle one key by name: ``s g m v r i space ? h escape q``."""
        name = name.lower()
        if name == "s":
            self.snapshot()
        elif name == "g":
            self.accessory_index = (self.accessory_index + 1) % len(self.accessories)
            self.message(f"wearing: {self.accessory.name} {self.accessory.label}")
        elif name == "m":
            self.view_mode = self.view_mode.next()
        elif name == "v":
            self.view3d = self.view3d.next()
        elif name == "r":
            self.pipeline.reset()
            if self.scanner is not None:
                self.scanner.reset()
            self.message("fusion reset")
        elif name == "i":
            self.hud_mode = self.hud_mode.next()
        elif name == "space":
            self.paused = not self.paused
        elif name in ("?", "h"):
            self.show_help = not self.show_help
        elif name in ("escape", "q"):
            self.quit = True

    def snapshot(self) -> None:
        fused = self._fused(self._last_result)
        if fused is None:
            self.message("no face to snapshot yet")
            return
        if self._bust is None:
            self._bust = BustWorker()
        self._snapshots += 1
        stamp = time.strftime("%Y%m%d-%H%M%S")
        # Absolute: the HUD and the terminal name a file the user can find from anywhere.
        folder = Path(self.options.bust_dir).expanduser().resolve()
        path = str(folder / f"bust-{stamp}-{self._snapshots}.stl")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            self._bust_line = f"bust not saved: cannot create {folder} ({error.strerror or error})"
            return
        frame = {}
        result = self._last_result
        if getattr(result, "faces", None):
            frame = {"image": result.frame.image, "vertices_px": result.faces[0].vertices}
        if self.scanner is not None:
            scan = self.scanner.result()
            # Before the head has been seen from enough sides the single view is the better shape.
            if scan.ready:
                frame["scan"] = scan
        self._bust.submit(np.asarray(fused.identity_mm, np.float32), self.triangles, path, **frame)
        self._bust_line = ""  # the new snapshot's progress replaces the last one's path

    # ---------------------------------------------------------------- frame
    @staticmethod
    def _fused(result):
        fused = getattr(result, "fusion", None) if result is not None else None
        if fused is None or getattr(fused, "frames_fused", 1) == 0:
            return None
        return fused

    def _next_frame(self):
        if self.capture.live:
            # Never block the window on the camera: a lost camera is reopened in the background
            # while the HUD says so and the last result stays on screen.
            frame = self.capture.poll()
            status = self.capture.status
            if not status.ok and status.message != getattr(self, "_capture_message", None):
                self.message(status.message)  # once per change, not per frame
            self._capture_message = None if status.ok else status.message
            return frame
        frame = self.capture.read()
        # Files and the built-in demo clip both loop: the window stays up until Esc or
        # --max-frames, whatever the source (a camera has no end to loop at).
        if frame is None and self.options.loop and self.options.camera is None:
            self.capture.close()
            self.capture = self._Capture(self.capture_options)
            frame = self.capture.read()
        return frame

    def step(self, read: bool | None = None):
        """Process and render one frame; returns the ``RenderResult`` (None at the end)."""
        if not self.paused or self._last_result is None:
            frame = self._next_frame()
            if frame is None and self.capture.live and not self.capture.ended:
                if self._last_result is None:
                    return None  # nothing to draw yet: the window shows its last image
            elif frame is None:
                self.quit = True
                return None
            else:
                self._last_result = self.pipeline.process(frame)
        result = self._last_result
        now = time.perf_counter()
        if self._last_time is not None:
            dt = max(now - self._last_time, 1e-6)
            self.fps = 1.0 / dt if self.fps == 0 else (1 - FPS_SMOOTHING) * self.fps + FPS_SMOOTHING / dt
        self._last_time = now
        if self._bust is not None:
            for text in self._bust.poll():
                self._bust_line = text
                self.message(text)  # a notice too, so it shows (for a while) with the HUD off
        fused = self._fused(result)
        h, w = result.frame.image.shape[:2]
        intrinsics = self.pipeline.intrinsics_for(w, h)
        if self.scanner is not None and fused is not None and getattr(result, "faces", None) and not self.paused:
            self.scanner.offer(result.frame.image, result.faces[0].vertices, fused, intrinsics, result.frame.index)
        need_pixels = bool(self.recorder or self.virtual_cam) if read is None else read
        dressed = dress(fused, self.accessory, self.triangles)
        render = self.renderer.render(
            result.frame.image, fused, intrinsics, self.view_mode, dressed.parts,
            self.hud(result, fused), self.view3d, read=need_pixels, proxy=dressed.proxy,
        )
        if render.image is not None:
            if self.recorder:
                self.recorder.write(render.image)
            if self.virtual_cam:
                self.virtual_cam.write(render.image)
        self.frames_rendered += 1
        if self.options.status_file and self.frames_rendered % STATUS_EVERY_FRAMES == 0:
            self.write_status()
        if self.options.max_frames and self.frames_rendered >= self.options.max_frames:
            self.quit = True
        self._render_ms = render.render_ms
        return render

    @property
    def accessory(self) -> Accessory:
        """What the face wears now (G cycles)."""
        return self.accessories[self.accessory_index]

    @property
    def bust_line(self) -> str:
        """The HUD's snapshot line: the running export's progress, else the last outcome."""
        progress = self._bust.progress() if self._bust is not None else None
        return progress or self._bust_line

    def hud(self, result, fused) -> HudInfo:
        now = time.perf_counter()
        bust = self.bust_line
        # The snapshot line shows the outcome for good (HUD on); no second copy as a notice.
        messages = [text for t, text in self._messages
                    if now - t < MESSAGE_SECONDS and (text != bust or self.hud_mode == HudMode.OFF)]
        timings = {k: v for k, v in (result.timings_ms or {}).items() if k in ("track", "reconstruct", "fuse", "total")}
        timings["render"] = getattr(self, "_render_ms", 0.0)
        pd = getattr(fused, "pd_mm", None) if fused is not None else None
        if fused is None:
            tracking = "searching for a face"
        else:
            tracking = f"tracking ({getattr(fused, 'frames_fused', 0)} frames fused, scale: {getattr(fused, 'scale_source', '?')})"
        model = self.accessory
        return HudInfo(
            fps=self.fps, timings_ms=timings, provider=getattr(result, "provider", ""),
            pd_mm=pd if pd is not None and math.isfinite(pd) else None, tracking=tracking,
            glasses=f"{model.name} {model.label}", view=f"{self.view_mode.value}, 3D {self.view3d.value}",
            messages=tuple(messages), show_help=self.show_help, paused=self.paused, mode=self.hud_mode,
            face=fused is not None, bust=bust, extra=self._scan_status(fused),
        )

    def _scan_status(self, fused) -> tuple[str, ...]:
        """The HUD's scan item: how much of the head has been seen, whether S will use it, and
        until then which way to turn (the side seen least)."""
        if self.scanner is None or fused is None:
            return ()
        scan = self.scanner.result()
        if scan.frames == 0:
            return ("scan: turn your head",)
        if scan.ready:
            return (f"scan {scan.coverage:.0%} ready",)
        from realtime.stages.scan import turn_hint

        return (f"scan {scan.coverage:.0%}, turn {turn_hint(scan.coverage_left, scan.coverage_right)}",)

    def write_status(self) -> None:
        status = {
            "frames": self.frames_rendered, "fps": round(self.fps, 2),
            "exporting": bool(self._bust and self._bust.busy),
            "tracking": self._fused(self._last_result) is not None,
            "busts": list(self._bust.saved) if self._bust else [],
            "bust": self.bust_line,
            "messages": [text for _, text in self._messages],
            "help": self.show_help,
            "hud": self.hud_mode.value,
            "paused": self.paused,
            "scan_coverage": round(self.scanner.result().coverage, 3) if self.scanner is not None else None,
        }
        path = Path(self.options.status_file)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(status))
        os.replace(tmp, path)

    @property
    def exporting(self) -> int:
        """How many snapshots are still being exported."""
        return len(self._bust.pending) if self._bust is not None else 0

    def finish_exports(self, wait: bool = True) -> list[str]:
        """End the bust exports: ``wait`` for those still running, else cancel them. Returns
        what became of every snapshot of the session, one line each (saved with its absolute
        path, failed with why, or cancelled)."""
        if self._bust is None:
            return []
        if wait:
            self._bust.wait()
        self._bust.close(wait=wait)
        lines = self._bust.summary()
        if lines:
            self._bust_line = lines[-1]  # the last snapshot's outcome, as the HUD would show it
        return lines

    def close(self) -> None:
        """Release everything; exports still running are waited for (``finish_exports`` first
        to cancel them instead)."""
        if self.options.status_file:
            self.write_status()
        for thing in (self.recorder, self.virtual_cam, self._bust, self.scanner, self.capture, self.pipeline,
                      self.renderer):
            if thing is not None:
                thing.close()

    def __enter__(self) -> "LiveSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------- window


# Letters the window handles (``LiveSession.key``).
_LETTER_KEYS = "SGMVRIHQ"


def key_name(symbol: int, shift: bool, keys, question: int | None = None) -> str | None:
    """The ``LiveSession.key`` name of a window key press, or None for keys we do not use.

    ``symbol``: the window's key code; ``shift``: Shift held; ``keys``: the window's key
    constants (``window.keys``); ``question``: pyglet's own code for ``?``. On X11 pyglet
    reports the keysym, so Shift+/ arrives as QUESTION (on any layout where ``?`` is typed);
    elsewhere it may arrive as SLASH with Shift held. Both are help.
    """
    if question is not None and symbol == question:
        return "?"
    if symbol == keys.SLASH:
        return "?" if shift else None
    if symbol == keys.ESCAPE:
        return "escape"
    if symbol == keys.SPACE:
        return "space"
    for letter in _LETTER_KEYS:
        if symbol == getattr(keys, letter):
            return letter.lower()
    return None


class WindowKeys:
    """The window's key and text events -> ``LiveSession.key``, with ``?`` taken from either.

    pyglet (2.1, X11) drops a key's later presses while it believes the key is still down,
    and it does for ``?`` as soon as Shift is let go before the key (its release then reads
    as ``/``): the QUESTION key event comes once, then never again. The text event (``?``)
    comes on every press, so it toggles the help too; within one batch of events the key's
    ``?`` and the text's ``?`` are the same press and count once.
    """

    def __init__(self, session: "LiveSession", keys, question: int | None = None, press_action=None):
        self.session = session
        self.keys = keys
        self.question = question
        self.press_action = keys.ACTION_PRESS if press_action is None else press_action
        self._help_by_key = False

    def key_event(self, symbol: int, action, modifiers) -> None:
        if action != self.press_action:
            return
        name = key_name(symbol, bool(getattr(modifiers, "shift", False)), self.keys, self.question)
        if name == "?":
            self._help_by_key = True
        if name is not None:
            self.session.key(name)

    def text_event(self, text: str) -> None:
        if text != "?":
            return
        if self._help_by_key:  # the same press as the key event just handled
            self._help_by_key = False
            return
        self.session.key("?")

    def new_frame(self) -> None:
        """Events of one press arrive together: a key event without its text is forgotten."""
        self._help_by_key = False


def _pyglet_question() -> int | None:
    try:
        from pyglet.window import key
    except ImportError:
        return None
    return getattr(key, "QUESTION", None)


def print_export_summary(lines: list[str], stream=None) -> None:
    """The terminal's account of the session's snapshots when the window closes."""
    stream = stream or sys.stdout
    if not lines:
        return
    saved = sum(line.startswith("bust saved:") for line in lines)
    print(f"selfie3d live: {len(lines)} snapshot{'s' if len(lines) != 1 else ''}, {saved} bust{'s' if saved != 1 else ''} saved",
          file=stream)
    for line in lines:
        print(f"  {line}", file=stream)
    stream.flush()


def run_live(options: LiveOptions) -> int:
    """Open the window and run until Esc/Q, the window closes or ``max_frames``."""
    try:
        import moderngl_window
    except ImportError as exc:
        raise Selfie3DError("the live window needs moderngl-window: pip install moderngl-window "
                            "(a dependency of selfie3d; reinstall it)") from exc
    # Input first, before any window opens: a bad glasses model or recording path is one line
    # even on a machine without a display.
    accessory = load_accessory_choice(options.glasses, options.glasses_anchors)
    if options.record:
        check_video_folder(options.record, create=False)
    no_display = "cannot open a window: no display ({}); on a machine without a screen use `selfie3d demo` (headless)"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise Selfie3DError(no_display.format("DISPLAY is not set"))
    try:
        # pyglet opens the display as soon as its window module is imported.
        window_cls = moderngl_window.get_local_window_cls("pyglet")
        window = window_cls(title="selfie3d live", size=(options.width, options.height), resizable=False,
                            vsync=False, gl_version=(3, 3), cursor=True)
    except Exception as exc:  # pyglet raises several types when there is no display
        raise Selfie3DError(no_display.format(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)) from exc
    moderngl_window.activate_context(window=window)
    session = LiveSession(window.ctx, options, accessory=accessory)
    keys = WindowKeys(session, window.keys, _pyglet_question())

    def on_drag(x, y, dx, dy):
        session.renderer.orbit(dx * ORBIT_RAD_PER_PX, dy * ORBIT_RAD_PER_PX)

    window.key_event_func = keys.key_event
    window.unicode_char_entered_func = keys.text_event
    window.mouse_drag_event_func = on_drag
    try:
        while not window.is_closing and not session.quit:
            keys.new_frame()
            result = session.step()
            if result is None:
                break
            window.ctx.copy_framebuffer(window.fbo, session.renderer.fbo)
            window.swap_buffers()
    finally:
        # The window goes first; then the terminal says what happens to the snapshots.
        window.destroy()
        try:
            print_export_summary(finish_exports_at_exit(session))
        finally:
            session.close()
    return 0


def finish_exports_at_exit(session: LiveSession, stream=None) -> list[str]:
    """Wait for the exports still running when the window closes (saying so; Ctrl-C cancels
    them) and return what became of each snapshot."""
    stream = stream or sys.stdout
    running = session.exporting
    if running:
        print(f"selfie3d live: waiting for {running} bust export{'s' if running != 1 else ''} to finish "
              "(Ctrl-C cancels)", file=stream, flush=True)
    try:
        return session.finish_exports(wait=True)
    except KeyboardInterrupt:
        return session.finish_exports(wait=False)


# --------------------------------------------------------------------------- headless video


def render_tryon_video(
    results: Iterable, intrinsics_for: Callable[[int, int], object], video_path: str | Path,
    preview_path: str | Path | None = None, glasses: str = "round", size: tuple[int, int] = (1280, 720),
    fps: float = 30.0, preview_index: int | None = None, ctx=None,
) -> int:
    """Render pipeline results to a try-on .mp4 (headless); returns frames written.

    ``results``: ``PipelineResult``s (``frame.image``, ``fusion``, ``timings_ms``,
    ``provider``); ``intrinsics_for(width, height)``: the camera intrinsics. The preview PNG
    is the frame ``preview_index`` (default: the middle of the first 300 frames, with glasses
    and the 3D inset).
    """
    import cv2

    from realtime.render import create_headless_context
    from realtime.topology import face_triangles

    ctx = ctx or create_headless_context()
    model = load_accessory_choice(glasses)
    written, preview_done, render_ms = 0, False, 0.0
    # The HUD shows the median of the last second's timings, as a person reads it: steady
    # numbers, not one frame's spike (a periodic iris or re-canonicalisation frame).
    recent: deque = deque(maxlen=int(round(fps)) or 30)
    with (VideoRecorder(str(video_path), size, fps) as recorder,
          Renderer(ctx, RenderOptions(*size), face_triangles()) as renderer):
        for result in results:
            fused = LiveSession._fused(result)
            h, w = result.frame.image.shape[:2]
            recent.append({**(result.timings_ms or {}), "render": render_ms})
            timings = {key: float(np.median([t.get(key, 0.0) for t in recent])) for key in recent[-1]}
            # The rate this machine sustains: the pipeline's time plus the composite's.
            work_ms = timings.get("total", 0.0) + timings["render"]
            timings.pop("render")
            hud = HudInfo(fps=1000.0 / work_ms if work_ms > 0 else fps, timings_ms=timings, provider=getattr(result, "provider", ""),
                          pd_mm=getattr(fused, "pd_mm", None) if fused is not None else None,
                          tracking="tracking" if fused is not None else "searching for a face",
                          glasses=f"{model.name} {model.label}", view="try-on, 3D inset", face=fused is not None)
            renderer.orbit_yaw_rad = math.radians(40.0) + 0.6 * math.sin(written / fps * 0.5)
            dressed = dress(fused, model, renderer.face_triangles)
            rendered = renderer.render(result.frame.image, fused, intrinsics_for(w, h), ViewMode.TRYON, dressed.parts, hud,
                                       View3D.INSET, proxy=dressed.proxy)
            image, render_ms = rendered.image, rendered.render_ms
            recorder.write(image)
            target = preview_index if preview_index is not None else 150
            if preview_path is not None and not preview_done and (written >= target and fused is not None):
                cv2.imwrite(str(preview_path), image)
                preview_done = True
            written += 1
        if preview_path is not None and not preview_done and written:
            cv2.imwrite(str(preview_path), image)
    return written


# --------------------------------------------------------------------------- command line


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size must look like 1280x720, got {text!r}") from exc
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return w, h


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``selfie3d live`` (the lead's CLI adds these to its subcommand)."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--camera", type=int, metavar="N", help="webcam index, e.g. 0 for the first webcam (default: no camera; the built-in "
                             "demo clip, looped)")
    source.add_argument("--video", metavar="FILE", help="video file, image or folder of images (loops)")
    parser.add_argument("--list-cameras", action="store_true",
                        help="list the cameras that open (indices 0-7, with their frame size) and exit")
    names = ", ".join(accessory_names())
    parser.add_argument("--glasses", "--accessory", dest="glasses", default="round", metavar="NAME",
                        help=f"what the face wears first (G cycles through the rest): {names}, or a glasses model "
                             "(OBJ/GLB/STL) (default: round)")
    parser.add_argument("--glasses-anchors", metavar="JSON",
                        help="anchor file of a glasses model (default: the model path with .json)")
    parser.add_argument("--record", metavar="FILE", help="write the rendered try-on to this .mp4 (default: off)")
    parser.add_argument("--virtual-cam", action="store_true",
                        help="send the rendered try-on to a virtual webcam (needs pyvirtualcam; default: off)")
    parser.add_argument("--size", type=_size, default=(1280, 720), metavar="WxH",
                        help="window and render size in pixels (default: 1280x720)")
    parser.add_argument("--bust-dir", default="out", metavar="DIR", help="where S saves busts (default: out)")
    parser.add_argument("--max-frames", type=int, metavar="N", help="quit after N frames (default: run until Esc)")
    parser.add_argument("--status-file", metavar="FILE",
                        help="keep a JSON status (frames, exports) in FILE, for scripts and tests (default: off)")


def options_from_args(args: argparse.Namespace, pipeline: PipelineOptions | None = None) -> LiveOptions:
    """``LiveOptions`` from the parsed flags; ``pipeline``: the pipeline flags' options (the CLI
    builds them, as for demo and bench)."""
    return LiveOptions(
        camera=args.camera, video=args.video, glasses=args.glasses, glasses_anchors=args.glasses_anchors,
        record=args.record, virtual_cam=args.virtual_cam, width=args.size[0], height=args.size[1],
        bust_dir=args.bust_dir, max_frames=args.max_frames, status_file=args.status_file, pipeline=pipeline,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m realtime.apps.live``: the same as ``selfie3d live``."""
    import sys

    parser = argparse.ArgumentParser(prog="selfie3d live", description="AR glasses try-on in a window.")
    add_live_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_live(options_from_args(args))
    except Selfie3DError as exc:
        print(f"selfie3d live: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    # Run the module under its own name: the export process gets its job by name
    # (realtime.apps.live.export_bust_job), and "__main__" means nothing there.
    from realtime.apps.live import main as _main

    raise SystemExit(_main())
