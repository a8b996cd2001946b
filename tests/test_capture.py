import io
import struct
import time

import cv2
import numpy as np
import pytest

from realtime.stages import capture as capture_module
from realtime.stages import imagefile
from realtime.stages.capture import Capture, CaptureOptions
from realtime.stages.imagefile import load_image, to_bgr8
from realtime.stages.democlip import DemoClipOptions
from realtime.errors import InputError

SHORT_DEMO = DemoClipOptions(duration_s=0.5)  # 15 frames


def test_demo_clip_hands_over_every_frame_with_timestamps():
    with Capture(CaptureOptions(demo=SHORT_DEMO)) as capture:
        frames = list(capture)
    assert [f.index for f in frames] == list(range(15))
    np.testing.assert_allclose([f.timestamp_s for f in frames], np.arange(15) / 30.0, atol=1e-9)
    assert frames[0].image.shape == (480, 640, 3)


def test_video_file_mode_hands_over_every_frame(tmp_path):
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (64, 48))
    for i in range(20):
        writer.write(np.full((48, 64, 3), i * 10, np.uint8))
    writer.release()
    with Capture(CaptureOptions(path=str(path))) as capture:
        frames = list(capture)
        assert capture.fps == pytest.approx(25.0)
    assert len(frames) == 20
    np.testing.assert_allclose(frames[-1].timestamp_s, 19 / 25.0)
    # file mode never drops: the slow consumer still sees every frame in order
    brightness = [int(f.image.mean()) for f in frames]
    assert brightness == sorted(brightness)


def _with_display_turn(path, degrees: int) -> None:
    """Write into an MP4's track header (``tkhd``, version 0) the display matrix of a turn by
    ``degrees`` (90 or 270) clockwise, as a phone filming portrait does."""
    import struct

    data = bytearray(path.read_bytes())
    header = data.find(b"tkhd")
    assert header > 0 and data[header + 4] == 0, "a version 0 track header"
    # type, version and flags, 5 fields of 4 bytes, 8 reserved, layer, group, volume, reserved.
    matrix = header + 4 + 4 + 5 * 4 + 8 + 4 * 2
    sine = 1 if degrees == 90 else -1
    data[matrix:matrix + 36] = struct.pack(">9i", 0, sine * 65536, 0, -sine * 65536, 0, 0, 0, 0, 1 << 30)
    path.write_bytes(bytes(data))


def test_a_phone_s_portrait_video_is_turned_as_its_container_says(tmp_path):
    path = tmp_path / "portrait.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (64, 48))
    for _ in range(5):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:12, :16] = 255  # the top-left corner as filmed
        writer.write(frame)
    writer.release()
    _with_display_turn(path, 90)
    assert cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_ORIENTATION_META) == 90.0
    with Capture(CaptureOptions(path=str(path))) as capture:
        frames = list(capture)
    assert len(frames) == 5 and frames[0].image.shape == (64, 48, 3)
    # Turned a quarter clockwise, the corner filmed top left is shown top right.
    bright = np.argwhere(frames[0].image[..., 0] > 128).mean(axis=0)
    assert bright[0] < 16 and bright[1] > 32, bright


def test_folder_of_images_in_name_order(tmp_path, astronaut):
    for name in ["b.png", "a.jpg", "c.png", "notes.txt"]:
        if name.endswith("txt"):
            (tmp_path / name).write_text("not an image")
        else:
            cv2.imwrite(str(tmp_path / name), astronaut)
    with Capture(CaptureOptions(path=str(tmp_path))) as capture:
        frames = list(capture)
    assert len(frames) == 3


class _FakeCamera:
    """A camera that produces numbered frames faster than the consumer reads them."""

    def __init__(self, frames: int, period_s: float):
        self.fps = 1.0 / period_s
        self.frames, self.period_s, self.produced = frames, period_s, 0

    def read(self):
        if self.produced >= self.frames:
            return None
        time.sleep(self.period_s)
        self.produced += 1
        return np.full((8, 8, 3), self.produced % 256, np.uint8), self.produced * self.period_s

    def close(self):
        pass


def test_live_mode_hands_over_newest_frame_and_drops_stale(monkeypatch):
    camera = _FakeCamera(frames=60, period_s=0.002)
    monkeypatch.setattr(capture_module, "open_reader", lambda options: camera)
    with Capture(CaptureOptions(live=True)) as capture:
        seen = []
        while True:
            frame = capture.read(timeout=2.0)
            if frame is None:
                break
            seen.append(frame.index)
            time.sleep(0.02)  # a slow consumer: ~10 camera frames per read
        dropped = capture.dropped_frames
    assert len(seen) < 30
    assert dropped > 20
    assert seen == sorted(seen)
    assert dropped + len(seen) == 60


def test_stalled_live_camera_is_reported(monkeypatch):
    class Stalled(_FakeCamera):
        def read(self):
            time.sleep(5.0)
            return None

    monkeypatch.setattr(capture_module, "open_reader", lambda options: Stalled(0, 0.1))
    capture = Capture(CaptureOptions(live=True))
    with pytest.raises(InputError, match="stalled"):
        capture.read(timeout=0.2)
    capture._stop.set()


def test_camera_that_cannot_open_names_index_and_suggests_video():
    with pytest.raises(InputError, match=r"cannot open camera 97.*--video"):
        Capture(CaptureOptions(camera=97))


def test_missing_and_corrupt_files_give_one_clear_line(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        Capture(CaptureOptions(path=str(tmp_path / "missing.mp4")))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(InputError, match="not a video"):
        Capture(CaptureOptions(path=str(bad)))
    fake_jpg = tmp_path / "photo.jpg"
    fake_jpg.write_text("hello")
    with pytest.raises(InputError, match="not an image"):
        load_image(fake_jpg)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_image(empty)


def test_image_conversions(tmp_path, astronaut):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    rgba = cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA)
    deep = astronaut.astype(np.uint16) * 257
    for name, image in [("gray.png", gray), ("rgba.png", rgba), ("deep.png", deep)]:
        path = tmp_path / f"ünïcode name {name}"
        ok, data = cv2.imencode(".png", image)
        path.write_bytes(data.tobytes())
        loaded = load_image(path)
        assert loaded.shape == (512, 512, 3) and loaded.dtype == np.uint8, name
    np.testing.assert_array_equal(load_image(tmp_path / "ünïcode name deep.png"), astronaut)


def test_an_image_read_from_a_pipe_loads(tmp_path, astronaut):
    # np.fromfile asks for the file's position, which a pipe has not ("obtaining file position
    # failed"): a photo piped in (a FIFO, /dev/stdin) failed at once, as did test_jobs' pool
    # interrupt test, whose jobs read a FIFO, whenever they got there before its Ctrl-C.
    import os
    import threading

    ok, encoded = cv2.imencode(".png", astronaut)
    fifo = tmp_path / "piped.png"
    os.mkfifo(fifo)

    def write():
        with open(fifo, "wb") as pipe:
            pipe.write(encoded.tobytes())

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    np.testing.assert_array_equal(load_image(fifo), astronaut)
    writer.join(timeout=10)


def test_exif_orientation_is_honoured(tmp_path):
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, :40] = 255  # left half white
    ok, data = cv2.imencode(".jpg", image)
    jpeg = data.tobytes()
    # Insert an APP1 Exif segment with Orientation = 6 (rotate 90 degrees clockwise).
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00" + b"\x00\x00\x00\x00"
    app1 = b"\xff\xe1" + (len(tiff) + 8).to_bytes(2, "big") + b"Exif\x00\x00" + tiff
    path = tmp_path / "rotated.jpg"
    path.write_bytes(jpeg[:2] + app1 + jpeg[2:])
    loaded = load_image(path)
    assert loaded.shape[:2] == (80, 40)
    assert loaded[:40].mean() > 200 and loaded[40:].mean() < 50  # white half now on top


def _heic(image_bgr: np.ndarray, quality: int = 95) -> bytes:
    """``image_bgr`` encoded as an iPhone's HEIC (pillow-heif's x265 encoder)."""
    import pillow_heif

    rgb = np.ascontiguousarray(image_bgr[..., ::-1])
    heif = pillow_heif.from_bytes(mode="RGB", size=(rgb.shape[1], rgb.shape[0]), data=rgb.tobytes())
    buffer = io.BytesIO()
    heif.save(buffer, quality=quality)
    return buffer.getvalue()


def test_an_iphone_s_heic_photo_loads_and_a_damaged_one_is_one_clear_line(tmp_path, astronaut):
    # OpenCV does not decode HEIF; an iPhone saves its photos so.
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(_heic(astronaut))
    loaded = load_image(path)
    assert loaded.shape == astronaut.shape and loaded.dtype == np.uint8
    assert np.abs(loaded.astype(int) - astronaut).mean() < 4.0  # the same picture, BGR, not RGB
    assert [p.name for p in imagefile.list_images(tmp_path)] == ["IMG_0001.HEIC"]
    damaged = tmp_path / "damaged.heic"
    damaged.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])
    with pytest.raises(InputError, match=r"damaged\.heic: not a HEIC image pillow-heif can read"):
        load_image(damaged)


def test_a_heic_is_told_from_an_avif_and_a_video_by_its_brands():
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        return (16 + 4 * len(compatible)).to_bytes(4, "big") + b"ftyp" + major + b"\0\0\0\0" + b"".join(compatible)

    assert imagefile.is_heif(ftyp(b"heic", b"mif1", b"heic"))
    assert imagefile.is_heif(ftyp(b"mif1", b"mif1", b"heic"))  # a generic HEIF holding HEVC
    assert not imagefile.is_heif(ftyp(b"mif1", b"mif1", b"avif", b"heic"))  # an AVIF says mif1 too
    assert not imagefile.is_heif(ftyp(b"avif", b"avif", b"mif1", b"miaf"))
    assert not imagefile.is_heif(ftyp(b"isom", b"isom", b"mp42"))
    assert not imagefile.is_heif(b"\xff\xd8\xff\xe0" + bytes(12))
    assert imagefile.is_avif(ftyp(b"avif", b"avif", b"mif1", b"miaf"))
    assert imagefile.is_avif(ftyp(b"mif1", b"mif1", b"avif", b"heic"))
    assert imagefile.is_avif(ftyp(b"avis", b"avis", b"msf1"))  # an AVIF sequence (its first frame)
    assert not imagefile.is_avif(ftyp(b"heic", b"mif1", b"heic"))
    assert not imagefile.is_avif(ftyp(b"mif1", b"mif1", b"heic"))
    assert not imagefile.is_avif(ftyp(b"isom", b"isom", b"avc1"))
    # Where Pillow (with pillow-heif's opener) says HEIF, the brands decide, over the whole box.
    assert imagefile.format_name("HEIF", ftyp(b"heic", b"mif1", b"heic")) == "HEIF"
    assert imagefile.format_name("HEIF", ftyp(b"mif1", b"mif1", b"avif")) == "AVIF"
    assert imagefile.format_name("HEIF", ftyp(b"mif1", b"mif1", b"miaf")) == imagefile.OTHER_HEIF
    assert imagefile.format_name("HEIF", ftyp(b"mif1", *[b"miaf"] * 20, b"heic")) == "HEIF"  # past byte 64
    assert imagefile.format_name("PNG", ftyp(b"mif1", b"mif1", b"miaf")) == "PNG"
    # A video given as a photo is named as one, not called a corrupt image.
    assert imagefile.is_video(ftyp(b"isom", b"isom", b"mp42")) and imagefile.is_video(ftyp(b"qt  ", b"qt  "))
    assert imagefile.is_video(b"RIFF\0\0\0\0AVI LIST") and imagefile.is_video(b"\x1a\x45\xdf\xa3\x01\0\0\0")
    assert imagefile.is_video(b"\0\0\0\x08wide\0\0\0\0mdat")  # an old QuickTime movie
    assert not imagefile.is_video(b"RIFF\0\0\0\0WEBPVP8 ")
    assert imagefile.is_video(ftyp(b"3gp5", b"3gp5", b"isom"))
    heads = [ftyp(b"isom", b"isom", b"mp42"), ftyp(b"qt  ", b"qt  "), b"RIFF\0\0\0\0AVI LIST",
             b"\x1a\x45\xdf\xa3\x01\0\0\0", b"\0\0\0\x08wide\0\0\0\0mdat", ftyp(b"3gp5", b"3gp5", b"isom")]
    assert [imagefile.video_suffix(head) for head in heads] == [".mp4", ".mov", ".avi", ".webm", ".mov", ".mp4"]
    for still in (ftyp(b"heic", b"mif1", b"heic"), ftyp(b"avif", b"avif", b"mif1"), ftyp(b"mif1", b"mif1", b"miaf"),
                  ftyp(b"mif2", b"mif2", b"heic"), ftyp(b"jpeg", b"mif1", b"jpeg"), ftyp(b"crx ", b"crx ", b"isom")):
        assert not imagefile.is_video(still)  # HEIFs of other codings, a Canon raw


def test_a_heic_is_turned_once_as_it_says(tmp_path):
    # An iPhone writes its turn twice: as the HEIF's own transform and as EXIF orientation.
    import pillow_heif
    from PIL import Image

    image = np.zeros((48, 64, 3), np.uint8)
    image[:12, :16] = 255  # the top-left corner as taken
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90 deg clockwise to show
    heif = pillow_heif.from_bytes(mode="RGB", size=(64, 48), data=image.tobytes())
    path = tmp_path / "turned.heic"
    heif.save(str(path), quality=95, exif=exif.tobytes())
    loaded = load_image(path)
    assert loaded.shape == (64, 48, 3) and loaded.flags.writeable
    bright = np.argwhere(loaded[..., 0] > 128).mean(axis=0)
    assert bright[0] < 16 and bright[1] > 32, bright  # shown top right


def test_an_avif_is_decoded_in_colour_and_turned_once(monkeypatch, tmp_path):
    import pillow_heif
    from PIL import Image

    # pillow-heif's opener, where registered (the web page does) and tried first, takes a file
    # whose major brand is the generic mif1 for a HEIF: the AVIF must still be decoded as one.
    # Every plugin loaded first: a lazy load while the list is patched would be lost with the patch.
    Image.init()
    pillow_heif.register_heif_opener()
    monkeypatch.setattr(Image, "ID", ["HEIF"] + [name for name in Image.ID if name != "HEIF"])
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[:12, :16] = (255, 0, 0)  # a red top-left corner as taken
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90 deg clockwise to show: Pillow writes it as the AVIF's irot
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="AVIF", quality=95, exif=exif.tobytes())
    avif = buffer.getvalue()
    assert imagefile.is_avif(avif[:64]) and not imagefile.is_heif(avif[:64])
    generic = avif[:8] + b"mif1" + avif[12:]  # the major brand an AVIF may give instead
    for data in (avif, generic):
        bgr = imagefile.decode_image(data, "photo.avif")
        assert bgr.shape == (64, 48, 3) and bgr.dtype == np.uint8
        red = np.argwhere((bgr[..., 2] > 128) & (bgr[..., 0] < 64)).mean(axis=0)
        assert red[0] < 16 and red[1] > 32, red  # shown top right, and red in BGR
    path = tmp_path / "IMG_0007.AVIF"
    path.write_bytes(avif)
    assert load_image(path).shape == (64, 48, 3)
    assert [p.name for p in imagefile.list_images(tmp_path)] == ["IMG_0007.AVIF"]
    damaged = tmp_path / "damaged.avif"
    damaged.write_bytes(avif[: len(avif) // 2])
    with pytest.raises(InputError, match=r"damaged\.avif: not an AVIF image Pillow can read"):
        load_image(damaged)
    # A Pillow built without libavif (before 11.3) says what to do instead of "corrupt".
    from PIL import features

    monkeypatch.setattr(features, "check", lambda feature: feature != "avif")
    with pytest.raises(InputError, match=r"photo\.avif: AVIF images need Pillow 11\.3 or later"):
        imagefile.decode_image(avif, "photo.avif")


def test_a_video_given_as_a_photo_is_named_as_one(tmp_path):
    path = tmp_path / "turn.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    with pytest.raises(InputError, match=r"turn\.mp4: a video, not a photo \(for a bust from a video: selfie3d video"):
        load_image(path)


def test_huge_images_are_downscaled(monkeypatch):
    monkeypatch.setattr(imagefile, "MAX_IMAGE_PIXELS", 10_000)
    big = np.zeros((400, 300, 3), np.uint8)
    small = to_bgr8(big)
    assert small.shape[0] * small.shape[1] <= 10_000
    assert abs(small.shape[0] / small.shape[1] - 4 / 3) < 0.05


# --- camera faults -------------------------------------------------------------------------
# Back-off for tests: fast, but long enough that a status poll sees the "lost" state.
FAST_RECONNECT = dict(reconnect_delay_s=0.02, reconnect_max_delay_s=0.08)
# A live read in these tests never waits longer than this, seconds.
_READ_TIMEOUT_S = 5.0


class _FakeVideoCapture:
    """Stands in for ``cv2.VideoCapture`` so the real camera reader runs without a camera.

    ``plan`` (shared by every instance, so it survives reopening) scripts the device:
    ``frames_before_loss`` good reads, then reads fail until ``failed_opens`` more open attempts
    have failed; ``frame`` makes each frame (grayscale, BGRA, 16-bit...)."""

    plan: dict = {}

    def __init__(self, index, *args):
        plan = self.plan
        plan["opens"] = plan.get("opens", 0) + 1
        self.index = index
        self._open = index in plan.get("indices", (0,)) and plan.get("opens") - 1 not in plan.get("failing_opens", ())
        self._reads = 0

    def isOpened(self):
        return self._open

    def set(self, prop, value):
        return True

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: 30.0, cv2.CAP_PROP_FRAME_WIDTH: 64.0, cv2.CAP_PROP_FRAME_HEIGHT: 48.0}.get(prop, 0.0)

    def getBackendName(self):
        return "FAKE"

    def read(self):
        plan = self.plan
        time.sleep(0.002)
        if not self._open or plan.get("unplugged"):
            return False, None
        plan["reads"] = plan.get("reads", 0) + 1
        if plan["reads"] == plan.get("unplug_at_read"):
            plan["unplugged"] = True  # until the test plugs it back in
        return True, plan.get("frame", lambda n: np.full((48, 64, 3), n % 256, np.uint8))(plan["reads"])

    def release(self):
        self._open = False


@pytest.fixture
def fake_camera(monkeypatch):
    _FakeVideoCapture.plan = {}
    monkeypatch.setattr(capture_module.cv2, "VideoCapture", _FakeVideoCapture)
    return _FakeVideoCapture.plan


def _wait_for(predicate, timeout_s=_READ_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_reconnect_delay_doubles_up_to_the_cap():
    delays = [capture_module.reconnect_delay_s(n, 0.5, 8.0) for n in range(1, 8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_camera_lost_mid_run_reports_status_reconnects_and_resumes(fake_camera):
    fake_camera.update(unplug_at_read=10)
    with Capture(CaptureOptions(camera=0, **FAST_RECONNECT)) as capture:
        first = [capture.read(timeout=_READ_TIMEOUT_S) for _ in range(3)]
        assert capture.status.ok
        _wait_for(lambda: capture.status.state == "lost" and capture.status.attempt >= 3)
        status = capture.status
        assert status.message.startswith("camera lost, retrying (attempt ")
        assert capture.poll() is None or capture.status.state == "lost"  # poll never blocks
        fake_camera["unplugged"] = False  # plugged back in: the next reopen succeeds
        resumed = capture.read(timeout=_READ_TIMEOUT_S)  # waits through the loss, never raises
        assert capture.status.ok
        later = capture.read(timeout=_READ_TIMEOUT_S)
    assert all(f is not None for f in first) and resumed is not None and later is not None
    assert fake_camera["opens"] >= 4  # first open + reopen attempts
    assert later.index > resumed.index > first[-1].index
    assert resumed.timestamp_s > first[-1].timestamp_s


def test_camera_that_never_comes_back_fails_after_the_attempts(fake_camera):
    fake_camera.update(unplug_at_read=2)
    options = CaptureOptions(camera=0, reconnect_attempts=3, **FAST_RECONNECT)
    with Capture(options) as capture:
        with pytest.raises(InputError, match=r"camera 0 lost and not back after 3 attempts.*--video"):
            for _ in range(100):
                capture.read(timeout=_READ_TIMEOUT_S)
        assert capture.status.state == "failed" and capture.ended


def test_odd_camera_frames_are_converted(fake_camera):
    makers = {
        "gray": lambda n: np.full((48, 64), 100, np.uint8),
        "bgra": lambda n: np.full((48, 64, 4), 100, np.uint8),
        "16-bit": lambda n: np.full((48, 64, 3), 100 * 257, np.uint16),
        "yuyv": lambda n: np.dstack([np.full((48, 64), 100, np.uint8), np.full((48, 64), 128, np.uint8)]),
        "float": lambda n: np.full((48, 64, 3), 100 / 255, np.float32),
    }
    for name, make in makers.items():
        fake_camera.clear()
        fake_camera["frame"] = make
        with Capture(CaptureOptions(camera=0)) as capture:
            frame = capture.read(timeout=_READ_TIMEOUT_S)
        assert frame.image.shape == (48, 64, 3) and frame.image.dtype == np.uint8, name
        assert abs(int(frame.image.mean()) - 100) <= 2, name


def test_stalled_camera_shows_in_status(monkeypatch):
    import threading

    release = threading.Event()

    class Silent(_FakeCamera):
        def read(self):  # one frame, then the driver call hangs (until the test ends)
            if self.produced:
                release.wait(_READ_TIMEOUT_S)
                return None
            return super().read()

    monkeypatch.setattr(capture_module, "open_reader", lambda options: Silent(1, 0.001))
    with Capture(CaptureOptions(live=True, stall_timeout_s=0.1)) as capture:
        assert capture.read(timeout=1.0) is not None
        _wait_for(lambda: capture.status.state == "stalled")
        assert "no frame for" in capture.status.message and "camera stalled" in str(capture.status)
        with pytest.raises(InputError, match="camera stalled"):
            capture.read(timeout=0.1)
        release.set()


def test_list_cameras_returns_what_opens(fake_camera):
    fake_camera["indices"] = (0, 2)
    cameras = capture_module.list_cameras(max_index=4)
    assert [c.index for c in cameras] == [0, 2]
    assert (cameras[0].width, cameras[0].height, cameras[0].backend) == (64, 48, "FAKE")
    assert "camera 2: 64x48" in capture_module.format_cameras(cameras)
    assert "--video" in capture_module.format_cameras([])


def test_camera_that_cannot_open_suggests_list_cameras():
    with pytest.raises(InputError, match=r"cannot open camera 97.*--list-cameras"):
        Capture(CaptureOptions(camera=97))


# --- damaged files -------------------------------------------------------------------------
def _write_video(path, frames=60, fourcc="MJPG"):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (64, 48))
    rng = np.random.default_rng(0)
    for i in range(frames):
        writer.write((rng.integers(0, 64, (48, 64, 3)) + i * 3).astype(np.uint8))
    writer.release()


def _damage(path, start=0.4, end=0.6):
    """Overwrite a stretch of the file's bytes (fractions of its length) with zeros."""
    data = bytearray(path.read_bytes())
    a, b = int(len(data) * start), int(len(data) * end)
    data[a:b] = bytes(b - a)
    path.write_bytes(bytes(data))


def _plain_read_count(path):
    video, count = cv2.VideoCapture(str(path)), 0
    while video.read()[0]:
        count += 1
    video.release()
    return count


def test_damaged_video_is_read_past_the_damage_and_reported(tmp_path):
    path = tmp_path / "damaged clip.avi"
    _write_video(path)
    _damage(path)
    plain = _plain_read_count(path)
    assert plain < 60  # OpenCV alone stops at the damage
    with Capture(CaptureOptions(path=str(path))) as capture:
        frames = list(capture)
        skipped, warnings = capture.skipped_frames, capture.warnings
    assert len(frames) > plain
    assert skipped >= 1 and len(frames) + skipped == 60
    assert any("damaged" in w for w in warnings)
    indices = [f.index for f in frames]
    assert indices == sorted(indices) and indices[-1] == 59  # source indices: the gap shows
    np.testing.assert_allclose(frames[-1].timestamp_s, 59 / 25.0)


def test_truncated_video_reports_the_missing_frames(tmp_path):
    path = tmp_path / "cut.mp4"
    _write_video(path, fourcc="mp4v")
    _damage(path, 0.3, 0.7)
    with Capture(CaptureOptions(path=str(path))) as capture:
        frames = list(capture)
        warnings = capture.warnings
    assert len(frames) < 60
    assert any("the file says 60 frames" in w for w in warnings)


def test_bad_image_in_a_folder_is_skipped_and_the_rest_go_on(tmp_path, astronaut):
    cv2.imwrite(str(tmp_path / "a.png"), astronaut)
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # truncated
    cv2.imwrite(str(tmp_path / "c.png"), astronaut)
    with Capture(CaptureOptions(path=str(tmp_path))) as capture:
        frames = list(capture)
        assert capture.skipped_frames == 1 and "b.png" in capture.warnings[0]
    assert [f.index for f in frames] == [0, 2]


def test_empty_video_file_is_one_clear_line(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        Capture(CaptureOptions(path=str(path)))


# --- image files ---------------------------------------------------------------------------
def test_truncated_and_fake_images_are_one_clear_line(tmp_path, astronaut):
    jpeg = cv2.imencode(".jpg", astronaut)[1].tobytes()
    png = cv2.imencode(".png", astronaut)[1].tobytes()
    cases = {
        "cut.jpg": jpeg[:200],
        "cut.png": png[: len(png) // 3],
        "header only.png": png[:33],
        "zip named.jpg": b"PK\x03\x04" + bytes(200),
        "text.png": "ünïcode text, not pixels".encode(),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError) as error:
            load_image(tmp_path / name)
        assert str(error.value).startswith(str(tmp_path / name)), name
        assert "\n" not in str(error.value), name
    with pytest.raises(InputError, match="is a folder"):
        load_image(tmp_path)


def test_image_header_size_reads_png_jpeg_bmp(astronaut):
    for ext in (".png", ".jpg", ".bmp"):
        data = cv2.imencode(ext, astronaut[:300, :200])[1].tobytes()
        assert imagefile.image_header_size(data) == (200, 300), ext
    assert imagefile.image_header_size(b"GIF89a") is None


def test_decompression_bomb_header_is_refused_before_decoding(tmp_path, astronaut):
    png = bytearray(cv2.imencode(".png", astronaut)[1].tobytes())
    png[16:24] = (100_000).to_bytes(4, "big") * 2  # claims 100000x100000 (the CRC is now wrong too)
    path = tmp_path / "bomb.png"
    path.write_bytes(bytes(png))
    with pytest.raises(InputError, match="too large to decode"):
        load_image(path)


def test_big_jpeg_is_decoded_reduced_and_bounded(tmp_path, monkeypatch, astronaut):
    monkeypatch.setattr(imagefile, "MAX_IMAGE_PIXELS", 70_000)
    flags_used = []
    real_imdecode = cv2.imdecode
    monkeypatch.setattr(imagefile.cv2, "imdecode", lambda data, flags: flags_used.append(flags) or real_imdecode(data, flags))
    path = tmp_path / "big.jpg"
    path.write_bytes(cv2.imencode(".jpg", astronaut)[1].tobytes())  # 262,144 px: 1/2 size fits
    image = load_image(path)
    assert flags_used[0] & ~cv2.IMREAD_IGNORE_ORIENTATION == cv2.IMREAD_REDUCED_COLOR_2
    assert image.shape == (256, 256, 3)  # decoded at half size, no second resize needed


def test_exif_rotation_is_applied_once_on_reduced_decoding(tmp_path, monkeypatch):
    monkeypatch.setattr(imagefile, "MAX_IMAGE_PIXELS", 400)
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, :40] = 255
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00" + b"\x00\x00\x00\x00"
    app1 = b"\xff\xe1" + (len(tiff) + 8).to_bytes(2, "big") + b"Exif\x00\x00" + tiff
    path = tmp_path / "rotated.jpg"
    path.write_bytes(jpeg[:2] + app1 + jpeg[2:])
    loaded = load_image(path)
    assert loaded.shape[0] > loaded.shape[1]  # portrait: rotated 90 degrees exactly once
    half = loaded.shape[0] // 2
    assert loaded[:half].mean() > 200 and loaded[half:].mean() < 50


def test_float_frames_with_nan_and_empty_frames(astronaut):
    image = np.full((8, 8, 3), np.nan, np.float32)
    assert to_bgr8(image).max() == 0
    with pytest.raises(InputError, match="empty"):
        to_bgr8(np.zeros((0, 8, 3), np.uint8))
    with pytest.raises(InputError, match="unsupported pixel type"):
        to_bgr8(np.zeros((8, 8, 3), np.int32))


def test_jpeg2000_that_crashes_opencv_is_one_clear_line(tmp_path, astronaut):
    """Found by the fuzz run: one byte of the JP2 header's width changed makes OpenCV 4.11
    (OpenJPEG 2.5) segfault; decoded in a child process, it is an InputError."""
    data = bytearray(cv2.imencode(".jp2", cv2.resize(astronaut, (96, 96)))[1].tobytes())
    data[data.find(b"ihdr") + 5] = 11  # width 0x000B0060 in the header, 96 in the codestream
    path = tmp_path / "crash.jp2"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="decoder crashed"):
        load_image(path)
    good = tmp_path / "good.jp2"
    good.write_bytes(cv2.imencode(".jp2", astronaut[:64, :80])[1].tobytes())
    assert load_image(good).shape == (64, 80, 3)


def test_png_claiming_a_huge_chunk_is_refused_at_once(astronaut):
    """Found by the fuzz run: OpenCV 4.11 allocates a PNG chunk's stated length first, so 500
    bytes claiming a 4 GB chunk took 4 GB and seconds; the chunk walk refuses it."""
    data = b"\x89PNG\r\n\x1a\n" + b"\xff\xb4\xb6\x60IHDR" + bytes(500)
    start = time.perf_counter()
    with pytest.raises(InputError, match="corrupt PNG"):
        imagefile.decode_image(data, "bomb.png")
    assert time.perf_counter() - start < 0.5
    png = cv2.imencode(".png", astronaut)[1].tobytes()
    assert imagefile.png_problem(png) is None
    assert "truncated PNG" in imagefile.png_problem(png[:-12])


def _tiff_header(width: int, height: int, pixels: bytes = b"\x80" * 64) -> bytes:
    """A baseline little-endian TIFF (8-bit grey, one uncompressed strip) claiming ``width`` x
    ``height``, followed by ``pixels`` (truncated when the claim is bigger): the size is all a
    decoder's allocation goes by."""
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 0),
               (277, 3, 1), (278, 4, height), (279, 4, width * height)]
    data_at = 8 + 2 + 12 * len(entries) + 4
    out = b"II*\0" + struct.pack("<IH", 8, len(entries))
    for tag, kind, value in entries:
        value = data_at if tag == 273 else value
        out += struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
    return out + struct.pack("<I", 0) + pixels


def test_a_huge_tiff_is_refused_from_its_header_before_decoding(tmp_path, monkeypatch):
    # The probe's 593 KB TIFF of 20000 x 20000 took 1.8 GB and 10 s to decode, then "no face".
    def no_decoding(data, flags):
        raise AssertionError("the decoder was asked for an image over the limit")

    path = tmp_path / "huge.tif"
    path.write_bytes(_tiff_header(20_000, 20_000))
    monkeypatch.setattr(imagefile.cv2, "imdecode", no_decoding)
    with pytest.raises(InputError, match=r"huge\.tif: 400 megapixels is too large to decode \(limit 120 megapixels\)"):
        load_image(path)
    # Between Pillow's own bomb warning (89 MP) and ours: the exact size is named.
    path.write_bytes(_tiff_header(12_000, 11_000))
    with pytest.raises(InputError, match=r"12000x11000 pixels is too large to decode"):
        load_image(path)


def test_other_formats_sizes_come_from_their_headers(astronaut):
    from PIL import Image

    for fmt in ("TIFF", "WEBP", "PPM"):
        buffer = io.BytesIO()
        Image.fromarray(astronaut[:300, :200, ::-1]).save(buffer, fmt)
        header = imagefile.probe_header(buffer.getvalue())
        assert (header.size, header.pixels) == ((200, 300), 60_000), fmt
        assert imagefile.decode_image(buffer.getvalue(), fmt).shape == (300, 200, 3), fmt
    tiny = _tiff_header(8, 8)  # a hand-made TIFF decodes: the header writer above is right
    assert imagefile.decode_image(tiny, "tiny.tif").shape == (8, 8, 3)


def test_a_gif_is_named_as_a_format_that_is_not_supported(tmp_path):
    from PIL import Image

    path = tmp_path / "party.gif"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path, "GIF")
    with pytest.raises(InputError, match=r"party\.gif: GIF images are not supported: use JPEG, PNG, HEIC, AVIF, WebP, BMP or TIFF"):
        load_image(path)
