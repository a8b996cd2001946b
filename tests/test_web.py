"""The web service's API through FastAPI's test client: a real bust from the astronaut photo,
every error status, the busy queue, expiry, and the page's offline assets.

Jobs run on a thread (``ThreadPoolExecutor``) instead of the server's process pool: the same
``run_web_job``, without paying a worker start-up per test; the browser test runs the pool.
"""

from __future__ import annotations

import concurrent.futures
import io
import re
import threading
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")
pytest.importorskip("multipart", reason="the web extra (python-multipart) is not installed")
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx")
pytest.importorskip("fastapi_offline", reason="the web extra (fastapi-offline) is not installed")

import trimesh  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from realtime.apps.web import bustjob  # noqa: E402
from realtime.apps.web.serve import ServeOptions, add_serve_arguments, options_from_args  # noqa: E402
from realtime.apps.web.server import (  # noqa: E402
    FORM_OVERHEAD_BYTES, MB, STATIC_DIR, ApiError, create_app, image_suffix)

BASE_URL = "http://127.0.0.1"  # the server accepts only loopback Host headers by default
# A tiny upload limit for the 413 tests: the astronaut PNG (~450 KB) is far over it.
SMALL_LIMIT_MB = 0.05
FAKE_JOB_S = 0.3  # a stand-in job long enough that a second client finds the one worker busy


def _png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


@pytest.fixture(scope="module")
def photo(astronaut) -> bytes:
    return _png(astronaut)


@pytest.fixture(scope="module")
def client():
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        with TestClient(create_app(ServeOptions(), executor=executor), base_url=BASE_URL) as test_client:
            yield test_client


@pytest.fixture(scope="module")
def made(client, photo):
    """One real bust (style bust, a label) shared by the success tests."""
    response = client.post("/api/busts", files={"photo": ("me.png", photo, "image/png")},
                           data={"style": "bust", "height_mm": "60", "label": "TEST"})
    assert response.status_code == 201, response.text
    return response


def _post(client, data: bytes, name: str = "photo.png", **fields):
    return client.post("/api/busts", files={"photo": (name, data, "image/png")}, data=fields)


def _assert_error(response, status: int, code: str, text: str):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code
    assert re.search(text, body["message"]), body["message"]


# ---- success --------------------------------------------------------------------------------


def test_a_photo_taken_askew_gets_a_level_bust_on_the_page_too(client, astronaut):
    from askew import bust_up_lean_deg
    from realtime.tools.likeness import turned_photo

    response = _post(client, _png(turned_photo(astronaut, -10.0)), style="bust")
    assert response.status_code == 201, response.text
    report = response.json()["report"]
    # The photo job reads -9.7 deg for this photo (tests/test_level.py); the page's bust stands on it.
    assert report["camera_roll_deg"] == pytest.approx(-10.0, abs=1.5) and report["camera_roll_from"] == "lines"
    # The sentence the page lists with its notes (without the command's flag).
    assert "the bust stands level by the room's vertical lines" in report["camera_roll_note"]
    assert "--no-level" not in report["camera_roll_note"]
    assert bust_up_lean_deg(report["bust_view"]) == pytest.approx(report["camera_roll_deg"], abs=0.5)


def test_a_photo_upside_down_gets_a_bust_standing_the_person_s_way_up_on_the_page_too(client, astronaut):
    from askew import bust_up_lean_deg

    response = _post(client, _png(np.ascontiguousarray(astronaut[::-1, ::-1])), style="bust")
    assert response.status_code == 201, response.text
    report = response.json()["report"]
    assert report["photo_upside_down"] and "the photo is upside down" in report["camera_roll_note"]
    assert abs(bust_up_lean_deg(report["bust_view"])) > 176.0  # the file's up points down the photo


def test_a_face_picked_in_a_group_photo_upside_down_is_the_one_made(client, two_people):
    upside_down = _png(np.ascontiguousarray(two_people[::-1, ::-1]))
    first = _post(client, upside_down)
    assert first.status_code == 201, first.text
    report = first.json()["report"]
    assert report["photo_upside_down"] and report["faces_found"] == 2
    x0, y0, x1, y1 = report["other_faces"][0]  # in the photo's own pixels, as given
    picked = _post(client, upside_down, face=f"{(x0 + x1) / 2:.1f},{(y0 + y1) / 2:.1f}")
    assert picked.status_code == 201, picked.text
    landmarks = np.array(picked.json()["report"]["landmarks68"])
    assert x0 < landmarks[:, 0].mean() < x1 and y0 < landmarks[:, 1].mean() < y1


def test_a_face_picked_in_a_group_photo_on_its_side_is_the_one_made(client, two_people):
    # The two portraits side by side, scanned on their side: searched turned a quarter, the report
    # stays in the photo's own pixels and size, and a pick there is turned with the photo.
    lying = np.ascontiguousarray(np.rot90(two_people, 1))
    first = _post(client, _png(lying))
    assert first.status_code == 201, first.text
    report = first.json()["report"]
    assert report["photo_on_its_side"] and not report["photo_upside_down"] and report["faces_found"] == 2
    assert report["image_size"] == [lying.shape[1], lying.shape[0]]
    assert "the photo lies on its side" in report["camera_roll_note"]
    largest = np.array(report["landmarks68"])
    boxes = [report["other_faces"][0], [*largest.min(axis=0), *largest.max(axis=0)]]
    for x0, y0, x1, y1 in boxes:  # each face picked is the one made
        assert 0 <= x0 < x1 <= lying.shape[1] and 0 <= y0 < y1 <= lying.shape[0]
        picked = _post(client, _png(lying), face=f"{(x0 + x1) / 2:.1f},{(y0 + y1) / 2:.1f}")
        assert picked.status_code == 201, picked.text
        landmarks = np.array(picked.json()["report"]["landmarks68"])
        assert x0 < landmarks[:, 0].mean() < x1 and y0 < landmarks[:, 1].mean() < y1


def test_an_iphone_s_heic_photo_is_taken_by_the_page(client, astronaut, monkeypatch):
    import io

    import pillow_heif
    from PIL import Image

    # Pillow knows HEIF only through pillow-heif's opener, which another import (skimage's imageio)
    # may have registered in this process already: the page must not count on that. Every plugin is
    # loaded first: a lazy load while the list is patched would be lost with the patch.
    Image.init()
    monkeypatch.setattr(Image, "ID", [name for name in Image.ID if name != "HEIF"])
    monkeypatch.setattr(Image, "OPEN", {name: opener for name, opener in Image.OPEN.items() if name != "HEIF"})
    rgb = np.ascontiguousarray(astronaut[..., ::-1])
    buffer = io.BytesIO()
    pillow_heif.from_bytes(mode="RGB", size=rgb.shape[1::-1], data=rgb.tobytes()).save(buffer, quality=95)
    response = client.post("/api/busts", files={"photo": ("IMG_0042.HEIC", buffer.getvalue(), "image/heic")})
    assert response.status_code == 201, response.text
    report = response.json()["report"]
    assert report["image_size"] == [astronaut.shape[1], astronaut.shape[0]] and report["faces_found"] == 1
    # A HEIF coded neither in HEVC nor in AV1 (its brands say so) is refused at once, not queued.
    other = buffer.getvalue().replace(b"ftypheic\0\0\0\0mif1heicmiaf", b"ftypmif1\0\0\0\0mif1miafmiaf", 1)
    assert other != buffer.getvalue()
    with pytest.raises(ApiError, match=r"HEIF \(neither HEVC nor AV1\) images are not supported"):
        image_suffix(other, 10**8)
    # Most browsers do not show a HEIC: the answer carries a JPEG copy of the photo as decoded.
    copy = client.get(response.json()["extras"]["photo"])
    assert copy.status_code == 200 and copy.headers["content-type"] == "image/jpeg"
    shown = cv2.imdecode(np.frombuffer(copy.content, np.uint8), cv2.IMREAD_COLOR)
    assert shown.shape == astronaut.shape and np.abs(shown.astype(int) - astronaut).mean() < 6
    # An AVIF, as a browser saves a web picture, is taken too, also one whose major brand is the
    # generic mif1 that pillow-heif's opener, tried first, takes for a HEIF.
    monkeypatch.setattr(Image, "ID", ["HEIF"] + [name for name in Image.ID if name != "HEIF"])
    avif = io.BytesIO()
    Image.fromarray(rgb).save(avif, format="AVIF", quality=90)
    generic = avif.getvalue()[:8] + b"mif1" + avif.getvalue()[12:]
    assert image_suffix(generic, 10**8) == ".avif"
    response = client.post("/api/busts", files={"photo": ("photo.avif", avif.getvalue(), "image/avif")})
    assert response.status_code == 201, response.text
    from_avif = response.json()["report"]
    assert from_avif["image_size"] == report["image_size"] and from_avif["faces_found"] == 1
    assert set(response.json()["extras"]) == {"mtl", "texture"}  # every browser shows an AVIF: no copy
    gap_px = np.abs(np.array(from_avif["landmarks68"]) - np.array(report["landmarks68"])).max()
    assert gap_px < 4.0, gap_px  # the same face as the HEIC's, give or take the two codecs' losses


def test_upload_returns_urls_for_four_formats_and_a_report(made, astronaut):
    body = made.json()
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", body["id"])
    assert made.headers["location"] == f"/api/busts/{body['id']}"
    assert set(body["files"]) == {"stl", "3mf", "glb", "obj"}
    assert set(body["extras"]) == {"mtl", "texture"}
    report = body["report"]
    landmarks = np.array(report["landmarks68"])
    assert landmarks.shape == (68, 2)
    height, width = astronaut.shape[:2]
    assert report["image_size"] == [width, height]
    assert np.all((landmarks >= 0) & (landmarks < [width, height]))
    assert report["print_checks"]["watertight"] is True
    assert report["style"] == "bust" and report["label"] == "TEST"
    assert report["bust_warnings"] == []  # the astronaut's outline is hers: nothing to warn of
    assert report["camera_roll_deg"] == 0.0  # her room stands level (its lines lean 0.5 deg)
    assert report["camera_roll_from"] is None and report["camera_roll_note"] is None
    assert report["print_checks"]["height_mm"] == pytest.approx(60.0, abs=0.01)
    # The fit the page draws: the file's camera and the bust's outline over the photo, around the
    # face's landmarks and reaching above them (head and hair).
    assert np.array(report["bust_view"]).shape == (3, 4)
    outline = np.array(report["bust_outline"], np.float32)
    assert outline.ndim == 2 and outline.shape[1] == 2 and len(outline) > 10
    # Inside, or on the edge within the outline's simplification (the chin lies on it).
    inside = [cv2.pointPolygonTest(outline, (float(x), float(y)), True) for x, y in landmarks]
    assert min(inside) > -bustjob.OUTLINE_TOLERANCE_PX
    face_height = np.ptp(landmarks[:, 1])
    assert outline[:, 1].min() < landmarks[:, 1].min() - 0.5 * face_height


def test_a_group_photo_offers_the_other_faces_and_makes_the_one_picked(client, two_people, astronaut):
    # The astronaut and Grace Hopper side by side: the largest face (Hopper's) is made, the
    # astronaut's box comes back to pick, and a pick inside it makes her bust instead.
    first = _post(client, _png(two_people))
    assert first.status_code == 201, first.text
    report = first.json()["report"]
    assert report["faces_found"] == 2 and len(report["other_faces"]) == 1
    x0, y0, x1, y1 = report["other_faces"][0]
    assert x1 < 240 < np.array(report["landmarks68"])[:, 0].min()  # hers left of the seam, Hopper's right
    picked = _post(client, _png(two_people), face=f"{(x0 + x1) / 2:.1f},{(y0 + y1) / 2:.1f}")
    assert picked.status_code == 201, picked.text
    again = picked.json()["report"]
    landmarks = np.array(again["landmarks68"])
    assert x0 < landmarks[:, 0].mean() < x1 and y0 < landmarks[:, 1].mean() < y1  # the astronaut's face
    assert again["faces_found"] == 2 and again["other_faces"][0][0] > 240  # Hopper's, to pick back
    # Her head's outline (above the chin) reaches no further towards Hopper than her head does in
    # her own photo, uncut (the composite takes her columns from x = 40, and its seam at x = 230
    # cuts her hair): the bust is one person's. Measured 260.6 against her own 259.5; the
    # seam's other side is Hopper's hair and cap from x = 236.
    outline = np.array(again["bust_outline"])
    alone = _post(client, _png(astronaut[:len(two_people)]))
    assert alone.status_code == 201, alone.text
    own = np.array(alone.json()["report"]["bust_outline"])
    own_reach = own[own[:, 1] < np.array(alone.json()["report"]["landmarks68"])[8, 1], 0].max() - 40.0
    assert outline[outline[:, 1] < landmarks[8, 1], 0].max() < own_reach + 4.0


@pytest.mark.parametrize("face", ["left", "10", "1,2,3", "-5,10", "nan,3", "1e3,5"])
def test_a_face_pick_that_is_not_a_pixel_is_422(client, face):
    _assert_error(_post(client, _png(np.zeros((64, 64, 3), np.uint8)), face=face), 422, "invalid_option",
                  "face must be a photo pixel")


_MM3_PER_M3 = 1e9


def test_each_file_downloads_and_loads_as_the_same_closed_solid(client, made):
    files = made.json()["files"]
    volumes = {}
    for fmt, url in files.items():
        response = client.get(url)
        assert response.status_code == 200
        assert f'filename="bust.{fmt}"' in response.headers["content-disposition"]
        if fmt == "obj":
            continue  # its material and texture come as separate files (checked below)
        mesh = trimesh.load(io.BytesIO(response.content), file_type=fmt, force="mesh", process=False)
        # Join the points the file repeats (STL's corners, GLB's texture seams): those with equal
        # stored (float32) positions. trimesh's own merge rounds to 1e-8 of the unit, which in
        # GLB's metres (10 nm) is coarser than float32 there (~4 nm at 5 cm) and joins distinct points.
        positions, inverse = np.unique(np.asarray(mesh.vertices, np.float32), axis=0, return_inverse=True)
        mesh = trimesh.Trimesh(positions.astype(np.float64), inverse.reshape(-1)[np.asarray(mesh.faces)], process=False)
        assert mesh.is_watertight, fmt
        volumes[fmt] = mesh.volume
    assert volumes["3mf"] == pytest.approx(volumes["stl"], rel=1e-3)
    # glTF's unit is the metre (printing/export.py); the print formats are in millimetres.
    assert volumes["glb"] == pytest.approx(volumes["stl"] * _MM3_PER_M3 ** -1, rel=1e-3)
    for url in made.json()["extras"].values():
        assert client.get(url).status_code == 200


def test_a_bust_can_be_fetched_again_and_deleted(client, made):
    bust_id = made.json()["id"]
    again = client.get(f"/api/busts/{bust_id}")
    assert again.status_code == 200
    assert again.json()["files"] == made.json()["files"]


# ---- errors ---------------------------------------------------------------------------------


def test_random_bytes_are_not_an_image_400(client):
    _assert_error(_post(client, np.random.default_rng(0).bytes(5000)), 400, "not_an_image", "not an image")


def test_a_phone_video_of_a_head_turn_gives_a_scanned_bust(client, head_turn_video):
    video, _ = head_turn_video
    with open(video, "rb") as file:
        data = file.read()
    response = client.post("/api/busts", files={"photo": ("turn.mp4", data, "video/mp4")}, data={"style": "head"})
    assert response.status_code == 201, response.text
    body = response.json()
    report = body["report"]
    assert report["video"]["scan"]["used"] and report["video"]["frame_turn_deg"] < 5.0, report["video"]
    assert report["image_size"] == [640, 480] and report["faces_found"] == 1 and report["style"] == "head"
    landmarks = np.array(report["landmarks68"])
    assert landmarks.shape == (68, 2) and (landmarks > 0).all() and (landmarks < [640, 480]).all()
    assert len(report["bust_outline"]) > 10 and 55 < report["pd_mm"] < 75
    # The frame the bust faced the camera in comes back to show the fit on.
    shown = cv2.imdecode(np.frombuffer(client.get(body["extras"]["photo"]).content, np.uint8), cv2.IMREAD_COLOR)
    assert shown.shape == (480, 640, 3)
    stl = client.get(body["files"]["stl"])
    assert stl.status_code == 200 and trimesh.load(io.BytesIO(stl.content), file_type="stl").is_watertight


def test_a_video_of_frames_over_4k_is_413_before_a_frame_is_read(client, tmp_path):
    path = tmp_path / "huge.avi"  # a few kB that would decode to 10 MP a frame
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (4096, 2400))
    writer.write(np.zeros((2400, 4096, 3), np.uint8))
    writer.release()
    _assert_error(_post(client, path.read_bytes(), "huge.avi"), 413, "too_large",
                  "the video's frames are 4096x2400 pixels; the limit is 4K")


def test_a_video_without_a_face_is_422(client, tmp_path):
    path = tmp_path / "wall.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    _assert_error(_post(client, path.read_bytes(), "wall.mp4"), 422, "no_face", "no face found in the video's 3 frames")


def test_a_large_photo_s_copy_for_the_page_is_shrunk_to_its_longest_side():
    tall = np.zeros((5000, 1250, 3), np.uint8)
    tall[:2500] = 200  # the top half bright: the copy is the photo, upright, not a blank
    copy = cv2.imdecode(np.frombuffer(bustjob.photo_copy_jpeg(tall), np.uint8), cv2.IMREAD_COLOR)
    side = bustjob.PHOTO_COPY_MAX_SIDE_PX
    assert copy.shape == (side, side // 4, 3)
    assert copy[: side // 2 - 10].mean() > 190 and copy[side // 2 + 10:].mean() < 10


def test_the_api_schema_names_the_formats_the_photo_decoder_reads():
    from realtime.apps.web.server import UPLOAD_SCHEMA
    from realtime.stages.imagefile import SUPPORTED_FORMATS_TEXT

    photo = UPLOAD_SCHEMA["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["photo"]
    assert photo["description"].startswith(f"{SUPPORTED_FORMATS_TEXT} photo, or a video")


def test_an_image_that_does_not_decode_is_400(client, photo):
    # A valid PNG header (so the server's header check passes) with the pixel data cut off.
    _assert_error(_post(client, photo[:2000]), 400, "not_an_image", "could not be decoded")


def test_no_face_is_422(client):
    noise = np.random.default_rng(1).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    _assert_error(_post(client, _png(noise)), 422, "no_face", "no face found")


@pytest.mark.parametrize("fields, text", [
    ({"style": "statue"}, "unknown bust style"),
    ({"height_mm": "tall"}, "height_mm must be a number"),
    ({"height_mm": "5"}, "outside 20..500"),
    ({"style": "mask", "label": "HI"}, "label needs a plinth"),
    ({"label": "x" * 40}, "at most 32"),
    ({"label": "x" * 2000}, "at most 32"),  # was 400 bad_form: the form parser's field limit came first
    ({"label": "x" * 20000}, "label takes at most 32 characters"),
    ({"label": "Zoë 日本"}, "cannot draw: 'ë' '日' '本'"),
])
def test_invalid_options_are_422_without_running_a_job(client, fields, text):
    # A blank image: had a job run, the answer would be "no face", not the option's message.
    _assert_error(_post(client, _png(np.zeros((64, 64, 3), np.uint8)), **fields), 422, "invalid_option", text)


def test_not_multipart_or_no_photo_is_400(client, photo):
    _assert_error(client.post("/api/busts", content=photo, headers={"content-type": "image/png"}),
                  400, "not_multipart", "multipart")
    _assert_error(client.post("/api/busts", files={"picture": ("a.png", photo, "image/png")}),
                  400, "no_photo", "field 'photo'")


def test_too_large_is_413_by_declared_length_and_while_streaming(photo):
    options = ServeOptions(max_upload_mb=SMALL_LIMIT_MB)
    with TestClient(create_app(options, executor=_NeverExecutor()), base_url=BASE_URL) as small:
        _assert_error(_post(small, photo), 413, "too_large", "larger than the 0.05 MB limit")

        # No Content-Length: the limit must stop the upload as it streams in.
        boundary = "selfie3dboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode() + photo + f"\r\n--{boundary}--\r\n".encode()
        assert len(body) > SMALL_LIMIT_MB * MB + FORM_OVERHEAD_BYTES

        def chunks():
            for start in range(0, len(body), 16384):
                yield body[start:start + 16384]

        response = small.post("/api/busts", content=chunks(),
                              headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        assert "content-length" not in response.request.headers
        _assert_error(response, 413, "too_large", "larger than")


def test_too_many_pixels_is_413_from_the_header_alone():
    # 6000 x 6000 flat grey compresses to a few KB; the header says 36 megapixels.
    huge = _png(np.full((6000, 6000, 3), 90, np.uint8))
    with pytest.raises(ApiError) as caught:
        image_suffix(huge, max_pixels=10_000_000)
    assert caught.value.status == 413 and "6000x6000" in caught.value.message
    assert image_suffix(huge, max_pixels=50_000_000) == ".png"


def test_busy_server_answers_503_with_retry_after_then_finishes_the_running_job(photo):
    executor = _HeldExecutor()
    app = create_app(ServeOptions(queue=0), executor=executor, workers=1)
    with TestClient(app, base_url=BASE_URL) as busy:
        first: dict = {}
        worker = threading.Thread(target=lambda: first.update(response=_post(busy, photo)))
        worker.start()
        assert executor.submitted.wait(10), "the first upload never reached the executor"
        second = _post(busy, photo)
        _assert_error(second, 503, "busy", "busy")
        assert int(second.headers["retry-after"]) >= 1
        executor.finish(_FAKE_RESULT)
        worker.join(10)
        assert first["response"].status_code == 201
        assert busy.get(first["response"].json()["files"]["stl"]).content == b"solid"
        # The place is free again.
        assert busy.get("/api/status").json()["running"] == 0


def test_results_expire_and_can_be_deleted(photo):
    executor = _InstantExecutor()
    app = create_app(ServeOptions(keep_minutes=1.0), executor=executor, workers=1)
    with TestClient(app, base_url=BASE_URL) as quick:
        first = _post(quick, photo).json()["id"]
        second = _post(quick, photo).json()["id"]
        service = app.state.service
        assert service.sweep(now=time.monotonic() + 30.0) == 0
        assert service.sweep(now=time.monotonic() + 61.0) == 2
        _assert_error(quick.get(f"/api/busts/{first}"), 404, "not_found", "kept for 1 minutes")
        third = _post(quick, photo).json()["id"]
        assert quick.delete(f"/api/busts/{third}").status_code == 204
        _assert_error(quick.get(f"/api/busts/{third}/files/bust.stl"), 404, "not_found", "no such bust")
        assert not (service.results / second).exists()


@pytest.mark.parametrize("path", [
    "/api/busts/..%2F..%2Fetc",
    "/api/busts/short",
    "/api/busts/AAAAAAAAAAAAAAAA",
    "/api/busts/AAAAAAAAAAAAAAAA/files/result.json",
])
def test_only_server_made_ids_and_names_are_served(client, path):
    assert client.get(path).status_code == 404


def test_unknown_file_of_a_real_bust_is_404(client, made):
    bust_id = made.json()["id"]
    for name in ("result.json", "photo.png", "..%2Fresult.json", "bust.exe"):
        assert client.get(f"/api/busts/{bust_id}/files/{name}").status_code == 404, name


def test_foreign_host_header_is_refused_on_a_loopback_server(client):
    refused = client.get("/api/status", headers={"host": "evil.example"})
    _assert_error(refused, 400, "bad_host", "answers only to 127.0.0.1, localhost, \\[::1\\].*'evil.example'")
    _assert_error(client.get("/api/status", headers={"host": "evil.example:8000"}), 400, "bad_host", "evil")
    for host in ("127.0.0.1:8000", "localhost", "[::1]:8000", "LOCALHOST:1"):
        assert client.get("/api/status", headers={"host": host}).status_code == 200, host


def test_results_past_the_storage_cap_are_deleted_oldest_first(photo):
    # Each fake result stores 300 KB; a 1 MB cap holds three of them.
    size = 300 * 1024
    executor = _InstantExecutor({"bust.stl": b"\0" * size})
    app = create_app(ServeOptions(max_results_mb=1.0), executor=executor, workers=1)
    with TestClient(app, base_url=BASE_URL) as capped:
        ids = [_post(capped, photo).json()["id"] for _ in range(5)]
        for old in ids[:2]:
            _assert_error(capped.get(f"/api/busts/{old}"), 404, "not_found", "while they fit in 1 MB")
        for kept in ids[2:]:
            assert len(capped.get(f"/api/busts/{kept}/files/bust.stl").content) == size
        status = capped.get("/api/status").json()
        assert status["max_results_mb"] == 1.0 and 0 < status["stored_mb"] <= 1.0
        assert sorted(p.name for p in app.state.service.results.iterdir()) == sorted(ids[2:])


def test_a_client_learns_its_place_in_the_queue_and_the_expected_wait(photo):
    executor = _HeldExecutor()
    app = create_app(ServeOptions(queue=2), executor=executor, workers=1)
    first, second = "first-upload-ticket-0001", "second-upload-ticket-002"
    with TestClient(app, base_url=BASE_URL) as queued:
        answers: dict = {}
        threads = [threading.Thread(target=lambda t=t: answers.update({t: queued.post(
            f"/api/busts?ticket={t}", files={"photo": ("a.png", photo, "image/png")})})) for t in (first, second)]
        try:
            service = app.state.service
            service.job_seconds = 10.0  # as if recent jobs took 10 s
            threads[0].start()
            assert executor.submitted.wait(10)
            threads[1].start()
            deadline = time.monotonic() + 10
            while queued.get("/api/status").json().get("waiting") != 1:
                assert time.monotonic() < deadline, "the second upload never joined the queue"
                time.sleep(0.01)
            running = queued.get(f"/api/queue/{first}").json()
            assert running["state"] == "running" and running["position"] == 0
            assert 0 < running["expected_wait_s"] <= 10.0
            waiting = queued.get(f"/api/queue/{second}").json()
            # Next in line: it starts when the running job ends, then takes a job's time.
            assert (waiting["state"], waiting["position"]) == ("waiting", 1)
            assert waiting["expected_wait_s"] == pytest.approx(running["expected_wait_s"] + 10.0, abs=0.2)
            status = queued.get("/api/status").json()
            assert (status["running"], status["waiting"]) == (1, 1)
            assert status["expected_wait_s"] == pytest.approx(waiting["expected_wait_s"] + 10.0, abs=0.2)
            _assert_error(queued.get("/api/queue/no-such-ticket-000000"), 404, "not_found", "no upload")
            _assert_error(queued.post("/api/busts?ticket=short", files={"photo": ("a.png", photo, "image/png")}),
                          422, "invalid_request", "ticket")
        finally:
            executor.finish(_FAKE_RESULT)  # a failed check must not leave the uploads hanging
            for thread in threads:
                thread.join(10)
        assert [answers[t].status_code for t in (first, second)] == [201, 201]
        _assert_error(queued.get(f"/api/queue/{first}"), 404, "not_found", "forgotten once answered")


def test_api_pages_use_only_local_assets_and_they_are_served(client):
    # /docs and /redoc must work offline like the page: no CDN in their HTML, every asset here.
    for path, kinds in (("/docs", ("javascript", "css")), ("/redoc", ("javascript",))):
        page = client.get(path)
        assert page.status_code == 200
        assets = re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]+)['"]""", page.text)
        assert "http" not in " ".join(assets) and "cdn" not in page.text.lower(), (path, assets)
        assert len(assets) >= len(kinds) + 1, (path, assets)  # scripts, style and icon
        for asset in assets:
            assert asset.startswith("/"), (path, asset)
            response = client.get(asset)
            assert response.status_code == 200 and len(response.content) > 1000 or asset.endswith(".svg"), asset
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "http" not in policy
    assert "/openapi.json" in client.get("/docs").text


def test_load_client_over_http_retries_503s_and_loses_nothing(photo):
    """The load test's client against a real (uvicorn) server whose one worker is slow."""
    import socket

    uvicorn = pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")
    from realtime.tools.web_load import run_load

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app = create_app(ServeOptions(queue=0), executor=_SlowExecutor(FAKE_JOB_S), workers=1)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        app.state.service.job_seconds = FAKE_JOB_S  # Retry-After from the fake's job time, not the default
        result = run_load(f"http://127.0.0.1:{sock.getsockname()[1]}", uploads=4, clients=2, photos=[photo])
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    assert (result.done, result.failures, result.busy_without_retry_after) == (4, [], 0)
    assert result.busy_503 >= 1
    # The STL comes before the later formats, each of which the client downloaded.
    assert len(result.all_s) == 4 and all(first < every for first, every in zip(result.upload_s, result.all_s))


# ---- page, assets, documentation, options ---------------------------------------------------


def test_load_tool_times_the_job_split_in_two(photo):
    from realtime.tools.web_load import split_cpu

    split = split_cpu(photo, repeats=1)
    assert 0 < split["first_part_cpu_s"] < split["two_parts_cpu_s"]
    assert 0 < split["answer_share"] < 1


def test_page_and_vendored_three_js_are_served_with_a_strict_policy(client):
    page = client.get("/")
    assert page.status_code == 200 and "Make my bust" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "vendor/three.module.min.js", "vendor/three.core.min.js",
                 "vendor/OrbitControls.js", "vendor/STLLoader.js"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200, name
        assert "javascript" in response.headers["content-type"]


def test_page_scripts_import_only_local_files():
    # Offline: no CDN, and no bare 'three' that would need an import map.
    for path in [STATIC_DIR / "app.js", *sorted((STATIC_DIR / "vendor").glob("*.js"))]:
        code = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)  # doc comments show 'three/addons/...'
        targets = re.findall(r"""(?:\bfrom|\bimport)\s*\(?\s*['"]([\w@.:/-]+)['"]""", code)
        assert targets or path.name in ("three.core.min.js",), path.name
        for target in targets:
            assert target.startswith("./"), f"{path.name} imports {target}"


def test_openapi_documents_the_upload_and_its_errors(client):
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/api/busts"]["post"]
    schema = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(schema["properties"]) >= {"photo", "style", "height_mm", "label"}
    assert set(post["responses"]) >= {"201", "400", "413", "422", "503"}
    assert "/api/busts/{bust_id}/files/{name}" in spec["paths"]
    # The answer with the STL: each format's state, the wait for the rest, a pending download's 503.
    answer = spec["components"]["schemas"]["BustCreated"]["properties"]
    assert {"formats", "complete", "errors"} <= set(answer) and "pending" in answer["formats"]["description"]
    assert [p["name"] for p in spec["paths"]["/api/busts/{bust_id}"]["get"]["parameters"]] == ["bust_id", "wait_s"]
    download = spec["paths"]["/api/busts/{bust_id}/files/{name}"]["get"]["responses"]
    assert "not_ready" in download["503"]["description"] and "export_failed" in download["500"]["description"]


def test_serve_flags_default_to_loopback_and_a_20_mb_limit():
    import argparse

    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    options = options_from_args(parser.parse_args([]))
    assert options == ServeOptions()
    assert (options.host, options.port, options.max_upload_mb, options.ray) == ("127.0.0.1", 8000, 20.0, None)
    options = options_from_args(parser.parse_args(["--workers", "3", "--queue", "5", "--ray", "auto"]))
    assert (options.workers, options.queue, options.ray) == (3, 5, "auto")
    assert (options.body_timeout_s, options.max_results_mb) == (60.0, 1024.0)
    options = options_from_args(parser.parse_args(["--body-timeout-s", "5", "--max-results-mb", "200"]))
    assert (options.body_timeout_s, options.max_results_mb) == (5.0, 200.0)
    from realtime.errors import InputError

    for flag in ("--body-timeout-s", "--max-results-mb"):
        with pytest.raises(InputError, match=f"{flag} 0.0: must be a positive number"):
            options_from_args(parser.parse_args([flag, "0"]))


# ---- the answer with the STL, the other formats after it -------------------------------------


LATER_FORMATS = {"3mf", "glb", "obj"}


def test_a_job_in_two_parts_makes_the_same_files_as_in_one(photo):
    """``run_web_job`` with the STL first hands back a ``LaterExport`` that survives pickling
    (it crosses processes) and ``export_later`` makes exactly the files it named."""
    import pickle

    first = bustjob.run_web_job(bustjob.WebJob(photo), first_formats=bustjob.FIRST_FORMATS)
    assert first.ok, first.message
    assert sorted(first.files) == ["bust.stl"]
    assert first.later.formats == ("3mf", "glb", "obj")
    assert len(pickle.dumps(first.later)) < 10 * MB  # slimmed: trimesh's caches stay behind
    later = bustjob.export_later(pickle.loads(pickle.dumps(first.later)))
    assert later.ok, later.message
    assert sorted(later.files) == sorted(first.later.files)
    assert set(later.files) == {"bust.3mf", "bust.glb", "bust.obj", "bust.mtl", "bust_texture.png"}
    assert later.report["timings_ms"]["export_later"] > 0
    stl = trimesh.load(io.BytesIO(first.files["bust.stl"]), file_type="stl")
    three_mf = trimesh.load(io.BytesIO(later.files["bust.3mf"]), file_type="3mf", force="mesh")
    assert three_mf.volume == pytest.approx(stl.volume, rel=1e-3)


class _LaterHeldExecutor:
    """Real jobs on threads, with a test hook: the later formats' export (``export_later``)
    waits until ``release`` is called."""

    def __init__(self):
        self.pool = concurrent.futures.ThreadPoolExecutor(2)
        self.gate = threading.Event()
        self.later_started = threading.Event()

    def submit(self, fn, *args):
        if fn is not bustjob.export_later:
            return self.pool.submit(fn, *args)

        def held():
            self.later_started.set()
            assert self.gate.wait(60), "the test never released the later formats"
            return fn(*args)

        return self.pool.submit(held)

    def release(self):
        self.gate.set()


def test_the_answer_comes_with_the_stl_and_the_other_formats_follow(photo):
    executor = _LaterHeldExecutor()
    app = create_app(ServeOptions(), executor=executor, workers=1)
    try:
        with TestClient(app, base_url=BASE_URL) as served:
            response = _post(served, photo)
            assert response.status_code == 201, response.text
            body = response.json()
            assert body["formats"] == {"stl": "ready", "3mf": "pending", "glb": "pending", "obj": "pending"}
            assert body["complete"] is False and body["errors"] == {}
            assert set(body["extras"]) == {"mtl", "texture"}  # named before they exist
            assert executor.later_started.wait(10), "the later formats were never started"
            folder = app.state.service.results / body["id"]
            assert sorted(path.name for path in folder.iterdir()) == ["bust.stl", "result.json"]
            # The STL downloads at once and is the whole solid.
            stl = served.get(body["files"]["stl"])
            assert stl.status_code == 200
            assert trimesh.load(io.BytesIO(stl.content), file_type="stl").is_watertight
            # The job keeps its worker while it writes the rest: a second upload would wait.
            status = served.get("/api/status").json()
            assert (status["running"], status["finishing"]) == (1, 1)
            assert served.get(f"/api/busts/{body['id']}").json()["complete"] is False
            # A download of a pending format waits for it.
            downloads: dict = {}
            waiting = threading.Thread(target=lambda: downloads.update(obj=served.get(body["files"]["obj"])))
            waiting.start()
            time.sleep(0.3)
            assert waiting.is_alive(), "the pending OBJ was answered before it was written"
            executor.release()
            waiting.join(60)
            assert downloads["obj"].status_code == 200 and downloads["obj"].content.startswith(b"# selfie3d")
            done = served.get(f"/api/busts/{body['id']}", params={"wait_s": 30}).json()
            assert done["complete"] is True and set(done["formats"].values()) == {"ready"}
            for fmt in LATER_FORMATS:
                assert served.get(body["files"][fmt]).status_code == 200, fmt
            for url in body["extras"].values():
                assert served.get(url).status_code == 200
            status = served.get("/api/status").json()
            assert (status["running"], status["finishing"]) == (0, 0)
            assert status["stored_mb"] > 3.0  # the later formats count toward the storage cap
    finally:
        executor.release()
        executor.pool.shutdown()


def _later_result(files=("bust.3mf", "bust.glb", "bust.obj")) -> bustjob.WebJobResult:
    """A first part whose later formats are the fake files below."""
    later = bustjob.LaterExport(None, tuple(sorted(LATER_FORMATS)), files)
    return bustjob.WebJobResult(bustjob.OK, files={"bust.stl": b"solid"}, report={}, later=later)


class _TwoPartExecutor:
    """A fake bust in two parts: the STL at once, the later formats (``later_files``) when
    ``release`` is called (at once without a gate), or a failure."""

    def __init__(self, later_files: dict[str, bytes], gated: bool = False, fail: str | None = None):
        self.later_files, self.fail = later_files, fail
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.pool = concurrent.futures.ThreadPoolExecutor(1)

    def submit(self, fn, *args):
        if fn is not bustjob.export_later:
            future: concurrent.futures.Future = concurrent.futures.Future()
            future.set_result(_later_result())
            return future

        def later():
            assert self.gate.wait(60)
            if self.fail:
                return bustjob.WebJobResult(bustjob.UNPRINTABLE, self.fail)
            return bustjob.WebJobResult(bustjob.OK, files=self.later_files, seconds=0.1)

        return self.pool.submit(later)


_FAKE_LATER = {"bust.3mf": b"3mf", "bust.glb": b"glb", "bust.obj": b"obj"}


def test_a_format_still_pending_past_the_wait_is_503_not_ready(photo, monkeypatch):
    from realtime.apps.web import server

    monkeypatch.setattr(server, "LATER_WAIT_MAX_S", 0.2)
    executor = _TwoPartExecutor(_FAKE_LATER, gated=True)
    with TestClient(create_app(ServeOptions(), executor=executor, workers=1), base_url=BASE_URL) as served:
        body = _post(served, photo).json()
        response = served.get(body["files"]["glb"])
        _assert_error(response, 503, "not_ready", "still being written")
        assert response.headers["retry-after"] == "1"
        assert served.get(body["files"]["stl"]).content == b"solid"
        executor.gate.set()
        later = served.get(body["files"]["glb"])
        assert later.content == b"glb", later.text


def test_a_bust_deleted_or_expired_while_its_later_formats_are_written_gets_none(photo):
    executor = _TwoPartExecutor(_FAKE_LATER, gated=True)
    app = create_app(ServeOptions(keep_minutes=1.0), executor=executor, workers=1)
    with TestClient(app, base_url=BASE_URL) as served:
        service = app.state.service
        deleted = _post(served, photo).json()["id"]
        assert served.delete(f"/api/busts/{deleted}").status_code == 204
        executor.gate.set()
        _wait(lambda: not service.running, "the later formats to end")
        assert not (service.results / deleted).exists()
        executor.gate.clear()
        expired = _post(served, photo).json()["id"]
        assert service.sweep(now=time.monotonic() + 61.0) == 1
        waiting = served.get(f"/api/busts/{expired}/files/bust.3mf")  # forgotten: no wait, no file
        _assert_error(waiting, 404, "not_found", "no such bust")
        executor.gate.set()
        _wait(lambda: not service.running, "the later formats to end")
        assert not (service.results / expired).exists()
        assert service.finished == {} and service.stored_bytes == 0


def test_a_failed_later_format_is_reported_and_its_download_says_why(photo):
    executor = _TwoPartExecutor(_FAKE_LATER, fail="the 3mf, glb, obj export failed (disk full)")
    app = create_app(ServeOptions(), executor=executor, workers=1)
    with TestClient(app, base_url=BASE_URL) as served:
        body = _post(served, photo).json()
        done = served.get(f"/api/busts/{body['id']}", params={"wait_s": 10}).json()
        assert done["complete"] is True
        assert done["formats"] == {"stl": "ready", "3mf": "failed", "glb": "failed", "obj": "failed"}
        assert "disk full" in done["errors"]["obj"]
        _assert_error(served.get(body["files"]["3mf"]), 500, "export_failed", "disk full")
        assert served.get(body["files"]["stl"]).status_code == 200
        assert served.get("/api/status").json()["running"] == 0


def test_the_storage_cap_counts_the_later_formats(photo):
    size = 300 * 1024  # each later file; three per bust: 0.9 MB, over a 1 MB cap with the next one
    executor = _TwoPartExecutor({name: b"\0" * size for name in _FAKE_LATER})
    app = create_app(ServeOptions(max_results_mb=1.0), executor=executor, workers=1)
    with TestClient(app, base_url=BASE_URL) as served:
        first = _post(served, photo).json()["id"]
        assert served.get(f"/api/busts/{first}", params={"wait_s": 10}).json()["complete"] is True
        assert app.state.service.stored_bytes > 3 * size
        second = _post(served, photo).json()["id"]
        assert served.get(f"/api/busts/{second}", params={"wait_s": 10}).json()["complete"] is True
        _wait(lambda: first not in app.state.service.finished, "the oldest bust to be evicted")
        _assert_error(served.get(f"/api/busts/{first}"), 404, "not_found", "no such bust")
        assert not (app.state.service.results / first).exists()
        assert served.get(f"/api/busts/{second}/files/bust.3mf").status_code == 200


def test_answer_after_all_answers_with_every_format_written(client, photo):
    executor = _LaterHeldExecutor()
    app = create_app(ServeOptions(answer_after="all"), executor=executor, workers=1)
    try:
        with TestClient(app, base_url=BASE_URL) as served:
            body = _post(served, photo).json()
            assert body["complete"] is True and set(body["formats"].values()) == {"ready"}
            assert not executor.later_started.is_set()  # one call did it all
            assert (app.state.service.results / body["id"] / "bust.glb").is_file()
    finally:
        executor.pool.shutdown()


def _wait(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# ---- stand-in executors ---------------------------------------------------------------------


class _NeverExecutor:
    """For tests that must be refused before any job runs."""

    def submit(self, fn, *args):
        raise AssertionError("no job should have been submitted")


_FAKE_RESULT = bustjob.WebJobResult(bustjob.OK, files={"bust.stl": b"solid", "bust.3mf": b"3mf", "bust.glb": b"glb",
                                                      "bust.obj": b"obj"}, report={"landmarks68": []}, seconds=0.1)


class _InstantExecutor:
    """Answers every job at once with a tiny fake bust (or the given files)."""

    def __init__(self, files: dict[str, bytes] | None = None):
        self.files = files or {"bust.stl": b"solid"}

    def submit(self, fn, *args):
        future: concurrent.futures.Future = concurrent.futures.Future()
        future.set_result(bustjob.WebJobResult(bustjob.OK, files=self.files, report={}))
        return future


class _SlowExecutor:
    """One worker thread; every job takes ``seconds`` and makes a tiny fake STL, then as long
    again for tiny fake later formats."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.pool = concurrent.futures.ThreadPoolExecutor(1)

    def submit(self, fn, *args):
        def job():
            time.sleep(self.seconds)
            return bustjob.WebJobResult(bustjob.OK, files={"bust.stl": b"\0" * 84}, report={}, seconds=self.seconds,
                                        later=_later_result().later)

        def later():
            time.sleep(self.seconds)
            return bustjob.WebJobResult(bustjob.OK, files=_FAKE_LATER, seconds=self.seconds)

        return self.pool.submit(later if fn is bustjob.export_later else job)


class _HeldExecutor:
    """Holds every job it gets until the test calls ``finish``; counts them."""

    def __init__(self):
        self.future: concurrent.futures.Future = concurrent.futures.Future()
        self.submitted = threading.Event()
        self.count = 0

    def submit(self, fn, *args):
        self.count += 1
        self.submitted.set()
        return self.future

    def finish(self, result) -> None:
        if not self.future.done():
            self.future.set_result(result)


# ---- starting the server: the port ----------------------------------------------------------


def _serve_cli(*args, **kwargs):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "realtime", "serve", *args], capture_output=True, text=True,
                          timeout=120, **kwargs)


@pytest.mark.parametrize("port", ["70000", "0", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error_before_anything_starts(port):
    result = _serve_cli("--port", port)
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("selfie3d serve: error: argument --port: ")
    with pytest.raises(Exception, match="a TCP port is 1-65535"):
        ServeOptions(port=70000)


def _occupied_port():
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


def test_a_port_in_use_is_one_line_and_serving_is_never_announced():
    sock, port = _occupied_port()
    try:
        result = _serve_cli("--port", str(port))
    finally:
        sock.close()
    assert result.returncode == 2
    assert result.stdout == ""  # no "serving on" for a server that never served
    assert result.stderr.splitlines() == [
        f"selfie3d: error: port {port} on 127.0.0.1 is in use (Address already in use): another program "
        "(or another selfie3d serve) listens there; stop it or choose another --port"]


def test_listen_sockets_explains_what_cannot_be_bound():
    from realtime.errors import InputError, Selfie3DError
    from realtime.apps.web.serve import listen_sockets

    sock, port = _occupied_port()
    try:
        with pytest.raises(Selfie3DError, match=f"port {port} on 127.0.0.1 is in use"):
            listen_sockets("127.0.0.1", port)
    finally:
        sock.close()
    with pytest.raises(InputError, match="--host no-such-host.invalid: not an address or a name"):
        listen_sockets("no-such-host.invalid", 8000)
    [free] = listen_sockets("127.0.0.1", port)  # the port is free again: bound, not yet listening
    try:
        assert free.getsockname() == ("127.0.0.1", port)
    finally:
        free.close()


def test_an_app_that_fails_to_start_is_one_error_line(monkeypatch, capfd):
    # uvicorn logs the start-up failure's traceback and calls sys.exit(3); it becomes one line.
    import argparse
    import contextlib

    from fastapi import FastAPI

    from realtime.errors import Selfie3DError
    from realtime.apps.web import serve, server

    @contextlib.asynccontextmanager
    async def failing(app):
        raise Selfie3DError("no Ray cluster at 'ray://head:10001'")
        yield

    monkeypatch.setattr(server, "create_app", lambda options: FastAPI(lifespan=failing))
    sock, port = _occupied_port()
    sock.close()  # a free port
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    with pytest.raises(Selfie3DError) as caught:
        serve.run_serve(parser.parse_args(["--port", str(port)]))
    assert str(caught.value) == "the web server did not start: no Ray cluster at 'ray://head:10001'"
    captured = capfd.readouterr()
    assert "serving on" not in captured.out
    assert "Traceback" not in captured.err and "ERROR" not in captured.err


def test_serve_announces_itself_answers_and_stops_on_ctrl_c():
    import signal
    import subprocess
    import sys
    import urllib.request

    sock, port = _occupied_port()
    sock.close()
    app = subprocess.Popen([sys.executable, "-m", "realtime", "serve", "--port", str(port), "--workers", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = app.stdout.readline()  # printed once the server listens
        assert line.startswith(f"selfie3d: serving on http://127.0.0.1:{port}/"), line + app.stderr.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=30) as response:
            assert response.status == 200
        app.send_signal(signal.SIGINT)
        assert app.wait(timeout=60) == 0
        assert app.stderr.read() == ""
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()


def test_a_bug_is_answered_with_the_json_error_not_plain_text(photo):
    class Broken:
        def submit(self, fn, *args):
            raise ZeroDivisionError("a bug")

    with TestClient(create_app(ServeOptions(), executor=Broken(), workers=1), base_url=BASE_URL,
                    raise_server_exceptions=False) as broken:
        _assert_error(_post(broken, photo), 500, "worker_failed", "ZeroDivisionError")

    def failing_write(self, result):
        raise FileNotFoundError("the results folder is gone")

    app = create_app(ServeOptions(), executor=_InstantExecutor(), workers=1)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as failing:
        app.state.service.write_result = failing_write.__get__(app.state.service)
        response = _post(failing, photo)
        _assert_error(response, 500, "internal", "FileNotFoundError")
        assert response.headers["content-type"] == "application/json"
