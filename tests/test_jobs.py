"""Photo jobs and executors: outputs per face, one bad photo never stops a batch."""

import json
import os
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest
import trimesh

from realtime.errors import Selfie3DError
from realtime.apps.executors import LocalPoolExecutor, SerialExecutor
from realtime.apps.jobs import PhotoJob, face_output_path, plan_jobs, run_photo_job


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


def test_a_failed_print_check_names_the_photo(tmp_path, face_photo_path, monkeypatch):
    # In a batch the line said only "the solid has 2 separate shells, not one": which photo?
    from realtime.printing import bust

    def failing(*args, **kwargs):
        raise Selfie3DError("the solid has 2 separate shells, not one")

    monkeypatch.setattr(bust, "build_bust", failing)
    result = run_photo_job(PhotoJob(face_photo_path, str(tmp_path / "o.stl")))
    assert not result.ok and result.error == f"{face_photo_path}: the solid has 2 separate shells, not one"


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


def test_an_iphone_s_heic_photo_makes_its_bust(tmp_path, astronaut):
    import pillow_heif

    rgb = np.ascontiguousarray(astronaut[..., ::-1])
    heic = tmp_path / "IMG_0042.HEIC"
    pillow_heif.from_bytes(mode="RGB", size=rgb.shape[1::-1], data=rgb.tobytes()).save(str(heic), quality=95)
    result = run_photo_job(PhotoJob(str(heic), str(tmp_path / "grandma.stl"), overlay=str(tmp_path / "fit.png")))
    assert result.ok, result.error
    assert len(result.faces) == 1 and trimesh.load(tmp_path / "grandma.stl").is_watertight
    assert result.faces[0]["silhouette_iou"] > 0.85  # her outline, as from the PNG


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
    assert result.returncode == 2  # none made, for input reasons (realtime.apps.cli's exit codes)
    assert result.stderr.count("Traceback") == 2  # both photos were tried
    assert "0 of 2 photos done" in result.stdout


# --- planning checks every output before any photo; stopping and failing leave nothing behind ---


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"a photo")  # plan_jobs never reads the photos: only their names and inodes
    return path


def test_an_output_that_is_an_input_photo_is_refused(tmp_path):
    # Used to replace clob/grandma_texture.png (a photo) with grandma.jpg's OBJ texture.
    from realtime.errors import InputError

    grandma, texture = _touch(tmp_path / "grandma.jpg"), _touch(tmp_path / "grandma_texture.png")
    with pytest.raises(InputError, match=r"input photo .*grandma_texture\.png would be overwritten by an "
                                         r"output of .*grandma\.jpg; choose another -o"):
        plan_jobs([str(grandma), str(texture)], str(tmp_path), "obj", overwrite=True)
    with pytest.raises(InputError, match="grandma_texture.png"):  # the single-file form too
        plan_jobs([str(texture)], str(tmp_path / "grandma.obj"), None)
    plan_jobs([str(grandma), str(texture)], str(tmp_path / "out"), "obj")  # another folder is fine
    # A later face's files, whose count only detection knows, and a hard link to an output.
    later = _touch(tmp_path / "grandma_face2_texture.png")
    with pytest.raises(InputError, match=r"grandma_face2_texture\.png would be overwritten by the output "
                                         r"for face 2 of .*grandma\.jpg"):
        plan_jobs([str(grandma), str(later)], str(tmp_path), "obj", all_faces=True, overwrite=True)
    plan_jobs([str(grandma), str(later)], str(tmp_path), "obj", overwrite=True)  # one face per photo: no clash
    texture.unlink()
    link = tmp_path / "link.png"
    os.link(later, link)
    os.link(later, texture)
    with pytest.raises(InputError, match=r"link\.png \(the same file as .*grandma_texture\.png\)"):
        plan_jobs([str(grandma), str(link)], str(tmp_path), "obj")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grandma.jpg", "grandma_face2_texture.png",
                                                          "grandma_texture.png", "link.png"]


def test_two_outputs_on_one_file_and_a_clashing_report_are_refused(tmp_path):
    from realtime.errors import InputError
    from realtime.apps.jobs import check_outputs

    with pytest.raises(InputError, match=r"a\.stl would be written twice"):
        check_outputs([PhotoJob("p.jpg", str(tmp_path / "a.stl")), PhotoJob("q.jpg", str(tmp_path / "a.stl"))])
    photo = _touch(tmp_path / "p.jpg")
    with pytest.raises(InputError, match=r"--report .*p\.jpg would replace the input photo"):
        plan_jobs([str(photo)], str(tmp_path / "p.stl"), None, report=str(photo))
    with pytest.raises(InputError, match=r"--report .*p\.mtl is also the name of an output file"):
        plan_jobs([str(photo)], str(tmp_path / "p.obj"), None, report=str(tmp_path / "p.mtl"))
    with pytest.raises(InputError, match=r"--report .*p_face3\.stl is also the name of an output file"):
        plan_jobs([str(photo)], str(tmp_path / "p.stl"), None, all_faces=True, report=str(tmp_path / "p_face3.stl"))
    with pytest.raises(InputError, match="is a folder"):
        plan_jobs([str(photo)], str(tmp_path / "p.stl"), None, report=str(tmp_path))


def test_names_are_unique_across_photos_and_their_faces():
    from realtime.apps.jobs import unique_names

    # mom.jpg's second face is mom_face2: the photo mom_face2.jpg must not get that name.
    assert unique_names(["mom", "mom_face2"], all_faces=True) == ["mom", "mom_face2_2"]
    assert unique_names(["mom_face2", "mom"], all_faces=True) == ["mom_face2", "mom_2"]
    assert unique_names(["mom", "mom_face2"]) == ["mom", "mom_face2"]  # one face each: no clash
    # A real mom_2.jpg keeps its name; the clashing photo takes the next free number.
    assert unique_names(["mom", "mom", "mom_2"]) == ["mom", "mom_3", "mom_2"]
    assert unique_names(["P", "p"]) == ["P", "p_2"]  # one file on macOS and Windows
    stems = ["a", "a_face2", "a_face2", "a_2", "a_face10", "a_face2_face3", "A_FACE3", "a_face2_2", "b_face1"]
    names = unique_names(stems, all_faces=True)
    files = [{name.casefold()} | {f"{name}_face{n}".casefold() for n in range(2, 13)} for name in names]
    for i, mine in enumerate(files):
        for other in files[i + 1:]:
            assert not mine & other, (names, mine & other)
    assert names[0] == "a" and names[-1] == "b_face1"  # own stems are kept where they are free


def test_plan_gives_a_photo_named_like_another_photos_face_its_own_name(tmp_path):
    # Used to write mom.jpg's second face and mom_face2.jpg both to mom_face2.stl.
    jobs = plan_jobs(["in/mom.jpg", "in/mom_face2.jpg", "other/mom.jpg", "in/mom_2.jpg"], str(tmp_path), "stl",
                     all_faces=True)
    assert [os.path.basename(job.output) for job in jobs] == ["mom.stl", "mom_face2_2.stl", "mom_3.stl", "mom_2.stl"]
    every_file = [str(face_output_path(job.output, k, "stl")) for job in jobs for k in range(12)]
    assert len(every_file) == len(set(every_file))


def test_an_output_with_an_unknown_extension_is_refused(tmp_path):
    # "-o st/x.ply" used to create the folder st/x.ply/ holding photo.stl.
    from realtime.errors import InputError

    with pytest.raises(InputError) as error:
        plan_jobs(["photo.jpg"], str(tmp_path / "st" / "x.ply"), None)
    assert str(error.value) == ("unknown output format .ply (use .stl, .3mf, .obj or .glb, "
                                "or a folder name without an extension)")
    with pytest.raises(InputError, match="unknown output format .jpg"):
        plan_jobs(["a.jpg", "b.jpg"], str(tmp_path / "text.jpg"), None)
    assert not list(tmp_path.iterdir())
    # Folders with dots: one that exists, one with a trailing slash, a dated one.
    (tmp_path / "x.v2").mkdir()
    assert plan_jobs(["photo.jpg"], str(tmp_path / "x.v2"), None)[0].output == str(tmp_path / "x.v2" / "photo.stl")
    assert plan_jobs(["photo.jpg"], str(tmp_path / "y.ply") + "/", None)[0].output.endswith("y.ply/photo.stl")
    assert plan_jobs(["photo.jpg"], str(tmp_path / "scans_2024.05"), None)[0].output.endswith("2024.05/photo.stl")


def test_outputs_that_cannot_be_written_are_refused_before_any_photo(tmp_path):
    from realtime.errors import Selfie3DError

    a_file = _touch(tmp_path / "textfile")
    with pytest.raises(Selfie3DError, match=r"-o .*textfile is a file, not a folder"):
        plan_jobs(["a.jpg", "b.jpg"], str(a_file), None)
    with pytest.raises(Selfie3DError, match=r"textfile/sub: cannot write here \(Not a directory\)"):
        plan_jobs(["a.jpg"], str(a_file / "sub" / "a.stl"), None)
    with pytest.raises(Selfie3DError, match=r"r\.json: cannot write here"):
        plan_jobs(["a.jpg"], str(tmp_path / "ok.stl"), None, report=str(a_file / "r.json"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["textfile"]  # nothing was created


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_report_in_a_folder_nobody_can_write_is_refused_before_any_photo(tmp_path):
    # Used to write the STL (seconds of work) and only then fail on the report. As root no
    # permission bit stops a write; /proc does, for everyone.
    from realtime.errors import Selfie3DError

    with pytest.raises(Selfie3DError, match=r"/proc/r\.json: cannot write here"):
        plan_jobs(["a.jpg"], str(tmp_path / "ok.stl"), None, report="/proc/r.json")
    with pytest.raises(Selfie3DError, match="cannot write here"):
        plan_jobs(["a.jpg", "b.jpg"], "/proc/out", None)


def test_photo_cli_output_under_a_file_is_one_line_before_any_photo(tmp_path, face_photo_path):
    # Used to run every photo and print "cannot create the output folder" once per photo.
    a_file = _touch(tmp_path / "textfile")
    result = subprocess.run([sys.executable, "-m", "realtime", "photo", face_photo_path, face_photo_path,
                             "-o", str(a_file), "--jobs", "1"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "is a file, not a folder" in result.stderr
    assert not result.stdout


def test_a_photo_that_fails_leaves_no_output_folder(tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    [result] = SerialExecutor().map([PhotoJob(str(blank), str(tmp_path / "out" / "deep" / "o.stl"))])
    assert not result.ok and "no face" in result.error
    assert not (tmp_path / "out").exists()


def test_a_folder_made_for_an_export_that_failed_is_removed(tmp_path, face_photo_path):
    # The folder is made just before the export; this one fails there (the temporary file's
    # name is over the 255-byte limit), and the executor takes the empty folder back.
    executor = SerialExecutor()
    [result] = executor.map([PhotoJob(face_photo_path, str(tmp_path / "out" / ("x" * 250 + ".stl")))])
    executor.close()
    assert not result.ok and "too long" in result.error
    assert not (tmp_path / "out").exists()


def test_interrupting_a_pool_stops_its_workers_before_returning(tmp_path):
    # Ctrl-C used to cancel only jobs no worker had taken: the workers went on writing outputs
    # after "selfie3d: interrupted". Here each job reads a named pipe nobody writes, so it runs
    # until stopped; SIGINT goes to this (the main) thread only, as the parent gets it.
    import multiprocessing
    import threading
    import time

    fifo = tmp_path / "slow.png"
    os.mkfifo(fifo)
    jobs = [PhotoJob(str(fifo), str(tmp_path / "out" / f"o{i}.stl")) for i in range(4)]
    pool = LocalPoolExecutor(2)
    main, workers, writers = threading.get_ident(), [], []

    def interrupt_once_a_job_runs():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # a writer can open the pipe once a job reads it
            try:
                writers.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                break
            except OSError:
                time.sleep(0.05)
        workers.extend(multiprocessing.active_children())
        signal.pthread_kill(main, signal.SIGINT)

    # Python's own Ctrl-C handler, as a terminal's selfie3d has: a process started in the
    # background by a non-interactive shell (a CI script's '&') inherits SIGINT ignored, and the
    # loop then waited on the pipe for ever.
    previous_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    thread = threading.Thread(target=interrupt_once_a_job_runs, daemon=True)
    thread.start()
    try:
        yielded = []
        try:
            for result in pool.map(jobs):
                yielded.append(result)
        except KeyboardInterrupt:
            pass
        else:  # the jobs failed at once (np.fromfile on the pipe), before the interrupt: say what the loop gave
            pytest.fail(f"the pool's loop ended without the interrupt: {[(r.ok, r.error) for r in yielded]}; "
                        f"a writer opened: {bool(writers)}; the interrupting thread alive: {thread.is_alive()}")
        thread.join()
        assert writers, "no job started within 120 s"
        assert workers and not [p for p in workers if p.is_alive()]  # gone, not finishing their jobs
        pool.close()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["slow.png"]  # no outputs, no temporaries
    finally:
        for worker in workers:  # where the test failed: the jobs would wait on the pipe for ever
            worker.kill()
        for fd in writers:
            os.close(fd)
        pool.close()
        signal.signal(signal.SIGINT, previous_handler)
