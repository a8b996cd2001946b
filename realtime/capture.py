"""Capture stage: frames in, from a webcam, a video file, an image, a folder of images or the
built-in demo clip.

A background thread reads from the source so decoding overlaps the rest of the pipeline. In
live mode (cameras) the reader keeps only the newest frame and drops stale ones, so the
pipeline always works on what the camera sees now; in file mode it hands over every frame,
with a small bounded queue for back-pressure. Every frame carries its index and a timestamp in
seconds (media time for files, capture time for cameras). Out: ``Frame`` objects, ``None`` at
the end of the stream.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

import cv2
import numpy as np

from realtime.democlip import DemoClipOptions, render_demo_frame
from realtime.errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm")

# Images beyond this many pixels are downscaled on load: a 100-megapixel scan would otherwise
# take 300 MB per copy and the networks only ever see a 192x192 crop of the face.
MAX_IMAGE_PIXELS = 40_000_000


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
    demo: DemoClipOptions = DemoClipOptions()

    @property
    def description(self) -> str:
        if self.camera is not None:
            return f"camera {self.camera}"
        if self.path is not None:
            return str(self.path)
        return "built-in demo clip"


class _Reader(Protocol):
    fps: float

    def read(self) -> tuple[np.ndarray, float] | None: ...

    def close(self) -> None: ...


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as ``(H, W, 3) uint8`` BGR, honouring EXIF orientation.

    Grayscale, RGBA and 16-bit images are converted; huge images are downscaled so they stay
    under ``MAX_IMAGE_PIXELS``. Raises ``InputError`` with one line for anything unreadable.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an image")
    # imdecode on bytes works for any path (spaces, non-ASCII) on every platform.
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        raise InputError(f"{path}: the file is empty")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path}: not an image OpenCV can read (corrupt, truncated or another format)")
    # IMREAD_UNCHANGED skips EXIF rotation; decode the orientation and apply it ourselves.
    image = _apply_exif_orientation(image, data)
    return to_bgr8(image, name=str(path))


def to_bgr8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Convert grayscale, BGRA, 16-bit or float images to ``(H, W, 3) uint8`` BGR."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        image = np.clip(image * 255.0 if image.max() <= 1.0 else image, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InputError(f"{name}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    elif not (image.ndim == 3 and image.shape[2] == 3):
        raise InputError(f"{name}: unsupported image shape {image.shape}")
    if image.shape[0] * image.shape[1] > MAX_IMAGE_PIXELS:
        factor = (MAX_IMAGE_PIXELS / (image.shape[0] * image.shape[1])) ** 0.5
        size = (max(1, int(image.shape[1] * factor)), max(1, int(image.shape[0] * factor)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def _apply_exif_orientation(image: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Rotate/flip per the EXIF Orientation tag (JPEG only; other formats are returned as is)."""
    orientation = _exif_orientation(data.tobytes()[:65536])
    ops = {
        2: lambda im: cv2.flip(im, 1),
        3: lambda im: cv2.rotate(im, cv2.ROTATE_180),
        4: lambda im: cv2.flip(im, 0),
        5: lambda im: cv2.flip(cv2.rotate(im, cv2.ROTATE_90_CLOCKWISE), 1),
        6: lambda im: cv2.rotate(im, cv2.ROTATE_90_CLOCKWISE),
        7: lambda im: cv2.flip(cv2.rotate(im, cv2.ROTATE_90_COUNTERCLOCKWISE), 1),
        8: lambda im: cv2.rotate(im, cv2.ROTATE_90_COUNTERCLOCKWISE),
    }
    return ops[orientation](image) if orientation in ops else image


def _exif_orientation(head: bytes) -> int:
    """The EXIF orientation (1..8) from the first bytes of a JPEG, 1 when absent."""
    import struct

    if not head.startswith(b"\xff\xd8"):
        return 1
    pos = 2
    while pos + 4 <= len(head):
        if head[pos] != 0xFF:
            return 1
        marker = head[pos + 1]
        length = struct.unpack(">H", head[pos + 2 : pos + 4])[0]
        if marker == 0xE1 and head[pos + 4 : pos + 10] == b"Exif\x00\x00":
            tiff = head[pos + 10 : pos + 2 + length]
            if len(tiff) < 8:
                return 1
            endian = "<" if tiff[:2] == b"II" else ">"
            ifd = struct.unpack(endian + "I", tiff[4:8])[0]
            if ifd + 2 > len(tiff):
                return 1
            count = struct.unpack(endian + "H", tiff[ifd : ifd + 2])[0]
            for i in range(count):
                entry = tiff[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
                if len(entry) == 12 and struct.unpack(endian + "H", entry[:2])[0] == 0x0112:
                    return struct.unpack(endian + "H", entry[8:10])[0]
            return 1
        if marker in (0xDA, 0xD9):
            return 1
        pos += 2 + length
    return 1


def list_images(folder: Path) -> list[Path]:
    """Image files in ``folder`` (not recursive), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


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
    def __init__(self, paths: list[Path], fps: float):
        self.paths = paths
        self.fps = fps
        self._index = 0

    def read(self):
        if self._index >= len(self.paths):
            return None
        image = load_image(self.paths[self._index])
        timestamp = self._index / self.fps
        self._index += 1
        return image, timestamp

    def close(self):
        pass


class _VideoReader:
    def __init__(self, path: Path):
        self.path = path
        self._cap = cv2.VideoCapture(str(path))
        if not self._cap.isOpened():
            raise InputError(f"{path}: not a video OpenCV can open (corrupt, truncated or another format)")
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        # Some containers report 0 or nonsense; fall back to 30 so timestamps stay monotonic.
        self.fps = fps if 1.0 <= fps <= 240.0 else 30.0
        self._index = 0
        self.expected_frames = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))

    def read(self):
        ok, image = self._cap.read()
        if not ok or image is None:
            return None
        timestamp = self._index / self.fps
        self._index += 1
        return to_bgr8(image, str(self.path)), timestamp

    def close(self):
        self._cap.release()


class _CameraReader:
    def __init__(self, index: int, size: tuple[int, int] | None):
        self.index = index
        self._cap = cv2.VideoCapture(index)
        if not self._cap.isOpened():
            self._cap.release()
            raise InputError(
                f"cannot open camera {index} (no such device, or it is in use); "
                "use --video FILE to run on a video file instead"
            )
        if size is not None:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1.0 <= fps <= 240.0 else 30.0
        self._start = time.monotonic()

    def read(self):
        ok, image = self._cap.read()
        if not ok or image is None:
            return None
        return to_bgr8(image, f"camera {self.index}"), time.monotonic() - self._start

    def close(self):
        self._cap.release()


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
    return _VideoReader(path)


_END = object()


class Capture:
    """Threaded frame source. Iterate it, or call ``read()``; ``None`` means the stream ended.

    Errors raised while reading in the thread (a corrupt image in a folder, say) are re-raised
    from ``read()`` in the caller's thread.
    """

    def __init__(self, options: CaptureOptions = CaptureOptions()):
        self.options = options
        self._reader = open_reader(options)
        self.fps = self._reader.fps
        self.live = options.live if options.live is not None else options.camera is not None
        self.dropped_frames = 0
        self._stop = threading.Event()
        self._queue: queue.Queue = queue.Queue(maxsize=options.queue_frames)
        self._latest: tuple | None = None
        self._latest_ready = threading.Condition()
        self._index = 0
        self._thread = threading.Thread(target=self._run, name="selfie3d-capture", daemon=True)
        self._thread.start()

    # --- producer -------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                item = self._reader.read()
                if item is None:
                    self._hand_over(_END)
                    return
                image, timestamp = item
                self._hand_over(Frame(image=image, index=self._index, timestamp_s=timestamp))
                self._index += 1
        except BaseException as error:  # handed to the consumer, which re-raises it
            self._hand_over(error)

    def _hand_over(self, item) -> None:
        if self.live:
            with self._latest_ready:
                if isinstance(self._latest, Frame):
                    self.dropped_frames += 1  # the consumer never saw it: stale, dropped
                self._latest = item
                self._latest_ready.notify()
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

        Raises ``InputError`` when a live camera delivers nothing for ``stall_timeout_s``.
        """
        timeout = self.options.stall_timeout_s if timeout is None else timeout
        if self.live:
            with self._latest_ready:
                if self._latest is None and not self._latest_ready.wait_for(
                    lambda: self._latest is not None, timeout=timeout
                ):
                    raise InputError(f"{self.options.description}: no frame for {timeout:.1f} s (camera stalled)")
                item, self._latest = self._latest, None
                if item is _END:
                    self._latest = _END  # stay at the end for later reads
        else:
            item = self._queue.get()
            if item is _END:
                self._queue.put(_END)
        if item is _END:
            return None
        if isinstance(item, BaseException):
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
        self._thread.join(timeout=2.0)
        self._reader.close()

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
