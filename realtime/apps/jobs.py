"""Photo jobs: one image in, printable files out.

A ``PhotoJob`` is one image in and printable files out; ``run_photo_job`` does it in whatever
process it lands in and always returns a ``PhotoJobResult`` — a bad image is a failed result
with its one-line message, never an exception that stops a batch. The executors that run them
(in this process, a process pool, Ray) are ``realtime.apps.executors``'s; ``init_worker`` and
``run_in_worker`` are what a pool worker runs. ``plan_jobs`` turns photos and
an ``-o`` into jobs and checks every output before any photo is processed: the folder can be
written, no output replaces an input photo or another output (a photo's later faces included,
whose count is only known after detection), none exists already unless ``--overwrite``, and the
format is one we write.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import signal
import stat
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator

from realtime.errors import InputError, Selfie3DError
from realtime.fileio import nearest_existing, output_error, probe_writable

log = logging.getLogger("selfie3d")

from realtime.printing.vocabulary import FORMATS as MESH_FORMATS  # noqa: E402

FACE_SUFFIX = re.compile(r"_face([2-9]|[1-9][0-9]+)$")
"""What ``face_output_path`` appends to a name for faces 2, 3, ... (no leading zeros, never 1)."""



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
    any_face: bool = False  # build whatever face the networks find (no not-a-person check)
    level: bool = True  # stand the bust level with the room's verticals where the camera was held askew
    overlay: str | None = None  # PNG: the bust's silhouette and landmarks drawn over the photo


@dataclass(frozen=True)
class PhotoJobResult:
    image_path: str
    ok: bool
    error: str | None = None
    faces: list[dict] = field(default_factory=list)  # PhotoFace.report() + output path + print checks
    image_size: tuple[int, int] = (0, 0)
    seconds: float = 0.0
    exit_code: int = 0  # a failed photo's: its error's code (2 input, 3 models), 1 for a bug
    other_faces: list[list[float]] = field(default_factory=list)  # boxes of the people without a bust
    # With --all-faces, the faces whose bust could not be made while others' were: {"face": N (as in
    # the file names: 1 is the photo's own name), "error": the one line}. All failing fails the photo.
    failed_faces: list[dict] = field(default_factory=list)


def face_output_path(output: str, index: int, fmt: str) -> Path:
    """``output`` for the first face, ``<stem>_face<N>.<fmt>`` for the others."""
    path = Path(output)
    if path.suffix.lower().lstrip(".") != fmt:
        path = path.with_name(path.name + f".{fmt}")
    return path if index == 0 else path.with_name(f"{path.stem}_face{index + 1}{path.suffix}")


def job_files(job: PhotoJob, index: int) -> list[Path]:
    """Every file ``job`` writes for face ``index`` (0 is the first): the mesh file and, for OBJ,
    the ``<stem>.mtl`` and ``<stem>_texture.png`` the exporter puts beside it."""
    main = face_output_path(job.output, index, job.fmt)
    overlay = [Path(job.overlay)] if job.overlay and index == 0 else []
    if job.fmt != "obj":
        return [main] + overlay
    from realtime.printing.export import obj_companion_names  # only for OBJ: it imports trimesh

    return [main] + [main.with_name(name) for name in obj_companion_names(main.stem)] + overlay


_reconstructors: dict = {}

_exporting = False
"""Whether ``run_photo_job`` is inside ``export_bust``: the one time a job has temporary files
on disk, which a pool worker told to stop removes before it exits (``_on_sigterm``)."""


@contextlib.contextmanager
def _export_in_progress() -> Iterator[None]:
    global _exporting
    _exporting = True
    try:
        yield
    finally:
        _exporting = False


def photo_reconstructor(job: PhotoJob):
    """One reconstructor per process and option set: loading the networks costs more than a
    photo, so a worker keeps them between jobs."""
    from realtime.stages.photo import PhotoOptions, PhotoReconstructor

    key = (job.all_faces, job.providers, job.any_face, job.level)
    if key not in _reconstructors:
        _reconstructors[key] = PhotoReconstructor(PhotoOptions(all_faces=job.all_faces, providers=job.providers,
                                                               human_only=not job.any_face, level=job.level))
    return _reconstructors[key]


_stage_listener = None
"""Called with each stage's name as a photo job enters it (``report_stages``), or None."""


def report_stages(listener) -> None:
    """Have ``run_photo_job`` call ``listener(stage: str)`` at each stage (None: stop)."""
    global _stage_listener
    _stage_listener = listener


def _stage(name: str) -> None:
    if _stage_listener is not None:
        _stage_listener(name)


def run_photo_job(job: PhotoJob, debug: bool = False) -> PhotoJobResult:
    """Reconstruct every wanted face in one image and export a printable file per face."""
    from realtime.stages.imagefile import load_image

    start = time.perf_counter()
    try:
        _stage("reading the photo")
        image = load_image(job.image_path)
        _stage("finding the face")
        result = photo_reconstructor(job).run(image)
        if not result.faces:
            raise no_human_face_error(job.image_path, result)
        # Only now: the bust builder's libraries take ~ 0.4 s to import, which a command started
        # on a background thread (``realtime.apps.preload``) while the networks ran.
        from realtime.printing.bust import BustOptions, export_bust, photo_bust, roll_report

        faces, busts, made, failed_faces = [], [], [], []
        first_error = None
        for index, face in enumerate(result.faces):
            options = BustOptions(style=job.style, height_mm=job.height_mm, label=job.label,
                                  expression=job.expression)
            _stage("building the bust" if len(result.faces) == 1 else f"building bust {index + 1} of {len(result.faces)}")
            try:
                bust = photo_bust(result, index, image, options)
                # Only now, with a file to put in it: a photo that fails leaves no empty folder.
                _make_output_folder(Path(job.output).parent)
                _stage("writing and checking the file")
                with _export_in_progress():
                    path = export_bust(bust, face_output_path(job.output, index, job.fmt), fmt=job.fmt,
                                       overwrite=job.overwrite)
            except Selfie3DError as error:
                # One face of a group photo that makes no printable solid does not cost the others theirs.
                if debug:
                    log.exception("%s: face %d: failed", job.image_path, index + 1)
                first_error = first_error or error
                failed_faces.append({"face": index + 1, "error": str(error)})
                continue
            busts.append(bust)
            made.append(index)
            faces.append({**face.report(), "output": str(path),
                          **roll_report(bust, result),
                          "print_checks": bust.checks,
                          "bust_view": _rounded_view(bust.view), "bust_warnings": list(bust.warnings)})
        if not made:
            raise first_error
        if job.overlay:
            from realtime.printing.overlay import write_photo_overlay

            _make_output_folder(Path(job.overlay).parent)
            fits = write_photo_overlay(job.overlay, image, result, busts, overwrite=job.overwrite, made=made)
            for face, fit in zip(faces, fits):
                face["silhouette_iou"] = round(fit, 4)
        return PhotoJobResult(job.image_path, True, None, faces, result.image_size, time.perf_counter() - start,
                              other_faces=result.other_face_boxes(), failed_faces=failed_faces)
    except Selfie3DError as error:
        if debug:  # --debug promises tracebacks; the batch still goes on with the next photo
            log.exception("%s: failed", job.image_path)
        # One line that names the photo: in a batch, which one failed is the first thing to know.
        message = str(error) if str(error).startswith(job.image_path) else f"{job.image_path}: {error}"
        return PhotoJobResult(job.image_path, False, message, seconds=time.perf_counter() - start,
                              exit_code=error.exit_code)
    except Exception as error:  # a bug on one image must not stop the batch: report it
        detail = traceback.format_exc() if debug else f"{type(error).__name__}: {error}"
        return PhotoJobResult(job.image_path, False, f"{job.image_path}: internal error ({detail})",
                              seconds=time.perf_counter() - start, exit_code=1)


def no_human_face_error(source: str, result) -> InputError:
    """The one line for a photo in which no face passed as a person's (``PhotoResult``)."""
    if result.not_human:
        from realtime.stages.photo import refusal_reason

        return InputError(f"{source}: no human face found: {refusal_reason(result.not_human[0])}; pass --any-face "
                          f"to make a bust of it anyway")
    return InputError(f"{source}: no face found")


def _rounded_view(view) -> list | None:
    """A bust's ``(3, 4)`` view as JSON: rows of numbers, 6 significant digits."""
    if view is None:
        return None
    import numpy as np

    return [[float(f"{value:.6g}") for value in row] for row in np.asarray(view)]


def _make_output_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # the folder, or one above it, is a file
        raise output_error(folder, OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)),
                           "cannot create the output folder") from None
    except OSError as error:
        raise output_error(folder, error, "cannot create the output folder") from None


def missing_folders(jobs: Iterable[PhotoJob]) -> list[Path]:
    """The output folders of ``jobs`` (and folders above them) that do not exist yet, deepest
    first: what a run may create and should remove again if it leaves them empty."""
    missing: set[Path] = set()
    for job in jobs:
        for folder in (Path(job.output).parent, *Path(job.output).parent.parents):
            if folder in missing or folder.exists():
                break
            missing.add(folder)
    return sorted(missing, key=lambda folder: len(folder.parts), reverse=True)


def remove_empty_folders(folders: Iterable[Path]) -> None:
    """``rmdir`` each of ``folders`` (deepest first) that is empty; anything else stays."""
    for folder in folders:
        with contextlib.suppress(OSError):  # not empty, already gone: keep going
            folder.rmdir()


class _Stopped(BaseException):
    """Raised in a pool worker told to stop (SIGTERM) in the middle of an export. A
    BaseException, so the job's ``except Exception`` does not report it as a failed photo."""


def _on_sigterm(signum, frame) -> None:
    if _exporting:
        raise _Stopped()  # unwinds the export: its atomic writes remove their temporary files
    # Anywhere else nothing is on disk to clean up, and exiting at once is the only sure way:
    # an exception raised at a random point (an import, a library's bare except) can be lost.
    os._exit(128 + signum)


def init_worker() -> None:
    """A pool worker's signals: Ctrl-C is left to the parent, which stops the workers
    with SIGTERM (a worker that got SIGINT itself would report the job as failed and go on)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)


def run_in_worker(job: PhotoJob, debug: bool) -> PhotoJobResult:
    try:
        return run_photo_job(job, debug)
    except _Stopped:  # the pool's loop would send it back as a result and take the next job
        os._exit(128 + signal.SIGTERM)


def unique_names(stems: list[str], all_faces: bool = False) -> list[str]:
    """One output name per photo, in order, such that no two photos' outputs can share a file.

    stems: each photo's file name without its suffix. A photo keeps its own stem where that is
    free; the rest get ``<stem>_2``, ``<stem>_3``... (the first that is free), decided after every
    own stem is placed, so a real ``mom_2.jpg`` keeps ``mom_2``. With ``all_faces`` a photo may
    also write ``<name>_face2``, ``<name>_face3``... (how many is only known after detection), so
    a name is also taken when it is such a face name of another photo's name, or another's name
    is a face name of it. Names are compared case-folded: macOS and Windows file systems are.
    """
    taken: set[str] = set()
    face_parents: set[str] = set()  # X for every taken name X_faceN: X's faces would clash

    def free(name: str) -> bool:
        key = name.casefold()
        if key in taken:
            return False
        if all_faces:
            face = FACE_SUFFIX.search(key)
            return key not in face_parents and not (face and key[:face.start()] in taken)
        return True

    def take(name: str) -> str:
        key = name.casefold()
        taken.add(key)
        face = FACE_SUFFIX.search(key)
        if face:
            face_parents.add(key[:face.start()])
        return name

    names: list[str | None] = [take(stem) if free(stem) else None for stem in stems]
    for i, stem in enumerate(stems):
        if names[i] is None:
            number = 2
            while not free(f"{stem}_{number}"):
                number += 1
            names[i] = take(f"{stem}_{number}")
    return names  # type: ignore[return-value]


def _looks_like_extension(suffix: str) -> bool:
    """A last name part such as ``.ply`` is a file extension; ``.05`` (a dated folder
    ``scans_2024.05``) is not: every file format we or users name has a letter in it."""
    return any(char.isalpha() for char in suffix)


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file: the same inode where both exist (hard links, a case-
    insensitive file system), else the same resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def _check_writable_folder(folder: Path, shown: str) -> None:
    """Raise an ``OutputError`` unless files can be created in ``folder`` (created or not yet):
    its nearest existing folder must be a folder we may write into. Creates nothing."""
    try:
        existing = nearest_existing(folder)
    except OSError as error:  # a name too long to look up
        raise output_error(shown, error, "cannot write here") from None
    if not existing.is_dir():
        raise output_error(shown, OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)), "cannot write here")
    try:
        probe_writable(existing)
    except OSError as error:
        raise output_error(shown, error, "cannot write here") from None


def _file_tails(job: PhotoJob) -> list[str]:
    """What follows the output name in each of a job's file names: ``.stl``; for OBJ ``.obj``,
    ``.mtl`` and ``_texture.png``."""
    name = face_output_path(job.output, 0, job.fmt).stem
    return [path.name[len(name):] for path in job_files(job, 0)]


def _later_face_file(path: Path, jobs_by_name: dict[str, PhotoJob],
                     tails: set[str]) -> tuple[Path, PhotoJob, int] | None:
    """(file, job, face number >= 2) if a job in ``jobs_by_name`` (case-folded output name ->
    job, jobs that write every face) may write ``path`` for a face after its first, else None.
    ``tails``: the jobs' ``_file_tails``, case-folded."""
    name = path.name
    for tail in tails:
        if not name.casefold().endswith(tail):
            continue
        base = name[:len(name) - len(tail)]
        face = FACE_SUFFIX.search(base)
        job = jobs_by_name.get(base[:face.start()].casefold()) if face else None
        if job:
            number = int(face.group(1))
            for candidate in job_files(job, number - 1):
                if _same_file(candidate, path):
                    return candidate, job, number
    return None


def _replaces_input(image: Path, output: Path, job: PhotoJob, face: int = 1) -> str:
    """The one line for an output ``output`` of ``job`` (for face number ``face``) that is the
    input photo ``image``."""
    same = "" if str(output) == str(image) else f" (the same file as {output})"
    who = f"the output for face {face} of {job.image_path}" if face > 1 else f"an output of {job.image_path}"
    return f"the input photo {image}{same} would be overwritten by {who}; choose another -o"


def check_outputs(jobs: list[PhotoJob], report: str | None = None) -> None:
    """Raise a one-line ``Selfie3DError`` if the outputs of ``jobs`` (and the ``report`` file)
    cannot be written, would replace an input photo or each other, or already exist and the
    job may not overwrite them; touches nothing.

    Faces after the first are only known after detection: with ``all_faces`` an input or the
    report named like one of a job's ``_faceN`` files counts as a clash too.
    """
    if not jobs:
        return
    folders = {Path(job.output).parent for job in jobs} | {Path(job.overlay).parent for job in jobs if job.overlay}
    for folder in sorted(folders):
        _check_writable_folder(folder, str(folder) if str(folder) != "." else "the current folder")
    by_inode: dict[tuple[int, int], Path] = {}  # the input photos that exist, by file identity
    for job in jobs:
        try:
            info = os.stat(job.image_path)
        except OSError:
            continue  # missing or unreadable: its job reports that, and there is nothing to lose
        if stat.S_ISREG(info.st_mode):
            by_inode.setdefault((info.st_dev, info.st_ino), Path(job.image_path))
    inputs = list(by_inode.values())
    planned: dict[Path, Path] = {}  # resolved -> as planned
    for job in jobs:
        for path in job_files(job, 0):
            resolved = path.resolve()
            if resolved in planned:
                raise InputError(f"{planned[resolved]} would be written twice; choose another -o")
            planned[resolved] = path
            try:
                info = path.stat()
            except OSError:
                continue  # not there yet: it cannot be an input photo
            image = by_inode.get((info.st_dev, info.st_ino))
            if image is not None:
                raise InputError(_replaces_input(image, path, job))
            if not job.overwrite:  # the export would refuse it too, but only after the photo's work
                raise InputError(f"{path} already exists; pass --overwrite to replace it or choose another name")
    by_name = {face_output_path(job.output, 0, job.fmt).stem.casefold(): job for job in jobs if job.all_faces}
    tails = {tail.casefold() for job in jobs[:1] for tail in _file_tails(job)}  # one format per batch
    for image in inputs:
        clash = _later_face_file(image, by_name, tails)
        if clash:
            raise InputError(_replaces_input(image, *clash))
    if report is None:
        return
    report_path = Path(report)
    if report_path.is_dir():
        raise InputError(f"--report {report} is a folder; give a file name such as report.json")
    _check_writable_folder(report_path.parent, report)
    clash = next((image for image in inputs if _same_file(image, report_path)), None)
    if clash:
        raise InputError(f"--report {report} would replace the input photo {clash}; choose another name")
    if report_path.resolve() in planned or _later_face_file(report_path, by_name, tails):
        raise InputError(f"--report {report} is also the name of an output file; choose another name")


def plan_jobs(images: list[str], output: str, fmt: str | None, report: str | None = None,
              **settings) -> list[PhotoJob]:
    """Jobs for ``images``: a single image may name its output file; otherwise ``output`` is a
    folder and each image gets ``<folder>/<name>.<fmt>``, ``name`` its stem made unique across
    the batch (``unique_names``). Every output (and ``report``, the JSON report's path) is
    checked before any photo is processed (``check_outputs``); nothing is created."""
    out = Path(output)
    # A trailing slash or an existing folder says "folder", whatever dots the name has.
    folder_given = output.endswith(("/", os.sep)) or out.is_dir()
    suffix = "" if folder_given else out.suffix.lower().lstrip(".")
    if suffix and suffix not in MESH_FORMATS and _looks_like_extension(suffix):
        # Used to become a folder "x.ply/" holding x.stl.
        raise InputError(f"unknown output format {out.suffix} (use .stl, .3mf, .obj or .glb, "
                         f"or a folder name without an extension)")
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
    overlay = settings.pop("overlay", None)
    if single_file:
        jobs = [PhotoJob(images[0], str(out), fmt, **settings)]
    else:
        if out.exists() and not out.is_dir():
            raise InputError(f"-o {output} is a file, not a folder; give a folder (or, for one photo, "
                             f"a file name ending .stl, .3mf, .obj or .glb)")
        names = unique_names([Path(image).stem for image in images], settings.get("all_faces", False))
        jobs = [PhotoJob(image, str(out / f"{name}.{fmt}"), fmt, **settings) for image, name in zip(images, names)]
    if overlay:
        jobs = [replace(job, overlay=path) for job, path in zip(jobs, overlay_paths(overlay, jobs))]
    check_outputs(jobs, report)
    return jobs


def overlay_paths(overlay: str, jobs: list[PhotoJob]) -> list[str]:
    """Where each job's overlay goes: ``overlay`` itself (a .png) for one photo, else a folder
    holding ``<output name>_overlay.png`` per photo. A name without an extension is a folder (made
    when the first overlay is written), as for ``-o``."""
    path = Path(overlay)
    folder_given = overlay.endswith(("/", os.sep)) or path.is_dir() or not path.suffix
    if not folder_given:
        if path.suffix.lower() != ".png":
            raise InputError(f"--overlay {overlay}: give a .png file (or, for many photos, a folder)")
        if len(jobs) > 1:
            raise InputError(f"--overlay {overlay} names one file but {len(jobs)} photos were given; give a folder")
        return [str(path)]
    return [str(path / f"{Path(job.output).stem}_overlay.png") for job in jobs]


def with_overrides(job: PhotoJob, **changes) -> PhotoJob:
    return replace(job, **changes)
