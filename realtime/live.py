"""The live try-on window: capture -> pipeline -> renderer, keys, recording, virtual camera.

``run_live(LiveOptions)`` opens a moderngl-window (pyglet) window and runs the loop; the
same ``LiveSession`` drives headless runs (``render_tryon_video`` for ``selfie3d demo``), so
the window, the demo, the tests and the recording all show the renderer's offscreen pixels.
Per frame: read a frame (files and the demo clip loop), run the pipeline, render the composite with the
current glasses, mesh view and 3D view, copy it to the screen, and hand it to the recorder
and the virtual camera when they are on. The S key hands the fused identity to the bust
exporter in a background process, so the loop never waits for it; the HUD shows the export
running and the saved path.

Keys: S bust snapshot, G next glasses, M mesh view, V 3D view, R reset fusion, Space pause,
? or H help, Esc or Q quit; dragging the mouse orbits the 3D view.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import errno
import json
import math
import multiprocessing
import os
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from realtime.errors import InputError, Selfie3DError
from realtime.glasses import GLASSES_LIBRARY, GlassesModel, build_glasses, glasses_by_name, load_user_glasses
from realtime.render import HudInfo, Renderer, RenderOptions, View3D, ViewMode

if TYPE_CHECKING:
    from realtime.pipeline import PipelineOptions

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
    glasses: str = "round"          # library name, or a model file (OBJ/GLB/STL) with anchors
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
    # Tracking, reconstruction (providers, device crops) and fusion (camera profile): the same
    # flags as demo and bench. None: the defaults.
    pipeline: PipelineOptions | None = None


# --------------------------------------------------------------------------- bust worker


def export_bust_job(identity_mm: np.ndarray, triangles: np.ndarray, path: str,
                    image: np.ndarray | None = None, vertices_px: np.ndarray | None = None) -> str:
    """Build and write a printable bust; runs in the worker process. Returns the path written.

    ``identity_mm (468, 3) float32``: the fused neutral face, mm; ``triangles (F, 3) int32``;
    ``image (H, W, 3) uint8`` BGR and ``vertices_px (468, 3)`` pixels: the frame of the
    snapshot and the face in it, for the detail the image's shading adds (optional).
    """
    from realtime.bust import BustOptions, build_bust, export_bust

    bust = build_bust(identity_mm, triangles, BustOptions(), image=image, vertices_px=vertices_px)
    return str(export_bust(bust, path))


class BustWorker:
    """Runs bust exports in one background process; the live loop only submits and polls."""

    def __init__(self, job: Callable[[np.ndarray, np.ndarray, str], str] = export_bust_job,
                 executor: concurrent.futures.Executor | None = None):
        self.job = job
        # spawn: the child must not inherit the window's GL/X11 state.
        self.executor = executor or concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        self.pending: list[tuple[concurrent.futures.Future, str, float]] = []
        self.saved: list[str] = []

    def submit(self, identity_mm: np.ndarray, triangles: np.ndarray, path: str, **frame) -> None:
        """Queue one export; ``frame`` may carry ``image`` and ``vertices_px`` for detail."""
        future = self.executor.submit(self.job, np.asarray(identity_mm), np.asarray(triangles), path, **frame)
        self.pending.append((future, path, time.perf_counter()))

    def poll(self) -> list[str]:
        """Messages for exports that finished since the last call."""
        messages, still = [], []
        for future, path, started in self.pending:
            if not future.done():
                still.append((future, path, started))
                continue
            try:
                saved = future.result()
                self.saved.append(saved)
                messages.append(f"bust saved: {saved}")
            except Exception as exc:  # the worker's error becomes a HUD message
                messages.append(f"bust export failed: {exc}")
        self.pending = still
        return messages

    @property
    def busy(self) -> bool:
        return bool(self.pending)

    def progress(self) -> str | None:
        if not self.pending:
            return None
        elapsed = time.perf_counter() - self.pending[0][2]
        return f"exporting bust... {elapsed:.1f} s"

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=False)


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


class VideoRecorder:
    """Writes BGR frames to an .mp4 (OpenCV, mp4v); the folder is created when missing."""

    def __init__(self, path: str, size: tuple[int, int], fps: float):
        import cv2

        check_video_folder(path)
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), size)
        if not self.writer.isOpened():
            raise InputError(f"cannot write video {path}: OpenCV has no mp4v encoder for it "
                             "(give the file an .mp4 name)")
        self.path = path

    def write(self, image_bgr: np.ndarray) -> None:
        self.writer.write(image_bgr)

    def close(self) -> None:
        self.writer.release()


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


def load_glasses_choice(name_or_path: str, anchors: str | None = None) -> GlassesModel:
    """A library entry by name, or a user model file with its anchor JSON."""
    path = Path(name_or_path)
    if path.suffix.lower() in (".obj", ".glb", ".gltf", ".stl", ".ply"):
        anchor_path = Path(anchors) if anchors else path.with_suffix(".json")
        return load_user_glasses(path, anchor_path)
    return build_glasses(glasses_by_name(name_or_path))


# --------------------------------------------------------------------------- session


class LiveSession:
    """One running try-on: state, per-frame work and key handling, independent of the window.

    ``ctx``: the ``moderngl.Context`` to render with (the window's, or a headless one).
    """

    def __init__(self, ctx, options: LiveOptions, pipeline=None, bust_worker: BustWorker | None = None,
                 glasses: GlassesModel | None = None):
        from realtime.capture import Capture, CaptureOptions
        from realtime.pipeline import Pipeline, PipelineOptions
        from realtime.topology import face_triangles

        self.options = options
        self.capture_options = CaptureOptions(camera=options.camera, path=options.video, size=options.camera_size)
        self._Capture = Capture
        self.capture = Capture(self.capture_options)
        self.pipeline = pipeline or Pipeline(options.pipeline or PipelineOptions())
        self.triangles = face_triangles()
        self.renderer = Renderer(ctx, RenderOptions(options.width, options.height), self.triangles)
        first = glasses or load_glasses_choice(options.glasses, options.glasses_anchors)
        self.glasses: list[GlassesModel] = [first]
        self.glasses += [build_glasses(spec) for spec in GLASSES_LIBRARY if spec.name != self.glasses[0].name]
        self.glasses_index = 0
        self.view_mode = ViewMode.TRYON
        self.view3d = View3D.INSET
        self.paused = False
        self.show_help = False
        self.quit = False
        self.frames_rendered = 0
        self.fps = 0.0
        self._last_time: float | None = None
        self._messages: deque[tuple[float, str]] = deque(maxlen=4)
        self._last_result = None
        self._bust = bust_worker
        self._snapshots = 0
        self.recorder = None
        self.virtual_cam = None
        fps = self.capture.fps or 30.0
        if options.record:
            self.recorder = VideoRecorder(options.record, (options.width, options.height), fps)
        if options.virtual_cam:
            self.virtual_cam = VirtualCamera((options.width, options.height), fps)

    # ---------------------------------------------------------------- keys
    def message(self, text: str) -> None:
        self._messages.append((time.perf_counter(), text))

    def key(self, name: str) -> None:
        """Handle one key by name: ``s g m v r space ? h escape q``."""
        name = name.lower()
        if name == "s":
            self.snapshot()
        elif name == "g":
            self.glasses_index = (self.glasses_index + 1) % len(self.glasses)
            model = self.glasses[self.glasses_index]
            self.message(f"glasses: {model.name} {model.label}")
        elif name == "m":
            self.view_mode = self.view_mode.next()
        elif name == "v":
            self.view3d = self.view3d.next()
        elif name == "r":
            self.pipeline.reset()
            self.message("fusion reset")
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
        path = str(Path(self.options.bust_dir) / f"bust-{stamp}-{self._snapshots}.stl")
        Path(self.options.bust_dir).mkdir(parents=True, exist_ok=True)
        frame = {}
        result = self._last_result
        if getattr(result, "faces", None):
            frame = {"image": result.frame.image, "vertices_px": result.faces[0].vertices}
        self._bust.submit(np.asarray(fused.identity_mm, np.float32), self.triangles, path, **frame)
        self.message("snapshot: exporting bust in the background")

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
                self.message(text)
        fused = self._fused(result)
        h, w = result.frame.image.shape[:2]
        intrinsics = self.pipeline.intrinsics_for(w, h)
        need_pixels = bool(self.recorder or self.virtual_cam) if read is None else read
        render = self.renderer.render(
            result.frame.image, fused, intrinsics, self.view_mode, self.glasses[self.glasses_index],
            self.hud(result, fused), self.view3d, read=need_pixels,
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

    def hud(self, result, fused) -> HudInfo:
        now = time.perf_counter()
        messages = [text for t, text in self._messages if now - t < MESSAGE_SECONDS]
        if self._bust is not None and self._bust.progress():
            messages.append(self._bust.progress())
        timings = {k: v for k, v in (result.timings_ms or {}).items() if k in ("track", "reconstruct", "fuse", "total")}
        timings["render"] = getattr(self, "_render_ms", 0.0)
        pd = getattr(fused, "pd_mm", None) if fused is not None else None
        if fused is None:
            tracking = "searching for a face"
        else:
            tracking = f"tracking ({getattr(fused, 'frames_fused', 0)} frames fused, scale: {getattr(fused, 'scale_source', '?')})"
        model = self.glasses[self.glasses_index]
        return HudInfo(
            fps=self.fps, timings_ms=timings, provider=getattr(result, "provider", ""),
            pd_mm=pd if pd is not None and math.isfinite(pd) else None, tracking=tracking,
            glasses=f"{model.name} {model.label}", view=f"{self.view_mode.value}, 3D {self.view3d.value}",
            messages=tuple(messages), show_help=self.show_help, paused=self.paused,
        )

    def write_status(self) -> None:
        status = {
            "frames": self.frames_rendered, "fps": round(self.fps, 2),
            "exporting": bool(self._bust and self._bust.busy),
            "tracking": self._fused(self._last_result) is not None,
            "busts": list(self._bust.saved) if self._bust else [],
            "messages": [text for _, text in self._messages],
        }
        path = Path(self.options.status_file)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(status))
        os.replace(tmp, path)

    def close(self) -> None:
        if self.options.status_file:
            self.write_status()
        for thing in (self.recorder, self.virtual_cam, self._bust, self.capture, self.pipeline, self.renderer):
            if thing is not None:
                thing.close()

    def __enter__(self) -> "LiveSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------- window


def _key_names(keys) -> dict:
    """moderngl-window key constants -> ``LiveSession.key`` names."""
    names = {keys.ESCAPE: "escape", keys.SPACE: "space", keys.SLASH: "?"}
    for letter in "SGMVRHQ":
        names[getattr(keys, letter)] = letter.lower()
    return names


def run_live(options: LiveOptions) -> int:
    """Open the window and run until Esc/Q, the window closes or ``max_frames``."""
    try:
        import moderngl_window
    except ImportError as exc:
        raise Selfie3DError("the live window needs moderngl-window: pip install moderngl-window "
                            "(a dependency of selfie3d; reinstall it)") from exc
    # Input first, before any window opens: a bad glasses model or recording path is one line
    # even on a machine without a display.
    glasses = load_glasses_choice(options.glasses, options.glasses_anchors)
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
    session = LiveSession(window.ctx, options, glasses=glasses)
    keys = _key_names(window.keys)

    def on_key(key, action, modifiers):
        if action == window.keys.ACTION_PRESS and key in keys:
            session.key("?" if keys[key] == "?" and modifiers.shift else keys[key])

    def on_drag(x, y, dx, dy):
        session.renderer.orbit(dx * ORBIT_RAD_PER_PX, dy * ORBIT_RAD_PER_PX)

    window.key_event_func = on_key
    window.mouse_drag_event_func = on_drag
    try:
        while not window.is_closing and not session.quit:
            result = session.step()
            if result is None:
                break
            window.ctx.copy_framebuffer(window.fbo, session.renderer.fbo)
            window.swap_buffers()
    finally:
        session.close()
        window.destroy()
    return 0


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
    model = load_glasses_choice(glasses)
    recorder = VideoRecorder(str(video_path), size, fps)
    written, preview_done, render_ms = 0, False, 0.0
    # The HUD shows the median of the last second's timings, as a person reads it: steady
    # numbers, not one frame's spike (a periodic iris or re-canonicalisation frame).
    recent: deque = deque(maxlen=int(round(fps)) or 30)
    with Renderer(ctx, RenderOptions(*size), face_triangles()) as renderer:
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
                          glasses=f"{model.name} {model.label}", view="try-on, 3D inset")
            renderer.orbit_yaw_rad = math.radians(40.0) + 0.6 * math.sin(written / fps * 0.5)
            rendered = renderer.render(result.frame.image, fused, intrinsics_for(w, h), ViewMode.TRYON, model, hud, View3D.INSET)
            image, render_ms = rendered.image, rendered.render_ms
            recorder.write(image)
            target = preview_index if preview_index is not None else 150
            if preview_path is not None and not preview_done and (written >= target and fused is not None):
                cv2.imwrite(str(preview_path), image)
                preview_done = True
            written += 1
        if preview_path is not None and not preview_done and written:
            cv2.imwrite(str(preview_path), image)
    recorder.close()
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
    names = ", ".join(s.name for s in GLASSES_LIBRARY)
    parser.add_argument("--glasses", default="round", metavar="NAME",
                        help=f"glasses to start with: {names}, or an OBJ/GLB/STL model (default: round)")
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
    """``python -m realtime.live``: the same as ``selfie3d live``."""
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
    raise SystemExit(main())
