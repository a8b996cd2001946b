"""The web service: a photo in over HTTP, a bust's files out, and the page that drives it.

``create_app(options, executor=None)`` returns a FastAPI app. ``POST /api/busts`` reads the
multipart upload under a byte limit and a time limit (``body_timeout_s``) as it arrives, checks
the photo's header (a known image format, a bounded pixel count), and only then takes a place
in the queue: a connection that stalls mid-upload holds no place, and is cut when its time is
up. At most ``workers`` jobs run at once (``realtime.apps.web.bustjob.WebJob`` on the executor, a
local process pool or Ray, off the event loop) and ``queue`` more wait in order; past that an
upload gets 503 with a Retry-After estimated from recent job times. A client may name its
upload with a ``ticket`` and ask ``GET /api/queue/{ticket}`` for its place and expected wait. A
queued job whose client has gone is dropped before it starts. Results live under server-made
ids in a folder the server owns, and are deleted ``keep_minutes`` after they were made, when
they pass ``max_results_mb`` together (oldest first), on ``DELETE``, or when the server stops.
Stopping (Ctrl-C) answers every upload in flight with 503 at once and ends the workers.

An upload is answered as soon as its STL is written (``answer_after="stl"``, the default): the
page's preview and the first download need nothing else. The job keeps its worker, which then
writes the other formats (``bustjob.export_later``); the answer's ``formats`` says which are
``ready``, ``pending`` or ``failed``. A download of a pending file waits for it (at most
``LATER_WAIT_MAX_S``, then 503 ``not_ready`` with Retry-After), ``GET /api/busts/{id}?wait_s=``
waits until every format is done, and a bust deleted or expired meanwhile has its later files
discarded. ``answer_after="all"`` answers once every format is written, as before.

Crashes leave nothing behind: the photo is decoded in memory, never written as uploaded; the server's folder
and each worker's are locked for their owner's life (``realtime.apps.web.folders``), so a server
removes a dead worker's folder, and a server started after a ``kill -9`` removes the folders of
the server that died; workers end with the server that started them. Every error is JSON
``{"error": code, "message": text}`` with a fitting status. The page (``static/``), its three.js
copy and the API pages (Swagger UI and ReDoc, from the fastapi-offline package) are served from
the package, so they work offline.

In: ``ServeOptions`` (see ``realtime.apps.web.options``). Out: an ASGI app for uvicorn (or the test client).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import heapq
import io
import json
import math
import os
import re
import secrets
import shutil
import tempfile
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastapi_offline
import uvicorn
from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from realtime.errors import InputError, ModelError
from realtime.printing.vocabulary import DEFAULT_HEIGHT_MM, DEFAULT_STYLE, EXPRESSIONS, HEIGHT_RANGE_MM, STYLES
from realtime.apps.web import bustjob, folders
from realtime.apps.executors import RayExecutor, close_executor, sigint_blocked, spawn_pool, stop_pool  # noqa: F401
from realtime.apps.web.options import ServeOptions

STATIC_DIR = Path(__file__).parent / "static"
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
"""Swagger UI's and ReDoc's files as the fastapi-offline package ships them."""

MB = 1 << 20
FORM_OVERHEAD_BYTES = 64 * 1024
"""Body bytes allowed beyond the photo limit: multipart boundaries, part headers, small fields."""
FIELD_MAX_BYTES = 16 * 1024
"""Largest non-file form field (style, height, label), held in memory: far above any valid value,
so a long label is answered by the label's own check (422), and tiny beside the photo limit."""
MAX_FORM_PARTS = 8
"""Form fields plus files per upload: four fields and a photo, with room for a client's extras."""
MAX_LABEL_CHARS = 32
"""Longest label: the plinth of an 80 mm bust fits about this many Hershey capitals."""
UPLOADS_READING_MAX = 64
"""Uploads whose body is being read at once; past that an upload gets 503 at once. Reading holds
no queue place, so this bounds what readers hold: 1 MB of each in memory (the rest of a photo is
spooled to an unlinked temporary file), and at most ``body_timeout_s`` each."""
IMAGE_SUFFIXES = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif",
                  "HEIF": ".heic", "AVIF": ".avif"}
"""Pillow's format name -> the suffix the job's file gets: formats both Pillow and OpenCV decode,
HEIF (an iPhone's HEIC photo), which Pillow reads through pillow-heif's opener and the worker
decodes with it (``realtime.stages.imagefile.decode_heif``), and AVIF (a browser's saved picture),
which Pillow reads and decodes (``decode_avif``)."""
ID_LENGTH = 16
"""Characters of a result id: 96 random bits in URL-safe base64, not guessable."""
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{%d}" % ID_LENGTH)
TICKET_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"
"""A client's name for its upload (``?ticket=``): at least 96 bits of its own randomness as a rule;
it only reveals a place in the queue."""
FILE_PATTERN = re.compile(r"%s(?:_texture|_photo)?\.[a-z0-9]{2,4}" % bustjob.STEM)
DEFAULT_JOB_SECONDS = 5.0
"""Job time assumed for Retry-After before the first job has finished (a bust takes 2-5 s a core)."""
JOB_SECONDS_SMOOTHING = 0.2
"""Weight of the newest job in the running mean of job time (Retry-After, expected waits)."""
RETRY_AFTER_MAX_S = 120
"""Retry-After cap, s: a client should look again within two minutes whatever the backlog."""
SWEEP_MAX_S = 60.0
"""Longest pause between two sweeps for expired results, s."""
CLIENT_GONE = 499
"""Status of the answer to a client that has gone (nobody reads it; nginx's "client closed request")."""
ROOT_PREFIX = "selfie3d-web-"
"""The server's own folder in the system's temporary folder: ``selfie3d-web-<random>``."""
LATER_WAIT_MAX_S = 30.0
"""Longest a request waits for a bust's later formats, s: writing them takes 0.5-2 s a bust, and
they start at once (their job keeps its worker); past this the answer is 503 not_ready."""
NOT_READY_RETRY_S = 1
"""Retry-After of a 503 not_ready: the later formats are about a second's work."""
READY, PENDING, FAILED = "ready", "pending", "failed"
"""A format's state in a bust's answer (``formats``)."""
MEDIA_TYPES = {".stl": "model/stl", ".3mf": "model/3mf", ".glb": "model/gltf-binary", ".obj": "model/obj",
               ".mtl": "text/plain", ".png": "image/png", ".jpg": "image/jpeg"}
STATUS_OF_KIND = {bustjob.NOT_AN_IMAGE: 400, bustjob.NO_FACE: 422, bustjob.UNPRINTABLE: 422, bustjob.INTERNAL: 500,
                  bustjob.TOO_LARGE: 413}
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
CONTENT_POLICY = (b"content-security-policy",
                  # The page runs only its own scripts (three.js is vendored) and shows the photo from blob:.
                  b"default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
                  b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
DOCS_CONTENT_POLICY = (b"content-security-policy",
                       # Swagger UI and ReDoc start from an inline script and style their parts inline;
                       # everything they load comes from this server (ReDoc's worker from blob:).
                       b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
                       b"img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
                       b"frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")
DOCS_STATIC = "/static/docs"
"""Where Swagger UI's and ReDoc's files (from the fastapi-offline package) are served."""
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
"""Host names a loopback server answers to (IPv6 as a Host header writes it)."""


class BustCreated(BaseModel):
    id: str
    files: dict[str, str]  # format -> URL: stl, 3mf, glb, obj (a pending one's URL waits for it)
    extras: dict[str, str]  # OBJ companions: mtl, texture (ready when obj is); photo: a JPEG copy of a HEIC or TIFF
    report: dict[str, Any]  # landmarks68 (pixels), box, pd_mm, face_width_mm, print_checks, image_size, timings_ms
    formats: dict[str, str] = Field({}, description=(
        "each format's state: ready (its file downloads now), pending (its job's worker is writing it; "
        "a download waits for it) or failed (see errors). The answer comes once the STL is ready."))
    complete: bool = Field(True, description="no format is pending (GET /api/busts/{id}?wait_s= waits for this)")
    errors: dict[str, str] = Field({}, description="format -> why it could not be made (failed formats only)")


class ErrorBody(BaseModel):
    error: str  # machine-readable code: not_an_image, too_large, no_face, busy, ...
    message: str  # one line for a person


class QueuePlace(BaseModel):
    state: str  # uploading, waiting (for a worker) or running
    position: int | None  # 1: the next to start; 0 while running; None while uploading
    expected_wait_s: float  # until the upload is likely answered, seconds (from recent job times)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class _TooLarge(Exception):
    pass


class _BodyTimeout(Exception):
    pass


class _Stopping(Exception):
    """The server began to stop while this request waited."""


def _number(value: float) -> int | float:
    """A whole number as an int for the OpenAPI schema (``80``, not ``80.0``)."""
    return int(value) if float(value).is_integer() else value


FACE_PICK_PATTERN = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*,\s*([0-9]+(?:\.[0-9]*)?)\s*$")
"""The upload's ``face`` field: a photo pixel 'x,y', two plain numbers of 0 or more."""
UPLOAD_SCHEMA = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["photo"], "properties": {
        # imagefile.SUPPORTED_FORMATS_TEXT's words: that module (OpenCV) is not imported at start-up.
        "photo": {"type": "string", "format": "binary", "description": "JPEG, PNG, HEIC, AVIF, WebP, BMP or TIFF photo, "
                                                                   "or a video of a head turn (MP4, MOV, WebM)"},
        "style": {"type": "string", "enum": list(STYLES), "default": DEFAULT_STYLE},
        "height_mm": {"type": "number", "default": _number(DEFAULT_HEIGHT_MM), "minimum": _number(HEIGHT_RANGE_MM[0]),
                      "maximum": _number(HEIGHT_RANGE_MM[1]),
                      "description": "printed height, millimetres"},
        "label": {"type": "string", "maxLength": MAX_LABEL_CHARS,
                  "pattern": "^[ -~]*$",
                  "description": "text engraved on the plinth or plaque (printable ASCII; not for mask; "
                                 "refused if the print is too small for 2 mm letters)"},
        "expression": {"type": "string", "enum": list(EXPRESSIONS), "default": EXPRESSIONS[0]},
        "face": {"type": "string", "pattern": FACE_PICK_PATTERN.pattern,
                 "description": "which face of a group photo: 'x,y', a pixel of the photo (as the report's "
                                "other_faces boxes give them); the bust is of the face nearest it "
                                "(default: the largest face)"},
    }}}}}}
ERROR_RESPONSES = {
    400: {"model": ErrorBody, "description": "not an image, or not a multipart upload with a 'photo'"},
    408: {"model": ErrorBody, "description": "the upload did not arrive whole within the body timeout"},
    413: {"model": ErrorBody, "description": "upload or image larger than the limits"},
    422: {"model": ErrorBody, "description": "no face in the photo, invalid options, or no printable solid"},
    503: {"model": ErrorBody, "description": "busy (every worker and queue place taken; see Retry-After), "
                                             "or the server is stopping"},
}


@dataclass(eq=False)
class _Entry:
    """One upload from its first byte to its answer, and its worker until its later formats are
    written: its ticket, and its place once admitted."""

    ticket: str | None
    state: str = "uploading"  # uploading -> waiting -> running (-> finishing: answered, later formats)
    started: float = 0.0  # time.monotonic() when its job went to a worker
    granted: asyncio.Future | None = field(default=None, repr=False)  # set when a worker is free for it


@dataclass(eq=False)
class _Stored:
    """A result on disk, in the server's books (on the event loop only)."""

    made: float  # time.monotonic() when its answer was stored
    size: int  # bytes on disk, later formats included once written
    formats: dict[str, str]  # format -> READY, PENDING or FAILED
    files: list[str]  # every file name it has or will have
    errors: dict[str, str] = field(default_factory=dict)  # format -> why it failed
    done: asyncio.Event = field(default_factory=asyncio.Event)  # set once nothing is pending

    @property
    def pending(self) -> bool:
        return PENDING in self.formats.values()


class BustService:
    """Admission, queue, job running and result storage of one server (lives on the event loop).

    The queue is first come, first served: ``waiting`` holds admitted uploads in order, a free
    worker goes to the first of them (``_dispatch``), and an upload that leaves before its turn
    (client gone, server stopping) is taken out without ever reaching a worker."""

    def __init__(self, options: ServeOptions, executor, workers: int, owns_executor: bool,
                 root: Path | None = None, root_lock: int | None = None):
        self.options = options
        self.executor = executor
        self.owns_executor = owns_executor
        self.workers = workers
        self.queue = options.queue if options.queue is not None else 4 * workers
        if root is None:
            root, root_lock = make_root()
        self.root, self.root_lock = root, root_lock
        self.results = root / "results"
        self.work = root / "work"  # the workers' own folders (local pool)
        self.results.mkdir(exist_ok=True)
        self.work.mkdir(exist_ok=True)
        self.reading = 0  # uploads whose body is being read (they hold no queue place)
        self.running: list[_Entry] = []
        self.waiting: collections.deque[_Entry] = collections.deque()
        self.tickets: dict[str, _Entry] = {}
        self.job_seconds = DEFAULT_JOB_SECONDS  # a worker's time per job, later formats included
        self.answer_seconds = DEFAULT_JOB_SECONDS  # a job's time until its upload can be answered
        self.first_formats = bustjob.FIRST_FORMATS if options.answer_after == "stl" else bustjob.EXPORT_FORMATS
        self.finished: dict[str, _Stored] = {}  # id -> its books
        self.later_tasks: set[asyncio.Task] = set()  # writing answered busts' later formats
        self.dropped = 0  # queued jobs whose client left before they started: never run
        self.discarded = 0  # jobs that ran but whose client had left: not stored
        self.timed_out = 0  # uploads cut by the body timeout
        self.stopping = asyncio.Event()

    # ---- places ----------------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return self.workers + self.queue

    @property
    def admitted(self) -> int:
        return len(self.running) + len(self.waiting)

    def enter(self, ticket: str | None) -> _Entry:
        """An upload arrives (its body not yet read): it holds no place yet."""
        if ticket is not None and ticket in self.tickets:
            raise ApiError(422, "invalid_option", "this ticket is already in use by another upload; "
                                                  "make a new random one for each upload")
        if self.reading >= UPLOADS_READING_MAX:
            raise self._busy(f"{self.reading} uploads are arriving")
        self.reading += 1
        entry = _Entry(ticket)
        if ticket is not None:
            self.tickets[ticket] = entry
        return entry

    def admit(self, entry: _Entry) -> None:
        """Its body has arrived: take a place in the queue, or raise 503 when none is left."""
        self.reading -= 1
        entry.state = "admitted"
        if self.admitted >= self.capacity:
            raise self._busy(f"{len(self.running)} busts in the making, {len(self.waiting)} waiting")
        entry.state = "waiting"
        entry.granted = asyncio.get_running_loop().create_future()
        self.waiting.append(entry)
        self._dispatch()

    def leave(self, entry: _Entry) -> None:
        """The upload is answered (or its client gone): free whatever it holds, except the worker
        of a job still writing its later formats (``_export_later`` frees that)."""
        if entry.state == "finishing":
            pass
        elif entry.state == "uploading":
            self.reading -= 1
        elif entry.state == "waiting":
            with contextlib.suppress(ValueError):
                self.waiting.remove(entry)
        elif entry.state == "running":
            self.running.remove(entry)
            self._dispatch()
        if entry.state != "finishing":
            entry.state = "done"
        if entry.ticket is not None and self.tickets.get(entry.ticket) is entry:
            del self.tickets[entry.ticket]

    def _dispatch(self) -> None:
        while self.waiting and len(self.running) < self.workers and not self.stopping.is_set():
            entry = self.waiting.popleft()
            entry.state, entry.started = "running", time.monotonic()
            self.running.append(entry)
            entry.granted.set_result(True)

    def _busy(self, load: str) -> ApiError:
        retry = self.retry_after_s()
        return ApiError(503, "busy", f"the server is busy ({load}); try again in {retry} s",
                        {"Retry-After": str(retry)})

    def retry_after_s(self) -> int:
        """Seconds until a place is likely free: the backlog over the workers, one job each."""
        backlog = max(self.admitted - self.workers, 0) + 1
        return int(min(max(math.ceil(self.job_seconds * backlog / self.workers), 1), RETRY_AFTER_MAX_S))

    def _answer_s(self) -> float:
        return min(self.answer_seconds, self.job_seconds)

    def expected_wait_s(self, position: int, now: float | None = None) -> float:
        """Seconds until the job at ``position`` in the queue (1: the next to start; len(waiting)
        + 1: one arriving now) is likely answered: each worker frees when its job has run for the
        mean job time (later formats included), takes the next job in line, and answers it after
        the mean time to an answer."""
        now = time.monotonic() if now is None else now
        free_at = [max(self.job_seconds - (now - entry.started), 0.0) for entry in self.running]
        free_at += [0.0] * (self.workers - len(free_at))
        heapq.heapify(free_at)
        start = 0.0
        for _ in range(max(position, 1)):
            start = heapq.heappop(free_at)
            heapq.heappush(free_at, start + self.job_seconds)
        return round(start + self._answer_s(), 1)

    def place(self, ticket: str) -> dict:
        entry = self.tickets.get(ticket)
        if entry is None:
            raise ApiError(404, "not_found", "no upload in progress has this ticket (it is forgotten once answered)")
        if entry.state == "running":
            left = max(self._answer_s() - (time.monotonic() - entry.started), 0.0)
            return {"state": "running", "position": 0, "expected_wait_s": round(left, 1)}
        if entry.state == "waiting":
            position = self.waiting.index(entry) + 1
            return {"state": "waiting", "position": position, "expected_wait_s": self.expected_wait_s(position)}
        return {"state": "uploading", "position": None, "expected_wait_s": self.expected_wait_s(len(self.waiting) + 1)}

    # ---- running ---------------------------------------------------------------------------

    async def run(self, entry: _Entry, job: bustjob.WebJob, gone: asyncio.Future) -> bustjob.WebJobResult | None:
        """Wait for a worker, run ``job`` on it; None when the client left before its turn.

        ``gone`` completes when the client disconnects: a job still waiting is dropped then,
        one already running is left to finish (its worker cannot be given back sooner)."""
        if not await _first(entry.granted, self.stopping, gone):
            self.dropped += 1
            return None
        if self.first_formats == bustjob.EXPORT_FORMATS:  # the whole job in one call, as before the two parts
            result = await self._on_worker(bustjob.run_web_job, job, self.options.debug)
        else:
            result = await self._on_worker(bustjob.run_web_job, job, self.options.debug, self.first_formats)
        self.answer_seconds += JOB_SECONDS_SMOOTHING * (result.seconds - self.answer_seconds)
        if result.later is None:  # else the worker's time counts once the later formats are written
            self.job_seconds += JOB_SECONDS_SMOOTHING * (result.seconds - self.job_seconds)
        return result

    async def _on_worker(self, fn, *args):
        """``fn(*args)`` on a worker; ``ApiError`` 500 worker_failed when the worker dies."""
        try:
            with sigint_blocked():  # a worker the pool starts now inherits it: Ctrl-C is the server's
                future = self.executor.submit(fn, *args)
            return await _first(asyncio.wrap_future(future), self.stopping)
        except BrokenProcessPool:
            await self._replace_broken_pool()
            reason = await run_in_threadpool(_models_problem)
            if reason:
                raise ApiError(500, "worker_failed", f"the face networks cannot run: {reason}") from None
            raise ApiError(500, "worker_failed", "the worker process died (out of memory?); try again") from None
        except (_Stopping, asyncio.CancelledError):
            raise
        except Exception as error:  # a Ray task or node that died
            raise ApiError(500, "worker_failed", f"the job's worker failed ({type(error).__name__}); "
                                                 "try again") from None

    def export_later(self, entry: _Entry, first: bustjob.WebJobResult) -> asyncio.Future:
        """Hand the job's worker at once to writing its later formats (``first.later``), on a
        task of the service, while the upload's answer is stored and sent: the entry keeps its
        place among the running until they are written. Returns the future the caller sets to
        the bust's id once its answer is stored (None: not stored; the later files are dropped)."""
        entry.state = "finishing"
        answered = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._export_later(entry, first, answered))
        self.later_tasks.add(task)
        task.add_done_callback(self.later_tasks.discard)
        return answered

    async def _export_later(self, entry: _Entry, first: bustjob.WebJobResult, answered: asyncio.Future) -> None:
        later = first.later
        stored = None
        errors: dict[str, str] = {}
        files: dict[str, bytes] = {}
        try:
            try:
                result = await self._on_worker(bustjob.export_later, later, self.options.debug)
                if result.ok:
                    files = result.files
                    self.job_seconds += JOB_SECONDS_SMOOTHING * (first.seconds + result.seconds - self.job_seconds)
                else:
                    errors = dict.fromkeys(later.formats, result.message)
            except ApiError as error:  # its worker died
                errors = dict.fromkeys(later.formats, error.message)
            self._release(entry)  # the worker is done: the next job may start while the files are stored
            bust_id = await answered  # set by the upload's handler once its answer is stored
            if bust_id is None:
                return
            stored = self.finished.get(bust_id)
            await self._store_later(bust_id, files, errors)
        except (_Stopping, asyncio.CancelledError):
            pass  # the server stops: the result's folder goes with it
        except Exception as error:  # a bug: the formats must not stay pending forever
            if stored is not None:
                for fmt in later.formats:
                    stored.formats[fmt] = FAILED
                    stored.errors[fmt] = f"internal error ({type(error).__name__}); the server's log has the details"
            raise
        finally:
            self._release(entry)
            if stored is not None:
                stored.done.set()

    def _release(self, entry: _Entry) -> None:
        """A finishing job's worker is free (once; later calls do nothing)."""
        if entry.state != "finishing":
            return
        if entry in self.running:
            self.running.remove(entry)
        entry.state = "done"
        self._dispatch()

    async def _store_later(self, bust_id: str, files: dict[str, bytes], errors: dict[str, str]) -> None:
        """Write a bust's later files (or their failure) into its folder and books. A bust
        deleted or expired meanwhile gets nothing; one deleted while they were written is
        removed again, so no file outlives its bust."""
        stored = self.finished.get(bust_id)
        if stored is None:
            return
        # The books say "ready" only once the files are there: a download waiting for them looks.
        formats = {fmt: state if state != PENDING else
                   FAILED if fmt in errors or f"{bustjob.STEM}.{fmt}" not in files else READY
                   for fmt, state in stored.formats.items()}
        failures = {**stored.errors, **{fmt: errors.get(fmt, "the worker wrote no such file")
                                        for fmt, state in formats.items() if state == FAILED}}
        try:
            added = await run_in_threadpool(self.write_later, bust_id, files, formats, failures, stored.files)
        except OSError as error:  # its folder went (deleted meanwhile: checked below), or the disk failed
            added = 0
            formats = {fmt: FAILED if stored.formats[fmt] == PENDING else state for fmt, state in formats.items()}
            failures.update({fmt: f"it could not be stored ({error.strerror or error})"
                             for fmt, state in formats.items() if state == FAILED and fmt not in failures})
        stored.formats, stored.errors = formats, failures
        if self.finished.get(bust_id) is not stored:
            await run_in_threadpool(self.remove, [bust_id])
            return
        evicted = self.kept(bust_id, added)
        if evicted:
            await run_in_threadpool(self.remove, evicted)

    async def _replace_broken_pool(self) -> None:
        if self.owns_executor and isinstance(self.executor, concurrent.futures.ProcessPoolExecutor):
            broken = self.executor
            if getattr(broken, "_broken", False):
                self.executor = make_local_pool(self.workers, self.work)
                self.prestart()
                await run_in_threadpool(stop_pool, broken)
        # The dead worker's folder (its half-written export) goes now, not at the next start.
        await run_in_threadpool(folders.remove_abandoned, self.work, "worker-")

    def prestart(self) -> None:
        """Start the pool's workers now (each loads the networks), not on the first uploads."""
        if self.owns_executor and isinstance(self.executor, concurrent.futures.ProcessPoolExecutor):
            with sigint_blocked():
                for _ in range(self.workers):
                    self.executor.submit(bustjob.worker_ready)

    def begin_stop(self) -> None:
        """Ctrl-C: every upload in flight is answered 503 at once; no queued job starts."""
        self.stopping.set()

    # ---- results ---------------------------------------------------------------------------

    def write_result(self, result: bustjob.WebJobResult) -> tuple[dict, _Stored]:
        """Write the answer's files under a new id (in a worker thread); the API's JSON and the
        result's books (``kept`` records them)."""
        from realtime.fileio import write_bytes_atomic

        bust_id = secrets.token_urlsafe(ID_LENGTH * 3 // 4)
        folder = self.results / bust_id
        folder.mkdir()
        size = 0
        for name, data in result.files.items():
            if FILE_PATTERN.fullmatch(name):
                write_bytes_atomic(folder / name, data)
                size += len(data)
        later = result.later.formats if result.later is not None else ()
        stored = _Stored(0.0, 0, {fmt: PENDING if fmt in later else READY for fmt in bustjob.EXPORT_FORMATS},
                         sorted(set(result.files) | set(result.later.files if result.later is not None else ())))
        if not later:
            stored.done.set()
        body = describe(bust_id, stored.files, result.report, stored.formats)
        text = json.dumps(body).encode()
        write_bytes_atomic(folder / "result.json", text)
        stored.size = size + len(text)
        return body, stored

    def write_later(self, bust_id: str, files: dict[str, bytes], formats: dict[str, str], errors: dict[str, str],
                    names: list[str]) -> int:
        """Write a bust's later files and its updated answer (in a worker thread): the files
        first, then ``result.json`` with each format's state. Returns the bytes added."""
        from realtime.fileio import write_bytes_atomic

        folder = self.results / bust_id
        added = 0
        for name, data in files.items():
            if FILE_PATTERN.fullmatch(name):
                write_bytes_atomic(folder / name, data)
                added += len(data)
        body = json.loads((folder / "result.json").read_text())
        body = describe(bust_id, names, body["report"], formats, errors)
        text = json.dumps(body).encode()
        old = (folder / "result.json").stat().st_size
        write_bytes_atomic(folder / "result.json", text)
        return added + len(text) - old

    def kept(self, bust_id: str, size: int | _Stored, now: float | None = None) -> list[str]:
        """Record a stored result (its books, or a byte count: added to a result already
        recorded, or a new one's size); returns the ids to delete so that all results stay
        within ``max_results_mb``, oldest first (the newest and ``bust_id`` are always kept)."""
        if isinstance(size, _Stored):
            size.made = time.monotonic() if now is None else now
            self.finished[bust_id] = size
        elif bust_id in self.finished:
            self.finished[bust_id].size += size
        else:
            made = time.monotonic() if now is None else now
            self.finished[bust_id] = _Stored(made, size, dict.fromkeys(bustjob.EXPORT_FORMATS, READY), [])
            self.finished[bust_id].done.set()
        cap = self.options.max_results_mb * MB
        total = self.stored_bytes
        newest = max(self.finished, key=lambda i: self.finished[i].made)
        evicted = []
        for old in sorted(self.finished, key=lambda i: self.finished[i].made):
            if total <= cap:
                break
            if old in (bust_id, newest):
                continue
            gone = self.finished.pop(old)
            gone.done.set()  # whoever waits for its later formats learns it is gone
            total -= gone.size
            evicted.append(old)
        return evicted

    @property
    def stored_bytes(self) -> int:
        return sum(stored.size for stored in self.finished.values())

    async def wait_for_later(self, bust_id: str, wait_s: float) -> _Stored | None:
        """A bust's books once none of its formats is pending, or after ``wait_s`` seconds
        (``_Stopping`` if the server stops first); None if it is not (or no longer) kept."""
        stored = self.finished.get(bust_id)
        if stored is None or not stored.pending or wait_s <= 0:
            return stored
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await _first(asyncio.ensure_future(stored.done.wait()), self.stopping)
        return self.finished.get(bust_id)

    def folder(self, bust_id: str) -> Path:
        if not ID_PATTERN.fullmatch(bust_id) or not (self.results / bust_id).is_dir():
            raise ApiError(404, "not_found", f"no such bust (results are kept for {self.options.keep_minutes:g} minutes "
                                             f"while they fit in {self.options.max_results_mb:g} MB)")
        return self.results / bust_id

    def expired(self, now: float | None = None) -> list[str]:
        """Forget results older than ``keep_minutes``; returns their ids (``remove`` deletes them)."""
        now = time.monotonic() if now is None else now
        ids = [i for i, stored in self.finished.items() if now - stored.made > 60.0 * self.options.keep_minutes]
        self.forget(ids)
        return ids

    def sweep(self, now: float | None = None) -> int:
        """Delete results older than ``keep_minutes``; returns how many went."""
        ids = self.expired(now)
        self.remove(ids)
        return len(ids)

    def forget(self, ids: list[str]) -> None:
        """Drop results from the books (on the event loop: the books are not shared with threads)."""
        for bust_id in ids:
            stored = self.finished.pop(bust_id, None)
            if stored is not None:
                stored.done.set()  # whoever waits for its later formats learns it is gone

    def remove(self, ids: list[str]) -> None:
        """Delete forgotten results' files (in a worker thread: it touches only the disk)."""
        for bust_id in ids:
            shutil.rmtree(self.results / bust_id, ignore_errors=True)

    def close(self) -> None:
        if self.owns_executor:
            close_executor(self.executor)
        folders.release(self.root, self.root_lock)


def make_root() -> tuple[Path, int]:
    """The server's own folder, after removing those of servers that died (``kill -9``, a crash):
    their results and their workers' half-made exports."""
    parent = Path(tempfile.gettempdir())
    folders.remove_abandoned(parent, ROOT_PREFIX)
    return folders.make_owned_folder(parent, ROOT_PREFIX)


async def _first(main: asyncio.Future, stopping: asyncio.Event, gone: asyncio.Future | None = None):
    """``main``'s result, unless the server starts stopping first (``_Stopping``) or the client
    goes first (returns ``None`` and cancels ``main``)."""
    stop = asyncio.ensure_future(stopping.wait())
    waiters = {main, stop} | ({gone} if gone is not None else set())
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # this request itself was cancelled: take its work with it
        main.cancel()
        raise
    finally:
        stop.cancel()
    if main.done() and not main.cancelled():
        return main.result()
    main.cancel()
    if stopping.is_set():
        raise _Stopping
    return None


def _models_problem() -> str | None:
    """Why the face networks cannot load (a changed or missing model file), or None."""
    from realtime.apps.web.options import check_models

    try:
        check_models()
    except ModelError as error:
        return str(error)
    return None


def describe(bust_id: str, names: list[str], report: dict, formats: dict[str, str] | None = None,
             errors: dict[str, str] | None = None) -> dict:
    """The API's answer for a stored bust: a URL per format and per OBJ companion (``names``: the
    files it has or will have), each format's state, and why any failed."""
    base = f"/api/busts/{bust_id}/files/"
    files = {fmt: base + f"{bustjob.STEM}.{fmt}" for fmt in bustjob.EXPORT_FORMATS}
    extras = {_extra_key(name): base + name for name in names if Path(name).suffix[1:] not in bustjob.EXPORT_FORMATS}
    formats = dict(formats or dict.fromkeys(bustjob.EXPORT_FORMATS, READY))
    return {"id": bust_id, "files": files, "extras": extras, "report": report, "formats": formats,
            "complete": PENDING not in formats.values(), "errors": dict(errors or {})}


def _extra_key(name: str) -> str:
    """The answer's ``extras`` key of a file beside the formats: the OBJ's ``mtl`` and ``texture``,
    and ``photo``, the JPEG copy of a photo the browser may not show (``bustjob.PHOTO_COPY_NAME``)."""
    if name == bustjob.PHOTO_COPY_NAME:
        return "photo"
    return "mtl" if name.endswith(".mtl") else "texture"


def format_of(name: str) -> str:
    """The format a file belongs to: ``bust.3mf`` -> 3mf; the OBJ's material and texture -> obj."""
    suffix = Path(name).suffix[1:]
    return suffix if suffix in bustjob.EXPORT_FORMATS else "obj"


def make_local_pool(workers: int, work: Path | None = None) -> concurrent.futures.ProcessPoolExecutor:
    """The local worker pool: each worker tied to this process's life, with its own folder in ``work``."""
    return spawn_pool(workers, bustjob.init_worker, (str(work) if work is not None else None, os.getpid()))


def make_executor(options: ServeOptions, work: Path | None = None):
    """(executor, jobs at once) for the options: Ray with ``ray``, else a local process pool."""
    if options.ray:
        executor = RayExecutor(None if options.ray == "local" else options.ray, options.debug)
        return executor, options.workers or executor.workers
    workers = options.workers or os.cpu_count() or 1
    return make_local_pool(workers, work), workers


class Server(uvicorn.Server):
    """uvicorn's server, telling the app's service that it stops before uvicorn waits for the
    connections to end: in-flight uploads are answered 503 at once instead of each queued job
    being run first."""

    async def shutdown(self, sockets=None) -> None:
        service = getattr(getattr(self.config.app, "state", None), "service", None)
        if service is not None:
            service.begin_stop()
        await super().shutdown(sockets=sockets)


def create_app(options: ServeOptions = ServeOptions(), executor=None, workers: int | None = None) -> FastAPI:
    """The app. ``executor`` (anything with ``submit(fn, *args) -> Future``) replaces the one the
    options would make; then ``workers`` (default ``options.workers`` or 1) is how many run at once."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        root, lock = make_root()
        try:
            if executor is None:
                # On the main thread (Ray sets signal handlers); nothing is served yet.
                made, count = make_executor(options, root / "work")
                service = BustService(options, made, count, owns_executor=True, root=root, root_lock=lock)
                service.prestart()
            else:
                service = BustService(options, executor, workers or options.workers or 1, owns_executor=False,
                                      root=root, root_lock=lock)
        except BaseException:
            folders.release(root, lock)
            raise
        app.state.service = service
        sweeper = asyncio.create_task(_sweep_forever(service))
        try:
            yield
        finally:
            service.begin_stop()
            sweeper.cancel()
            for task in list(service.later_tasks):  # their workers end with the pool; their files with the folder
                task.cancel()
            await asyncio.gather(*service.later_tasks, return_exceptions=True)
            await run_in_threadpool(service.close)

    app = FastAPI(title="selfie3d", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="A photo in, a printable 3D bust out (STL, 3MF, GLB, OBJ).")
    if options.host in LOOPBACK_HOSTS or options.host == "::1":
        # A page elsewhere must not reach a localhost server through a rebound DNS name.
        app.add_middleware(_LoopbackHostsOnly)
    app.add_middleware(_SecurityHeaders)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError):
        return JSONResponse({"error": error.code, "message": error.message}, error.status, headers=error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return JSONResponse({"error": code, "message": str(error.detail)}, error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception):
        # A bug: still the API's JSON (the traceback goes to the server's log), never plain text.
        return JSONResponse({"error": "internal", "message": f"internal error ({type(error).__name__}); "
                                                              "the server's log has the details"}, 500)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError):
        return JSONResponse({"error": "invalid_request", "message": str(error.errors()[:1])}, 422)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount(DOCS_STATIC, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-static")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="selfie3d API",
                                   swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url, title="selfie3d API",
                              redoc_js_url=f"{DOCS_STATIC}/redoc.standalone.js",
                              redoc_favicon_url="/static/favicon.svg", with_google_fonts=False)

    @app.get("/api/status", summary="Limits and load")
    async def status(request: Request) -> dict:
        service: BustService = request.app.state.service
        return {"max_upload_bytes": int(options.max_upload_mb * MB), "max_pixels": options.max_pixels,
                "max_label_chars": MAX_LABEL_CHARS, "workers": service.workers, "queue": service.queue,
                "running": len(service.running), "waiting": len(service.waiting), "uploading": service.reading,
                "finishing": sum(entry.state == "finishing" for entry in service.running),
                "answer_after": options.answer_after,
                "expected_wait_s": service.expected_wait_s(len(service.waiting) + 1),
                "dropped": service.dropped, "body_timeout_s": options.body_timeout_s,
                "executor": "ray" if options.ray else "local", "keep_minutes": options.keep_minutes,
                "max_results_mb": options.max_results_mb, "stored_mb": round(service.stored_bytes / MB, 2),
                "stopping": service.stopping.is_set()}

    @app.get("/api/queue/{ticket}", response_model=QueuePlace, responses={404: {"model": ErrorBody}},
             summary="Where an upload stands: its place in the queue and the expected wait")
    async def queue_place(ticket: str, request: Request):
        return request.app.state.service.place(ticket)

    @app.post("/api/busts", status_code=201, response_model=BustCreated, responses=ERROR_RESPONSES,
              openapi_extra=UPLOAD_SCHEMA, summary="Make a bust from a photo")
    async def create_bust(request: Request, ticket: str | None = Query(
            None, pattern=TICKET_PATTERN,
            description="your name for this upload (16-64 letters, digits, - or _; random): "
                        "GET /api/queue/{ticket} tells its place in the queue and the expected wait")):
        """Upload a photo (multipart field ``photo``); get the bust's file URLs and the face report."""
        service: BustService = request.app.state.service
        if service.stopping.is_set():
            raise _stopping_error()
        limit = int(options.max_upload_mb * MB)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD_BYTES:
            raise _too_large(limit)
        entry = service.enter(ticket)
        gone = None
        answered = None  # the later formats' wait for this answer's id
        try:
            deadline = asyncio.get_running_loop().time() + options.body_timeout_s
            try:
                job = await _first(asyncio.ensure_future(_read_job(request, limit, options.max_pixels, deadline)),
                                   service.stopping)
            except _BodyTimeout:
                service.timed_out += 1
                raise ApiError(408, "timeout", f"the upload did not arrive whole within {options.body_timeout_s:g} s "
                                               "(--body-timeout-s); send it again", {"Connection": "close"}) from None
            service.admit(entry)  # only now, with the whole photo here, does the upload take a place
            gone = asyncio.ensure_future(_disconnected(request))
            result = await service.run(entry, job, gone)
            if result is None:  # the client left while waiting: nothing ran, nobody to answer
                return Response(status_code=CLIENT_GONE)
            if not result.ok:
                raise ApiError(STATUS_OF_KIND.get(result.kind, 500), result.kind, result.message)
            if gone.done():  # made, but its client left while it ran: nobody will fetch it
                service.discarded += 1
                return Response(status_code=CLIENT_GONE)
            if result.later is not None:  # its worker goes on to the other formats now, as the answer is stored
                answered = service.export_later(entry, result)
            body, stored = await run_in_threadpool(service.write_result, result)
            evicted = service.kept(body["id"], stored)
            if evicted:
                await run_in_threadpool(service.remove, evicted)
            if service.stopping.is_set():  # its files go with the server: do not hand out their links
                service.forget([body["id"]])
                await run_in_threadpool(service.remove, [body["id"]])
                raise _stopping_error()
            if answered is not None:
                answered.set_result(body["id"])
            return JSONResponse(body, 201, headers={"Location": f"/api/busts/{body['id']}"})
        except _Stopping:
            raise _stopping_error() from None
        except ClientDisconnect:  # gone mid-upload: nobody to answer
            return Response(status_code=CLIENT_GONE)
        finally:
            if gone is not None:
                gone.cancel()
            if answered is not None and not answered.done():  # not stored: its later files go nowhere
                answered.set_result(None)
            service.leave(entry)

    @app.get("/api/busts/{bust_id}", response_model=BustCreated, responses={404: {"model": ErrorBody}},
             summary="A bust made earlier, with the state of each format")
    async def get_bust(bust_id: str, request: Request, wait_s: float = Query(
            0.0, ge=0.0, le=LATER_WAIT_MAX_S,
            description="wait up to this many seconds for the formats still pending (answered as soon as "
                        "none is; 'complete' says whether they all are)")):
        service: BustService = request.app.state.service
        service.folder(bust_id)
        try:
            await service.wait_for_later(bust_id, wait_s)
        except _Stopping:
            raise _stopping_error() from None
        folder = service.folder(bust_id)  # deleted or expired while it waited: 404
        body = json.loads((folder / "result.json").read_text())
        stored = service.finished.get(bust_id)
        if stored is not None:  # the books lead (a format failed by a bug is not in the file)
            body.update(formats=dict(stored.formats), complete=not stored.pending, errors=dict(stored.errors))
        return JSONResponse(body)

    @app.get("/api/busts/{bust_id}/files/{name}", responses={
                 404: {"model": ErrorBody},
                 500: {"model": ErrorBody, "description": "export_failed: this format could not be written"},
                 503: {"model": ErrorBody, "description": f"not_ready: the format is still being written after "
                                                          f"{LATER_WAIT_MAX_S:g} s (see Retry-After), or the "
                                                          "server is stopping"}},
             summary="One of a bust's files (bust.stl, bust.3mf, bust.glb, bust.obj, bust.mtl, bust texture, "
                     "the photo's JPEG copy); "
                     "one still being written is waited for")
    async def get_file(bust_id: str, name: str, request: Request):
        service: BustService = request.app.state.service
        folder = service.folder(bust_id)
        if not FILE_PATTERN.fullmatch(name):
            raise ApiError(404, "not_found", f"this bust has no file {name!r}")
        stored = service.finished.get(bust_id)
        if not (folder / name).is_file() and stored is not None and name in stored.files:
            try:
                stored = await service.wait_for_later(bust_id, LATER_WAIT_MAX_S)
            except _Stopping:
                raise _stopping_error() from None
            fmt = format_of(name)
            if stored is not None and stored.formats.get(fmt) == PENDING:
                raise ApiError(503, "not_ready", f"{name} is still being written; try again in a moment",
                               {"Retry-After": str(NOT_READY_RETRY_S)})
            if stored is not None and stored.formats.get(fmt) == FAILED:
                raise ApiError(500, "export_failed", f"the {fmt} file could not be made: {stored.errors.get(fmt, '')}")
            folder = service.folder(bust_id)  # deleted or expired while it waited: 404
        if not (folder / name).is_file():
            raise ApiError(404, "not_found", f"this bust has no file {name!r}")
        suffix = Path(name).suffix
        return FileResponse(folder / name, media_type=MEDIA_TYPES.get(suffix, "application/octet-stream"),
                            filename=name)

    @app.delete("/api/busts/{bust_id}", status_code=204, responses={404: {"model": ErrorBody}},
                summary="Delete a bust's files now")
    async def delete_bust(bust_id: str, request: Request):
        service: BustService = request.app.state.service
        service.folder(bust_id)
        service.forget([bust_id])
        await run_in_threadpool(service.remove, [bust_id])
        return Response(status_code=204)

    return app


async def _sweep_forever(service: BustService) -> None:
    pause = min(max(60.0 * service.options.keep_minutes / 4, 1.0), SWEEP_MAX_S)
    while True:
        await asyncio.sleep(pause)
        expired = service.expired()
        if expired:
            await run_in_threadpool(service.remove, expired)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"the upload is larger than the {limit / MB:.3g} MB limit; "
                                      "use a smaller photo (a few megapixels are plenty)")


def _stopping_error() -> ApiError:
    return ApiError(503, "stopping", "the server is stopping; try again once it is back", {"Connection": "close"})


async def _limited(request: Request, limit: int, deadline: float):
    """The request body, chunk by chunk, stopping as soon as it passes ``limit`` bytes
    (``_TooLarge``) or the loop's clock passes ``deadline`` (``_BodyTimeout``)."""
    total = 0
    chunks = request.stream().__aiter__()
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise _BodyTimeout from None
        total += len(chunk)
        if total > limit:
            raise _TooLarge
        yield chunk


async def _disconnected(request: Request) -> None:
    """Returns when the client has gone. Called once the body is read: the next ASGI message is
    then ``http.disconnect``, which the server sends when the connection closes."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _read_job(request: Request, limit: int, max_pixels: int, deadline: float) -> bustjob.WebJob:
    """Parse and check the upload: the photo under the limits, a known image format, valid options."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(400, "not_multipart", "send the photo as multipart/form-data in a field named 'photo'")
    parser = MultiPartParser(request.headers, _limited(request, limit + FORM_OVERHEAD_BYTES, deadline),
                             max_files=1, max_fields=MAX_FORM_PARTS, max_part_size=FIELD_MAX_BYTES)
    try:
        form = await parser.parse()
    except _TooLarge:
        raise _too_large(limit) from None
    except MultiPartException as error:
        if "maximum size" in error.message:  # a field longer than any valid value (a label of thousands)
            raise ApiError(422, "invalid_option", f"a form field is over {FIELD_MAX_BYTES // 1024} KB: the label "
                                                  f"takes at most {MAX_LABEL_CHARS} characters, the other fields "
                                                  "a word or a number") from None
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
        height_text = _text(form, "height_mm") or f"{DEFAULT_HEIGHT_MM:g}"
        face_text = _text(form, "face")
    finally:
        await form.close()
    pick_px = _face_pick(face_text) if face_text else None
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
        from realtime.printing.bust import BustOptions

        BustOptions(style=style, height_mm=height_mm, label=label, expression=expression)  # validates
    except InputError as error:
        raise ApiError(422, "invalid_option", str(error).replace("--height-mm", "height_mm")) from None
    return bustjob.WebJob(data, suffix, style, height_mm, label, expression, pick_px=pick_px)


def _text(form, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _face_pick(text: str) -> tuple[float, float]:
    """The ``face`` field's photo pixel (``FACE_PICK_PATTERN``); ``ApiError`` 422 for anything else."""
    match = FACE_PICK_PATTERN.match(text)
    if match is None:
        raise ApiError(422, "invalid_option", f"face must be a photo pixel 'x,y' (two numbers of 0 or more), "
                                              f"not {text!r}")
    return float(match[1]), float(match[2])


def image_suffix(data: bytes, max_pixels: int) -> str:
    """The file suffix for an upload whose header names a supported image of at most
    ``max_pixels``, or a video (``imagefile.video_suffix``: its bust is made from its frames); raises
    ``ApiError`` 400 (not an image) or 413 (too many pixels).

    Only the header is read: a 20 MB file can claim a billion pixels, and the decoder must not
    be asked for them. The worker decodes the pixels (``realtime.stages.imagefile.decode_image``)."""
    from PIL import Image, UnidentifiedImageError

    from realtime.stages.imagefile import SUPPORTED_FORMATS_TEXT, format_name, video_suffix

    try:
        import pillow_heif

        pillow_heif.register_heif_opener()  # HEIF's header for Image.open (idempotent)
    except ImportError:  # a declared dependency; without it HEIC is refused like any other format
        pass
    if not data:
        raise ApiError(400, "not_an_image", "the photo is empty")
    head = data[:65536]
    suffix = video_suffix(head)
    if suffix:  # a phone's head turn: made into a bust as `selfie3d video` makes it
        return suffix
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, (width, height) = image.format, image.size
    except Image.DecompressionBombError:
        raise ApiError(413, "too_large", f"the image has too many pixels (limit {max_pixels / 1e6:g} megapixels)") from None
    except (UnidentifiedImageError, OSError, ValueError, RuntimeError):  # RuntimeError: Pillow's AVIF reader
        raise ApiError(400, "not_an_image", f"the file is not an image ({SUPPORTED_FORMATS_TEXT})") from None
    fmt = format_name(fmt, head)  # told by the ftyp box's brands where Pillow says HEIF
    if fmt not in IMAGE_SUFFIXES:
        raise ApiError(400, "not_an_image", f"{fmt} images are not supported: use {SUPPORTED_FORMATS_TEXT}")
    if width * height > max_pixels:
        raise ApiError(413, "too_large", f"the image is {width}x{height} pixels; the limit is "
                                         f"{max_pixels / 1e6:g} megapixels")
    return IMAGE_SUFFIXES[fmt]


def _host_name(header: str) -> str:
    """The host of a Host header, without its port: ``[::1]:8000`` -> ``[::1]``, ``a:80`` -> ``a``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[:header.find("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class _LoopbackHostsOnly:
    """A loopback server answers only to ``LOOPBACK_HOSTS``: a page elsewhere that rebinds its own
    DNS name to 127.0.0.1 must not reach it. The refusal is the API's JSON error."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":  # lifespan; the app has no websockets
            return await self.app(scope, receive, send)
        header = next((value.decode("latin-1") for name, value in scope["headers"] if name == b"host"), "")
        if _host_name(header) in LOOPBACK_HOSTS:
            return await self.app(scope, receive, send)
        response = JSONResponse({"error": "bad_host", "message": f"this server answers only to "
                                 f"{', '.join(LOOPBACK_HOSTS)} (it listens on loopback), not to Host {header!r}"}, 400)
        await response(scope, receive, send)


class _SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` and a content policy (``CONTENT_POLICY``; ``DOCS_CONTENT_POLICY``
    on the API pages) to every response (plain ASGI: no body buffering)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        docs = scope["path"] in DOCS_PATHS or scope["path"].startswith(DOCS_STATIC + "/")
        headers = SECURITY_HEADERS + [DOCS_CONTENT_POLICY if docs else CONTENT_POLICY]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
