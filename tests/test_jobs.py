"""Photo jobs and executors: outputs per face, one bad photo never stops a batch."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import trimesh

from realtime.errors import Selfie3DError
from realtime.jobs import (LocalPoolExecutor, PhotoJob, SerialExecutor, face_output_path, plan_jobs,
                           run_photo_job)


def test_output_paths():
    assert str(face_output_path("out/a.stl", 0, "stl")) == "out/a.stl"
    assert str(face_output_path("out/a.stl", 1, "stl")) == "out/a_face2.stl"
    assert str(face_output_path("out/a", 0, "3mf")) == "out/a.3mf"


def test_plan_single_file_and_folder(tmp_path):
    [job] = plan_jobs(["x.jpg"], str(tmp_path / "bust.3mf"), None)
    assert job.fmt == "3mf" and job.output.endswith("bust.3mf")
    jobs = plan_jobs(["a/p.jpg", "b/p.png", "c.jpg"], str(tmp_path / "out"), "glb")
    assert [j.output.rsplit("/", 1)[1] for j in jobs] == ["p.glb", "p_2.glb", "c.glb"]
    with pytest.raises(Selfie3DError, match="unknown format"):
        plan_jobs(["a.jpg"], str(tmp_path), "ply")


def test_job_writes_a_printable_file_and_reports_the_face(tmp_path, face_photo_path):
    result = run_photo_job(PhotoJob(face_photo_path, str(tmp_path / "face.stl")))
    assert result.ok, result.error
    [face] = result.faces
    mesh = trimesh.load(face["output"])
    assert mesh.is_watertight and mesh.volume > 0
    assert face["print_checks"]["watertight"] and len(face["landmarks68"]) == 68


def test_bad_inputs_fail_cleanly(tmp_path):
    missing = run_photo_job(PhotoJob(str(tmp_path / "nope.jpg"), str(tmp_path / "o.stl")))
    assert not missing.ok and "no such file" in missing.error
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    no_face = run_photo_job(PhotoJob(str(blank), str(tmp_path / "o.stl")))
    assert not no_face.ok and "no face" in no_face.error


def test_existing_output_is_not_clobbered(tmp_path, face_photo_path):
    target = tmp_path / "face.stl"
    target.write_bytes(b"keep me")
    result = run_photo_job(PhotoJob(face_photo_path, str(target)))
    assert not result.ok and "overwrite" in result.error
    assert target.read_bytes() == b"keep me"


def test_pool_and_serial_executors_agree(tmp_path, face_photo_path):
    jobs = [PhotoJob(face_photo_path, str(tmp_path / f"{name}.stl")) for name in ("a", "b")]
    serial = list(SerialExecutor().map([PhotoJob(face_photo_path, str(tmp_path / "serial.stl"))]))
    pool = LocalPoolExecutor(2)
    try:
        pooled = sorted(pool.map(jobs), key=lambda r: r.faces[0]["output"] if r.ok else "")
    finally:
        pool.close()
    assert all(r.ok for r in pooled + serial)
    reference = (tmp_path / "a.stl").read_bytes()
    assert (tmp_path / "b.stl").read_bytes() == reference  # deterministic across processes
    assert (tmp_path / "serial.stl").read_bytes() == reference


def test_photo_cli_batch_continues_past_a_bad_file(tmp_path, face_photo_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    report = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-m", "realtime", "photo", face_photo_path, str(bad),
                             "-o", str(tmp_path / "out"), "--report", str(report), "--jobs", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "broken.jpg" in result.stderr and "not an image" in result.stderr
    assert (tmp_path / "out" / "astronaut.stl").exists()
    data = json.loads(report.read_text())
    assert data["failed"] == [str(bad)]
    assert data["images"][0]["ok"] and data["images"][0]["faces"][0]["pd_mm"] > 50
    assert "1 of 2 photos done" in result.stdout


def test_photo_cli_single_photo_to_3mf(tmp_path, face_photo_path):
    out = tmp_path / "grandpa.3mf"
    result = subprocess.run([sys.executable, "-m", "realtime", "photo", face_photo_path, "-o", str(out),
                             "--style", "relief", "--label", "Grandpa 1931"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    mesh = trimesh.load(out, force="mesh")
    assert mesh.is_watertight


def test_output_file_with_many_photos_is_an_input_error(tmp_path):
    # Used to create a folder named "x.stl/" holding a.stl and b.stl.
    from realtime.errors import InputError

    with pytest.raises(InputError, match=r"-o .*x\.stl names a file but 2 photos were given; give a folder"):
        plan_jobs(["a.png", "b.jpg"], str(tmp_path / "x.stl"), None)
    assert not (tmp_path / "x.stl").exists()


def test_output_extension_that_disagrees_with_format_is_an_input_error(tmp_path):
    # Used to write "d.stl.glb".
    from realtime.errors import InputError

    with pytest.raises(InputError, match=r"extension \.stl but --format is glb"):
        plan_jobs(["a.png"], str(tmp_path / "d.stl"), "glb")
    [job] = plan_jobs(["a.png"], str(tmp_path / "d.STL"), "stl")  # agreeing is fine, any case
    assert job.fmt == "stl" and job.output.endswith("d.STL")


def test_photo_cli_output_conflicts_exit_with_one_line(tmp_path):
    for extra, expected in ((["a.png", "b.jpg", "-o", str(tmp_path / "x.stl")], "2 photos were given"),
                            (["a.png", "-o", str(tmp_path / "d.stl"), "--format", "glb"], "--format is glb")):
        result = subprocess.run([sys.executable, "-m", "realtime", "photo", *extra],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and expected in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_debug_logs_the_caught_per_photo_error_with_its_traceback(tmp_path, caplog):
    missing = tmp_path / "nope.jpg"
    with caplog.at_level("ERROR", logger="selfie3d"):
        result = run_photo_job(PhotoJob(str(missing), str(tmp_path / "o.stl")), debug=True)
    assert not result.ok and "no such file" in result.error  # still a result: the batch goes on
    [record] = [r for r in caplog.records if "nope.jpg" in r.getMessage()]
    assert record.exc_info is not None
    caplog.clear()
    run_photo_job(PhotoJob(str(missing), str(tmp_path / "o.stl")))
    assert not caplog.records  # without --debug: the one-line message only


def test_photo_cli_debug_shows_tracebacks_and_continues(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    result = subprocess.run([sys.executable, "-m", "realtime", "photo", "--debug", str(bad),
                             str(tmp_path / "missing.jpg"), "-o", str(tmp_path / "out"), "--jobs", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.count("Traceback") == 2  # both photos were tried
    assert "0 of 2 photos done" in result.stdout
