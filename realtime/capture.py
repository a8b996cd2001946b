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
``Capture.warnings``. A bad image in a folder is skipped with a warning, the rest go on.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import queue
import struct
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple, Protocol

import cv2
import numpy as np

from realtime.democlip import DemoClipOptions, render_demo_frame
from realtime.errors import InputError

log = logging.getLogger(__name__)

# FFmpeg prints a line per damaged packet to stderr; the video reader reports damage in one
# warning instead. Read when the first video opens; set OPENCV_FFMPEG_LOGLEVEL=32 to see them.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm")

# Images beyond this many pixels are downscaled on load: a 100-megapixel scan would otherwise
# take 300 MB per copy and the networks only ever see a 192x192 crop of the face.
MAX_IMAGE_PIXELS = 40_000_000
# Images that would decode to more pixels than this (after JPEG's reduced decoding) are
# refused from their header, before decoding, whatever the format: a 100 MP scan (300 MB
# decoded) still loads; a forged header (a decompression bomb) does not get gigabytes.
MAX_DECODE_PIXELS = 120_000_000
# OpenCV's own cap on the pixels it decodes (checked on the reduced size for reduced JPEG
# decoding, as ours is), read at its first decode: a backstop for a format whose header neither
# we nor Pillow read.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_DECODE_PIXELS))
# The PNG specification caps a chunk at 2**31 - 1 bytes.
PNG_MAX_CHUNK_BYTES = 2**31 - 1
# Files larger than this are not read into memory: no real photo comes close, bytes.
MAX_IMAGE_FILE_BYTES = 1 << 29


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


# OpenCV's log levels (cv2.setLogLevel): 0 is silent.
_OPENCV_LOG_SILENT = 0


@contextlib.contextmanager
def _quiet_opencv():
    """Silence OpenCV's own log lines while we probe cameras or decode (a missing camera index
    prints two per index, a damaged image a "[ WARN ]" line); our one line says what matters."""
    if not hasattr(cv2, "setLogLevel"):
        yield
        return
    previous = cv2.getLogLevel()
    cv2.setLogLevel(_OPENCV_LOG_SILENT)
    try:
        yield
    finally:
        cv2.setLogLevel(previous)


_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _decoder_messages():
    """Collect what libpng and libjpeg print straight to the C ``stderr`` while decoding
    ("libpng error: PNG input buffer is incomplete"), so it becomes part of our one line
    instead of a stray line before it. Yields a list filled with the lines on exit. The lock
    keeps two decoding threads from swapping file descriptor 2 under each other."""
    lines: list[str] = []
    with _STDERR_LOCK:
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all (a GUI launcher): nothing to capture
            yield lines
            return
        try:
            with tempfile.TemporaryFile() as sink:
                os.dup2(sink.fileno(), 2)
                try:
                    yield lines
                finally:
                    os.dup2(saved, 2)
                    sink.seek(0)
                    text = sink.read(4096).decode("utf-8", "replace")
                    lines += [line.strip() for line in text.splitlines() if line.strip()]
        finally:
            os.close(saved)


def png_problem(data: np.ndarray | bytes) -> str | None:
    """Why PNG bytes cannot be a whole PNG, or ``None``; walks the chunk lengths without
    decoding. OpenCV 4.11 allocates a chunk's stated length before reading it, so a 500-byte
    file claiming a 4 GB chunk costs 4 GB and seconds: such files never reach the decoder."""
    view = memoryview(np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data)
    size, pos, first = len(view), 8, True
    while pos + 8 <= size:
        length = int.from_bytes(view[pos : pos + 4], "big")
        kind = bytes(view[pos + 4 : pos + 8])
        if first and (kind != b"IHDR" or length != 13):
            return "corrupt PNG: it does not start with its header chunk"
        first = False
        if length > PNG_MAX_CHUNK_BYTES:
            return "corrupt PNG: a chunk length is out of range"
        pos += 12 + length  # length, type, data, CRC
        if pos > size:
            return "truncated PNG: the file ends inside a chunk"
        if kind == b"IEND":
            return None
    return "truncated PNG: the file ends before its end chunk"


def image_header_size(head: bytes) -> tuple[int, int] | None:
    """``(width, height)`` in pixels from a PNG, JPEG, BMP or GIF header, ``None`` when the
    format is another or the header is unreadable; lets huge images be refused or decoded at a
    reduced size before any pixel is decoded."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24 and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head.startswith(b"BM") and len(head) >= 26:
        width, height = struct.unpack("<ii", head[18:26])
        return abs(width), abs(height)
    if head.startswith(b"\xff\xd8"):
        pos = 2
        while pos + 9 <= len(head):
            if head[pos] != 0xFF:
                return None
            marker = head[pos + 1]
            if marker == 0xFF:  # fill byte
                pos += 1
                continue
            length = struct.unpack(">H", head[pos + 2 : pos + 4])[0]
            # SOF0..SOF15 carry the size, except DHT (C4), JPG (C8) and DAC (CC).
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", head[pos + 5 : pos + 9])
                return width, height
            if marker in (0xDA, 0xD9) or length < 2:
                return None
            pos += 2 + length
    return None


# Formats OpenCV's wheels do not decode but Pillow recognises: named in the error instead of
# "corrupt or truncated" (the web service says the same).
UNSUPPORTED_FORMATS = ("GIF", "ICO", "PSD", "PCX", "TGA", "DDS", "ICNS", "EPS", "PDF")
SUPPORTED_FORMATS_TEXT = "JPEG, PNG, WebP, BMP or TIFF"


class ImageHeader(NamedTuple):
    """What an image file's header says: ``format`` (Pillow's name, or None when read by
    ``image_header_size`` or unknown), ``size`` ``(width, height)`` in pixels (None when
    unknown or only a pixel count is claimed) and ``pixels`` (width x height, or the count
    claimed; 0 when unknown)."""

    format: str | None
    size: tuple[int, int] | None
    pixels: int


def probe_header(data: np.ndarray | bytes) -> ImageHeader:
    """The header of encoded image bytes, read without decoding a pixel. PNG, JPEG and BMP are
    read here; any other format Pillow knows (TIFF, WebP, GIF, JPEG 2000, PNM...) by Pillow's
    lazy open, which parses the header and decodes nothing."""
    view = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
    size = image_header_size(view[:65536].tobytes())
    if size is not None:
        return ImageHeader(None, size, size[0] * size[1])
    import re
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: we judge the size ourselves
            with Image.open(io.BytesIO(view.tobytes())) as picture:
                width, height = picture.size
                return ImageHeader(picture.format, (width, height), width * height)
    except Image.DecompressionBombError as error:  # "Image size (400000000 pixels) exceeds limit..."
        claimed = re.search(r"\((\d+) pixels\)", str(error))
        return ImageHeader(None, None, int(claimed.group(1)) if claimed else MAX_DECODE_PIXELS + 1)
    except Exception:  # not a format Pillow knows, or a damaged header: the decoder decides
        return ImageHeader(None, None, 0)


def _jpeg_reduction(size: tuple[int, int] | None) -> int:
    """The smallest libjpeg DCT scaling (1, 2, 4 or 8) that brings a JPEG of ``size`` to at
    most ``MAX_IMAGE_PIXELS``: the decoder then never holds the full-size image (a 100 MP
    photo decodes at 25 MP, 75 MB, instead of 300 MB)."""
    if size is None:
        return 1
    pixels = size[0] * size[1]
    factor = 1
    while factor < 8 and pixels / factor**2 > MAX_IMAGE_PIXELS:
        factor *= 2
    return factor


# JPEG 2000 (file and raw codestream): OpenCV 4.11's OpenJPEG 2.5 crashes the process on some
# corrupt files (found by tests/test_fuzz.py), so these are decoded in a child process, where
# a crash is one clear error instead of a lost session. They are rare, so the ~0.3 s start-up
# of the child is paid rarely.
_ISOLATED_MAGICS = (b"\x00\x00\x00\x0cjP  ", b"\xff\x4f\xff\x51")
# Seconds a child decoder may take before it counts as hung.
ISOLATED_DECODE_TIMEOUT_S = 60.0
_CHILD_DECODER = (
    "import sys, io, cv2, numpy as np\n"
    "cv2.setLogLevel(0)\n"
    "image = cv2.imdecode(np.frombuffer(sys.stdin.buffer.read(), np.uint8), int(sys.argv[1]))\n"
    "buffer = io.BytesIO()\n"
    "np.save(buffer, np.zeros((0,), np.uint8) if image is None else image)\n"
    "sys.stdout.buffer.write(buffer.getvalue())\n"
)


def _decode_isolated(data: np.ndarray, flags: int, name: str) -> np.ndarray | None:
    """``cv2.imdecode`` in a child process; ``None`` when it fails, ``InputError`` when the
    decoder crashed or hung."""
    import io
    import subprocess
    import sys

    try:
        child = subprocess.run([sys.executable, "-c", _CHILD_DECODER, str(flags)], input=data.tobytes(),
                               capture_output=True, timeout=ISOLATED_DECODE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise InputError(f"{name}: the image decoder hung on this file (corrupt?)") from None
    if child.returncode != 0:
        raise InputError(f"{name}: not an image OpenCV can read (the decoder crashed on it: corrupt or truncated)")
    image = np.load(io.BytesIO(child.stdout), allow_pickle=False)
    return image if image.size else None


_REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as ``(H, W, 3) uint8`` BGR, honouring EXIF orientation.

    Grayscale, RGBA and 16-bit images are converted; huge images are downscaled so they stay
    under ``MAX_IMAGE_PIXELS`` (big JPEGs are decoded at 1/2, 1/4 or 1/8 size directly, so
    memory stays bounded). Raises ``InputError`` with one line for anything unreadable.
    """
    path = Path(path)
    try:
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if path.is_dir():
            raise InputError(f"{path}: is a folder, not an image")
        size_bytes = path.stat().st_size
        if size_bytes > MAX_IMAGE_FILE_BYTES:
            raise InputError(f"{path}: {size_bytes / 2**20:.0f} MB is too large for an image "
                             f"(limit {MAX_IMAGE_FILE_BYTES >> 20} MB)")
        # imdecode on bytes works for any path (spaces, non-ASCII) on every platform.
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})") from None
    if data.size == 0:
        raise InputError(f"{path}: the file is empty")
    return decode_image(data, str(path))


def decode_image(data: np.ndarray | bytes, name: str = "image") -> np.ndarray:
    """Decode encoded image bytes (``(N,) uint8``) to ``(H, W, 3) uint8`` BGR; see
    ``load_image``. Raises ``InputError`` for anything that is not a readable image."""
    data = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
    head = data[:65536].tobytes()
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        problem = png_problem(data)
        if problem:
            raise InputError(f"{name}: not an image OpenCV can read ({problem})")
    header = probe_header(data)
    size = header.size
    if header.format in UNSUPPORTED_FORMATS:
        raise InputError(f"{name}: {header.format} images are not supported: use {SUPPORTED_FORMATS_TEXT}")
    reduction = _jpeg_reduction(size) if head.startswith(b"\xff\xd8") else 1
    if header.pixels / reduction**2 > MAX_DECODE_PIXELS:
        shown = f"{size[0]}x{size[1]} pixels" if size else f"{header.pixels / 1e6:.0f} megapixels"
        raise InputError(f"{name}: {shown} is too large to decode "
                         f"(limit {MAX_DECODE_PIXELS // 1_000_000} megapixels)")
    if size is not None and min(size) == 0:
        raise InputError(f"{name}: the image has no pixels ({size[0]}x{size[1]})")
    # Reduced decoding gives 8-bit BGR; orientation is applied by us below in both cases.
    flags = (_REDUCED_FLAGS[reduction] | cv2.IMREAD_IGNORE_ORIENTATION) if reduction > 1 else cv2.IMREAD_UNCHANGED
    try:
        # OpenCV's own warnings and the codecs' stderr lines are folded into our one line.
        with _quiet_opencv(), _decoder_messages() as messages:
            isolated = head.startswith(_ISOLATED_MAGICS)
            image = _decode_isolated(data, flags, name) if isolated else cv2.imdecode(data, flags)
    except cv2.error as error:  # some damaged headers make the decoder throw instead of returning None
        if "CV_IO_MAX_IMAGE_PIXELS" in str(error):  # the backstop: a header only OpenCV reads
            raise InputError(f"{name}: too large to decode (limit {MAX_DECODE_PIXELS // 1_000_000} "
                             "megapixels)") from None
        image = None
    if image is None or image.size == 0:
        codec = [m for m in messages if not m.startswith("[")]  # not an OpenCV log line
        detail = f": {codec[0].removeprefix('libpng error: ')}" if codec else ""
        raise InputError(f"{name}: not an image OpenCV can read (corrupt, truncated or another format{detail})")
    for message in messages:  # decoded, but the codec saw damage: say so once, as a warning
        log.warning("%s: %s", name, message)
    # IMREAD_UNCHANGED skips EXIF rotation; decode the orientation and apply it ourselves.
    image = _apply_exif_orientation(image, head)
    return to_bgr8(image, name=name)


def to_bgr8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Convert grayscale, BGRA, YUYV (2-channel), 16-bit or float images to ``(H, W, 3) uint8``
    BGR, downscaled to at most ``MAX_IMAGE_PIXELS``. Raises ``InputError`` for other layouts."""
    if image is None or image.size == 0:
        raise InputError(f"{name}: the image is empty")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype in (np.float16, np.float32, np.float64):
        image = np.nan_to_num(image.astype(np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        image = np.clip(image * 255.0 if image.max() <= 1.0 else image, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InputError(f"{name}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 2 and image.shape[1] % 2 == 0:
        # Cameras opened with CAP_PROP_CONVERT_RGB off hand over packed YUYV (4:2:2).
        image = cv2.cvtColor(image, cv2.COLOR_YUV2BGR_YUYV)
    elif not (image.ndim == 3 and image.shape[2] == 3):
        raise InputError(f"{name}: unsupported image shape {image.shape}")
    if image.shape[0] * image.shape[1] > MAX_IMAGE_PIXELS:
        factor = (MAX_IMAGE_PIXELS / (image.shape[0] * image.shape[1])) ** 0.5
        size = (max(1, int(image.shape[1] * factor)), max(1, int(image.shape[0] * factor)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def _apply_exif_orientation(image: np.ndarray, head: bytes) -> np.ndarray:
    """Rotate/flip per the EXIF Orientation tag (JPEG only; other formats are returned as is)."""
    orientation = _exif_orientation(head)
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
    """The EXIF orientation (1..8) from the first bytes of a JPEG, 1 when absent or unreadable.

    Pillow parses the markers; only the header is handed over, so nothing is decoded twice.
    """
    if not head.startswith(b"\xff\xd8"):
        return 1
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # size warnings: OpenCV decodes, Pillow only reads tags
            with Image.open(io.BytesIO(head)) as picture:
                orientation = picture.getexif().get(0x0112, 1)
    except Exception:  # a damaged header has no usable orientation; OpenCV reports the damage
        return 1
    return orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1


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
        with _quiet_opencv():
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
        with _quiet_opencv():
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
    with _quiet_opencv():
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
