"""Live try-on: the session headless (keys, background bust export, recording) and the real
window under Xvfb driven with xdotool."""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from realtime.camera import CameraIntrinsics
from realtime.democlip import DemoClipOptions, render_demo_frame
from realtime.errors import Selfie3DError
from realtime.live import BustWorker, LiveOptions, LiveSession, VirtualCamera, render_tryon_video
from realtime.render import View3D, ViewMode

REFERENCE_DIR = Path(__file__).parent / "reference"
# Stand-in export time: long enough that several frames must render while it runs.
_STAND_IN_EXPORT_S = 0.6
# The windowed run: generous limits for a shared 2-core machine.
_WINDOW_START_TIMEOUT_S = 40.0
_EXPORT_TIMEOUT_S = 60.0



class FakePipeline:
    """The pipeline's interface with a fixed fused face (no networks: fast, deterministic)."""

    def __init__(self):
        self.face = np.load(REFERENCE_DIR / "face_frontal_mm.npy")
        self.resets = 0

    def process(self, frame):
        fused = SimpleNamespace(vertices_mm=self.face, identity_mm=self.face, frames_fused=10, pd_mm=63.0,
                                scale_source="iris")
        return SimpleNamespace(frame=frame, fusion=fused, timings_ms={"track": 1.0, "total": 2.0}, provider="fake")

    def intrinsics_for(self, width, height):
        return CameraIntrinsics.default(width, height, 60.0)

    def reset(self):
        self.resets += 1

    def close(self):
        pass


def slow_stand_in_export(identity_mm, triangles, path, **frame):
    """Stand-in for the bust exporter: sleeps, then writes a small file."""
    time.sleep(_STAND_IN_EXPORT_S)
    Path(path).write_text(f"solid stand-in {len(identity_mm)} {len(triangles)}\n")
    return path


def make_session(gl_ctx, tmp_path, **kwargs):
    worker = BustWorker(slow_stand_in_export, concurrent.futures.ThreadPoolExecutor(max_workers=1))
    options = LiveOptions(width=320, height=240, bust_dir=str(tmp_path / "busts"), **kwargs)
    return LiveSession(gl_ctx, options, pipeline=FakePipeline(), bust_worker=worker)


def test_keys_cycle_state(gl_ctx, tmp_path):
    with make_session(gl_ctx, tmp_path) as session:
        session.step()
        names = [session.glasses[session.glasses_index].name]
        for _ in range(4):
            session.key("g")
            names.append(session.glasses[session.glasses_index].name)
        assert names[0] == names[-1] and len(set(names)) == 4
        modes = []
        for _ in range(4):
            session.key("m")
            modes.append(session.view_mode)
        assert modes == [ViewMode.WIREFRAME, ViewMode.SHADED, ViewMode.TEXTURED, ViewMode.TRYON]
        session.key("v")
        assert session.view3d == View3D.SPLIT
        session.key("r")
        assert session.pipeline.resets == 1
        session.key("space")
        frame_before = session._last_result.frame.index
        session.step()
        assert session.paused and session._last_result.frame.index == frame_before
        session.key("?")
        assert session.show_help
        session.key("q")
        assert session.quit


def test_snapshot_exports_in_background_while_frames_continue(gl_ctx, tmp_path):
    with make_session(gl_ctx, tmp_path) as session:
        session.step()
        session.key("s")
        frames_at_snapshot = session.frames_rendered
        deadline = time.perf_counter() + 10
        while session._bust.busy and time.perf_counter() < deadline:
            session.step()
            assert session.hud(session._last_result, None).messages  # progress on the HUD
        assert session.frames_rendered > frames_at_snapshot + 2  # the loop never waited
        saved = session._bust.saved
        assert len(saved) == 1 and Path(saved[0]).exists()
        assert any("bust saved" in m for m in session.hud(session._last_result, None).messages)


def test_recording_writes_the_rendered_frames(gl_ctx, tmp_path):
    path = tmp_path / "tryon.mp4"
    with make_session(gl_ctx, tmp_path, record=str(path), max_frames=6) as session:
        while not session.quit:
            session.step()
    video = cv2.VideoCapture(str(path))
    count = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, image = video.read()
    assert ok and image.shape == (240, 320, 3) and count == 6


def test_render_tryon_video_and_preview(gl_ctx, tmp_path):
    pipeline = FakePipeline()
    frames = [SimpleNamespace(image=render_demo_frame(i, DemoClipOptions(motion=False)), index=i, timestamp_s=i / 30)
              for i in range(4)]
    results = [pipeline.process(f) for f in frames]
    written = render_tryon_video(results, pipeline.intrinsics_for, tmp_path / "t.mp4", tmp_path / "p.png",
                                 size=(320, 240), preview_index=2, ctx=gl_ctx)
    assert written == 4
    preview = cv2.imread(str(tmp_path / "p.png"))
    assert preview.shape == (240, 320, 3)


def test_virtual_cam_without_pyvirtualcam_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)  # import fails
    with pytest.raises(Selfie3DError, match=r"pip install 'selfie3d\[virtualcam\]'"):
        VirtualCamera((320, 240), 30.0)


# ----------------------------------------------------------------------------- real window

_TOOLS = all(shutil.which(t) for t in ("Xvfb", "xdotool"))


def _read_status(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


@pytest.mark.skipif(not _TOOLS, reason="needs Xvfb and xdotool (apt-get install xvfb xdotool)")
def test_window_snapshot_under_xvfb(tmp_path):
    pytest.importorskip("moderngl_window")
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 480))
    for i in range(60):
        writer.write(render_demo_frame(i))
    writer.release()
    display = f":{90 + os.getpid() % 9}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, DISPLAY=display)
    status = tmp_path / "status.json"
    busts = tmp_path / "busts"
    command = [sys.executable, "-m", "realtime.live", "--video", str(video), "--size", "640x360",
               "--status-file", str(status), "--bust-dir", str(busts), "--max-frames", "100000"]
    app = None
    try:
        time.sleep(1.0)
        app = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.perf_counter() + _WINDOW_START_TIMEOUT_S
        while not _read_status(status).get("tracking") and time.perf_counter() < deadline:
            assert app.poll() is None, app.stdout.read()
            time.sleep(0.2)
        assert _read_status(status).get("tracking"), "the window never tracked the face"
        window = subprocess.run(["xdotool", "search", "--sync", "--name", "selfie3d live"], env=env,
                                capture_output=True, text=True, timeout=20).stdout.split()[0]
        subprocess.run(["xdotool", "windowfocus", "--sync", window, "key", "s"], env=env, check=True, timeout=20)
        frames_at_key = _read_status(status)["frames"]
        seen_exporting = []
        deadline = time.perf_counter() + _EXPORT_TIMEOUT_S
        while not _read_status(status).get("busts") and time.perf_counter() < deadline:
            assert app.poll() is None, app.stdout.read()
            s = _read_status(status)
            if s.get("exporting"):
                seen_exporting.append(s["frames"])
            time.sleep(0.1)
        final = _read_status(status)
        assert final.get("busts"), f"no bust saved: {final}"
        assert Path(final["busts"][0]).stat().st_size > 1000
        # Frames kept coming while the export ran in the background.
        assert len(seen_exporting) >= 2 and seen_exporting[-1] > seen_exporting[0]
        assert final["frames"] > frames_at_key
        subprocess.run(["xdotool", "windowfocus", "--sync", window, "key", "Escape"], env=env, timeout=20)
        assert app.wait(timeout=30) == 0
    finally:
        if app is not None and app.poll() is None:
            app.kill()
            app.wait()
        xvfb.terminate()
        xvfb.wait()


def test_pipeline_flags_reach_the_live_session(gl_ctx, tmp_path):
    # `selfie3d live` takes the same pipeline flags as demo and bench: a calibrated camera
    # profile matters most live (metric try-on), so it must not be dropped on the way.
    from realtime.cli import build_parser, pipeline_options
    from realtime.live import options_from_args

    profile = tmp_path / "cam.toml"
    args = build_parser().parse_args(["live", "--providers", "cpu", "--max-faces", "2", "--no-iris",
                                      "--camera-profile", str(profile), "--size", "320x240"])
    options = options_from_args(args, pipeline=pipeline_options(args))
    assert options.pipeline.tracking.max_faces == 2
    assert options.pipeline.reconstruction.providers == ("cpu",) and not options.pipeline.reconstruction.iris
    assert options.pipeline.camera_profile == str(profile)
    session = LiveSession(gl_ctx, LiveOptions(width=320, height=240, bust_dir=str(tmp_path), pipeline=options.pipeline),
                          bust_worker=BustWorker(slow_stand_in_export, concurrent.futures.ThreadPoolExecutor(1)))
    try:
        assert session.pipeline.options is options.pipeline
    finally:
        session.close()


def test_built_in_demo_clip_loops_until_max_frames(gl_ctx, tmp_path):
    # No --camera and no --video: the built-in clip must loop like a video file does, not end
    # the window silently after one pass.
    from realtime.capture import CaptureOptions

    clip = DemoClipOptions(width=160, height=120, duration_s=0.1)  # 3 frames
    with make_session(gl_ctx, tmp_path, max_frames=2 * clip.frame_count + 2) as session:
        session.capture_options = CaptureOptions(demo=clip)
        session.capture.close()
        session.capture = session._Capture(session.capture_options)
        while not session.quit:
            assert session.step() is not None
        assert session.frames_rendered == 2 * clip.frame_count + 2


# ----------------------------------------------------------------------------- bad input before the window

_VIDEO_SIZE = (64, 48)


def test_recorder_creates_a_missing_folder(tmp_path):
    from realtime.live import VideoRecorder

    path = tmp_path / "new" / "deeper" / "take.mp4"
    recorder = VideoRecorder(str(path), _VIDEO_SIZE, 30.0)
    recorder.write(np.zeros((_VIDEO_SIZE[1], _VIDEO_SIZE[0], 3), np.uint8))
    recorder.close()
    assert path.stat().st_size > 0
    assert [p.name for p in path.parent.iterdir()] == ["take.mp4"]  # the probe file is gone


def test_recording_under_a_file_names_the_folder_not_the_encoder(tmp_path):
    from realtime.fileio import OutputError
    from realtime.live import VideoRecorder, check_video_folder

    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    for path in (blocker / "take.mp4", blocker / "sub" / "take.mp4"):
        for check in (lambda: VideoRecorder(str(path), _VIDEO_SIZE, 30.0),
                      lambda: check_video_folder(path, create=False)):
            with pytest.raises(OutputError, match="a part of the path is a file") as caught:
                check()
            assert "encoder" not in str(caught.value)


def test_the_check_before_the_window_creates_nothing(tmp_path):
    from realtime.live import check_video_folder

    check_video_folder(tmp_path / "later" / "take.mp4", create=False)
    assert not (tmp_path / "later").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_recording_into_proc_names_the_folder_not_the_encoder():
    from realtime.fileio import OutputError
    from realtime.live import VideoRecorder

    with pytest.raises(OutputError, match=r"cannot create a file in /proc \(") as caught:
        VideoRecorder("/proc/x.mp4", _VIDEO_SIZE, 30.0)
    assert "encoder" not in str(caught.value)


def _live_cli(*args):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([sys.executable, "-m", "realtime", "live", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_live_checks_glasses_and_recording_before_it_needs_a_display(tmp_path):
    # Without a display the window cannot open, so reaching that error means the input passed.
    import trimesh

    from realtime.glasses import GLASSES_LIBRARY, build_glasses

    model = build_glasses(GLASSES_LIBRARY[1])
    anchors = {"nose_bridge": model.nose_rest_mm.tolist(), "temple_right": model.ear_rest_mm[0].tolist(),
               "temple_left": model.ear_rest_mm[1].tolist(), "up": [0, -1, 0]}
    stl = tmp_path / "glasses.stl"  # STL has no part names: the part is named after the file
    trimesh.Trimesh(model.front.vertices, model.front.triangles, process=False).export(stl)
    stl.with_suffix(".json").write_text(json.dumps(anchors))
    result = _live_cli("--glasses", str(stl), "--record", str(tmp_path / "later" / "take.mp4"))
    assert result.returncode == 2 and "cannot open a window" in result.stderr, result.stderr
    assert not (tmp_path / "later").exists()

    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file")
    for args, expected in ((["--record", str(blocker / "take.mp4")], "a part of the path is a file"),
                           (["--glasses", "monocle"], "unknown glasses 'monocle'")):
        result = _live_cli(*args)
        assert result.returncode == 2 and expected in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
