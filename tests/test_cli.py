"""The selfie3d command: subcommands run end to end; bad input gets one line and a non-zero exit."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from realtime.apps.cli import main


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "realtime", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_demo_writes_video_report_and_preview(tmp_path):
    out = tmp_path / "demo out"
    assert main(["demo", "--out", str(out), "--frames", "30"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["frames"] == 30
    assert report["tracked_fraction"] >= 0.95
    assert report["provider"] == "CPUExecutionProvider"
    video = cv2.VideoCapture(str(out / "tryon.mp4"))
    count = 0
    while video.read()[0]:
        count += 1
    assert count == 30
    preview = cv2.imread(str(out / "preview.png"))
    assert preview is not None and preview.shape == (720, 1280, 3)
    import trimesh

    bust = trimesh.load(out / "bust.stl")
    assert bust.is_watertight and bust.is_winding_consistent and bust.volume > 0
    assert report["bust"]["checks"]["height_mm"] == pytest.approx(80.0, abs=0.01)
    assert cv2.imread(str(out / "bust.png")) is not None
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_bench_json_has_the_documented_keys(tmp_path, capsys):
    assert main(["bench", "--frames", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("frames", "tracked_fraction", "provider", "stages", "total_p50_ms", "fps",
                "baseline_p50_ms", "ratio_vs_baseline"):
        assert key in report, key
    assert report["frames"] == 20
    for stats in report["stages"].values():
        assert set(stats) == {"p50_ms", "p95_ms", "p99_ms"}
        assert stats["p50_ms"] <= stats["p95_ms"] <= stats["p99_ms"]
    assert report["ratio_vs_baseline"] == pytest.approx(report["total_p50_ms"] / report["baseline_p50_ms"], rel=0.01)


def test_missing_video_is_one_line_and_nonzero(tmp_path):
    result = run_cli("demo", "--video", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "o"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "no such file" in result.stderr


def test_camera_that_cannot_open_suggests_video(tmp_path):
    result = run_cli("demo", "--camera", "97", "--out", str(tmp_path / "o"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "camera 97" in result.stderr and "--video" in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    result = run_cli("demo", "--debug", "--video", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "o"))
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_bad_flag_values_are_rejected_with_usage():
    result = run_cli("bench", "--frames", "-3")
    assert result.returncode == 2 and "positive" in result.stderr


def test_help_lists_every_command_and_flag_defaults():
    result = run_cli("--help")
    for command in ("demo", "bench", "doctor"):
        assert command in result.stdout
    demo_help = run_cli("demo", "--help").stdout
    assert "default: out/demo" in demo_help and "--max-faces" in demo_help


def test_doctor_reports_models_ok():
    result = run_cli("doctor")
    assert result.returncode == 0, result.stderr
    assert "model face_landmark: ok" in result.stdout
    assert "CPUExecutionProvider" in result.stdout
    for part in ("GPU:", "GL renderer:", "cameras:"):
        assert part in result.stdout

def test_runs_from_any_directory(tmp_path):
    result = run_cli("doctor", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_doctor_prints_each_model_checksum_prefix():
    from realtime.stages.inference import load_manifest
    from realtime.resources import models_dir

    stdout = run_cli("doctor").stdout
    for name, entry in load_manifest(models_dir())["models"].items():
        assert f"model {name}: ok sha256 {entry['sha256'][:12]} (" in stdout


def test_demo_with_a_profile_of_the_wrong_size_leaves_no_output_folder(tmp_path):
    from realtime.camera import CameraIntrinsics, save_camera_profile

    profile = save_camera_profile(CameraIntrinsics.default(1920, 1080), tmp_path / "hd.toml")
    out = tmp_path / "runs" / "demo"
    result = run_cli("demo", "--camera-profile", str(profile), "--out", str(out), "--frames", "3")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert not (tmp_path / "runs").exists()  # neither the folder nor the parent it created


def test_demo_failure_keeps_an_existing_output_folder(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    result = run_cli("demo", "--video", str(tmp_path / "nope.mp4"), "--out", str(out))
    assert result.returncode != 0 and out.is_dir()


def test_photo_label_the_font_cannot_draw_is_one_line_before_any_photo(tmp_path):
    result = run_cli("photo", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.stl"), "--label", "Zoë 日本")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "cannot draw: 'ë' '日' '本'" in result.stderr
    assert not list(tmp_path.iterdir())


def test_photo_label_too_long_for_the_print_says_the_maximum(tmp_path, face_photo_path):
    result = run_cli("photo", face_photo_path, "-o", str(tmp_path / "a.stl"), "--label", "W" * 60)
    assert result.returncode == 2 and "Traceback" not in result.stderr  # the only photo failed: input
    assert "too long for this print size" in result.stderr and "at most" in result.stderr
    assert not (tmp_path / "a.stl").exists()


def test_bench_and_calibrate_keep_native_log_lines_off_stderr(tmp_path):
    # MediaPipe's absl/TFLite lines ("Created TensorFlow Lite XNNPACK delegate", W0000 ...) and
    # OpenCV's "[ WARN:0@...] cap_v4l" are not ours: only --debug shows them.
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("GLOG_minloglevel", "TF_CPP_MIN_LOG_LEVEL", "OPENCV_LOG_LEVEL")}
    bench = subprocess.run([sys.executable, "-m", "realtime", "bench", "--frames", "2"], capture_output=True,
                           text=True, timeout=300, env=env)
    assert bench.returncode == 0 and bench.stderr == ""
    calibrate = subprocess.run([sys.executable, "-m", "realtime", "calibrate", "--camera", "97", "--no-preview"],
                               capture_output=True, text=True, timeout=120, env=env)
    # Also not "[ERROR:0@0.051] global obsensor_uvc_stream_channel.cpp:158 ...": only our line.
    assert calibrate.returncode != 0 and "WARN" not in calibrate.stderr
    assert calibrate.stderr.splitlines() == [calibrate.stderr.strip()]
    assert calibrate.stderr.startswith("selfie3d: error: calibration: cannot open camera 97")


def test_native_logs_are_quieted_unless_debug(monkeypatch):
    from realtime.apps.cli import NATIVE_LOG_QUIET, quiet_native_logs

    for name in NATIVE_LOG_QUIET:
        monkeypatch.delenv(name, raising=False)
    quiet_native_logs(["bench", "--debug"])
    assert not any(name in os.environ for name in NATIVE_LOG_QUIET)
    monkeypatch.setenv("OPENCV_LOG_LEVEL", "INFO")  # the user's own choice wins
    quiet_native_logs(["bench"])
    assert os.environ["GLOG_minloglevel"] == "2" and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    assert os.environ["OPENCV_LOG_LEVEL"] == "INFO"


# ----------------------------------------------------------------------------- a face-less input


@pytest.fixture(scope="module")
def blank_image(tmp_path_factory) -> str:
    """A flat grey picture: no face anywhere."""
    path = tmp_path_factory.mktemp("blank") / "grey.png"
    cv2.imwrite(str(path), np.full((480, 640, 3), 128, np.uint8))
    return str(path)


def test_demo_on_an_image_without_a_face_fails_with_one_line_and_leaves_nothing(tmp_path, blank_image):
    out = tmp_path / "runs" / "demo"
    result = run_cli("demo", "--video", blank_image, "--out", str(out))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"selfie3d: error: {blank_image}: no face found in the image; give a photo or video with a face looking "
        "at the camera (or no --video for the built-in clip)"]
    assert "face tracked" not in result.stdout
    assert not (tmp_path / "runs").exists()  # no try-on video of an empty picture


def test_demo_with_a_face_in_some_frames_succeeds(tmp_path, blank_image, face_photo_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "a_face.png").write_bytes(open(face_photo_path, "rb").read())
    (frames / "b_blank.png").write_bytes(open(blank_image, "rb").read())
    result = run_cli("demo", "--video", str(frames), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "o" / "report.json").read_text())["tracked_fraction"] == 0.5


def test_no_face_error_counts_the_frames():
    from realtime.apps.video import no_face_error

    assert str(no_face_error("clip.mp4", 90)).startswith("clip.mp4: no face found in any of its 90 frames; ")
    assert str(no_face_error("camera 0", 30, camera=True)) == (
        "camera 0: no face found in any of its 30 frames; face the camera in good light")
    assert str(no_face_error("empty.mp4", 0)) == "empty.mp4: no frame could be read from it"


# ----------------------------------------------------------------------------- exit codes


def _unavailable_provider() -> str | None:
    """An execution provider ONNX Runtime knows but this installation cannot run."""
    import onnxruntime as ort

    return next((p for p in ort.get_all_providers() if p not in ort.get_available_providers()), None)


def _exit_code_cases():
    """(situation, command line, expected code, text in the one error line); {tmp}, {blank},
    {face} and {unavailable} are filled in by the test."""
    return [
        ("usage: a bad flag value", ["bench", "--frames", "-3"], 2, "positive"),
        ("usage: a port out of range", ["serve", "--port", "70000"], 2, "a TCP port is 1-65535"),
        ("demo: missing video", ["demo", "--video", "{tmp}/nope.mp4", "--out", "{tmp}/o"], 2, "no such file"),
        ("demo: no face in the input", ["demo", "--video", "{blank}", "--out", "{tmp}/o"], 2, "no face found"),
        ("demo: unknown provider", ["demo", "--providers", "cdua", "--out", "{tmp}/o"], 2,
         "unknown execution provider 'cdua'"),
        ("demo: provider not installed", ["demo", "--providers", "{unavailable}", "--out", "{tmp}/o"], 3,
         "not available in this onnxruntime"),
        ("photo: missing photo", ["photo", "{tmp}/nope.jpg", "-o", "{tmp}/a.stl"], 2, "no such file"),
        ("photo: empty folder", ["photo", "{tmp}/empty", "-o", "{tmp}/out"], 2, "holds no images"),
        ("photo: no face in the photo", ["photo", "{blank}", "-o", "{tmp}/a.stl"], 2, "no face found"),
        ("photo: unknown provider", ["photo", "{blank}", "--providers", "cdua", "-o", "{tmp}/a.stl"], 2,
         "unknown execution provider 'cdua'"),
        ("photo: provider not installed", ["photo", "{blank}", "--providers", "{unavailable}", "-o", "{tmp}/a.stl"],
         3, "not available in this onnxruntime"),
        ("photo: some photos failed", ["photo", "{face}", "{tmp}/nope.jpg", "-o", "{tmp}/out"], 1, "no such file"),
        ("photo: a 20000x20000 TIFF", ["photo", "{tmp}/huge.tif", "-o", "{tmp}/a.stl"], 2,
         "huge.tif: 400 megapixels is too large to decode (limit 120 megapixels)"),
        ("photo: a video", ["photo", "{tmp}/turn.mp4", "-o", "{tmp}/a.stl"], 2,
         "turn.mp4: a video, not a photo (for a bust from a video: selfie3d video FILE"),
        ("photo: a GIF", ["photo", "{tmp}/party.gif", "-o", "{tmp}/a.stl"], 2,
         "party.gif: GIF images are not supported: use JPEG, PNG, HEIC, AVIF, WebP, BMP or TIFF"),
        # Refused before the photo is looked at: this "photo" would fail as not an image otherwise.
        ("photo: an existing output", ["photo", "{tmp}/fake.jpg", "-o", "{tmp}/made.stl"], 2,
         "made.stl already exists; pass --overwrite"),
        ("demo: a camera profile with cx = nan", ["demo", "--camera-profile", "{tmp}/nan.toml", "--frames", "3",
                                                  "--out", "{tmp}/o"], 2,
         "nan.toml: key 'intrinsics.cx' must be a number of pixels inside the image"),
        ("live: unknown glasses", ["live", "--glasses", "monocle"], 2, "unknown glasses 'monocle'"),
        ("calibrate: not a folder", ["calibrate", "--images", "{tmp}/nope"], 2, "is not a folder"),
        ("calibrate: no camera", ["calibrate", "--camera", "97", "--no-preview"], 2, "cannot open camera 97"),
    ]


@pytest.mark.parametrize("situation, argv, code, text", _exit_code_cases(),
                         ids=[case[0] for case in _exit_code_cases()])
def test_exit_codes(tmp_path, blank_image, face_photo_path, situation, argv, code, text):
    unavailable = _unavailable_provider()
    if "{unavailable}" in argv and unavailable is None:
        pytest.skip("every execution provider ONNX Runtime knows is installed here")
    (tmp_path / "empty").mkdir()
    _write_bad_inputs(tmp_path)
    values = {"tmp": str(tmp_path), "blank": blank_image, "face": face_photo_path, "unavailable": unavailable}
    result = run_cli(*(arg.format(**values) for arg in argv))
    assert result.returncode == code, f"{situation}: {result.stderr}"
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and text in errors[0], f"{situation}: {result.stderr}"


def _write_bad_inputs(folder) -> None:
    """The files some exit-code cases use: a TIFF whose header claims 20000 x 20000 (its pixels
    cut short), a GIF, a one-frame MP4, a camera profile with cx = nan, and an output that exists already."""
    import struct

    from PIL import Image

    entries = [(256, 4, 20_000), (257, 4, 20_000), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 0),
               (277, 3, 1), (278, 4, 20_000), (279, 4, 400_000_000)]
    data_at = 8 + 2 + 12 * len(entries) + 4
    tiff = b"II*\0" + struct.pack("<IH", 8, len(entries))
    for tag, kind, value in entries:
        value = data_at if tag == 273 else value
        tiff += struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
    (folder / "huge.tif").write_bytes(tiff + struct.pack("<I", 0) + b"\x80" * 4096)
    Image.new("RGB", (64, 48), (200, 30, 30)).save(folder / "party.gif", "GIF")
    writer = cv2.VideoWriter(str(folder / "turn.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    (folder / "nan.toml").write_text("version = 1\n[image]\nwidth = 640\nheight = 480\n[intrinsics]\n"
                                     "fx = 600.0\nfy = 600.0\ncx = nan\ncy = 240.0\n"
                                     "[distortion]\ncoefficients = [0.0, 0.0, 0.0, 0.0, 0.0]\n")
    (folder / "fake.jpg").write_bytes(b"not a photo")
    (folder / "made.stl").write_bytes(b"made earlier")


def test_outputs_made_but_an_unwritable_report_exits_1_not_2(tmp_path, face_photo_path, monkeypatch, capsys):
    import errno

    import realtime.fileio as fileio

    def disk_full(path, text, overwrite=True):
        raise fileio.output_error(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))

    monkeypatch.setattr(fileio, "write_text_atomic", disk_full)  # the folder was writable when checked
    report = tmp_path / "report.json"
    code = main(["photo", face_photo_path, "-o", str(tmp_path / "a.stl"), "--report", str(report)])
    assert code == 1  # 2 would say nothing was made
    assert (tmp_path / "a.stl").stat().st_size > 0 and not report.exists()
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == [f"selfie3d: error: the outputs above were made but the report was not written: {report}: "
                      "could not be written (No space left on device); the disk is full; free some space or choose "
                      "another output folder"], errors


def test_serve_without_the_web_extra_says_how_to_install_it_both_ways(monkeypatch):
    import argparse

    from realtime.errors import Selfie3DError
    from realtime.apps.web.serve import add_serve_arguments, run_serve

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if the web extra were not installed
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    with pytest.raises(Selfie3DError) as caught:
        run_serve(parser.parse_args([]))
    assert str(caught.value) == ("selfie3d serve needs the web extra (uvicorn is missing): pip install "
                                 "'selfie3d[web]' (from a checkout: pip install '.[web]')")


def test_photo_exit_code_from_the_results():
    from types import SimpleNamespace as R

    from realtime.apps.cli import photo_exit_code

    ok, missing, models = R(ok=True), R(ok=False, exit_code=2), R(ok=False, exit_code=3)
    assert photo_exit_code([ok, ok]) == 0
    assert photo_exit_code([ok, missing, models]) == 1  # some made: the batch is partly done
    assert photo_exit_code([missing]) == 2  # none made: the cause's code
    assert photo_exit_code([missing, models]) == 3
    assert photo_exit_code([R(ok=False)]) == 2  # a result without a code: an input error


def test_provider_names_are_checked_before_anything_runs():
    from realtime.apps.cli import parse_providers
    from realtime.errors import InputError

    assert parse_providers(None) is None and parse_providers(" , ") is None
    assert parse_providers("CUDA, cpu") == ("CUDA", "cpu")
    assert parse_providers("TensorrtExecutionProvider") == ("TensorrtExecutionProvider",)
    with pytest.raises(InputError, match=r"unknown execution provider 'cdua', 'gpu'; use tensorrt, trt, cuda, cpu"):
        parse_providers("cdua,cpu,gpu")


def test_photo_overlay_and_bust_view_put_the_written_file_on_the_photo(tmp_path, face_photo_path, astronaut):
    import trimesh

    from realtime.printing.overlay import silhouette_mask

    out, report, picture = tmp_path / "a.stl", tmp_path / "r.json", tmp_path / "fit.png"
    assert main(["photo", face_photo_path, "-o", str(out), "--report", str(report), "--overlay", str(picture)]) == 0
    face = json.loads(report.read_text())["images"][0]["faces"][0]
    drawn = cv2.imread(str(picture))
    assert drawn.shape == astronaut.shape
    assert (np.abs(drawn.astype(int) - astronaut).sum(axis=2) > 30).mean() > 0.05  # the fit is drawn over it
    assert face["silhouette_iou"] >= 0.85
    # Anyone can render the file over the photo with bust_view alone: the written STL (mm) lands
    # on the face, every one of the 68 landmarks inside its silhouette, the crown above them.
    mesh = trimesh.load(out)
    view = np.asarray(face["bust_view"], np.float64)
    assert view.shape == (3, 4)
    h, w = astronaut.shape[:2]
    silhouette = silhouette_mask(mesh.vertices, mesh.faces, view, (w, h))
    landmarks = np.round(np.asarray(face["landmarks68"], np.float64)[:, :2]).astype(int)
    assert silhouette[landmarks[:, 1], landmarks[:, 0]].all()
    rows = np.nonzero(silhouette.any(axis=1))[0]
    face_height = landmarks[:, 1].max() - landmarks[:, 1].min()
    assert rows.min() < landmarks[:, 1].min() - 0.5 * face_height  # the head and hair above the brows
    assert 0.05 < silhouette.mean() < 0.9


def test_photo_overlay_folder_is_made_for_many_photos(tmp_path, face_photo_path):
    import shutil

    second = tmp_path / "again.png"
    shutil.copy(face_photo_path, second)
    folder = tmp_path / "fits"  # does not exist yet, no extension: a folder, as -o takes one
    assert main(["photo", face_photo_path, str(second), "-o", str(tmp_path / "busts"), "--overlay", str(folder),
                 "--jobs", "1"]) == 0
    assert sorted(path.name for path in folder.iterdir()) == ["again_overlay.png", "astronaut_overlay.png"]


def test_a_face_of_a_group_photo_that_makes_no_solid_does_not_cost_the_others_theirs(tmp_path, two_people, capsys,
                                                                                     monkeypatch):
    # insightface's poker-table photo: the bust of one "face" (a hand) had two shells, and the
    # whole photo failed with its one line, the five people's busts unmade.
    from realtime.errors import Selfie3DError
    from realtime.printing import bust

    photo = tmp_path / "pair.png"
    cv2.imwrite(str(photo), two_people)
    build = bust.build_bust
    calls = []

    def first_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise Selfie3DError("the solid has 2 separate shells, not one")
        return build(*args, **kwargs)

    monkeypatch.setattr(bust, "build_bust", first_fails)
    report = tmp_path / "r.json"
    assert main(["photo", str(photo), "--all-faces", "-o", str(tmp_path / "busts"), "--overlay", str(tmp_path / "all.png"),
                 "--report", str(report)]) == 1  # made in part
    out, err = capsys.readouterr()
    assert f"{photo}: face 1: the solid has 2 separate shells, not one" in err and "pair_face2.stl" in out
    assert sorted(path.name for path in (tmp_path / "busts").iterdir()) == ["pair_face2.stl"]
    entry = json.loads(report.read_text())["images"][0]
    assert entry["ok"] and entry["failed_faces"] == [{"face": 1, "error": "the solid has 2 separate shells, not one"}]
    assert len(entry["faces"]) == 1 and entry["faces"][0]["output"].endswith("pair_face2.stl")
    assert (tmp_path / "all.png").exists()
    # Every face failing fails the photo, with the first face's line.
    monkeypatch.setattr(bust, "build_bust", lambda *a, **k: (_ for _ in ()).throw(Selfie3DError("no solid")))
    assert main(["photo", str(photo), "--all-faces", "-o", str(tmp_path / "none")]) == 2
    assert f"selfie3d: error: {photo}: no solid" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_a_group_photo_s_overlay_numbers_each_face_as_its_file(tmp_path, two_people, capsys):
    from realtime.printing.overlay import draw_face_number

    photo = tmp_path / "pair.png"
    cv2.imwrite(str(photo), two_people)
    report, one_report = tmp_path / "r.json", tmp_path / "one.json"
    assert main(["photo", str(photo), "--all-faces", "-o", str(tmp_path / "busts"), "--overlay", str(tmp_path / "all.png"),
                 "--report", str(report)]) == 0
    assert "more face" not in capsys.readouterr().out
    assert main(["photo", str(photo), "-o", str(tmp_path / "one.stl"), "--overlay", str(tmp_path / "one.png"),
                 "--report", str(one_report)]) == 0
    # The largest face alone: the note and the report say who else is in the photo.
    assert "note: 1 more face in the photo" in capsys.readouterr().out
    everyone = json.loads(report.read_text())["images"][0]
    alone = json.loads(one_report.read_text())["images"][0]
    assert everyone["other_faces"] == [] and len(alone["other_faces"]) == 1
    x0, y0, x1, y1 = alone["other_faces"][0]
    second = np.array(everyone["faces"][1]["landmarks68"])  # the astronaut's, made with --all-faces
    assert x0 < second[:, 0].mean() < x1 and y0 < second[:, 1].mean() < y1
    faces = everyone["faces"]
    assert sorted(path.name for path in (tmp_path / "busts").iterdir()) == ["pair.stl", "pair_face2.stl"]
    numbered, plain = cv2.imread(str(tmp_path / "all.png")), cv2.imread(str(tmp_path / "one.png"))
    white = lambda picture: (picture == 255).all(axis=2)  # the numbers' colour
    for number, face in enumerate(faces, start=1):
        # Face N's number over its head is N (its file is pair_faceN; 1 is pair itself) ...
        alone = np.zeros_like(numbered)
        draw_face_number(alone, np.array(face["vertices"]), number)
        expected = white(alone)
        assert expected.sum() > 20 and (white(numbered) & expected).sum() > 0.9 * expected.sum(), number
        # ... and with one face there is no number (nothing else there is pure white).
        where = cv2.dilate(expected.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        assert not white(plain)[where].any(), number


EXIT_PROBE = """
import atexit, sys, threading, time
from realtime.apps.cli import exit_when_alone
marker, mode = sys.argv[1], sys.argv[2]
atexit.register(lambda: open(marker + ".atexit", "w").write("ran"))
if mode == "thread":
    def late():
        time.sleep(0.3)
        open(marker + ".thread", "w").write("done")
    threading.Thread(target=late).start()
sys.stdout.write("x" * 100000 + "\\n")  # a pipe: block-buffered, so unflushed until the exit
exit_when_alone(7)
print("returned")
sys.exit(0)
"""


@pytest.mark.parametrize("mode", ["alone", "thread"])
def test_exit_when_alone_keeps_what_the_usual_exit_keeps(tmp_path, mode):
    # Alone: the process ends at once with the code, its buffered output flushed and its exit
    # handlers run. With a thread still working (a worker writing a file), it does not end: the
    # caller exits the usual way, which waits for the thread.
    marker = str(tmp_path / "probe")
    done = subprocess.run([sys.executable, "-c", EXIT_PROBE, marker, mode], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.startswith("x" * 100000), done.stderr
    assert (tmp_path / "probe.atexit").read_text() == "ran"
    if mode == "alone":
        assert done.returncode == 7 and "returned" not in done.stdout
    else:
        assert done.returncode == 0 and done.stdout.endswith("returned\n")
        assert (tmp_path / "probe.thread").read_text() == "done"


def test_the_command_line_entry_point_is_run_and_photo_skips_the_teardown():
    from realtime.apps import cli

    assert cli._command_word(["--debug", "photo", "a.jpg"]) == "photo"
    text = (__import__("pathlib").Path(cli.__file__).parents[2] / "pyproject.toml").read_text()
    assert 'selfie3d = "realtime.apps.cli:run"' in text


def test_a_photo_batch_whose_output_pipe_closes_still_makes_every_bust(tmp_path, astronaut):
    # selfie3d photo folder/ | head: the reader goes away after the first line (here before it).
    # The lines that tell of the busts are lost; the busts and the report are not.
    for name, image in (("a.png", astronaut), ("b.png", astronaut[:, ::-1])):
        cv2.imwrite(str(tmp_path / name), image)
    out, report = tmp_path / "busts", tmp_path / "report.json"
    process = subprocess.Popen([sys.executable, "-m", "realtime", "photo", str(tmp_path / "a.png"),
                                str(tmp_path / "b.png"), "-o", str(out), "--jobs", "1", "--report", str(report)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    stderr = process.communicate(timeout=300)[1].decode()
    assert process.returncode == 0, stderr
    assert "Broken pipe" not in stderr and "Traceback" not in stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.stl", "b.stl"]
    assert [image["ok"] for image in json.loads(report.read_text())["images"]] == [True, True]
