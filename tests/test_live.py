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
from realtime.stages.democlip import DemoClipOptions, render_demo_frame
from realtime.errors import Selfie3DError
from realtime.accessories import accessory_names
from realtime.apps.executors import ExportCancelled, LowPriorityProcessExecutor
from realtime.apps.live import (
    BustWorker, LiveOptions, LiveSession, VirtualCamera, key_name,
    probe_video, render_tryon_video,
)
from realtime.render import View3D, ViewMode
from realtime.render.hud import HudMode

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


def endless_stand_in_export(identity_mm, triangles, path, **frame):
    """Stand-in for an export that is still writing when the window closes: an atomic write
    that does not finish unless stopped."""
    from realtime.fileio import atomic_output
    from realtime.apps.executors import report_progress

    with atomic_output(path) as temp:
        temp.write_text("partial")
        report_progress("writing slowly")
        time.sleep(3600)
    return path


def failing_stand_in_export(identity_mm, triangles, path, **frame):
    raise ValueError("no room for the plinth")


def worker_conditions(**frame):
    """What an export job runs under, from inside it: the nice value of every thread of its
    process (after starting a thread of its own, as a library would), the thread-count
    variables, and the keyword arguments that reached it."""
    import threading

    import numpy  # noqa: F401  (BLAS starts its threads on import)

    seen = threading.Event()
    thread = threading.Thread(target=seen.wait, args=(5,))
    thread.start()
    tasks = Path("/proc/self/task")
    nice = {int(task.name): int((task / "stat").read_text().rsplit(")", 1)[1].split()[16]) for task in tasks.iterdir()}
    seen.set()
    thread.join()
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
    return {"nice": nice, "env": {name: os.environ.get(name) for name in names}, "frame": sorted(frame),
            "pid": os.getpid()}


def make_session(gl_ctx, tmp_path, **kwargs):
    worker = BustWorker(slow_stand_in_export, concurrent.futures.ThreadPoolExecutor(max_workers=1))
    options = LiveOptions(width=320, height=240, bust_dir=str(tmp_path / "busts"), **kwargs)
    return LiveSession(gl_ctx, options, pipeline=FakePipeline(), bust_worker=worker)


def test_keys_cycle_state(gl_ctx, tmp_path):
    with make_session(gl_ctx, tmp_path) as session:
        session.step()
        names = [session.accessory.name]
        for _ in range(len(session.accessories)):
            session.key("g")
            names.append(session.accessory.name)
        # G goes through every built-in accessory (the glasses library, the headband...) and back.
        assert names[0] == names[-1] and sorted(set(names)) == sorted(accessory_names())
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
        assert session.hud(session._last_result, None).show_help
        session.key("h")
        assert not session.show_help
        modes = []
        for _ in range(3):
            session.key("i")
            modes.append(session.hud(session._last_result, None).mode)
        assert modes == [HudMode.DETAILS, HudMode.OFF, HudMode.COMPACT]
        session.key("q")
        assert session.quit


def test_window_keys_map_to_session_keys():
    """pyglet reports Shift+/ on X11 as its own QUESTION symbol (the keysym), elsewhere as
    SLASH with Shift held: both are help; a bare slash is nothing."""
    keys = SimpleNamespace(SLASH=47, ESCAPE=65307, SPACE=32, **{c: ord(c.lower()) for c in "SGMVRIHQ"})
    question = 63
    assert key_name(question, False, keys, question) == "?"
    assert key_name(question, True, keys, question) == "?"
    assert key_name(keys.SLASH, True, keys, question) == "?"
    assert key_name(keys.SLASH, False, keys, question) is None
    assert [key_name(ord(c), False, keys, question) for c in "sgmvrihq"] == list("sgmvrihq")
    assert key_name(keys.ESCAPE, False, keys, question) == "escape"
    assert key_name(keys.SPACE, False, keys, question) == "space"
    assert key_name(ord("z"), False, keys, question) is None


def test_question_mark_toggles_help_once_per_press_from_key_or_text():
    """On X11 pyglet sends QUESTION and the text "?" for the first press, then (believing the
    key still down once Shift went up first) only the text: every press toggles once."""
    from realtime.apps.live import WindowKeys

    keys = SimpleNamespace(SLASH=47, ESCAPE=65307, SPACE=32, ACTION_PRESS="press",
                           **{c: ord(c.lower()) for c in "SGMVRIHQ"})
    pressed = []
    window = WindowKeys(SimpleNamespace(key=pressed.append), keys, question=63)
    shift = SimpleNamespace(shift=True)
    window.key_event(63, "press", shift)  # first press: key and text
    window.text_event("?")
    window.new_frame()
    window.text_event("?")  # later presses: the text alone
    window.new_frame()
    window.key_event(47, "press", shift)  # elsewhere: Shift+/ and the text
    window.text_event("?")
    window.new_frame()
    window.key_event(63, "release", shift)
    window.text_event("h")  # other text is the key events' business
    window.key_event(ord("i"), "press", SimpleNamespace(shift=False))
    assert pressed == ["?", "?", "?", "i"]


def test_snapshot_exports_in_background_while_frames_continue(gl_ctx, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    worker = BustWorker(slow_stand_in_export, concurrent.futures.ThreadPoolExecutor(max_workers=1))
    # A relative folder: the HUD and the terminal give the absolute path.
    options = LiveOptions(width=320, height=240, bust_dir="busts", status_file=str(tmp_path / "status.json"))
    with LiveSession(gl_ctx, options, pipeline=FakePipeline(), bust_worker=worker) as session:
        session.step()
        session.key("s")
        frames_at_snapshot = session.frames_rendered
        deadline = time.perf_counter() + 10
        while session._bust.busy and time.perf_counter() < deadline:
            assert session.hud(session._last_result, None).bust.startswith("bust: ")  # progress on the HUD
            session.step()
        assert session.frames_rendered > frames_at_snapshot + 2  # the loop never waited
        saved = session._bust.saved
        assert len(saved) == 1 and Path(saved[0]).exists()
        assert Path(saved[0]).is_absolute() and Path(saved[0]).parent == tmp_path / "busts"
        # The saved path stays on the HUD after the notices have gone, until the next snapshot.
        monkeypatch.setattr("realtime.apps.live.MESSAGE_SECONDS", 0.0)
        for _ in range(3):
            session.step()
        hud = session.hud(session._last_result, None)
        assert hud.bust == f"bust saved: {saved[0]}" and not hud.messages
        session.write_status()
        status = json.loads(Path(options.status_file).read_text())
        assert status["bust"] == hud.bust and status["busts"] == saved and not status["exporting"]
        session.key("s")
        assert session.hud(session._last_result, None).bust.startswith("bust: ")
        lines = session.finish_exports()
    assert len(lines) == 2 and all(line.startswith("bust saved: /") for line in lines), lines


def test_exit_waits_for_a_running_export_and_lists_what_was_saved(gl_ctx, tmp_path):
    import io

    from realtime.apps.live import finish_exports_at_exit, print_export_summary

    with make_session(gl_ctx, tmp_path) as session:
        session.step()
        session.key("s")
        assert session.exporting == 1
        out = io.StringIO()
        lines = finish_exports_at_exit(session, out)
        print_export_summary(lines, out)
    text = out.getvalue()
    assert "waiting for 1 bust export to finish (Ctrl-C cancels)" in text
    saved = session._bust.saved
    assert len(saved) == 1 and Path(saved[0]).is_file()
    assert f"  bust saved: {saved[0]}" in text.splitlines() and "1 snapshot, 1 bust saved" in text


def test_ctrl_c_at_exit_cancels_the_export_and_leaves_no_file(gl_ctx, tmp_path, monkeypatch):
    import io

    from realtime.apps.live import finish_exports_at_exit

    worker = BustWorker(endless_stand_in_export, LowPriorityProcessExecutor())
    options = LiveOptions(width=320, height=240, bust_dir=str(tmp_path / "busts"))
    with LiveSession(gl_ctx, options, pipeline=FakePipeline(), bust_worker=worker) as session:
        session.step()
        session.key("s")
        deadline = time.perf_counter() + _EXPORT_TIMEOUT_S
        while "writing slowly" not in session.bust_line and time.perf_counter() < deadline:
            time.sleep(0.05)
        assert "writing slowly" in session.bust_line  # the job's own progress reached the HUD
        assert list((tmp_path / "busts").iterdir())  # its temporary file is there

        def interrupted(timeout=None):
            raise KeyboardInterrupt

        monkeypatch.setattr(worker, "wait", interrupted)
        lines = finish_exports_at_exit(session, io.StringIO())
    assert len(lines) == 1 and lines[0].startswith("bust export cancelled: ") and "(not written)" in lines[0]
    assert list((tmp_path / "busts").iterdir()) == []  # the atomic write cleaned up
    assert isinstance(worker.exports[0].future.exception(), ExportCancelled)


def test_export_process_runs_at_the_lowest_priority_with_one_thread_per_library():
    low = LowPriorityProcessExecutor()
    plain = LowPriorityProcessExecutor(nice=0, thread_env={})
    try:
        state = low.submit(worker_conditions, image="frame", vertices_px="face", hair_mask="extra").result(120)
        baseline = plain.submit(worker_conditions).result(120)
    finally:
        low.shutdown()
        plain.shutdown()
    assert state["pid"] != os.getpid()
    assert len(state["nice"]) >= 2 and set(state["nice"].values()) == {min(os.nice(0) + 19, 19)}
    assert set(state["env"].values()) == {"1"}
    assert state["frame"] == ["hair_mask", "image", "vertices_px"]  # keyword arguments pass through
    assert set(baseline["nice"].values()) == {os.nice(0)}  # the check can tell the difference


def test_a_failing_export_is_reported_not_raised(gl_ctx, tmp_path):
    worker = BustWorker(failing_stand_in_export, LowPriorityProcessExecutor())
    options = LiveOptions(width=320, height=240, bust_dir=str(tmp_path / "busts"))
    with LiveSession(gl_ctx, options, pipeline=FakePipeline(), bust_worker=worker) as session:
        session.step()
        session.key("s")
        assert worker.wait(_EXPORT_TIMEOUT_S)
        session.step()
        assert session.bust_line.startswith("bust export failed: ") and "no room for the plinth" in session.bust_line
        lines = session.finish_exports()
    assert lines == [session.bust_line] and not worker.saved


def test_recording_writes_the_rendered_frames_as_h264(gl_ctx, tmp_path):
    path = tmp_path / "tryon.mp4"
    with make_session(gl_ctx, tmp_path, record=str(path), max_frames=6) as session:
        while not session.quit:
            session.step()
            assert not path.exists()  # atomic: the file appears when it is complete
    info = probe_video(path)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["faststart"]
    assert (info["width"], info["height"], info["frames"]) == (320, 240, 6)
    video = cv2.VideoCapture(str(path))  # and OpenCV, as other tools, reads it back
    ok, image = video.read()
    assert ok and image.shape == (240, 320, 3)
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".mp4"] == ["tryon.mp4"]


def test_recorder_pads_an_odd_size_and_discards_on_request(tmp_path):
    from realtime.apps.live import VideoRecorder

    path = tmp_path / "odd.mp4"
    recorder = VideoRecorder(str(path), (65, 47), 29.97)
    for k in range(3):
        recorder.write(np.full((47, 65, 3), 40 * k, np.uint8))
    recorder.close()
    info = probe_video(path)
    assert (info["width"], info["height"], info["frames"]) == (66, 48, 3) and abs(info["fps"] - 29.97) < 0.01
    dropped = tmp_path / "dropped.mp4"
    recorder = VideoRecorder(str(dropped), (64, 48), 30.0)
    recorder.write(np.zeros((48, 64, 3), np.uint8))
    recorder.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.mp4"]
    with pytest.raises(ValueError, match="frame is 32x48, the video 64x48"):
        VideoRecorder(str(tmp_path / "x.mp4"), (64, 48), 30.0).write(np.zeros((48, 32, 3), np.uint8))


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
    info = probe_video(tmp_path / "t.mp4")
    assert (info["codec"], info["pix_fmt"], info["faststart"], info["frames"]) == ("h264", "yuv420p", True, 4)


def test_a_failing_render_leaves_no_video(gl_ctx, tmp_path):
    pipeline = FakePipeline()
    frame = SimpleNamespace(image=render_demo_frame(0, DemoClipOptions(motion=False)), index=0, timestamp_s=0.0)

    def results():
        yield pipeline.process(frame)
        raise RuntimeError("the camera went away")

    with pytest.raises(RuntimeError, match="went away"):
        render_tryon_video(results(), pipeline.intrinsics_for, tmp_path / "t.mp4", size=(320, 240), ctx=gl_ctx)
    assert list(tmp_path.iterdir()) == []


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


_SCREEN = (1024, 768)
# A key's effect is on screen within a few frames; the status file says when it took effect.
_KEY_TIMEOUT_S = 20.0
_SETTLE_S = 0.6
# A pixel changed when a channel moved by more than this (8-bit levels): HUD text and the
# help panel's backing move them by 50 or more, the paused frame's noise by none.
_CHANGED_LEVEL = 30


class WindowUnderXvfb:
    """``selfie3d live`` on a fresh Xvfb display, driven with xdotool, watched through its
    status file and screenshots (PyAV's x11grab)."""

    def __init__(self, tmp_path: Path):
        video = tmp_path / "clip.mp4"
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 480))
        for i in range(60):
            writer.write(render_demo_frame(i))
        writer.release()
        self.display = f":{90 + os.getpid() % 9}"
        self.xvfb = subprocess.Popen(["Xvfb", self.display, "-screen", "0", f"{_SCREEN[0]}x{_SCREEN[1]}x24",
                                      "-nolisten", "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.env = dict(os.environ, DISPLAY=self.display)
        self.status_path = tmp_path / "status.json"
        self.busts = tmp_path / "busts"
        self.command = [sys.executable, "-m", "realtime.apps.live", "--video", str(video), "--size", "640x360",
                        "--status-file", str(self.status_path), "--bust-dir", str(self.busts), "--max-frames", "100000"]
        self.app = None
        self.window = None

    def start(self) -> None:
        time.sleep(1.0)
        self.app = subprocess.Popen(self.command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
        self.wait_for(lambda s: s.get("tracking"), _WINDOW_START_TIMEOUT_S, "the window never tracked the face")
        self.window = subprocess.run(["xdotool", "search", "--sync", "--name", "selfie3d live"], env=self.env,
                                     capture_output=True, text=True, timeout=20).stdout.split()[0]

    def status(self) -> dict:
        return _read_status(self.status_path)

    def wait_for(self, condition, timeout: float, message: str) -> dict:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            assert self.app.poll() is None, self.app.stdout.read()
            status = self.status()
            if condition(status):
                return status
            time.sleep(0.1)
        raise AssertionError(f"{message}: {self.status()}")

    def key(self, name: str) -> None:
        """Press a key as xdotool sends it (``question`` is Shift plus the key with ?)."""
        subprocess.run(["xdotool", "windowfocus", "--sync", self.window, "key", name], env=self.env, check=True,
                       timeout=20)

    def screenshot(self) -> np.ndarray:
        """The window's pixels, ``(h, w, 3) uint8`` BGR."""
        import av

        time.sleep(_SETTLE_S)  # a few frames drawn after the change the status file reported
        geometry = subprocess.run(["xdotool", "getwindowgeometry", "--shell", self.window], env=self.env,
                                  capture_output=True, text=True, timeout=20).stdout
        g = dict(line.split("=", 1) for line in geometry.split())
        x, y, w, h = (int(g[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
        with av.open(self.display, format="x11grab", options={"video_size": f"{_SCREEN[0]}x{_SCREEN[1]}"}) as grab:
            screen = next(grab.decode(video=0)).to_ndarray(format="bgr24")
        return screen[y:y + h, x:x + w]

    def close(self) -> None:
        if self.app is not None and self.app.poll() is None:
            self.app.kill()
            self.app.wait()
        self.xvfb.terminate()
        self.xvfb.wait()


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).max(axis=2) > _CHANGED_LEVEL


@pytest.fixture
def live_window(tmp_path):
    pytest.importorskip("moderngl_window")
    window = WindowUnderXvfb(tmp_path)
    try:
        window.start()
        yield window
    finally:
        window.close()


@pytest.mark.skipif(not _TOOLS, reason="needs Xvfb and xdotool (apt-get install xvfb xdotool)")
def test_window_question_mark_shows_help_and_i_toggles_the_hud(live_window):
    w = live_window
    w.key("space")  # paused: the same frame stays up, so screenshots differ only by what the keys do
    w.wait_for(lambda s: s.get("paused"), _KEY_TIMEOUT_S, "space did not pause")
    before = w.screenshot()
    h, wd = before.shape[:2]
    centre = (slice(h // 3, 2 * h // 3), slice(wd // 3, 2 * wd // 3))
    top_right = (slice(0, h // 4), slice(3 * wd // 4, wd))

    w.key("question")  # what xdotool sends for "?": Shift + the key that has it
    w.wait_for(lambda s: s.get("help"), _KEY_TIMEOUT_S, "? did not open the help")
    with_help = w.screenshot()
    assert _changed(before, with_help)[centre].mean() > 0.2  # the help panel's text over its backing
    assert not _changed(before, with_help)[top_right].any()  # and nothing else moved
    w.key("question")
    w.wait_for(lambda s: not s.get("help"), _KEY_TIMEOUT_S, "? did not close the help")

    hud = {}
    hud["compact"] = w.screenshot()
    for mode in ("details", "off", "compact"):
        w.key("i")
        w.wait_for(lambda s: s.get("hud") == mode, _KEY_TIMEOUT_S, f"I did not switch the HUD to {mode}")
        hud[mode] = w.screenshot()
    lower_left = (slice(h // 2, h), slice(0, wd // 2))
    # Details add rows above the status line; off removes the status line; compact is back.
    assert _changed(hud["compact"], hud["details"])[lower_left].sum() > 200
    hud_pixels = _changed(hud["compact"], hud["off"])[lower_left]
    assert hud_pixels.sum() > 100
    assert hud_pixels[-h // 6:].sum() > 0.8 * hud_pixels.sum()  # it was at the bottom, off the face
    assert _changed(hud["compact"], hud["off"])[: h // 2].sum() == 0
    w.key("Escape")
    assert w.app.wait(timeout=30) == 0


@pytest.mark.skipif(not _TOOLS, reason="needs Xvfb and xdotool (apt-get install xvfb xdotool)")
def test_window_snapshot_under_xvfb(live_window):
    w = live_window
    w.key("s")
    frames_at_key = w.status()["frames"]
    seen_exporting = []
    deadline = time.perf_counter() + _EXPORT_TIMEOUT_S
    while len(seen_exporting) < 3 and not w.status().get("busts") and time.perf_counter() < deadline:
        s = w.status()
        if s.get("exporting"):
            seen_exporting.append(s["frames"])
            assert s["bust"].startswith("bust: ")  # the HUD shows the export going on
        time.sleep(0.2)
    # Frames kept coming while the export ran in the background.
    assert len(seen_exporting) >= 2 and seen_exporting[-1] > seen_exporting[0] > frames_at_key - 5
    # Closing while it may still run: the terminal waits for it and lists what was saved.
    still_exporting = w.status().get("exporting")
    w.key("Escape")
    assert w.app.wait(timeout=_EXPORT_TIMEOUT_S) == 0
    output = w.app.stdout.read()
    saved = sorted(w.busts.glob("*.stl"))
    assert len(saved) == 1 and saved[0].stat().st_size > 1000, output
    assert f"  bust saved: {saved[0]}" in output.splitlines(), output
    assert "1 snapshot, 1 bust saved" in output
    if still_exporting:
        assert "waiting for 1 bust export to finish" in output
    final = w.status()
    assert final["busts"] == [str(saved[0])] and final["bust"] == f"bust saved: {saved[0]}"


def test_pipeline_flags_reach_the_live_session(gl_ctx, tmp_path):
    # `selfie3d live` takes the same pipeline flags as demo and bench: a calibrated camera
    # profile matters most live (metric try-on), so it must not be dropped on the way.
    from realtime.apps.cli import build_parser, pipeline_options
    from realtime.apps.live import options_from_args

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
    from realtime.stages.capture import CaptureOptions

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
    from realtime.apps.live import VideoRecorder

    path = tmp_path / "new" / "deeper" / "take.mp4"
    recorder = VideoRecorder(str(path), _VIDEO_SIZE, 30.0)
    recorder.write(np.zeros((_VIDEO_SIZE[1], _VIDEO_SIZE[0], 3), np.uint8))
    recorder.close()
    assert path.stat().st_size > 0
    assert [p.name for p in path.parent.iterdir()] == ["take.mp4"]  # the probe file is gone


def test_recording_under_a_file_names_the_folder_not_the_encoder(tmp_path):
    from realtime.fileio import OutputError
    from realtime.apps.live import VideoRecorder, check_video_folder

    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    for path in (blocker / "take.mp4", blocker / "sub" / "take.mp4"):
        for check in (lambda: VideoRecorder(str(path), _VIDEO_SIZE, 30.0),
                      lambda: check_video_folder(path, create=False)):
            with pytest.raises(OutputError, match="a part of the path is a file") as caught:
                check()
            assert "encoder" not in str(caught.value)


def test_the_check_before_the_window_creates_nothing(tmp_path):
    from realtime.apps.live import check_video_folder

    check_video_folder(tmp_path / "later" / "take.mp4", create=False)
    assert not (tmp_path / "later").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_recording_into_proc_names_the_folder_not_the_encoder():
    from realtime.fileio import OutputError
    from realtime.apps.live import VideoRecorder

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

    from realtime.accessories.glasses import GLASSES_LIBRARY, build_glasses

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


def test_bench_render_reports_the_frame_rate_during_an_export():
    """``bench --render``'s live-loop figures: the rate without an export and during a real
    one (the bust builder in the low-priority process), and the export's duration."""
    from realtime.tools.bench import format_report, render_during_export_benchmark

    report = render_during_export_benchmark(320, 240, plain=False, warmup_frames=10, timed_frames=5)
    assert list(report) == ["live_fps", "render_fps_during_export", "render_fps_during_export_ratio", "export_s"]
    assert report["live_fps"] > 0 and report["render_fps_during_export"] > 0 and report["export_s"] > 0
    # The ratio is of the unrounded rates; the rates are rounded to 0.1 FPS.
    ratio = report["render_fps_during_export"] / report["live_fps"]
    assert report["render_fps_during_export_ratio"] == pytest.approx(ratio, rel=0.03)
    text = format_report({"source": "s", "frames": 1, "tracked_fraction": 1.0, "provider": "cpu", "stages": {},
                          "total_p50_ms": 1.0, "fps": 1.0, **report})
    assert f"render_fps_during_export: {report['render_fps_during_export']}" in text

