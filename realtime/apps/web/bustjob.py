"""One web request's work: a photo's bytes in, a bust's four files (as bytes) out, in two parts.

A ``WebJob`` carries the uploaded photo itself, not a path, and a ``WebJobResult`` carries the
exported files' bytes, so the same functions run in a local worker process or on any node of a
Ray cluster without a shared disk. ``run_web_job`` reconstructs the face and builds the bust
once, then exports the formats asked for first (``FIRST_FORMATS``: the STL, which the page's
preview shows and which is the quickest to write) and hands the rest back as a ``LaterExport``:
the built solid, slimmed for the trip between processes. ``export_later`` writes those (3MF,
GLB, OBJ with its material and texture) on the next free worker while the client already has
its answer. Asked for every format first, ``run_web_job`` is the whole job in one call, as it
was before the two parts. Each file is written and re-loaded by
``realtime.printing.bust.export_bust``'s checks in a private folder of the worker. Like
``realtime.apps.jobs.run_photo_job`` neither raises: a bad photo is a result with a ``kind`` the
server maps onto an HTTP status, and a message a person can act on.

The photo is decoded from the uploaded bytes in memory and never written to disk as uploaded (a
HEIC or TIFF comes back as a small JPEG copy among the bust's files, ``PHOTO_COPY_NAME``). The export's
files exist on disk for the moment they are written and checked, in a folder of the worker's
own (``init_worker``): in a local pool that folder lies inside the server's, is locked for the
worker's life and removed by the server when the worker dies; and the worker is tied to the
server's life (``tie_to_parent``), so a killed server leaves no worker running.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from realtime.errors import InputError, Selfie3DError
from realtime.printing.vocabulary import FORMATS

# The files one bust exports, by the format key the API uses: every format, OBJ last (its
# companions, the material and the texture, follow it).
EXPORT_FORMATS = tuple(fmt for fmt in FORMATS if fmt != "obj") + ("obj",)
FIRST_FORMATS = ("stl",)
"""The formats in an upload's answer: the page's 3D preview loads the STL, and it is the quickest
to write (0.09 s of the four formats' 0.72 s on a photo); the others follow (``export_later``)."""
OUTLINE_TOLERANCE_PX = 1.5
"""Simplification of the bust's outline sent to the page, photo pixels (a few hundred points)."""
STEM = "bust"
BROWSER_SHOWN_SUFFIXES = (".jpg", ".png", ".webp", ".bmp", ".avif")
"""Upload formats every current browser shows; a photo in another (HEIC, TIFF: Safari's alone)
comes back as a JPEG copy, ``PHOTO_COPY_NAME``, for the page to show under the fit."""
PHOTO_COPY_NAME = f"{STEM}_photo.jpg"
PHOTO_COPY_MAX_SIDE_PX = 1280
"""Longest side of that copy: the page shows the photo at most ~600 pixels wide (twice that on a
high-density screen); the report's pixels stay the decoded photo's (the page scales them to what
it shows). It is kept with the bust's files and deleted with them."""
PHOTO_COPY_QUALITY = 90
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".avi")
"""Upload formats that are videos (``realtime.stages.imagefile.video_suffix``): a phone's head turn,
made into a bust as ``selfie3d video`` makes it (``_video_bust``)."""
MAX_VIDEO_FRAMES = 600
"""Frames of an uploaded video read at most (20 s at 30 fps; a head turn takes 5-10)."""
MAX_VIDEO_FRAME_PIXELS = 3840 * 2160
"""Largest frame an uploaded video may have (a phone's 4K): an 8K or a forged 16000x16000 video
of a few MB held a worker 1-2 GB and minutes; read from the header before any frame."""
MAX_VIDEO_SECONDS = 60.0
"""Seconds a video job may read frames for (both plays): past it, the bust is made from the
frames read so far (4K at 30 fps: ~35 ms a frame here, so 600 frames played twice need ~45 s)."""

# Result kinds; the server turns each into an HTTP status.
OK = "ok"
NOT_AN_IMAGE = "not_an_image"
NO_FACE = "no_face"
UNPRINTABLE = "unprintable"
INTERNAL = "internal"
TOO_LARGE = "too_large"  # a video whose frames are over MAX_VIDEO_FRAME_PIXELS

PR_SET_PDEATHSIG = 1
"""Linux prctl(2) option: the signal a process gets when the thread that started it ends."""
PARENT_WATCH_S = 1.0
"""Where prctl is missing, how often a worker looks whether its server still lives, seconds."""
ORPHAN_EXIT = 70
"""Exit status of a worker that found its server gone (EX_SOFTWARE): it ends at once, mid-job or not."""

_scratch: Path | None = None
"""This worker's own folder for export files (``init_worker``); None: the system's temporary folder."""
_scratch_lock: int | None = None


@dataclass(frozen=True)
class WebJob:
    photo: bytes  # the encoded image file as uploaded (JPEG, PNG, WebP, ...)
    suffix: str = ".png"  # the format, from the header (never the client's file name); decoding reads the bytes
    style: str = "bust"
    height_mm: float = 80.0
    label: str | None = None
    expression: str = "neutral"
    providers: tuple[str, ...] | None = None
    pick_px: tuple[float, float] | None = None  # the face picked on the page (a photo pixel); None: the largest


@dataclass(frozen=True)
class LaterExport:
    """The formats of a made bust still to be written, and what writing them needs.

    bust: the ``realtime.printing.bust.BustResult``, its meshes rebuilt without trimesh's caches
        (about 6.5 MB to pickle instead of 16 for a photo's bust: it crosses two processes).
    formats: the format keys still to write, in ``EXPORT_FORMATS`` order.
    files: the file names they will make (``bust.obj`` brings ``bust.mtl`` and the texture when
        the bust is textured), so the server can name them before they exist.
    """

    bust: Any
    formats: tuple[str, ...]
    files: tuple[str, ...]


@dataclass(frozen=True)
class WebJobResult:
    kind: str  # OK or one of the failure kinds above
    message: str = ""
    files: dict[str, bytes] = field(default_factory=dict)  # file name -> bytes ("bust.stl", "bust.mtl", ...)
    report: dict = field(default_factory=dict)  # JSON-ready: face report, print checks, image size, timings
    seconds: float = 0.0
    later: LaterExport | None = None  # the formats still to write (export_later); None: ``files`` is all

    @property
    def ok(self) -> bool:
        return self.kind == OK


def tie_to_parent(parent_pid: int) -> None:
    """End this process when ``parent_pid`` (the server) ends, even by ``kill -9``.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; the kernel kills the worker when the server
    thread that started it ends (the server's event-loop thread, which lives as long as the
    server). Elsewhere a daemon thread looks every ``PARENT_WATCH_S`` whether the parent changed.
    Either way a parent already gone before this call is noticed at once."""
    tied = False
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            tied = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            tied = False
    if os.getppid() != parent_pid:  # the server died before prctl took hold
        os._exit(ORPHAN_EXIT)
    if not tied:
        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(PARENT_WATCH_S)
            os._exit(ORPHAN_EXIT)

        threading.Thread(target=watch, name="selfie3d-parent-watch", daemon=True).start()


def init_worker(work_dir: str | None, parent_pid: int | None) -> None:
    """A local pool worker's start: tied to the server's life, Ctrl-C left to the server (which
    stops its workers itself; a worker of the terminal's process group would otherwise print a
    KeyboardInterrupt traceback), single-threaded numerics, its own export folder inside
    ``work_dir`` (locked for its life), and the face networks loaded before the first job."""
    global _scratch, _scratch_lock
    from realtime.apps.executors import limit_threads
    from realtime.apps.jobs import PhotoJob, photo_reconstructor

    if parent_pid is not None:
        tie_to_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_threads()
    if work_dir is not None:
        from realtime.apps.web.folders import make_owned_folder

        _scratch, _scratch_lock = make_owned_folder(Path(work_dir), "worker-")
    photo_reconstructor(PhotoJob("", ""))


def worker_ready() -> int:
    """A no-op job that makes the pool start a worker before the first upload; its pid."""
    return os.getpid()


def run_web_job(job: WebJob, debug: bool = False, first_formats: tuple[str, ...] = EXPORT_FORMATS) -> WebJobResult:
    """Reconstruct the largest face in ``job.photo`` (or the one picked, ``job.pick_px``), build its
    bust and export it in ``first_formats`` (default: every format); the result's ``later`` holds
    the other formats for ``export_later``. The report's ``other_faces`` are the other people's
    faces (boxes), which the page offers to pick. A video (``job.suffix`` in ``VIDEO_SUFFIXES``) is
    made as ``selfie3d video`` makes it (``_video_bust``)."""
    start = time.perf_counter()
    make = _video_bust if job.suffix in VIDEO_SUFFIXES else _photo_bust
    try:
        return make(job, first_formats, start)
    except Selfie3DError as error:
        return _failed(UNPRINTABLE, str(error), start)
    except Exception as error:  # a bug must come back as a 500 with its cause, not kill the worker
        detail = traceback.format_exc() if debug else f"{type(error).__name__}: {error}"
        return _failed(INTERNAL, f"internal error ({detail})", start)


def _photo_bust(job: WebJob, first_formats: tuple[str, ...], start: float) -> WebJobResult:
    """``run_web_job`` for a photo."""
    from realtime.printing.bust import BustOptions, photo_bust, roll_report
    from realtime.stages.imagefile import decode_image
    from realtime.apps.jobs import PhotoJob, photo_reconstructor

    timings: dict[str, float] = {}
    try:
        # From the bytes in memory: the photo never touches the disk.
        image = decode_image(job.photo, "the photo")  # EXIF orientation, grey/alpha/16-bit, huge images
    except Selfie3DError:
        return _failed(NOT_AN_IMAGE, "the file could not be decoded as an image "
                       "(corrupt, truncated or an unsupported format)", start)
    clock = time.perf_counter()
    # One reconstructor per worker process, shared with `selfie3d photo` jobs.
    # A pick needs every face made (refined) to know which one is meant; only its mask comes
    # back (its neighbours are segmented to part it from them), as for the largest face.
    found = photo_reconstructor(PhotoJob("", "", providers=job.providers)).run(image, pick_px=job.pick_px)
    timings["reconstruct"] = _lap(clock)
    if not found.faces:
        if found.not_human:
            from realtime.stages.photo import refusal_reason

            return _failed(NO_FACE, f"no human face found in the photo: {refusal_reason(found.not_human[0])}",
                           start)
        return _failed(NO_FACE, "no face found in the photo: use a sharp, well-lit photo "
                       "with the whole face visible and looking roughly at the camera", start)
    face = found.faces[0]  # the largest, or the one picked
    other_faces = found.other_face_boxes()
    options = BustOptions(style=job.style, height_mm=job.height_mm, label=job.label,
                          expression=job.expression)
    clock = time.perf_counter()
    try:
        bust = photo_bust(found, 0, image, options)
    except Selfie3DError as error:
        return _failed(UNPRINTABLE, f"no printable solid could be made from this face ({error})", start)
    timings["build"] = _lap(clock)
    clock = time.perf_counter()
    now = tuple(fmt for fmt in EXPORT_FORMATS if fmt in first_formats)
    files = _export(bust, now)
    timings["export"] = _lap(clock)
    report = {**face.report(), "print_checks": bust.checks, "bust_warnings": list(bust.warnings),
              **roll_report(bust, found),
              "image_size": list(found.image_size),
              "faces_found": 1 + len(other_faces), "other_faces": other_faces,
              "style": job.style, "height_mm": job.height_mm,
              "label": job.label, "timings_ms": {**timings, **bust.timings_ms}}
    report.pop("vertices", None)  # 468 x 3 numbers the page does not use; the files carry the shape
    # float32 pixels print as 180.10000610351562 even when rounded: round them as float64.
    report["landmarks68"] = np.round(face.landmarks68_px.astype(np.float64), 2).tolist()
    _add_fit(report, bust, image)
    if job.suffix not in BROWSER_SHOWN_SUFFIXES:
        files[PHOTO_COPY_NAME] = photo_copy_jpeg(image)
    return _made(bust, files, report, now, start)


def _video_bust(job: WebJob, first_formats: tuple[str, ...], start: float) -> WebJobResult:
    """``run_web_job`` for a video (``job.suffix`` in ``VIDEO_SUFFIXES``): its bust as
    ``selfie3d video`` makes it (``realtime.apps.video``: the most frontal frame, the head scan
    the turn gave), at most ``MAX_VIDEO_FRAMES`` read. The report has the photo's keys the page
    uses, of that frame, and ``video`` (frames, the frame, the scan); the frame comes back as the
    photo's copy (``PHOTO_COPY_NAME``), for the page to show the fit on."""
    import os
    import tempfile

    from realtime.apps.video import TURN_HINT, VideoBust, gather_video
    from realtime.printing.bust import BustOptions
    from realtime.stages.capture import CaptureOptions
    from realtime.stages.pipeline import PipelineOptions
    from realtime.stages.reconstruction import ReconstructionOptions
    from realtime.topology import N_VERTICES, ibug68_points

    # OpenCV reads a video from a file: one in the worker's own folder, gone when the job ends.
    handle, name = tempfile.mkstemp(suffix=job.suffix, dir=_scratch if _scratch is not None else None)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(job.photo)
        width, height = _video_frame_size(name)
        if width * height > MAX_VIDEO_FRAME_PIXELS:
            return _failed(TOO_LARGE, f"the video's frames are {width}x{height} pixels; the limit is 4K "
                           "(3840x2160): film at 4K or less", start)
        with VideoBust(scan=True) as gathered:
            try:
                pipeline = PipelineOptions(reconstruction=ReconstructionOptions(providers=job.providers))
                frames, tracked = gather_video(gathered, CaptureOptions(path=name), pipeline, MAX_VIDEO_FRAMES,
                                               deadline_s=MAX_VIDEO_SECONDS)
            except InputError:  # the file (a model that fails to load is the server's, a 500)
                return _failed(NOT_AN_IMAGE, "the video could not be read (corrupt, truncated or an "
                               "unsupported format)", start)
            if not gathered.has_face:
                read = f"first {frames}" if frames >= MAX_VIDEO_FRAMES else f"{frames}"
                return _failed(NO_FACE, f"no face found in the video's {read} frame{'s' * (frames != 1)}: "
                               f"{TURN_HINT}", start)
            options = BustOptions(style=job.style, height_mm=job.height_mm, label=job.label,
                                  expression=job.expression)
            try:
                bust, summary = gathered.build(options)
            except Selfie3DError as error:
                return _failed(UNPRINTABLE, f"no printable solid could be made from this face ({error})", start)
            image, vertices = gathered.last["image"], np.asarray(gathered.last["vertices_px"])[:N_VERTICES]
            fused = gathered.last["fused"]
    finally:
        os.unlink(name)
    now = tuple(fmt for fmt in EXPORT_FORMATS if fmt in first_formats)
    files = _export(bust, now)
    height, width = image.shape[:2]
    report = {"pd_mm": getattr(fused, "pd_mm", None), "face_width_mm": getattr(fused, "face_width_mm", None),
              "scale_source": getattr(fused, "scale_source", None),
              "scale_warning": getattr(fused, "scale_warning", None),
              "print_checks": bust.checks, "bust_warnings": list(bust.warnings),
              "image_size": [width, height], "faces_found": 1, "other_faces": [],
              "style": job.style, "height_mm": job.height_mm, "label": job.label,
              "video": {"frames": frames, "tracked_fraction": round(tracked / frames, 4) if frames else 0.0,
                        **summary},
              "landmarks68": np.round(ibug68_points(vertices)[:, :2].astype(np.float64), 2).tolist(),
              "timings_ms": {"total": _lap(start), **bust.timings_ms}}
    _add_fit(report, bust, image)
    files[PHOTO_COPY_NAME] = photo_copy_jpeg(image)
    return _made(bust, files, report, now, start)


def _video_frame_size(path: str) -> tuple[int, int]:
    """A video file's frame size ``(width, height)`` from its header (no frame decoded; ``(0, 0)``
    where OpenCV cannot open it: the reader then says why)."""
    import cv2

    capture = cv2.VideoCapture(path)
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        capture.release()


def _add_fit(report: dict, bust, image: np.ndarray) -> None:
    """The fit, for the page's overlay: the file's camera (``bust_view``) and the bust's outline
    over the picture (``bust_outline``), added to ``report`` where the bust has a view."""
    if bust.view is None:
        return
    from realtime.printing import overlay

    report["bust_view"] = np.round(bust.view, 6).tolist()
    height, width = image.shape[:2]
    silhouette = overlay.silhouette_mask(bust.mesh.vertices, bust.mesh.faces, bust.view, (width, height))
    report["bust_outline"] = overlay.outline_polygon(silhouette, OUTLINE_TOLERANCE_PX).tolist()


def _made(bust, files: dict[str, bytes], report: dict, now: tuple[str, ...], start: float) -> WebJobResult:
    """The answer for a made bust: ``files`` written ``now``, the other formats left for later."""
    rest = tuple(fmt for fmt in EXPORT_FORMATS if fmt not in now)
    later = LaterExport(_portable(bust), rest, later_file_names(rest, bust.textured is not None)) if rest else None
    return WebJobResult(OK, "", files, _plain(report), time.perf_counter() - start, later)


def photo_copy_jpeg(image: np.ndarray) -> bytes:
    """``image`` (``(H, W, 3) uint8`` BGR, as decoded: EXIF-turned) as JPEG bytes, shrunk to
    ``PHOTO_COPY_MAX_SIDE_PX`` on its longest side where larger (the aspect kept)."""
    import cv2

    height, width = image.shape[:2]
    shrink = PHOTO_COPY_MAX_SIDE_PX / max(height, width)
    if shrink < 1:
        size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, PHOTO_COPY_QUALITY])
    if not ok:
        raise Selfie3DError("the photo's JPEG copy could not be encoded")
    return encoded.tobytes()


def export_later(later: LaterExport, debug: bool = False) -> WebJobResult:
    """Write the formats ``run_web_job`` left for later; the result's ``files`` are their bytes
    and its report holds their export time (``timings_ms.export_later``)."""
    start = time.perf_counter()
    try:
        files = _export(later.bust, later.formats)
        return WebJobResult(OK, "", files, {"timings_ms": {"export_later": _lap(start)}}, time.perf_counter() - start)
    except Selfie3DError as error:
        return _failed(UNPRINTABLE, f"the {', '.join(later.formats)} export failed ({error})", start)
    except Exception as error:  # a bug must come back with its cause, not kill the worker
        detail = traceback.format_exc() if debug else f"{type(error).__name__}: {error}"
        return _failed(INTERNAL, f"internal error ({detail})", start)


def later_file_names(formats: tuple[str, ...], textured: bool) -> tuple[str, ...]:
    """The files ``formats`` make: ``bust.<fmt>`` each, and the OBJ's material and texture when
    the bust is textured (``realtime.printing.export.obj_companion_names``)."""
    from realtime.printing.export import obj_companion_names

    names = [f"{STEM}.{fmt}" for fmt in formats]
    if "obj" in formats and textured:
        names += list(obj_companion_names(STEM))
    return tuple(names)


def _export(bust, formats: tuple[str, ...]) -> dict[str, bytes]:
    """File name -> bytes of ``bust`` in ``formats`` (OBJ with its companions)."""
    from realtime.printing.bust import export_bust

    if not formats:
        return {}
    # export_bust writes each file and loads it back to check it: on disk only for that moment.
    scratch = _scratch if _scratch is not None and _scratch.is_dir() else None
    with tempfile.TemporaryDirectory(prefix="selfie3d-job-", dir=scratch) as folder:
        out = Path(folder)
        for fmt in formats:
            export_bust(bust, out / f"{STEM}.{fmt}", fmt=fmt, overwrite=True)
        return {path.name: path.read_bytes() for path in sorted(out.iterdir()) if not path.name.startswith(".")}


def _portable(bust):
    """``bust`` with its meshes rebuilt bare (vertices, faces, texture coordinates and image; no
    trimesh caches): what exporting needs, at 40 % of the pickled size."""
    import dataclasses

    import trimesh

    def bare(mesh):
        if mesh is None:
            return None
        visual = None
        if isinstance(mesh.visual, trimesh.visual.TextureVisuals):
            visual = trimesh.visual.TextureVisuals(uv=np.asarray(mesh.visual.uv), material=mesh.visual.material)
        return trimesh.Trimesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), visual=visual, process=False)

    return dataclasses.replace(bust, mesh=bare(bust.mesh), textured=bare(bust.textured))


def _failed(kind: str, message: str, start: float) -> WebJobResult:
    return WebJobResult(kind, message, seconds=time.perf_counter() - start)


def _lap(start: float) -> float:
    return round(1000.0 * (time.perf_counter() - start), 1)


def _plain(value):
    """Numpy scalars, arrays and tuples to JSON types (the report crosses a process and HTTP)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array
        return _plain(value.tolist())
    return value
