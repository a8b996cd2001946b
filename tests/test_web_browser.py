"""End to end in a real browser: headless Chromium (Debian's, driven by Playwright) opens the
page of a running server (uvicorn, its process pool), uploads the astronaut photo, waits for
the three.js view to show the bust, downloads the STL and checks it is watertight; a file that
is not an image gets its message in the page.

Set ``SELFIE3D_WEB_SCREENSHOT=docs/web.png`` to save the page's screenshot for the README.

The demo's ``tryon.mp4`` is played in the same browser: it must be a video Chromium decodes
(H.264), not one it refuses (MPEG-4 Part 2, MediaError 4).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")
pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")
pytest.importorskip("fastapi_offline", reason="the web extra (fastapi-offline) is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

import trimesh  # noqa: E402
import uvicorn  # noqa: E402

from realtime.apps.web.serve import ServeOptions  # noqa: E402
from realtime.apps.web.server import create_app  # noqa: E402

# Software WebGL (the CI machine has no GPU and no display) and Chromium's fake camera (a test
# pattern, no face), which also answers the permission prompt.
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
SERVER_START_S = 30.0
BUST_TIMEOUT_MS = 60_000  # first job includes the worker's start and network loading
VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def server_url():
    """A real server (one pool worker) on a free loopback port, for this module."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options = ServeOptions(port=port, workers=1)
    server = uvicorn.Server(uvicorn.Config(create_app(options), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_S
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(SERVER_START_S)
    sock.close()


@pytest.fixture(scope="module")
def page(server_url):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server_url + "/")
        page.wait_for_selector("body[data-ready=true]")
        page.errors = errors
        yield page
        browser.close()


def _make_and_wait(page) -> str:
    """Click Make and wait for a new bust's result on the page; returns its id."""
    before = page.get_attribute("#result", "data-bust") or ""
    page.click("#make")
    page.wait_for_selector(f"#result[data-bust]:not([data-bust='']):not([data-bust='{before}'])",
                           timeout=BUST_TIMEOUT_MS)
    return page.get_attribute("#result", "data-bust")


def _fit_coverage(page) -> float:
    """The share of the photo's overlay canvas the page has drawn on (the bust's outline, filled)."""
    return page.evaluate("""() => {
        const canvas = document.querySelector('#landmarks');
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let filled = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) filled++;
        return filled / (data.length / 4);
    }""")


def test_a_file_that_is_not_an_image_gets_a_message(page, tmp_path):
    fake = tmp_path / "holiday.png"
    fake.write_bytes(np.random.default_rng(0).bytes(4000))
    page.set_input_files("#file", str(fake))
    # Not a HEIC or TIFF, which the server would show: the line does not promise a bust.
    page.wait_for_function("() => document.querySelector('#drop-text').textContent.includes('may not be an image')")
    page.click("#make")
    message = page.wait_for_selector("#message:not([hidden])")
    assert "not an image" in message.inner_text()


def test_a_webcam_picture_is_uploaded_and_its_missing_face_reported(page):
    page.click("#camera-start")
    page.wait_for_function("() => document.querySelector('#video').videoWidth > 0")
    page.click("#camera-shoot")
    page.wait_for_selector("#preview:not([hidden])")
    assert "webcam.jpg" in page.inner_text("#drop-text")
    assert page.is_hidden("#video")  # the camera is closed once the picture is taken
    page.click("#make")
    message = page.wait_for_selector("#message:not([hidden])", timeout=BUST_TIMEOUT_MS)
    assert "no face found" in message.inner_text().lower()


def test_photo_to_bust_in_the_browser(page, astronaut, tmp_path):
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), astronaut)
    page.set_input_files("#file", str(photo))
    page.fill("#label", "SELFIE3D")
    page.click("#make")
    viewer = page.wait_for_selector("#viewer[data-state=ready]", timeout=BUST_TIMEOUT_MS)
    assert int(viewer.get_attribute("data-triangles")) > 1000
    assert page.is_hidden("#message")
    # The 3D view drew something besides its background.
    pixels = page.evaluate("""() => {
        const canvas = document.querySelector('#viewer canvas');
        const probe = document.createElement('canvas');
        probe.width = 64; probe.height = 48;
        probe.getContext('2d').drawImage(canvas, 0, 0, 64, 48);
        return Array.from(probe.getContext('2d').getImageData(0, 0, 64, 48).data);
    }""")
    rgb = np.array(pixels, np.uint8).reshape(48, 64, 4)[:, :, :3].astype(int)
    background = rgb[0, 0]
    assert (np.abs(rgb - background).sum(axis=2) > 30).mean() > 0.05, "the view shows no model"
    # The fit over the photo: the bust's outline, filled, not only the landmarks' lines.
    drawn = _fit_coverage(page)
    assert drawn > 0.05, "the page draws no outline of the bust over the photo"
    # The facts say where the scale came from, as the report does (the page said "the average PD"
    # whatever the report's source was).
    facts = page.inner_text("#facts")
    assert "scale from the iris and face proportions" in facts or "scale from the face proportions" in facts, facts

    with page.expect_download() as download:
        page.click("#download-stl")
    saved = tmp_path / "from-browser.stl"
    download.value.save_as(saved)
    mesh = trimesh.load(str(saved))
    assert mesh.is_watertight and mesh.volume > 0
    # The other formats follow the answer; their links say so once they are written.
    page.wait_for_selector("#downloads[data-complete=true]", timeout=BUST_TIMEOUT_MS)
    for key in ("3mf", "glb", "obj", "mtl", "texture"):
        assert page.get_attribute(f"#download-{key}", "data-state") == "ready", key
    with page.expect_download() as download:
        page.click("#download-3mf")
    saved = tmp_path / "from-browser.3mf"
    download.value.save_as(saved)
    assert trimesh.load(str(saved), force="mesh").is_watertight

    target = os.environ.get("SELFIE3D_WEB_SCREENSHOT")
    page.wait_for_selector("#progress[hidden]", state="attached")
    page.screenshot(path=target or str(tmp_path / "web.png"), full_page=True)
    assert not page.errors, page.errors


def test_a_face_picked_on_a_group_photo_gets_its_bust(page, server_url, two_people, tmp_path):
    # The astronaut and Grace Hopper: Hopper's bust comes first, the caption offers the other face,
    # and a click on the astronaut's dashed box makes hers.
    import json
    import urllib.request

    photo = tmp_path / "two.png"
    cv2.imwrite(str(photo), two_people)
    page.set_input_files("#file", str(photo))
    page.fill("#label", "")
    before = page.get_attribute("#result", "data-bust") or ""  # an earlier test's bust may be on show
    page.click("#make")
    page.wait_for_selector(f"#result[data-bust]:not([data-bust='']):not([data-bust='{before}'])",
                           timeout=BUST_TIMEOUT_MS)
    first = page.get_attribute("#result", "data-bust")
    assert "1 more face in this photo" in page.inner_text("#photo-caption")
    assert page.get_attribute("#photo-overlay", "data-pick") == "yes"
    report = json.load(urllib.request.urlopen(f"{server_url}/api/busts/{first}"))["report"]
    x0, y0, x1, y1 = report["other_faces"][0]
    width, height = report["image_size"]
    shown = page.query_selector("#photo").bounding_box()
    # A click far from any other face (the photo's top-right corner) sends nothing.
    page.mouse.click(shown["x"] + shown["width"] - 3, shown["y"] + 3)
    page.wait_for_timeout(300)
    assert page.is_hidden("#progress") and page.get_attribute("#result", "data-bust") == first
    page.mouse.click(shown["x"] + (x0 + x1) / 2 * shown["width"] / width,
                     shown["y"] + (y0 + y1) / 2 * shown["height"] / height)
    page.wait_for_selector(f"#result:not([data-bust='{first}'])", timeout=BUST_TIMEOUT_MS)
    picked = json.load(urllib.request.urlopen(f"{server_url}/api/busts/{page.get_attribute('#result', 'data-bust')}"))
    landmarks = np.array(picked["report"]["landmarks68"])
    assert x0 < landmarks[:, 0].mean() < x1 and y0 < landmarks[:, 1].mean() < y1  # the astronaut's
    assert page.is_hidden("#message") and not page.errors, page.errors


def test_an_iphone_s_heic_photo_is_shown_where_the_browser_cannot_show_it(page, astronaut, tmp_path):
    # Chromium (as Chrome, Edge and Firefox) does not decode HEIC: the photo chosen gets a line
    # instead of a broken picture, and the result shows the server's JPEG copy under the fit.
    import pillow_heif

    photo = tmp_path / "IMG_0042.HEIC"
    rgb = np.ascontiguousarray(astronaut[..., ::-1])
    pillow_heif.from_bytes(mode="RGB", size=rgb.shape[1::-1], data=rgb.tobytes()).save(str(photo), quality=90)
    page.set_input_files("#file", str(photo))
    page.wait_for_function("() => document.querySelector('#drop-text').textContent.includes('cannot show')")
    assert page.is_hidden("#preview")
    _make_and_wait(page)
    page.wait_for_function("() => document.querySelector('#photo').complete && "
                           "document.querySelector('#photo').naturalWidth > 0")
    assert page.evaluate("() => document.querySelector('#photo').naturalWidth") == astronaut.shape[1]
    drawn = _fit_coverage(page)
    assert drawn > 0.05, "no fit drawn over the photo"
    # The copy is the page's, not one of the bust's files to download.
    assert page.query_selector("#download-photo") is None and page.query_selector("#download-stl") is not None
    assert page.is_hidden("#message") and not page.errors, page.errors


def test_a_phone_video_of_a_head_turn_is_made_into_a_bust_on_the_page(page, head_turn_video):
    # The page's real server and worker process: the video is read there, its head turn scanned,
    # and the frame the bust faced the camera in is shown under the fit.
    video, _ = head_turn_video
    page.set_input_files("#file", video)
    assert "a video: the bust comes from its frames" in page.inner_text("#drop-text")
    assert page.is_hidden("#preview")
    _make_and_wait(page)
    page.wait_for_function("() => document.querySelector('#photo').complete && "
                           "document.querySelector('#photo').naturalWidth === 640")
    assert _fit_coverage(page) > 0.05, "no fit drawn over the video's frame"
    page.wait_for_selector("#viewer[data-state=ready]", timeout=BUST_TIMEOUT_MS)
    assert page.is_hidden("#message") and not page.errors, page.errors


# The demo video: a short run of the built-in clip, played from a page beside it.
DEMO_FRAMES = 45
PLAY_TIMEOUT_MS = 30_000
HAVE_ENOUGH_DATA = 4  # HTMLMediaElement.readyState: can play through


def test_the_demo_video_plays_in_chromium(page, tmp_path):
    from realtime.apps.demo import DemoOptions, run_demo

    out = tmp_path / "demo"
    run_demo(DemoOptions(out_dir=str(out), max_frames=DEMO_FRAMES, bust=False))
    player_page = out / "play.html"
    player_page.write_text('<!doctype html><video id="v" src="tryon.mp4" muted playsinline preload="auto"></video>')
    player = page.context.new_page()
    try:
        player.goto(player_page.as_uri())
        player.wait_for_function(f"() => {{ const v = document.querySelector('#v'); "
                                 f"return v.error !== null || v.readyState >= {HAVE_ENOUGH_DATA}; }}",
                                 timeout=PLAY_TIMEOUT_MS)
        state = player.evaluate("""() => { const v = document.querySelector('#v');
            return {ready: v.readyState, error: v.error && v.error.code, width: v.videoWidth,
                    height: v.videoHeight, duration: v.duration}; }""")
        assert state["error"] is None, f"Chromium refused tryon.mp4: MediaError {state['error']}"
        assert state["ready"] == HAVE_ENOUGH_DATA
        assert (state["width"], state["height"]) == (1280, 720)
        assert abs(state["duration"] - DEMO_FRAMES / 30.0) < 0.1
        # And it plays: time moves on.
        player.evaluate("() => document.querySelector('#v').play()")
        player.wait_for_function("() => document.querySelector('#v').currentTime > 0.3", timeout=PLAY_TIMEOUT_MS)
    finally:
        player.close()


def test_the_api_pages_render_offline(page, server_url):
    """/docs (Swagger UI) and /redoc (ReDoc) come up with every request answered by this server:
    any other address is refused, as it would be on a machine without a network."""
    docs = page.context.new_page()
    elsewhere: list[str] = []
    console: list[str] = []

    def only_here(route):
        if route.request.url.startswith(server_url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    docs.route("**/*", only_here)
    docs.on("console", lambda message: console.append(message.text) if message.type == "error" else None)
    try:
        for path in ("/docs", "/redoc"):
            docs.goto(server_url + path)
            docs.get_by_text("Make a bust from a photo").first.wait_for(timeout=30_000)
            assert docs.get_by_text("/api/busts").first.is_visible() or path == "/redoc"
    finally:
        docs.close()
    assert elsewhere == []
    # Only ReDoc's "by Redocly" badge points elsewhere; the content policy keeps it from loading.
    blocked = [line for line in console if "Content Security Policy" in line]
    assert all(line.startswith("Loading the image 'https://cdn.redoc.ly/") for line in blocked), blocked


@pytest.fixture(scope="module")
def held_server():
    """A server whose one worker holds every job until told (``release``), to make a queue."""
    import concurrent.futures

    from realtime.apps.web import bustjob
    from realtime.apps.web.server import Server

    held: concurrent.futures.Future = concurrent.futures.Future()

    class Held:
        def submit(self, fn, *args):
            return held

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app = create_app(ServeOptions(queue=4), executor=Held(), workers=1)
    server = Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_S
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)

    def release():
        held.set_result(bustjob.WebJobResult(bustjob.OK, files={"bust.stl": b"\0" * 84}, report={
            "landmarks68": [], "image_size": [1, 1], "style": "bust"}, seconds=8.0))

    yield f"http://127.0.0.1:{sock.getsockname()[1]}", app, release
    if not held.done():
        release()
    server.should_exit = True
    thread.join(SERVER_START_S)
    sock.close()


def test_the_page_shows_its_place_in_the_queue_and_the_expected_wait(page, held_server, astronaut, tmp_path):
    import urllib.request

    url, app, release = held_server
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), astronaut)
    app.state.service.job_seconds = 8.0  # as if recent busts took 8 s each
    # Someone else's upload takes the one worker first.
    boundary = "queuetestboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode() + photo.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    other = urllib.request.Request(url + "/api/busts", data=body, method="POST",
                                   headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    answers: list[int] = []
    first = threading.Thread(target=lambda: answers.append(urllib.request.urlopen(other, timeout=60).status))
    first.start()
    deadline = time.monotonic() + 10
    while not app.state.service.running:
        assert time.monotonic() < deadline, "the first upload never started"
        time.sleep(0.02)
    queued = page.context.new_page()
    try:
        queued.goto(url + "/")
        queued.wait_for_selector("body[data-ready=true]")
        queued.set_input_files("#file", str(photo))
        queued.click("#make")
        progress = queued.wait_for_selector('#progress[data-queue=waiting][data-position="1"]', timeout=15_000)
        text = progress.inner_text()
        assert "you are next" in text, text
        wait = int(re.search(r"about (\d+) s to go", text).group(1))
        assert 8 < wait <= 16, text  # the running bust's rest, then its own 8 s
        release()
        queued.wait_for_selector("#result:not([hidden])", timeout=15_000)
        assert queued.get_attribute("#progress", "data-queue") is None
    finally:
        queued.close()
    first.join(30)
    assert answers == [201]


def test_the_page_marks_the_later_formats_until_they_are_written(page):
    """The answer comes with the STL; the 3MF, GLB and OBJ links show "being made" until the
    server has written them (held here by the stand-in worker), then turn ready."""
    import concurrent.futures

    from realtime.apps.web import bustjob
    from realtime.apps.web.server import Server

    gate = threading.Event()
    later_pool = concurrent.futures.ThreadPoolExecutor(1)

    class TwoParts:
        def submit(self, fn, *args):
            if fn is bustjob.export_later:
                def later():
                    assert gate.wait(60)
                    return bustjob.WebJobResult(bustjob.OK, files={"bust.3mf": b"3mf", "bust.glb": b"glb",
                                                                   "bust.obj": b"obj"})
                return later_pool.submit(later)
            future: concurrent.futures.Future = concurrent.futures.Future()
            future.set_result(bustjob.WebJobResult(
                bustjob.OK, files={"bust.stl": b"\0" * 84},
                report={"landmarks68": [], "image_size": [1, 1], "style": "bust"},
                later=bustjob.LaterExport(None, ("3mf", "glb", "obj"), ("bust.3mf", "bust.glb", "bust.obj"))))
            return future

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = Server(uvicorn.Config(create_app(ServeOptions(), executor=TwoParts(), workers=1), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    two = page.context.new_page()
    try:
        deadline = time.monotonic() + SERVER_START_S
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        two.goto(f"http://127.0.0.1:{sock.getsockname()[1]}/")
        two.wait_for_selector("body[data-ready=true]")
        two.set_input_files("#file", files=[{"name": "me.png", "mimeType": "image/png",
                                             "buffer": cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes()}])
        two.click("#make")
        two.wait_for_selector("#result:not([hidden])", timeout=15_000)
        assert two.get_attribute("#download-stl", "data-state") == "ready"
        for key in ("3mf", "glb", "obj"):
            assert two.get_attribute(f"#download-{key}", "data-state") == "pending", key
        assert two.get_attribute("#downloads", "data-complete") == "false"
        assert "being made" in two.evaluate(
            "() => getComputedStyle(document.querySelector('#download-glb'), '::after').content")
        gate.set()
        two.wait_for_selector("#downloads[data-complete=true]", timeout=15_000)
        for key in ("3mf", "glb", "obj"):
            assert two.get_attribute(f"#download-{key}", "data-state") == "ready", key
    finally:
        gate.set()
        two.close()
        server.should_exit = True
        thread.join(SERVER_START_S)
        sock.close()
        later_pool.shutdown()
