"""Photo jobs and the executors that run them.

A ``PhotoJob`` is one image in and printable files out; ``run_photo_job`` does it in whatever
process it lands in and always returns a ``PhotoJobResult`` — a bad image is a failed result
with its one-line message, never an exception that stops a batch. Executors share one
interface (``map(jobs) -> iterator of results, in completion order``): ``SerialExecutor`` in
this process, ``LocalPoolExecutor`` over processes (each keeps its networks loaded between
jobs), and the web service and Ray (later) plug in the same way.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator, Protocol

from realtime.errors import InputError, Selfie3DError

log = logging.getLogger("selfie3d")

MESH_FORMATS = ("stl", "3mf", "obj", "glb")


@dataclass(frozen=True)
class PhotoJob:
    image_path: str
    output: str  # a file path (single face) or a stem: faces after the first get _face2, _face3...
    fmt: str = "stl"
    all_faces: bool = False
    style: str = "bust"
    height_mm: float = 80.0
    label: str | None = None
    expression: str = "neutral"
    overwrite: bool = False
    providers: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PhotoJobResult:
    image_path: str
    ok: bool
    error: str | None = None
    faces: list[dict] = field(default_factory=list)  # PhotoFace.report() + output path + print checks
    image_size: tuple[int, int] = (0, 0)
    seconds: float = 0.0


def face_output_path(output: str, index: int, fmt: str) -> Path:
    """``output`` for the first face, ``<stem>_face<N>.<fmt>`` for the others."""
    path = Path(output)
    if path.suffix.lower().lstrip(".") != fmt:
        path = path.with_name(path.name + f".{fmt}")
    return path if index == 0 else path.with_name(f"{path.stem}_face{index + 1}{path.suffix}")


_reconstructors: dict = {}


def photo_reconstructor(job: PhotoJob):
    """One reconstructor per process and option set: loading the networks costs more than a
    photo, so a worker keeps them between jobs."""
    from realtime.photo import PhotoOptions, PhotoReconstructor

    key = (job.all_faces, job.providers)
    if key not in _reconstructors:
        _reconstructors[key] = PhotoReconstructor(PhotoOptions(all_faces=job.all_faces, providers=job.providers))
    return _reconstructors[key]


def run_photo_job(job: PhotoJob, debug: bool = False) -> PhotoJobResult:
    """Reconstruct every wanted face in one image and export a printable file per face."""
    from realtime.bust import BustOptions, build_bust, export_bust
    from realtime.capture import load_image
    from realtime.topology import face_triangles

    start = time.perf_counter()
    try:
        image = load_image(job.image_path)
        _make_output_folder(Path(job.output).parent)
        result = photo_reconstructor(job).run(image)
        if not result.faces:
            raise Selfie3DError(f"{job.image_path}: no face found")
        faces = []
        for index, face in enumerate(result.faces):
            options = BustOptions(style=job.style, height_mm=job.height_mm, label=job.label,
                                  expression=job.expression)
            bust = build_bust(face.vertices_mm, face_triangles(), options, image=image, vertices_px=face.vertices_px)
            path = export_bust(bust, face_output_path(job.output, index, job.fmt), fmt=job.fmt,
                               overwrite=job.overwrite)
            faces.append({**face.report(), "output": str(path), "print_checks": bust.checks})
        return PhotoJobResult(job.image_path, True, None, faces, result.image_size, time.perf_counter() - start)
    except Selfie3DError as error:
        if debug:  # --debug promises tracebacks; the batch still goes on with the next photo
            log.exception("%s: failed", job.image_path)
        return PhotoJobResult(job.image_path, False, str(error), seconds=time.perf_counter() - start)
    except Exception as error:  # a bug on one image must not stop the batch: report it
        detail = traceback.format_exc() if debug else f"{type(error).__name__}: {error}"
        return PhotoJobResult(job.image_path, False, f"{job.image_path}: internal error ({detail})",
                              seconds=time.perf_counter() - start)


def _make_output_folder(folder: Path) -> None:
    from realtime.fileio import OutputError

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{folder}: cannot create the output folder ({error.strerror}); choose another -o") from None


class Executor(Protocol):
    def map(self, jobs: Iterable[PhotoJob]) -> Iterator[PhotoJobResult]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Runs jobs one after another in this process."""

    def __init__(self, debug: bool = False):
        self.debug = debug

    def map(self, jobs: Iterable[PhotoJob]) -> Iterator[PhotoJobResult]:
        for job in jobs:
            yield run_photo_job(job, self.debug)

    def close(self) -> None:
        pass


def limit_threads() -> None:
    """Pool workers each run single-threaded so N workers use N cores without oversubscribing."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2

    cv2.setNumThreads(1)


class LocalPoolExecutor:
    """Runs jobs on a pool of worker processes (default: one per core)."""

    def __init__(self, workers: int | None = None, debug: bool = False):
        self.workers = workers or os.cpu_count() or 1
        self.debug = debug
        # Spawned, not forked: a fork copies OpenCV's and ONNX Runtime's thread pools in
        # whatever locked state the parent's threads left them, and the child can hang.
        import multiprocessing

        self._pool = concurrent.futures.ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=limit_threads)

    def map(self, jobs: Iterable[PhotoJob]) -> Iterator[PhotoJobResult]:
        futures = {self._pool.submit(run_photo_job, job, self.debug): job for job in jobs}
        for future in concurrent.futures.as_completed(futures):
            try:
                yield future.result()
            except Exception as error:  # the worker process died (out of memory, killed)
                yield PhotoJobResult(futures[future].image_path, False, f"worker failed: {error}")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_executor(workers: int | None, job_count: int, debug: bool = False) -> Executor:
    """Serial for one job or one worker (no process start-up to pay), a process pool otherwise."""
    workers = workers or os.cpu_count() or 1
    if job_count <= 1 or workers <= 1:
        return SerialExecutor(debug)
    return LocalPoolExecutor(min(workers, job_count), debug)


def plan_jobs(images: list[str], output: str, fmt: str | None, **settings) -> list[PhotoJob]:
    """Jobs for ``images``: a single image may name its output file; otherwise ``output`` is a
    folder and each image gets ``<folder>/<image stem>.<fmt>``."""
    out = Path(output)
    suffix = out.suffix.lower().lstrip(".")
    if suffix in MESH_FORMATS and len(images) > 1:
        # A folder named "x.stl/" full of STLs is never what was meant.
        raise InputError(f"-o {output} names a file but {len(images)} photos were given; give a folder")
    single_file = len(images) == 1 and suffix in MESH_FORMATS
    if single_file and fmt and fmt.lower() != suffix:
        # Appending the format ("d.stl.glb") would hide the mismatch: make the user pick one.
        raise InputError(f"-o {output} has the extension .{suffix} but --format is {fmt.lower()}; "
                         f"make them agree or leave one out")
    fmt = (fmt or (suffix if single_file else "stl")).lower()
    if fmt not in MESH_FORMATS:
        raise InputError(f"unknown format '{fmt}'; choose one of {', '.join(MESH_FORMATS)}")
    if single_file:
        return [PhotoJob(images[0], str(out), fmt, **settings)]
    stems: dict[str, int] = {}
    jobs = []
    for image in images:
        stem = Path(image).stem
        stems[stem] = stems.get(stem, 0) + 1
        name = stem if stems[stem] == 1 else f"{stem}_{stems[stem]}"  # a.jpg and a.png both in
        jobs.append(PhotoJob(image, str(out / f"{name}.{fmt}"), fmt, **settings))
    return jobs


def with_overrides(job: PhotoJob, **changes) -> PhotoJob:
    return replace(job, **changes)
