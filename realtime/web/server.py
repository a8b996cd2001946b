"""The web service: a photo in over HTTP, a bust's files out, and the page that drives it.

``create_app(options, executor=None)`` returns a FastAPI app. ``POST /api/busts`` reads the
multipart upload under a byte limit as it arrives, checks the photo's header (a known image
format, a bounded pixel count), and runs a ``realtime.web.bustjob.WebJob`` on the executor — a
local process pool or Ray — off the event loop. At most ``workers`` jobs run at once and
``queue`` more wait; past that an upload gets 503 with a Retry-After estimated from recent
job times. Results live under server-made ids in a private temporary folder and are deleted
``keep_minutes`` after they were made (or on ``DELETE``, or when the server stops). Every error
is JSON ``{"error": code, "message": text}`` with a fitting status. The page (``static/``)
and its three.js copy are served from the package, so it works offline.

In: ``ServeOptions`` (see ``realtime.web.serve``). Out: an ASGI app for uvicorn (or the test client).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import json
import math
import multiprocessing
import os
import re
import secrets
import shutil
import tempfile
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.middleware.trustedhost import TrustedHostMiddleware

from realtime.errors import InputError
from realtime.web import bustjob
from realtime.web.serve import ServeOptions

STATIC_DIR = Path(__file__).parent / "static"

MB = 1 << 20
FORM_OVERHEAD_BYTES = 64 * 1024
"""Body bytes allowed beyond the photo limit: multipart boundaries, part headers, small fields."""
FIELD_MAX_BYTES = 1024
"""Largest non-file form field (style, height, label): anything bigger is not one of ours."""
MAX_FORM_PARTS = 8
"""Form fields plus files per upload: four fields and a photo, with room for a client's extras."""
MAX_LABEL_CHARS = 32
"""Longest label: the plinth of an 80 mm bust fits about this many Hershey capitals."""
IMAGE_SUFFIXES = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}
"""Pillow's format name -> the suffix the job's file gets: formats both Pillow and OpenCV decode."""
ID_LENGTH = 16
"""Characters of a result id: 96 random bits in URL-safe base64, not guessable."""
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{%d}" % ID_LENGTH)
FILE_PATTERN = re.compile(r"%s(?:_texture)?\.[a-z0-9]{2,4}" % bustjob.STEM)
DEFAULT_JOB_SECONDS = 5.0
"""Job time assumed for Retry-After before the first job has finished (a bust takes 2-5 s a core)."""
JOB_SECONDS_SMOOTHING = 0.2
"""Weight of the newest job in the running mean of job time (Retry-After estimate)."""
RETRY_AFTER_MAX_S = 120
"""Retry-After cap, s: a client should look again within two minutes whatever the backlog."""
SWEEP_MAX_S = 60.0
"""Longest pause between two sweeps for expired results, s."""
MEDIA_TYPES = {".stl": "model/stl", ".3mf": "model/3mf", ".glb": "model/gltf-binary", ".obj": "model/obj",
               ".mtl": "text/plain", ".png": "image/png", ".jpg": "image/jpeg"}
STATUS_OF_KIND = {bustjob.NOT_AN_IMAGE: 400, bustjob.NO_FACE: 422, bustjob.UNPRINTABLE: 422, bustjob.INTERNAL: 500}
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
CONTENT_POLICY = (b"content-security-policy",
                  # The page runs only its own scripts (three.js is vendored) and shows the photo from blob:.
                  b"default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
                  b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
FRAMEWORK_DOC_PATHS = ("/docs", "/redoc")
"""FastAPI's own API pages load Swagger UI / ReDoc from a CDN: no content policy there."""
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


class BustCreated(BaseModel):
    id: str
    files: dict[str, str]  # format -> URL: stl, 3mf, glb, obj
    extras: dict[str, str]  # OBJ companions: mtl, texture
    report: dict[str, Any]  # landmarks68 (pixels), box, pd_mm, face_width_mm, print_checks, image_size, timings_ms


class ErrorBody(BaseModel):
    error: str  # machine-readable code: not_an_image, too_large, no_face, busy, ...
    message: str  # one line for a person


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class _TooLarge(Exception):
    pass


UPLOAD_SCHEMA = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["photo"], "properties": {
        "photo": {"type": "string", "format": "binary", "description": "JPEG, PNG, WebP, BMP or TIFF photo"},
        "style": {"type": "string", "enum": ["bust", "relief", "mask"], "default": "bust"},
        "height_mm": {"type": "number", "default": 80, "minimum": 20, "maximum": 500,
                      "description": "printed height, millimetres"},
        "label": {"type": "string", "maxLength": MAX_LABEL_CHARS,
                  "pattern": "^[ -~]*$",
                  "description": "text engraved on the plinth or plaque (printable ASCII; not for mask; "
                                 "refused if the print is too small for 2 mm letters)"},
        "expression": {"type": "string", "enum": ["neutral", "current"], "default": "neutral"},
    }}}}}}
ERROR_RESPONSES = {
    400: {"model": ErrorBody, "description": "not an image, or not a multipart upload with a 'photo'"},
    413: {"model": ErrorBody, "description": "upload or image larger than the limits"},
    422: {"model": ErrorBody, "description": "no face in the photo, invalid options, or no printable solid"},
    503: {"model": ErrorBody, "description": "busy: every worker and queue place taken; see Retry-After"},
}


class BustService:
    """Admission, job running and result storage of one server (lives on the event loop)."""

    def __init__(self, options: ServeOptions, executor, workers: int, owns_executor: bool):
        self.options = options
        self.executor = executor
        self.owns_executor = owns_executor
        self.workers = workers
        self.queue = options.queue if options.queue is not None else 4 * workers
        self.results = Path(tempfile.mkdtemp(prefix="selfie3d-web-"))
        self.admitted = 0  # requests holding a place: running, waiting, or uploading
        self.running = 0
        self.job_seconds = DEFAULT_JOB_SECONDS
        self.finished: dict[str, float] = {}  # id -> time.monotonic() when made
        self.slots = asyncio.Semaphore(workers)

    @property
    def capacity(self) -> int:
        return self.workers + self.queue

    def try_admit(self) -> bool:
        if self.admitted >= self.capacity:
            return False
        self.admitted += 1
        return True

    def release(self) -> None:
        self.admitted -= 1

    def retry_after_s(self) -> int:
        """Seconds until a place is likely free: the backlog over the workers, one job each."""
        backlog = max(self.admitted - self.workers, 0) + 1
        return int(min(max(math.ceil(self.job_seconds * backlog / self.workers), 1), RETRY_AFTER_MAX_S))

    async def run(self, job: bustjob.WebJob) -> bustjob.WebJobResult:
        async with self.slots:
            self.running += 1
            try:
                future = self.executor.submit(bustjob.run_web_job, job, self.options.debug)
                result = await asyncio.wrap_future(future)
            except BrokenProcessPool:
                self._replace_broken_pool()
                raise ApiError(500, "worker_failed", "the worker process died (out of memory?); try again") from None
            except Exception as error:  # a Ray task or node that died
                raise ApiError(500, "worker_failed", f"the job's worker failed ({type(error).__name__}); "
                                                     "try again") from None
            finally:
                self.running -= 1
        self.job_seconds += JOB_SECONDS_SMOOTHING * (result.seconds - self.job_seconds)
        return result

    def _replace_broken_pool(self) -> None:
        if self.owns_executor and isinstance(self.executor, concurrent.futures.ProcessPoolExecutor):
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = make_local_pool(self.workers)

    def store(self, result: bustjob.WebJobResult) -> dict:
        """Write the files under a new id; return the API's JSON for them."""
        from realtime.fileio import write_bytes_atomic

        bust_id = secrets.token_urlsafe(ID_LENGTH * 3 // 4)
        folder = self.results / bust_id
        folder.mkdir()
        for name, data in result.files.items():
            if FILE_PATTERN.fullmatch(name):
                write_bytes_atomic(folder / name, data)
        body = describe(bust_id, sorted(result.files), result.report)
        write_bytes_atomic(folder / "result.json", json.dumps(body).encode())
        return body

    def folder(self, bust_id: str) -> Path:
        if not ID_PATTERN.fullmatch(bust_id) or not (self.results / bust_id).is_dir():
            raise ApiError(404, "not_found", f"no such bust (results are kept for {self.options.keep_minutes:g} minutes)")
        return self.results / bust_id

    def sweep(self, now: float | None = None) -> int:
        """Delete results older than ``keep_minutes``; returns how many went."""
        now = time.monotonic() if now is None else now
        expired = [i for i, made in self.finished.items() if now - made > 60.0 * self.options.keep_minutes]
        for bust_id in expired:
            self.delete(bust_id)
        return len(expired)

    def delete(self, bust_id: str) -> None:
        self.finished.pop(bust_id, None)
        shutil.rmtree(self.results / bust_id, ignore_errors=True)

    def close(self) -> None:
        if self.owns_executor:
            close_executor(self.executor)
        shutil.rmtree(self.results, ignore_errors=True)


def describe(bust_id: str, names: list[str], report: dict) -> dict:
    """The API's answer for a stored bust: a URL per format and per OBJ companion."""
    base = f"/api/busts/{bust_id}/files/"
    files = {fmt: base + f"{bustjob.STEM}.{fmt}" for fmt in bustjob.EXPORT_FORMATS}
    extras = {("texture" if not name.endswith(".mtl") else "mtl"): base + name for name in names
              if Path(name).suffix[1:] not in bustjob.EXPORT_FORMATS}
    return {"id": bust_id, "files": files, "extras": extras, "report": report}


def _warm_worker() -> None:
    """Pool worker start: single-threaded numerics, and the face networks loaded before the first job."""
    from realtime.jobs import PhotoJob, limit_threads, photo_reconstructor

    limit_threads()
    photo_reconstructor(PhotoJob("", ""))


def make_local_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    # spawn, not fork: the server process has threads (uvicorn, the thread pool) a fork would copy mid-state.
    return concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=_warm_worker)


def make_executor(options: ServeOptions):
    """(executor, jobs at once) for the options: Ray with ``ray``, else a local process pool."""
    if options.ray:
        from realtime.ray_executor import RayExecutor

        executor = RayExecutor(None if options.ray == "local" else options.ray, options.debug)
        return executor, options.workers or executor.workers
    workers = options.workers or os.cpu_count() or 1
    return make_local_pool(workers), workers


def close_executor(executor) -> None:
    if isinstance(executor, concurrent.futures.Executor):
        executor.shutdown(wait=True, cancel_futures=True)
    else:
        executor.close()


def create_app(options: ServeOptions = ServeOptions(), executor=None, workers: int | None = None) -> FastAPI:
    """The app. ``executor`` (anything with ``submit(fn, *args) -> Future``) replaces the one the
    options would make; then ``workers`` (default ``options.workers`` or 1) is how many run at once."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if executor is None:
            made, count = make_executor(options)  # on the main thread (Ray sets signal handlers); nothing is served yet
            service = BustService(options, made, count, owns_executor=True)
        else:
            service = BustService(options, executor, workers or options.workers or 1, owns_executor=False)
        app.state.service = service
        sweeper = asyncio.create_task(_sweep_forever(service))
        try:
            yield
        finally:
            sweeper.cancel()
            await run_in_threadpool(service.close)

    app = FastAPI(title="selfie3d", version="1", lifespan=lifespan,
                  description="A photo in, a printable 3D bust out (STL, 3MF, GLB, OBJ).")
    if options.host in LOOPBACK_HOSTS:
        # A page elsewhere must not reach a localhost server through a rebound DNS name.
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "[::1]"])
    app.add_middleware(_SecurityHeaders)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError):
        return JSONResponse({"error": error.code, "message": error.message}, error.status, headers=error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return JSONResponse({"error": code, "message": str(error.detail)}, error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError):
        return JSONResponse({"error": "invalid_request", "message": str(error.errors()[:1])}, 422)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/api/status", summary="Limits and load")
    async def status(request: Request) -> dict:
        service: BustService = request.app.state.service
        return {"max_upload_bytes": int(options.max_upload_mb * MB), "max_pixels": options.max_pixels,
                "max_label_chars": MAX_LABEL_CHARS, "workers": service.workers, "queue": service.queue,
                "running": service.running, "waiting": max(service.admitted - service.running, 0),
                "executor": "ray" if options.ray else "local", "keep_minutes": options.keep_minutes}

    @app.post("/api/busts", status_code=201, response_model=BustCreated, responses=ERROR_RESPONSES,
              openapi_extra=UPLOAD_SCHEMA, summary="Make a bust from a photo")
    async def create_bust(request: Request):
        """Upload a photo (multipart field ``photo``); get the bust's file URLs and the face report."""
        service: BustService = request.app.state.service
        limit = int(options.max_upload_mb * MB)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD_BYTES:
            raise _too_large(limit)
        if not service.try_admit():
            await _drain(request, limit + FORM_OVERHEAD_BYTES)  # so the client reads the 503, not a reset
            retry = service.retry_after_s()
            raise ApiError(503, "busy", f"the server is busy ({service.running} busts in the making, "
                                        f"{service.admitted - service.running} waiting); try again in {retry} s",
                           {"Retry-After": str(retry)})
        try:
            job = await _read_job(request, limit, options.max_pixels)
            result = await service.run(job)
            if not result.ok:
                raise ApiError(STATUS_OF_KIND.get(result.kind, 500), result.kind, result.message)
            body = await run_in_threadpool(service.store, result)
            service.finished[body["id"]] = time.monotonic()
            return JSONResponse(body, 201, headers={"Location": f"/api/busts/{body['id']}"})
        finally:
            service.release()

    @app.get("/api/busts/{bust_id}", response_model=BustCreated, responses={404: {"model": ErrorBody}},
             summary="A bust made earlier")
    async def get_bust(bust_id: str, request: Request):
        folder = request.app.state.service.folder(bust_id)
        return JSONResponse(json.loads((folder / "result.json").read_text()))

    @app.get("/api/busts/{bust_id}/files/{name}", responses={404: {"model": ErrorBody}},
             summary="One of a bust's files (bust.stl, bust.3mf, bust.glb, bust.obj, bust.mtl, bust texture)")
    async def get_file(bust_id: str, name: str, request: Request):
        folder = request.app.state.service.folder(bust_id)
        if not FILE_PATTERN.fullmatch(name) or not (folder / name).is_file():
            raise ApiError(404, "not_found", f"this bust has no file {name!r}")
        suffix = Path(name).suffix
        return FileResponse(folder / name, media_type=MEDIA_TYPES.get(suffix, "application/octet-stream"),
                            filename=name)

    @app.delete("/api/busts/{bust_id}", status_code=204, responses={404: {"model": ErrorBody}},
                summary="Delete a bust's files now")
    async def delete_bust(bust_id: str, request: Request):
        service: BustService = request.app.state.service
        service.folder(bust_id)
        service.delete(bust_id)
        return Response(status_code=204)

    return app


async def _sweep_forever(service: BustService) -> None:
    pause = min(max(60.0 * service.options.keep_minutes / 4, 1.0), SWEEP_MAX_S)
    while True:
        await asyncio.sleep(pause)
        await run_in_threadpool(service.sweep)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"the upload is larger than the {limit / MB:.3g} MB limit; "
                                      "use a smaller photo (a few megapixels are plenty)")


async def _limited(request: Request, limit: int):
    """The request body, chunk by chunk, stopping as soon as it passes ``limit`` bytes."""
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _TooLarge
        yield chunk


async def _drain(request: Request, limit: int) -> None:
    with contextlib.suppress(Exception):
        async for _ in _limited(request, limit):
            pass


async def _read_job(request: Request, limit: int, max_pixels: int) -> bustjob.WebJob:
    """Parse and check the upload: the photo under the limits, a known image format, valid options."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(400, "not_multipart", "send the photo as multipart/form-data in a field named 'photo'")
    parser = MultiPartParser(request.headers, _limited(request, limit + FORM_OVERHEAD_BYTES),
                             max_files=1, max_fields=MAX_FORM_PARTS, max_part_size=FIELD_MAX_BYTES)
    try:
        form = await parser.parse()
    except _TooLarge:
        raise _too_large(limit) from None
    except MultiPartException as error:
        raise ApiError(400, "bad_form", f"the upload is not a valid form ({error.message})") from None
    try:
        photo = form.get("photo")
        if not isinstance(photo, UploadFile):
            raise ApiError(400, "no_photo", "no photo: send the image file in the multipart field 'photo'")
        data = await photo.read(limit + 1)
        if len(data) > limit:
            raise _too_large(limit)
        suffix = await run_in_threadpool(image_suffix, data, max_pixels)
        style = _text(form, "style") or "bust"
        expression = _text(form, "expression") or "neutral"
        label = _text(form, "label") or None
        height_text = _text(form, "height_mm") or "80"
    finally:
        await form.close()
    try:
        height_mm = float(height_text)
    except ValueError:
        raise ApiError(422, "invalid_option", f"height_mm must be a number of millimetres, not {height_text!r}") from None
    if label is not None and len(label) > MAX_LABEL_CHARS:
        raise ApiError(422, "invalid_option", f"the label must be at most {MAX_LABEL_CHARS} plain ASCII characters")
    if label is not None:
        from realtime.printing.solids import check_label

        try:
            check_label(label)  # names the characters the engraving font cannot draw
        except InputError as error:
            raise ApiError(422, "invalid_option", str(error)) from None
    try:
        from realtime.bust import BustOptions

        BustOptions(style=style, height_mm=height_mm, label=label, expression=expression)  # validates
    except InputError as error:
        raise ApiError(422, "invalid_option", str(error).replace("--height-mm", "height_mm")) from None
    return bustjob.WebJob(data, suffix, style, height_mm, label, expression)


def _text(form, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def image_suffix(data: bytes, max_pixels: int) -> str:
    """The file suffix for an upload whose header names a supported image of at most
    ``max_pixels``; raises ``ApiError`` 400 (not an image) or 413 (too many pixels).

    Only the header is read: a 20 MB file can claim a billion pixels, and the decoder must not
    be asked for them. The worker decodes the pixels (``realtime.capture.load_image``)."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ApiError(400, "not_an_image", "the photo is empty")
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, (width, height) = image.format, image.size
    except Image.DecompressionBombError:
        raise ApiError(413, "too_large", f"the image has too many pixels (limit {max_pixels / 1e6:g} megapixels)") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise ApiError(400, "not_an_image", "the file is not an image (JPEG, PNG, WebP, BMP or TIFF)") from None
    if fmt not in IMAGE_SUFFIXES:
        raise ApiError(400, "not_an_image", f"{fmt} images are not supported: use JPEG, PNG, WebP, BMP or TIFF")
    if width * height > max_pixels:
        raise ApiError(413, "too_large", f"the image is {width}x{height} pixels; the limit is "
                                         f"{max_pixels / 1e6:g} megapixels")
    return IMAGE_SUFFIXES[fmt]


class _SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` (and ``CONTENT_POLICY`` but on the API docs) to every response (plain ASGI: no body buffering)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        headers = SECURITY_HEADERS
        if not scope["path"].startswith(FRAMEWORK_DOC_PATHS):
            headers = headers + [CONTENT_POLICY]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
