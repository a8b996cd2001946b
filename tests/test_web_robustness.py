"""The web service under abuse, crashes and stops, on real sockets and real processes (loopback only).

Stalled uploads (ten connections that send headers and a few bytes, then nothing) hold no queue
place and are cut after the body timeout; a client that leaves while its job waits has the job
dropped before it starts; ``selfie3d serve`` refuses a tampered model before it starts; a worker
killed mid-job leaves no photo on disk; a server killed with ``kill -9`` leaves no worker running
and its folders are removed by the next server; Ctrl-C with jobs in flight answers each with the
JSON 503 and exits at once, without tracebacks.

In-process servers run uvicorn in a thread with stand-in executors where the job itself is not
the point; the crash and stop tests run ``python -m realtime serve`` with its process pool.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import pytest

pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")
uvicorn = pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")
pytest.importorskip("fastapi_offline", reason="the web extra (fastapi-offline) is not installed")

from realtime.apps.web import bustjob  # noqa: E402
from realtime.apps.web.serve import ServeOptions  # noqa: E402
from realtime.apps.web.server import Server, create_app  # noqa: E402

SERVER_START_S = 60.0  # a served process imports, checks the models and starts a worker
STALLED = 10  # the probe's count: as many as workers + queue places of a 2-worker server
STALL_TIMEOUT_S = 2.0  # body timeout of the test that waits for stalled uploads to be cut
HTTP_TIMEOUT_S = 120.0
STOP_MAX_S = 15.0  # Ctrl-C to exit, with jobs in flight (the old server ran every queued job first: ~20 s)
ORPHAN_WAIT_S = 10.0  # how long workers may take to end after their server was killed
BOUNDARY = "robustnessboundary"


def _multipart(photo: bytes) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"me.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode() + photo + f"\r\n--{BOUNDARY}--\r\n".encode()


def _post(url: str, photo: bytes, timeout: float = HTTP_TIMEOUT_S) -> tuple[int, dict, str]:
    """(status, JSON body or {}, content type) of an upload; errors are answers too."""
    request = urllib.request.Request(url + "/api/busts", data=_multipart(photo), method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read()), response.headers.get("content-type", "")
    except urllib.error.HTTPError as error:
        text = error.read()
        kind = error.headers.get("content-type", "")
        return error.code, json.loads(text) if "json" in kind else {"text": text.decode(errors="replace")}, kind


def _status(url: str) -> dict:
    with urllib.request.urlopen(url + "/api/status", timeout=30) as response:
        return json.loads(response.read())


def _wait_for(condition, timeout: float, what: str, pause: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(pause)


@pytest.fixture(scope="module")
def photo(astronaut) -> bytes:
    ok, data = cv2.imencode(".png", astronaut)
    assert ok
    return data.tobytes()


@contextlib.contextmanager
def _served(app):
    """``app`` on uvicorn (our ``Server``) in a thread, on a free loopback port; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_for(lambda: server.started, SERVER_START_S, "the server to start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def _stalled_upload(port: int) -> socket.socket:
    """A connection that declares a 100000-byte body, sends its first boundary line, then nothing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall((f"POST /api/busts HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: 100000\r\n\r\n"
                  f"--{BOUNDARY}\r\n").encode())
    return sock


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


# ---- stalled uploads ------------------------------------------------------------------------


def test_ten_stalled_uploads_do_not_keep_a_real_upload_out(photo):
    # Two workers and the default queue (4 per worker): 10 places, which the stalled ten used to
    # take for as long as they stayed open, so every later upload got 503.
    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        app = create_app(ServeOptions(), executor=executor, workers=2)
        with _served(app) as url:
            port = int(url.rsplit(":", 1)[1])
            stalled = [_stalled_upload(port) for _ in range(STALLED)]
            try:
                _wait_for(lambda: _status(url).get("uploading") == STALLED, 10, "the stalled uploads to arrive")
                assert app.state.service.capacity == STALLED
                status, body, _ = _post(url, photo)  # a real bust, made while the ten hang
                assert status == 201, body
                assert set(body["files"]) == {"stl", "3mf", "glb", "obj"}
                # Nothing had to be cut for it: all ten still hang on, holding no place.
                assert _status(url)["uploading"] == STALLED
            finally:
                for sock in stalled:
                    sock.close()
            _wait_for(lambda: _status(url)["uploading"] == 0, 10, "the closed uploads to be let go")


def test_stalled_uploads_are_cut_after_the_body_timeout_and_free_what_they_held(photo):
    # One worker, no queue: a single place. Each stalled upload is answered 408 and closed once
    # its body timeout has passed, and the place is there for the next upload.
    app = create_app(ServeOptions(queue=0, body_timeout_s=STALL_TIMEOUT_S), executor=_InstantExecutor(), workers=1)
    with _served(app) as url:
        port = int(url.rsplit(":", 1)[1])
        opened = time.monotonic()
        stalled = [_stalled_upload(port) for _ in range(STALLED)]
        try:
            for sock in stalled:
                sock.settimeout(STALL_TIMEOUT_S + 30)
            answers = [_read_all(sock) for sock in stalled]  # the server answers, then closes
            waited = time.monotonic() - opened
        finally:
            for sock in stalled:
                sock.close()
        assert STALL_TIMEOUT_S <= waited < STALL_TIMEOUT_S + 10
        for answer in answers:
            head, _, rest = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408"), answer[:200]
            body = json.loads(rest)
            assert body["error"] == "timeout" and "--body-timeout-s" in body["message"]
        status = _status(url)
        assert (status["uploading"], status["waiting"], status["running"]) == (0, 0, 0)
        assert app.state.service.timed_out == STALLED
        status, body, _ = _post(url, photo)
        assert status == 201, body


class _InstantExecutor:
    def submit(self, fn, *args):
        future: concurrent.futures.Future = concurrent.futures.Future()
        future.set_result(bustjob.WebJobResult(bustjob.OK, files={"bust.stl": b"\0" * 84}, report={}))
        return future


# ---- a client that leaves -------------------------------------------------------------------


class _HeldExecutor:
    """Counts the jobs it gets and holds them all until ``finish``."""

    def __init__(self):
        self.future: concurrent.futures.Future = concurrent.futures.Future()
        self.count = 0

    def submit(self, fn, *args):
        self.count += 1
        return self.future

    def finish(self) -> None:
        if not self.future.done():
            self.future.set_result(bustjob.WebJobResult(bustjob.OK, files={"bust.stl": b"\0" * 84},
                                                        report={}, seconds=0.1))


def test_a_queued_job_whose_client_left_is_dropped_before_it_starts(photo):
    executor = _HeldExecutor()
    app = create_app(ServeOptions(queue=4), executor=executor, workers=1)
    with _served(app) as url:
        port = int(url.rsplit(":", 1)[1])
        first: list = []
        thread = threading.Thread(target=lambda: first.append(_post(url, photo)))
        thread.start()
        try:
            _wait_for(lambda: executor.count == 1, 10, "the first job to start")
            leaver = socket.create_connection(("127.0.0.1", port), timeout=30)
            body = _multipart(photo)
            leaver.sendall((f"POST /api/busts HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                            f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
            _wait_for(lambda: _status(url)["waiting"] == 1, 10, "the second upload to queue")
            leaver.close()  # gone before its turn
            _wait_for(lambda: _status(url)["waiting"] == 0, 10, "the gone client's job to leave the queue")
            assert _status(url)["dropped"] == 1
        finally:
            executor.finish()  # a failed check must not leave the first upload hanging
            thread.join(30)
        assert first[0][0] == 201
        time.sleep(0.2)  # had the gone client's job been kept, it would start now
        assert executor.count == 1, "the job of a client that had left was run"
        assert [p.name for p in app.state.service.results.iterdir()] == [first[0][1]["id"]]


def test_a_result_whose_client_left_while_it_was_made_is_not_kept(photo):
    executor = _HeldExecutor()
    app = create_app(ServeOptions(), executor=executor, workers=1)
    with _served(app) as url:
        port = int(url.rsplit(":", 1)[1])
        try:
            leaver = socket.create_connection(("127.0.0.1", port), timeout=30)
            body = _multipart(photo)
            leaver.sendall((f"POST /api/busts HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                            f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
            _wait_for(lambda: executor.count == 1, 10, "its job to start")
            leaver.close()  # gone while its bust is made
            time.sleep(0.2)
        finally:
            executor.finish()
        _wait_for(lambda: _status(url)["running"] == 0, 10, "the job to end")
        assert app.state.service.discarded == 1
        assert list(app.state.service.results.iterdir()) == []


# ---- the command: models, crashes, Ctrl-C ---------------------------------------------------


def _free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _serve(*args, env=None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "realtime", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}, **kwargs)


def _started(process: subprocess.Popen, port: int) -> str:
    line = process.stdout.readline()  # printed once the server listens
    assert line.startswith(f"selfie3d: serving on http://127.0.0.1:{port}/"), line + process.stderr.read()
    return f"http://127.0.0.1:{port}"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def _stop_group(process: subprocess.Popen) -> None:
    """Kill a server started in its own session, workers included, if it still runs. Once it
    has been waited for, its process-group id may be reused: nothing is sent then (its workers
    end with it)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def _workers(pid: int) -> list[int]:
    """The pool's worker processes of server ``pid`` (not multiprocessing's resource tracker)."""
    return [child for child in _children(pid)
            if "spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace")]


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")


def test_serve_with_a_tampered_model_refuses_to_start(tmp_path):
    from realtime.resources import models_dir

    models = tmp_path / "models"
    shutil.copytree(models_dir(), models, ignore=shutil.ignore_patterns("*.md", "__pycache__"))
    tampered = models / "face_landmark.onnx"
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    port = _free_port()
    process = _serve("--port", str(port), "--workers", "1", env={"SELFIE3D_MODELS_DIR": str(models)})
    try:
        try:
            out, err = process.communicate(timeout=SERVER_START_S)
        except subprocess.TimeoutExpired:
            pytest.fail("serve started with a tampered model (it used to, then failed every upload)")
    finally:
        _stop(process)
    assert process.returncode == 3, err
    assert out == ""  # never announced
    [line] = err.strip().splitlines()
    assert line.startswith(f"selfie3d: error: {tampered}: checksum mismatch"), line
    with pytest.raises(OSError):  # nothing listens there
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


@needs_proc
def test_a_worker_killed_mid_job_leaves_no_photo_on_disk(tmp_path, photo):
    temp = tmp_path / "tmp"  # the server's and its workers' temporary folder, and nothing else's
    temp.mkdir()
    port = _free_port()
    # Answered once every format is written: the kill falls before any answer.
    process = _serve("--port", str(port), "--workers", "1", "--answer-after", "all", env={"TMPDIR": str(temp)})
    try:
        url = _started(process, port)
        answer: list = []
        upload = threading.Thread(target=lambda: answer.append(_post(url, photo)))
        upload.start()
        # The job's own folder appears while it works (only for its export, now): kill it then.
        _wait_for(lambda: list(temp.rglob("selfie3d-job-*")), HTTP_TIMEOUT_S, "the job to write its files",
                  pause=0.005)
        [worker] = _workers(process.pid)
        os.kill(worker, signal.SIGKILL)
        upload.join(HTTP_TIMEOUT_S)
        status, body, kind = answer[0]
        assert (status, body["error"]) == (500, "worker_failed"), body
        assert "json" in kind
        files = [path for path in temp.rglob("*") if path.is_file()]
        assert not [path for path in files if path.read_bytes() == photo], files
        assert not list(temp.rglob("selfie3d-job-*")), files
        ours = [path for path in files if "selfie3d" in str(path.relative_to(temp)) and path.name != ".owner.lock"]
        assert ours == [], ours  # no export half-made either
        # The server replaced its pool and goes on.
        status, body, _ = _post(url, photo)
        assert status == 201, body
    finally:
        _stop(process)


def _get(url: str) -> tuple[int, bytes, dict]:
    """(status, body, headers) of a GET; errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


@needs_proc
def test_a_worker_killed_while_writing_the_later_formats_fails_them_and_leaves_nothing(tmp_path, photo):
    """Answered with the STL, the worker then writes 3MF, GLB and OBJ (about 0.6 s, in its job
    folder): killed then, those formats are failed, their downloads say so, the STL stays, no
    half-written file remains and the server goes on with a new pool."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    port = _free_port()
    process = _serve("--port", str(port), "--workers", "1", env={"TMPDIR": str(temp)})
    try:
        url = _started(process, port)
        status, body, _ = _post(url, photo)
        assert status == 201, body
        assert body["formats"]["stl"] == "ready" and body["complete"] is False, body["formats"]
        _wait_for(lambda: list(temp.rglob("selfie3d-job-*")), HTTP_TIMEOUT_S, "the later formats' export",
                  pause=0.005)
        [worker] = _workers(process.pid)
        os.kill(worker, signal.SIGKILL)
        status, text, _ = _get(f"{url}/api/busts/{body['id']}/files/bust.3mf")
        assert status == 500 and json.loads(text)["error"] == "export_failed", text
        assert "worker" in json.loads(text)["message"]
        status, text, _ = _get(f"{url}/api/busts/{body['id']}")
        after = json.loads(text)
        assert after["complete"] is True and after["formats"] == {
            "stl": "ready", "3mf": "failed", "glb": "failed", "obj": "failed"}, after["formats"]
        status, stl, _ = _get(url + body["files"]["stl"])
        assert status == 200 and len(stl) > 84
        assert not list(temp.rglob("selfie3d-job-*"))
        [result] = [path for path in temp.rglob("results/*") if path.is_dir()]
        assert sorted(path.name for path in result.iterdir()) == ["bust.stl", "result.json"]
        assert _status(url)["running"] == 0
        status, body, _ = _post(url, photo)  # a new pool, and the next upload is made whole
        assert status == 201, body
        status, text, _ = _get(f"{url}/api/busts/{body['id']}?wait_s=30")
        assert json.loads(text)["complete"] is True and set(json.loads(text)["formats"].values()) == {"ready"}
    finally:
        _stop(process)


@needs_proc
def test_a_server_killed_with_sigkill_leaves_no_worker_and_the_next_one_removes_its_folders(tmp_path, photo):
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"TMPDIR": str(temp)}
    port = _free_port()
    first = _serve("--port", str(port), "--workers", "1", env=env)
    workers: list[int] = []
    try:
        url = _started(first, port)
        status, body, _ = _post(url, photo)  # a result on disk, as a busy server would have
        assert status == 201, body
        workers = _workers(first.pid)
        assert workers
        [folder] = [path for path in temp.iterdir() if path.name.startswith("selfie3d-web-")]
        assert [path for path in folder.rglob(body["id"]) if path.is_dir()]  # the result is in there
        first.kill()  # SIGKILL: nothing of the server runs again
        first.wait()
        _wait_for(lambda: not [pid for pid in workers if _alive(pid)], ORPHAN_WAIT_S,
                  "the workers to end with their server")
        assert folder.exists()  # nobody could remove it yet
    finally:
        _stop(first)
        for pid in workers:  # only where the test failed: orphans left running
            with contextlib.suppress(OSError):
                if _alive(pid) and "spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    os.kill(pid, signal.SIGKILL)
    port = _free_port()
    second = _serve("--port", str(port), "--workers", "1", env=env)
    try:
        _started(second, port)
        assert not folder.exists(), "the dead server's folder (its results) was left"
        assert len([path for path in temp.iterdir() if path.name.startswith("selfie3d-web-")]) == 1
        second.send_signal(signal.SIGINT)
        assert second.wait(timeout=STOP_MAX_S) == 0
        assert not [path for path in temp.iterdir() if "selfie3d" in path.name]  # its own went too
    finally:
        _stop(second)


@needs_proc
def test_ctrl_c_with_jobs_in_flight_answers_each_503_and_stops_at_once(photo):
    port = _free_port()
    # Its own process group, as a terminal's Ctrl-C reaches the server and every worker.
    process = _serve("--port", str(port), "--workers", "1", "--queue", "4", start_new_session=True)
    try:
        url = _started(process, port)
        status, body, _ = _post(url, photo)  # the worker is warm: later jobs take seconds, not more
        assert status == 201, body
        answers: list = []
        uploads = [threading.Thread(target=lambda: answers.append(_post(url, photo))) for _ in range(3)]
        for upload in uploads:
            upload.start()
        _wait_for(lambda: (lambda s: s["running"] == 1 and s["waiting"] == 2)(_status(url)), 30,
                  "one job running and two waiting")
        interrupted = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        for upload in uploads:
            upload.join(HTTP_TIMEOUT_S)
        code = process.wait(timeout=STOP_MAX_S)
        stopped_s = time.monotonic() - interrupted
        err = process.stderr.read()
    finally:
        _stop_group(process)
    assert code == 0
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert len(answers) == 3
    for status, body, kind in answers:
        assert "json" in kind, body  # never a plain-text 500
        # The one running may have finished just before; the two waiting never started.
        assert (status, body.get("error")) == (503, "stopping") or status == 201, body
    assert sum(status == 503 for status, _, _ in answers) >= 2
    assert stopped_s < STOP_MAX_S


def test_a_model_changed_after_start_is_named_when_a_worker_dies(tmp_path, monkeypatch):
    # The server checked at start; a worker that dies later (its replacement cannot load a
    # changed file) is explained by the checksum, not as "out of memory?".
    from realtime.resources import models_dir
    from realtime.apps.web.server import _models_problem

    assert _models_problem() is None
    models = tmp_path / "models"
    shutil.copytree(models_dir(), models, ignore=shutil.ignore_patterns("*.md", "__pycache__"))
    (models / "iris_landmark.onnx").write_bytes(b"replaced")
    monkeypatch.setenv("SELFIE3D_MODELS_DIR", str(models))
    assert f"{models / 'iris_landmark.onnx'}: checksum mismatch" in _models_problem()


@needs_proc
def test_ctrl_c_on_an_idle_server_with_started_workers_prints_nothing():
    port = _free_port()
    process = _serve("--port", str(port), "--workers", "1", start_new_session=True)
    try:
        _started(process, port)
        _wait_for(lambda: _workers(process.pid), SERVER_START_S, "the worker to start (before any upload)")
        time.sleep(1.0)  # into its start-up: loading the networks
        os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the workers get it too
        code = process.wait(timeout=STOP_MAX_S)
        out, err = process.communicate()
    finally:
        _stop_group(process)
    assert (code, err) == (0, "")
