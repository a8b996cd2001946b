import time

import cv2
import numpy as np
import pytest

from realtime import capture as capture_module
from realtime.capture import Capture, CaptureOptions, load_image, to_bgr8
from realtime.democlip import DemoClipOptions
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


def test_huge_images_are_downscaled(monkeypatch):
    monkeypatch.setattr(capture_module, "MAX_IMAGE_PIXELS", 10_000)
    big = np.zeros((400, 300, 3), np.uint8)
    small = to_bgr8(big)
    assert small.shape[0] * small.shape[1] <= 10_000
    assert abs(small.shape[0] / small.shape[1] - 4 / 3) < 0.05
