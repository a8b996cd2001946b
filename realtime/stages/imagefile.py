"""Image files in, ``(H, W, 3) uint8`` BGR out: the decoder for untrusted photos.

Every photo selfie3d reads (``selfie3d photo``, the web service's uploads, image sources of the
capture stage, calibration views) comes through ``load_image`` or ``decode_image``. The input may
be hostile: sizes are read from the header and refused before any decoding (a decompression
bomb never gets its gigabytes), PNG chunk lengths are walked, formats OpenCV decodes in-process
with known crashes are decoded in a child process with a time limit, what libpng and libjpeg
print goes into our one-line error, and EXIF orientation, grey, alpha and 16-bit images are
converted at this edge. A bad file is one ``InputError`` line.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import struct
import tempfile
import threading
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from realtime.errors import InputError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".heic", ".heif", ".avif", ".jp2",
                  ".pgm", ".ppm")

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


# OpenCV's log levels (cv2.setLogLevel): 0 is silent.
_OPENCV_LOG_SILENT = 0


@contextlib.contextmanager
def quiet_opencv():
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
OTHER_HEIF = "HEIF (neither HEVC nor AV1)"
"""``format_name`` for a HEIF whose brands name neither HEVC nor AV1 (a JPEG-coded or uncompressed
one): no decoder here takes it."""
UNSUPPORTED_FORMATS = ("GIF", "ICO", "PSD", "PCX", "TGA", "DDS", "ICNS", "EPS", "PDF", OTHER_HEIF)
SUPPORTED_FORMATS_TEXT = "JPEG, PNG, HEIC, AVIF, WebP, BMP or TIFF"
HEVC_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs")
"""An ISO-BMFF file whose ``ftyp`` box names one of these is a HEIF still coded in HEVC (an iPhone's
HEIC photo): OpenCV does not decode it, pillow-heif (libheif) does (``decode_heif``)."""
GENERIC_HEIF_BRANDS = (b"mif1", b"msf1")
"""... and one whose major brand is one of these is, where its compatible brands name an HEVC one
and no AVIF one (an AVIF says ``mif1`` too, and is AV1: ``decode_avif``)."""
AVIF_BRANDS = (b"avif", b"avis")
"""An ISO-BMFF file whose major brand is one of these, or a generic one (``GENERIC_HEIF_BRANDS``)
with one of these among its compatible brands, is an AVIF: a HEIF still coded in AV1, the format
browsers save many web pictures in. OpenCV does not decode it, Pillow (11.3 or later) does."""


def _ftyp_brands(head: bytes) -> tuple[bytes, list[bytes]] | None:
    """The major and compatible brands of an ISO-BMFF file's leading ``ftyp`` box, or None."""
    if head[4:8] != b"ftyp" or len(head) < 16:
        return None
    box_size = min(int.from_bytes(head[:4], "big"), len(head))
    return head[8:12], [head[i:i + 4] for i in range(16, box_size - 3, 4)]


def is_heif(head: bytes) -> bool:
    """Whether encoded bytes starting with ``head`` are a HEVC-coded HEIF image (``HEVC_BRANDS``)."""
    brands = _ftyp_brands(head)
    if brands is None:
        return False
    major, compatible = brands
    if major in HEVC_BRANDS:
        return True
    return (major in GENERIC_HEIF_BRANDS and any(brand in HEVC_BRANDS for brand in compatible)
            and not any(brand in AVIF_BRANDS for brand in compatible))


def is_avif(head: bytes) -> bool:
    """Whether encoded bytes starting with ``head`` are an AV1-coded HEIF image (``AVIF_BRANDS``)."""
    brands = _ftyp_brands(head)
    if brands is None:
        return False
    major, compatible = brands
    return major in AVIF_BRANDS or (major in GENERIC_HEIF_BRANDS and any(b in AVIF_BRANDS for b in compatible))


def format_name(pillow_format: str | None, head: bytes) -> str | None:
    """The format Pillow named for encoded bytes starting with ``head`` (their whole ``ftyp`` box:
    64 KB is plenty), told by the brands where it says "HEIF": pillow-heif's opener, where
    registered and tried first, names an AVIF whose major brand is the generic ``mif1`` so. A HEIF
    is "HEIF" where HEVC-coded (``is_heif``), "AVIF" where AV1-coded (``is_avif``), else
    ``OTHER_HEIF``."""
    if pillow_format != "HEIF" or is_heif(head):
        return pillow_format
    return "AVIF" if is_avif(head) else OTHER_HEIF


def _too_large_to_decode(name: str, shown: str) -> InputError:
    """The one line for an image of ``shown`` ("4000x3000 pixels") over ``MAX_DECODE_PIXELS``."""
    return InputError(f"{name}: {shown} is too large to decode (limit {MAX_DECODE_PIXELS // 1_000_000} megapixels)")


def decode_heif(data: np.ndarray, name: str = "image") -> np.ndarray:
    """A HEIF/HEIC photo's pixels as ``(H, W, 3|4) uint8`` BGR(A), turned as the file says (its
    ``irot``/``imir`` transforms, which libheif applies; the EXIF orientation an iPhone writes
    beside them describes the same turn and is not applied again). Raises ``InputError`` for
    a damaged file or one over ``MAX_DECODE_PIXELS``."""
    import pillow_heif

    try:
        # BGR straight from libheif: no second full-size copy before ``to_bgr8`` shrinks it.
        heif = pillow_heif.open_heif(io.BytesIO(data.tobytes()), convert_hdr_to_8bit=True, bgr_mode=True)
        width, height = heif.size
        if width * height > MAX_DECODE_PIXELS:
            raise _too_large_to_decode(name, f"{width}x{height} pixels")
        pixels = np.asarray(heif)
    except InputError:
        raise
    except Exception as error:  # libheif's own errors: a damaged or truncated file
        raise InputError(f"{name}: not a HEIC image pillow-heif can read (corrupt or truncated: {error})") from None
    return pixels


MATROSKA_MAGIC = b"\x1a\x45\xdf\xa3"
"""A Matroska or WebM file's first bytes (EBML)."""
QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip")
"""An old QuickTime movie may open with one of these atoms instead of an ``ftyp`` box."""
VIDEO_BRANDS = (b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"mp71", b"avc1",
                b"qt  ", b"M4V ", b"M4VH", b"M4VP", b"dash", b"f4v ", b"MSNV", b"XAVC", b"mmp4")
"""Major brands of ISO-BMFF video files (MP4, MOV, M4V, ...); 3GPP's ``3gp*``/``3g2*`` too. Stills
(HEIF in any coding, AVIF), raw photos (CR3) and audio (M4A) have their own."""


def video_suffix(head: bytes) -> str | None:
    """The file suffix of a video whose encoded bytes start with ``head``, or None for anything
    else: ``.mov`` for QuickTime (an ``ftyp`` of ``qt  ``, or an old movie's leading atoms),
    ``.mp4`` for any other ISO-BMFF file of a video's major brand (``VIDEO_BRANDS``; 3GPP's
    ``3gp*``/``3g2*`` too), ``.avi`` for an AVI (RIFF; a WAV or WebP is RIFF too) and ``.webm``
    for Matroska/WebM."""
    brands = _ftyp_brands(head)
    if brands is not None:
        major = brands[0]
        if major == b"qt  ":
            return ".mov"
        return ".mp4" if major in VIDEO_BRANDS or major[:3] in (b"3gp", b"3g2") else None
    if head.startswith(b"RIFF"):
        return ".avi" if head[8:12] == b"AVI " else None
    if head.startswith(MATROSKA_MAGIC):
        return ".webm"
    return ".mov" if head[4:8] in QUICKTIME_ATOMS else None


def is_video(head: bytes) -> bool:
    """Whether encoded bytes starting with ``head`` are a video file (``video_suffix``)."""
    return video_suffix(head) is not None


def decode_avif(data: np.ndarray, name: str = "image") -> np.ndarray:
    """An AVIF image's pixels as ``(H, W, 3|4) uint8`` BGR(A), turned as the file says (its
    ``irot``/``imir`` transforms, which Pillow reports as the EXIF orientation, over any EXIF one:
    applied once). Raises ``InputError`` for a damaged file, one over ``MAX_DECODE_PIXELS``, or a
    Pillow built without AVIF."""
    import warnings

    from PIL import Image, ImageOps, features

    if not features.check("avif"):
        raise InputError(f"{name}: AVIF images need Pillow 11.3 or later with AVIF support "
                         f"(pip install -U pillow), or use {SUPPORTED_FORMATS_TEXT.replace('AVIF, ', '')}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: we judge the size ourselves
            with Image.open(io.BytesIO(data.tobytes()), formats=["AVIF"]) as picture:
                width, height = picture.size
                if width * height > MAX_DECODE_PIXELS:
                    raise _too_large_to_decode(name, f"{width}x{height} pixels")
                # One full-size copy at a time: a 48 MP photo held ~1 GB with every step's copy kept.
                picture.load()
                upright = ImageOps.exif_transpose(picture)
                if upright.mode not in ("RGB", "RGBA"):
                    upright = upright.convert("RGBA" if "A" in upright.getbands() else "RGB")
                pixels = np.array(upright)  # a writable copy; Pillow's image goes with the block
                del upright
    except InputError:
        raise
    except Image.DecompressionBombError:  # past Pillow's own limit, which is above ours
        raise _too_large_to_decode(name, "the image") from None
    except Image.UnidentifiedImageError:  # libavif refuses the header: damaged, or over its 16384 px a side
        raise InputError(f"{name}: not an AVIF image Pillow can read (corrupt, truncated, or over "
                         "16384 pixels a side)") from None
    except Exception as error:  # libavif's own errors: a damaged or truncated file
        raise InputError(f"{name}: not an AVIF image Pillow can read (corrupt or truncated: {error})") from None
    code = cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
    return cv2.cvtColor(pixels, code, dst=pixels)  # in place


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
        # imdecode on bytes works for any path (spaces, non-ASCII) on every platform. read(), not
        # np.fromfile: a pipe (a FIFO, /dev/stdin) has no file position, which numpy asks for
        # ("obtaining file position failed"); a pipe's size is only known once read.
        with open(path, "rb") as file:
            data = file.read(MAX_IMAGE_FILE_BYTES + 1)
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})") from None
    if len(data) > MAX_IMAGE_FILE_BYTES:
        raise InputError(f"{path}: more than {MAX_IMAGE_FILE_BYTES >> 20} MB is too large for an image")
    if not data:
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
    if is_heif(head):
        image = to_bgr8(decode_heif(data, name), name=name)
        return image if image.flags.writeable else image.copy()  # libheif's buffer is read-only
    if is_avif(head):
        return to_bgr8(decode_avif(data, name), name=name)
    if is_video(head):  # OpenCV's image decoder would call it corrupt
        raise InputError(f"{name}: a video, not a photo (for a bust from a video: selfie3d video FILE, "
                         "where a head turn scans the hair from every side)")
    header = probe_header(data)
    size = header.size
    shown_format = format_name(header.format, head)
    if shown_format in UNSUPPORTED_FORMATS:
        raise InputError(f"{name}: {shown_format} images are not supported: use {SUPPORTED_FORMATS_TEXT}")
    reduction = _jpeg_reduction(size) if head.startswith(b"\xff\xd8") else 1
    if header.pixels / reduction**2 > MAX_DECODE_PIXELS:
        shown = f"{size[0]}x{size[1]} pixels" if size else f"{header.pixels / 1e6:.0f} megapixels"
        raise _too_large_to_decode(name, shown)
    if size is not None and min(size) == 0:
        raise InputError(f"{name}: the image has no pixels ({size[0]}x{size[1]})")
    # Reduced decoding gives 8-bit BGR; orientation is applied by us below in both cases.
    flags = (_REDUCED_FLAGS[reduction] | cv2.IMREAD_IGNORE_ORIENTATION) if reduction > 1 else cv2.IMREAD_UNCHANGED
    try:
        # OpenCV's own warnings and the codecs' stderr lines are folded into our one line.
        with quiet_opencv(), _decoder_messages() as messages:
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
