"""Fuzzing the image-loading and photo paths: any input gives a clean ``InputError`` or a clean
result, never another exception.

Quick by default (``_EXAMPLES`` cases per test, a few seconds); a long run by hand:
``SELFIE3D_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py --hypothesis-show-statistics``.
"""

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime.stages.imagefile import decode_image, image_header_size, load_image, to_bgr8
from realtime.stages.democlip import astronaut_bgr
from realtime.errors import InputError

# Cases per test; the photo tests that run the networks use a fifth of it.
_EXAMPLES = int(os.environ.get("SELFIE3D_FUZZ_EXAMPLES", "100"))
_FUZZ = settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                 derandomize=_EXAMPLES <= 100)  # quick runs are the same every time in CI
_FUZZ_PHOTO = settings(_FUZZ, max_examples=max(_EXAMPLES // 5, 10))


def _encoded_samples() -> dict[str, bytes]:
    """Real files of every format we read, from a small crop of the astronaut (some with
    alpha, 16-bit or grayscale), to truncate and corrupt."""
    face = cv2.resize(astronaut_bgr(), (96, 96))
    gray = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
    samples = {
        ".png": face, ".jpg": face, ".bmp": face, ".tif": face, ".webp": face, ".ppm": face,
        ".pgm": gray, ".jp2": face,
    }
    out = {}
    for ext, image in samples.items():
        ok, data = cv2.imencode(ext, image)
        if ok:
            out[ext] = data.tobytes()
    out["rgba.png"] = cv2.imencode(".png", cv2.cvtColor(face, cv2.COLOR_BGR2BGRA))[1].tobytes()
    out["16bit.png"] = cv2.imencode(".png", face.astype(np.uint16) * 257)[1].tobytes()
    out["16bit.tif"] = cv2.imencode(".tif", face.astype(np.uint16) * 257)[1].tobytes()
    return out


_SAMPLES = _encoded_samples()
_MAGICS = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*", b"RIFF", b"GIF89a", b"P6\n", b"\x00\x00\x00\x0cjP  "]


def _check_decoded(image):
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8
    assert image.ndim == 3 and image.shape[2] == 3 and image.shape[0] > 0 and image.shape[1] > 0
    assert image.flags["C_CONTIGUOUS"]


def assert_decodes_cleanly(data: bytes):
    """Decode ``data``; only ``InputError`` may escape (anything else fails the test)."""
    try:
        image = decode_image(data, "fuzz")
    except InputError as error:
        assert str(error).startswith("fuzz: ") and "\n" not in str(error)
        return None
    _check_decoded(image)
    return image


@_FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data):
    assert_decodes_cleanly(data)


@_FUZZ
@given(st.sampled_from(_MAGICS), st.binary(max_size=2048))
def test_random_bodies_behind_real_magic_numbers(magic, body):
    assert_decodes_cleanly(magic + body)
    image_header_size(magic + body)  # never raises on garbage


@_FUZZ
@given(st.sampled_from(sorted(_SAMPLES)), st.floats(0.0, 1.0))
def test_truncated_real_files(kind, fraction):
    data = _SAMPLES[kind]
    assert_decodes_cleanly(data[: int(len(data) * fraction)])


@_FUZZ
@given(st.sampled_from(sorted(_SAMPLES)), st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), min_size=1, max_size=16))
def test_real_files_with_corrupted_bytes(kind, edits):
    data = bytearray(_SAMPLES[kind])
    for where, value in edits:
        data[min(int(where * len(data)), len(data) - 1)] = value
    assert_decodes_cleanly(bytes(data))


@_FUZZ
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.binary(min_size=5, max_size=5))
def test_png_with_forged_size_and_header(width, height, rest):
    """Forged IHDR sizes (decompression bombs, zero sizes) and bit depth / colour type bytes."""
    data = bytearray(_SAMPLES[".png"])
    data[16:20] = width.to_bytes(4, "big")
    data[20:24] = height.to_bytes(4, "big")
    data[24:29] = rest
    assert_decodes_cleanly(bytes(data))


_EXIF_ENTRY = st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))


@_FUZZ
@given(st.sampled_from([b"II", b"MM", b"XX"]), st.integers(0, 2**32 - 1), st.lists(_EXIF_ENTRY, max_size=4), st.booleans())
def test_jpeg_with_forged_exif(endian, ifd_offset, entries, lie_about_count):
    """EXIF blocks with wild offsets, counts and orientation values: rotation only for 1..8."""
    order = "little" if endian == b"II" else "big"
    body = b"".join(tag.to_bytes(2, order) + kind.to_bytes(2, order) + count.to_bytes(4, order) + value.to_bytes(4, order)
                    for tag, kind, count, value in entries)
    count = (len(entries) + (40 if lie_about_count else 0)).to_bytes(2, order)
    tiff = endian + b"\x00\x2a" + ifd_offset.to_bytes(4, order) + count + body
    app1 = b"\xff\xe1" + min(len(tiff) + 8, 0xFFFF).to_bytes(2, "big") + b"Exif\x00\x00" + tiff
    jpeg = _SAMPLES[".jpg"]
    image = assert_decodes_cleanly(jpeg[:2] + app1 + jpeg[2:])
    assert image is not None and sorted(image.shape[:2]) == [96, 96]


_DTYPES = [np.uint8, np.uint16, np.int8, np.int16, np.int32, np.float16, np.float32, np.float64, np.bool_]


@_FUZZ
@given(st.sampled_from(_DTYPES), st.lists(st.integers(0, 6), min_size=1, max_size=4), st.integers(0, 2**32 - 1))
def test_to_bgr8_on_any_array(dtype, shape, seed):
    """Frames of any layout from a camera or a decoder: converted, or one ``InputError``."""
    rng = np.random.default_rng(seed)
    array = (rng.standard_normal(shape) * 1000).astype(dtype) if dtype != np.bool_ else rng.random(shape) > 0.5
    try:
        image = to_bgr8(array, "frame")
    except InputError:
        return
    _check_decoded(image)


@_FUZZ
@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=40),
       st.sampled_from(sorted(_SAMPLES)), st.booleans())
def test_load_image_any_name(name, kind, good):
    """Names with spaces, non-ASCII and odd characters; content real or garbage."""
    suffix = Path(kind).suffix
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / (name[:40] + suffix)
        try:
            path.write_bytes(_SAMPLES[kind] if good else _SAMPLES[kind][::7])
        except OSError:  # a name this file system refuses ("." and ".."): nothing to load
            return
        try:
            image = load_image(path)
        except InputError as error:
            assert not good or path.is_dir(), error
            return
        _check_decoded(image)


# --- photo mode ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def photo():
    from realtime.stages.photo import PhotoReconstructor

    with PhotoReconstructor() as reconstructor:
        yield reconstructor


def _check_photo_result(result, image):
    assert result.image_size == (image.shape[1], image.shape[0])
    for face in result.faces:
        assert face.vertices_px.shape == (468, 3) and np.all(np.isfinite(face.vertices_px))
        assert np.isfinite(face.pd_mm) and np.isfinite(face.mm_per_px) and face.mm_per_px > 0


@_FUZZ_PHOTO
@given(st.integers(1, 80), st.integers(1, 80), st.integers(0, 2**32 - 1), st.sampled_from(["noise", "flat", "stripes"]))
def test_photo_on_random_small_images(photo, height, width, seed, kind):
    rng = np.random.default_rng(seed)
    if kind == "noise":
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    elif kind == "flat":
        image = np.full((height, width, 3), rng.integers(0, 256), np.uint8)
    else:
        image = np.zeros((height, width, 3), np.uint8)
        image[:, ::2] = 255
    _check_photo_result(photo.run(image), image)


_ASTRONAUT = astronaut_bgr()


@_FUZZ_PHOTO
@given(st.floats(0.05, 1.5), st.floats(-0.6, 0.6), st.floats(-0.6, 0.6), st.floats(-180, 180), st.floats(0.0, 60.0),
       st.integers(0, 2**32 - 1))
def test_photo_on_transformed_faces(photo, scale, dx, dy, angle, noise, seed):
    """The astronaut scaled (tiny to large), shifted half out of the frame, rotated to any
    angle and noisy: a face or no face, never an exception."""
    h, w = _ASTRONAUT.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    matrix[:, 2] += (dx * w, dy * h)
    image = cv2.warpAffine(_ASTRONAUT, matrix, (w, h), borderValue=(40, 40, 40))
    if noise:
        rng = np.random.default_rng(seed)
        image = np.clip(image + rng.normal(0, noise, image.shape), 0, 255).astype(np.uint8)
    _check_photo_result(photo.run(image), image)
