"""Capture stage: frames in, from a webcam, a video file, an image, a folder of images or the
built-in demo clip.

A background thread reads from the source so decoding overlaps the rest of the pipeline. In
live mode (cameras) the reader keeps only the newest frame and drops stale ones, so the
pipeline always works on what the camera sees now; in file mode it hands over every frame,
with a small bounded queue for back-pressure. Every frame carries its index and a timestamp in
seconds (media time for files, capture time for cameras). Out: ``Frame`` objects, ``None`` at
the end of the stream.

Faults are part of the stream, not the end of it. A camera that stops delivering is reopened
with exponential back-off while ``Capture.status`` says "camera lost, retrying (attempt N)"
for the window to show; frames resume when it is back. A camera that delivers nothing without
failing is reported as stalled. Odd frame formats (grayscale, BGRA, YUYV, 16-bit) are
converted at this edge. A video that stops before the frame count its container states is
probed past the damaged stretch; what was skipped is counted and reported in
``Capture.warnings``. A bad image in a folder is skipped with a warning, the rest go on. Image
files are decoded by ``realtime.stages.imagefile`` (untrusted input: sizes checked from the
header before decoding).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

import cv2
import numpy as np

from realtime.errors import InputError
from realtime.stages.democlip import DemoClipOptions, render_demo_frame
from realtime.stages.imagefile import IMAGE_SUFFIXES, list_images, load_image, quiet_opencv, to_bgr8

log = logging.getLogger(__name__)

# FFmpeg prints a line per damaged packet to stderr; the video reader reports damage in one
# warning instead. Read when the first video opens; set OPENCV_FFMPEG_LOGLEVEL=32 to see them.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

@dataclass(frozen=True)
class Frame:
    """One captured frame.

    image: ``(H, W, 3) uint8`` BGR.
    index: 0-based position in the source (counts dropped frames too in live mode).
    timestamp_s: seconds; media time for files and the demo clip, time since capture start for
        cameras.
    """

    image: np.ndarray
    index: int
    timestamp_s: float


@dataclass(frozen=True)
class CaptureOptions:
    camera: int | None = None  # webcam index; wins over path
    path: str | None = None  # video file, image file or folder of images; None + no camera = demo clip
    live: bool | None = None  # None: cameras are live (newest frame), files hand over every frame
    size: tuple[int, int] | None = None  # requested camera size (width, height), pixels
    fps: float = 30.0  # timestamps for images and folders, frames per second
    # File mode read-ahead, frames: enough to hide decode jitter, small enough to bound memory.
    queue_frames: int = 4
    # A camera that delivers nothing for this long is reported as stalled, seconds.
    stall_timeout_s: float = 5.0
    # A live camera whose reads fail is reopened, waiting reconnect_delay_s before the first
    # try and doubling up to reconnect_max_delay_s: an unplugged USB camera takes a second or
    # two to come back, and probing a missing device every few seconds costs nothing.
    reconnect: bool = True
    reconnect_delay_s: float = 0.5
    reconnect_max_delay_s: float = 8.0
    # Give up after this many reopen attempts (0: keep trying until closed; the window stays up).
    reconnect_attempts: int = 0
    # Consecutive failed reads before a camera counts as lost: drivers drop a single read now
    # and then without anything being wrong.
    lost_after_failed_reads: int = 3
    # A video that stops before its stated frame count is probed this many times past the
    # failure, jumping 1, 2, 4, ... frames, to resume after a damaged stretch.
    damaged_seek_attempts: int = 6
    demo: DemoClipOptions = DemoClipOptions()

    @property
    def description(self) -> str:
        if self.camera is not None:
            return f"camera {self.camera}"
        if self.path is not None:
            return str(self.path)
        return "built-in demo clip"


@dataclass(frozen=True)
class CaptureStatus:
    """Where the source stands, for a HUD line and for scripts.

    state: "ok" (frames arrive), "lost" (camera failed, being reopened), "stalled" (camera
        open but silent for ``stall_timeout_s``), "ended" (no more frames), "failed" (gave up).
    message: one line to show the user.
    attempt: the reopen attempt in progress while "lost", else 0.
    """

    state: str = "ok"
    message: str = "ok"
    attempt: int = 0

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class CameraInfo:
    """A camera that opened while probing: index, frame size in pixels, frames per second and
    the OpenCV backend that opened it."""

    index: int
    width: int
    height: int
    fps: float
    backend: str


def reconnect_delay_s(attempt: int, first_s: float, max_s: float) -> float:
    """Seconds to wait before reopen attempt ``attempt`` (1-based): ``first_s * 2**(attempt-1)``,
    capped at ``max_s``."""
    return min(first_s * 2.0 ** max(attempt - 1, 0), max_s)


class _Reader(Protocol):
    fps: float

    def read(self) -> tuple | None: ...  # (image, timestamp_s[, source index]) or None

    def close(self) -> None: ...


class _DemoReader:
    def __init__(self, options: DemoClipOptions):
        self.options = options
        self.fps = options.fps
        self._index = 0

    def read(self):
        if self._index >= self.options.frame_count:
            return None
        image = render_demo_frame(self._index, self.options)
        timestamp = self._index / self.fps
        self._index += 1
        return image, timestamp

    def close(self):
        pass


class _ImagesReader:
    """Images one after another. In a folder a bad image is skipped with a warning (the others
    are still worth running); a single image that cannot be read raises."""

    def __init__(self, paths: list[Path], fps: float):
        self.paths = paths
        self.fps = fps
        self.skipped_frames = 0
        self.warnings: list[str] = []
        self._index = 0

    def read(self):
        while self._index < len(self.paths):
            index = self._index
            self._index += 1
            try:
                image = load_image(self.paths[index])
            except InputError as error:
                if len(self.paths) == 1:
                    raise
                self.skipped_frames += 1
                self.warnings.append(f"skipped {error}")
                log.warning("skipped %s", error)
                continue
            return image, index / self.fps, index
        return None

    def close(self):
        pass


class _VideoReader:
    """A video file. When a read fails before the frame count the container states, the file
    is damaged or truncated there: seek past the failure (1, 2, 4, ... frames on) and go on,
    counting what was skipped; if nothing further reads, report how much was missing."""

    def __init__(self, path: Path, seek_attempts: int = 6):
        self.path = path
        self.seek_attempts = seek_attempts
        self.skipped_frames = 0
        self.warnings: list[str] = []
        self._cap = cv2.VideoCapture(str(path))
        if not self._cap.isOpened():
            self._cap.release()
            raise InputError(f"{path}: not a video OpenCV can open (corrupt, truncated or another format)")
        # A phone films portrait video as landscape frames and a display turn in the container;
        # OpenCV's wheel does not apply it unless asked (4.11: off), and the face came in on its
        # side. Backends without the property ignore it.
        self._cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        # Some containers report 0 or nonsense; fall back to 30 so timestamps stay monotonic.
        self.fps = fps if 1.0 <= fps <= 240.0 else 30.0
        self._next = 0  # source index of the next frame
        self.expected_frames = max(int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)

    def _frame(self, image: np.ndarray, index: int):
        self._next = index + 1
        return to_bgr8(image, str(self.path)), index / self.fps, index

    def read(self):
        ok, image = self._cap.read()
        if ok and image is not None and image.size:
            return self._frame(image, self._next)
        if self._next >= self.expected_frames:
            return None  # the normal end
        failed_at, jump = self._next, 1
        for _ in range(self.seek_attempts):
            target = failed_at + jump
            if target >= self.expected_frames:
                break
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, target)
            ok, image = self._cap.read()
            if ok and image is not None and image.size:
                self.skipped_frames += target - failed_at
                self._warn(f"{self.path}: frames {failed_at}-{target - 1} are damaged and were skipped")
                return self._frame(image, target)
            jump *= 2
        missing = self.expected_frames - failed_at
        self.skipped_frames += missing
        self._warn(f"{self.path}: the file says {self.expected_frames} frames but reading stopped at frame "
                   f"{failed_at}; the last {missing} are damaged or missing (truncated file?)")
        self._next = self.expected_frames
        return None

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        log.warning(text)

    def close(self):
        self._cap.release()


class _CameraReader:
    """A webcam by index. ``reopen()`` releases and opens it again (after a disconnect)."""

    def __init__(self, index: int, size: tuple[int, int] | None):
        self.index = index
        self.size = size
        self._cap = None
        self._open()
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1.0 <= fps <= 240.0 else 30.0
        self._start = time.monotonic()

    def _open(self) -> None:
        with quiet_opencv():
            cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            raise InputError(
                f"cannot open camera {self.index} (no such device, or it is in use); "
                "use --video FILE to run on a video file instead, or --list-cameras to see which cameras open"
            )
        if self.size is not None:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        self._cap = cap

    def reopen(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._open()

    def read(self):
        if self._cap is None:
            return None
        with quiet_opencv():
            ok, image = self._cap.read()
        if not ok or image is None or image.size == 0:
            return None  # a failed read; the capture thread decides whether the camera is lost
        return to_bgr8(image, f"camera {self.index}"), time.monotonic() - self._start

    def close(self):
        if self._cap is not None:
            self._cap.release()


# list_cameras probes indices 0 .. this - 1: laptops have one or two cameras, capture cards and
# virtual cameras add a few; each missing index costs a few milliseconds.
LIST_CAMERAS_MAX_INDEX = 8


def list_cameras(max_index: int = LIST_CAMERAS_MAX_INDEX) -> list[CameraInfo]:
    """Cameras that open among indices ``0 .. max_index - 1``, with their default frame size.

    Each index is opened, measured and released at once; a missing index costs a few
    milliseconds on Linux (no device node) and OpenCV's warnings are silenced meanwhile.
    """
    found = []
    with quiet_opencv():
        for index in range(max_index):
            cap = cv2.VideoCapture(index)
            try:
                if not cap.isOpened():
                    continue
                width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
                height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
                fps = float(cap.get(cv2.CAP_PROP_FPS))
                try:
                    backend = cap.getBackendName()
                except cv2.error:
                    backend = "unknown"
                found.append(CameraInfo(index, width, height, fps, backend))
            finally:
                cap.release()
    return found


def format_cameras(cameras: list[CameraInfo]) -> str:
    """One line per camera for ``--list-cameras``, or what to try when none opened."""
    if not cameras:
        return "no camera opened; check it is plugged in and not used by another program, or use --video FILE"
    return "\n".join(f"camera {c.index}: {c.width}x{c.height} at {c.fps:.0f} fps ({c.backend})" for c in cameras)


def open_reader(options: CaptureOptions) -> _Reader:
    """The synchronous reader for ``options`` (no thread); raises ``InputError`` when unusable."""
    if options.camera is not None:
        return _CameraReader(options.camera, options.size)
    if options.path is None:
        return _DemoReader(options.demo)
    path = Path(options.path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        images = list_images(path)
        if not images:
            raise InputError(f"{path}: the folder holds no images ({', '.join(IMAGE_SUFFIXES[:4])}, ...)")
        return _ImagesReader(images, options.fps)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _ImagesReader([path], options.fps)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    return _VideoReader(path, options.damaged_seek_attempts)


_END = object()


class Capture:
    """Threaded frame source. Iterate it, or call ``read()``; ``None`` means the stream ended.

    Errors raised while reading in the thread (an unreadable single image, say) are re-raised
    from ``read()`` in the caller's thread. A live camera that is lost is not an error: the
    thread reopens it with back-off, ``status`` says so, and frames resume. A window that must
    keep drawing meanwhile calls ``poll()``, which never waits.
    """

    def __init__(self, options: CaptureOptions = CaptureOptions()):
        self.options = options
        self._reader = open_reader(options)
        self.fps = self._reader.fps
        self.live = options.live if options.live is not None else options.camera is not None
        self.dropped_frames = 0
        self._status = CaptureStatus()
        self._stop = threading.Event()
        self._queue: queue.Queue = queue.Queue(maxsize=options.queue_frames)
        self._latest: object | None = None
        self._latest_ready = threading.Condition()
        self._last_frame_time = time.monotonic()
        self._ended = False
        self._attempt = 0  # reopen attempts since the camera was lost; 0 while frames arrive
        self._index = 0
        self._thread = threading.Thread(target=self._run, name="selfie3d-capture", daemon=True)
        self._thread.start()

    # --- status ----------------------------------------------------------------------------
    @property
    def status(self) -> CaptureStatus:
        """The source's state now; "stalled" when a live camera has been silent too long."""
        status = self._status
        if status.ok and self.live and not self._ended:
            silent = time.monotonic() - self._last_frame_time
            if silent > self.options.stall_timeout_s:
                return CaptureStatus("stalled", self._stall_message(silent))
        return status

    @property
    def ended(self) -> bool:
        """True once the stream has ended (or failed) and every frame was handed over."""
        return self._ended

    @property
    def expected_frames(self) -> int:
        """The frames a video file says it holds (0 when unknown: a camera, a folder, the clip)."""
        return int(getattr(self._reader, "expected_frames", 0) or 0)

    @property
    def skipped_frames(self) -> int:
        """Frames a damaged video or bad images in a folder made us skip (file mode)."""
        return getattr(self._reader, "skipped_frames", 0)

    @property
    def warnings(self) -> list[str]:
        """One line per problem met that did not stop the stream (damaged video stretch...)."""
        return list(getattr(self._reader, "warnings", []))

    def _stall_message(self, silent_s: float) -> str:
        return (f"{self.options.description}: no frame for {silent_s:.1f} s (camera stalled); "
                "check the camera, its cable, or whether another program holds it")

    def _set_status(self, state: str, message: str, attempt: int = 0) -> None:
        if (state, attempt) != (self._status.state, self._status.attempt):
            self._status = CaptureStatus(state, message, attempt)
            with self._latest_ready:
                self._latest_ready.notify_all()  # a waiting read() re-checks its deadline

    # --- producer -------------------------------------------------------------------------
    def _run(self) -> None:
        failures = 0
        can_reopen = self.live and self.options.reconnect and hasattr(self._reader, "reopen")
        try:
            while not self._stop.is_set():
                item = self._reader.read()
                if item is None:
                    if not can_reopen:
                        self._set_status("ended", "end of stream")
                        self._hand_over(_END)
                        return
                    failures += 1
                    # Once lost, every failed read after a reopen is the next attempt.
                    if (self._attempt or failures >= self.options.lost_after_failed_reads) and not self._reopen():
                        return
                    continue
                failures = 0
                if self._attempt:  # back only once a frame arrives, not when open() succeeds
                    log.warning("%s is back after %d attempt(s)", self.options.description, self._attempt)
                    self._attempt = 0
                    self._set_status("ok", "ok")
                image, timestamp = item[0], item[1]
                index = item[2] if len(item) > 2 else self._index
                self._last_frame_time = time.monotonic()
                self._hand_over(Frame(image=image, index=index, timestamp_s=timestamp))
                self._index = index + 1
        except BaseException as error:  # handed to the consumer, which re-raises it
            self._set_status("failed", str(error).splitlines()[0] if str(error) else type(error).__name__)
            self._hand_over(error)

    def _reopen(self) -> bool:
        """One reopen attempt of a lost camera after its back-off delay; False when closed or
        given up (the consumer then gets an ``InputError``)."""
        options = self.options
        self._attempt += 1
        if self._attempt == 1:
            log.warning("%s lost; retrying", options.description)  # once, not per attempt
        if options.reconnect_attempts and self._attempt > options.reconnect_attempts:
            message = (f"{options.description} lost and not back after {options.reconnect_attempts} attempts; "
                       "check the cable, or use --video FILE")
            self._set_status("failed", message)
            self._hand_over(InputError(message))
            return False
        self._set_status("lost", f"camera lost, retrying (attempt {self._attempt})", self._attempt)
        delay = reconnect_delay_s(self._attempt, options.reconnect_delay_s, options.reconnect_max_delay_s)
        if self._stop.wait(delay):
            return False
        try:
            self._reader.reopen()
        except InputError:
            pass  # still gone: the next read fails and the next attempt waits longer
        return True

    def _hand_over(self, item) -> None:
        if self.live:
            with self._latest_ready:
                if isinstance(self._latest, Frame):
                    self.dropped_frames += 1  # the consumer never saw it: stale, dropped
                if not (isinstance(self._latest, BaseException) or self._latest is _END):
                    self._latest = item  # an error or the end is never overwritten
                self._latest_ready.notify_all()
            return
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # --- consumer -------------------------------------------------------------------------
    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame (file mode) or the newest frame (live mode); ``None`` at the end.

        Live mode waits while a lost camera is being reopened (``status`` says so; that is not
        an error), and raises ``InputError`` when the camera is open but delivers nothing for
        ``timeout`` seconds (default ``stall_timeout_s``).
        """
        timeout = self.options.stall_timeout_s if timeout is None else timeout
        if not self.live:
            return self._take(self._queue.get())
        deadline = time.monotonic() + timeout
        with self._latest_ready:
            while self._latest is None:
                if self._status.state == "lost":
                    deadline = time.monotonic() + timeout  # reconnecting: silence is expected
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise InputError(f"{self.options.description}: no frame for {timeout:.1f} s (camera stalled); "
                                     "check the camera, its cable, or whether another program holds it")
                self._latest_ready.wait(min(remaining, 0.25))
            item = self._take_latest()
        return self._take(item)

    def poll(self) -> Frame | None:
        """The newest frame if one arrived since the last call, else ``None``; never waits.

        For a window that keeps drawing through a camera loss: show ``status`` meanwhile, and
        stop when ``ended`` is True. Re-raises a reader's error like ``read()``.
        """
        if self.live:
            with self._latest_ready:
                item = self._take_latest()
        else:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return None
        return self._take(item) if item is not None else None

    def _take_latest(self):
        item, self._latest = self._latest, None
        if item is _END or isinstance(item, BaseException):
            self._latest = item  # stay at the end (or the error) for later reads
        return item

    def _take(self, item) -> Frame | None:
        if item is _END:
            if not self.live:
                self._queue.put(_END)
            self._ended = True
            return None
        if isinstance(item, BaseException):
            if not self.live:
                self._queue.put(item)  # later reads raise it again instead of waiting forever
            self._ended = True
            raise item
        return item

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def close(self) -> None:
        self._stop.set()
        with self._latest_ready:
            self._latest_ready.notify_all()
        self._thread.join(timeout=2.0)
        if not self._thread.is_alive():  # a thread stuck in a driver call keeps its reader
            self._reader.close()

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
