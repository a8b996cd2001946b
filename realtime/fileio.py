"""Writing outputs so nothing partial is ever left behind.

Every output goes to a temporary file in the destination folder first and is renamed into
place only when it is complete (and validated, where the caller validates), so a crash, a
full disk or a failed check leaves either the old file or no file — never half of one. An
existing file is replaced only when the caller says so (``--overwrite``); otherwise the write
is refused, or ``free_path`` picks a new name. OS errors become one ``OutputError`` line that
says what to do (free space, choose another folder, fix permissions).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Iterator

from realtime.errors import Selfie3DError

# What to do about an OS error, by errno; anything else gets the generic folder hint.
_HINTS = {
    errno.ENOSPC: "the disk is full; free some space or choose another output folder",
    errno.EDQUOT: "the disk quota is used up; free some space or choose another output folder",
    errno.EROFS: "the file system is read-only; choose another output folder",
    errno.EACCES: "no permission to write there; choose another output folder or fix its permissions",
    errno.EPERM: "no permission to write there; choose another output folder or fix its permissions",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another output path",
    errno.EISDIR: "that path is a folder; give a file name",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter one",
    errno.EEXIST: "pass --overwrite to replace it or choose another name",
}
_DEFAULT_HINT = "check the folder exists and is writable, or choose another output folder"

# free_path tries "name (2).ext" ... up to this many before giving up.
MAX_FREE_NAME_TRIES = 10_000


class OutputError(Selfie3DError):
    """An output that cannot be written (folder missing or read-only, disk full, file exists)."""


def output_error(path: str | Path, error: OSError, doing: str = "could not be written") -> OutputError:
    """The one-line ``OutputError`` for an ``OSError`` met while writing ``path``."""
    reason = error.strerror or str(error) or type(error).__name__
    return OutputError(f"{path}: {doing} ({reason}); {_HINTS.get(error.errno, _DEFAULT_HINT)}")


def nearest_existing(path: Path) -> Path:
    """``path`` or its deepest parent that exists (``.`` when a relative path's parents are all
    missing). Raises ``OSError`` for a name the system cannot even look up (too long)."""
    return next((p for p in (path, *path.parents) if p.exists()), Path("."))


def probe_writable(folder: Path) -> None:
    """Create and remove a hidden folder in ``folder``; raises the ``OSError`` that met. The one
    honest test: permissions, read-only mounts, /proc and running as root all answer it."""
    os.rmdir(tempfile.mkdtemp(prefix=".selfie3d-check-", dir=folder))


def free_path(path: str | Path) -> Path:
    """``path`` if nothing is there, else the first free ``stem (N).suffix`` beside it (N >= 2):
    a new name instead of a silent clobber."""
    path = Path(path)
    if not path.exists():
        return path
    for number in range(2, MAX_FREE_NAME_TRIES):
        candidate = path.with_name(f"{path.stem} ({number}){path.suffix}")
        if not candidate.exists():
            return candidate
    raise OutputError(f"{path}: no free name found beside it; choose another name")


def user_file_mode() -> int:
    """The mode a newly saved file should have: 0666 less the user's umask (mkstemp's 0600
    would hide the user's own output from their other accounts and tools)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_output(path: str | Path, overwrite: bool = True, allow_empty: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    The temporary name keeps the suffix so writers that choose a format by extension (OpenCV,
    trimesh) still work. The file is flushed to disk before the rename, so even a power cut
    leaves the old file or the new one. A writer that left the file empty (``cv2.imwrite``
    returns False instead of raising) is an error unless ``allow_empty``. On any exception the
    temporary file is removed; OS errors are re-raised as an ``OutputError`` saying what to do.
    Without ``overwrite`` an existing ``path`` is refused, also when it appears while writing.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: already exists; pass --overwrite to replace it or choose another name")
    folder = path.parent if str(path.parent) else Path(".")
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # the folder, or one above it, is a file
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)) from None
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=folder)
        os.close(handle)
        os.chmod(temp_name, user_file_mode())
    except OSError as error:
        raise output_error(path, error, "cannot write here") from None
    temp = Path(temp_name)
    try:
        yield temp
        _finish(temp, path, overwrite, allow_empty)
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise output_error(path, error) from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _finish(temp: Path, path: Path, overwrite: bool, allow_empty: bool) -> None:
    """Flush ``temp`` to disk and move it to ``path`` (refusing to replace without overwrite)."""
    if not temp.exists() or (temp.stat().st_size == 0 and not allow_empty):
        raise OutputError(f"{path}: the writer produced nothing; nothing was saved")
    with open(temp, "rb+") as handle:
        os.fsync(handle.fileno())
    if overwrite:
        os.replace(temp, path)
        return
    try:
        os.link(temp, path)  # atomic and fails if path exists: no race with another writer
    except FileExistsError:
        raise OutputError(f"{path}: already exists; pass --overwrite to replace it or choose another name") from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        if path.exists():  # a file system without hard links: check, then rename
            raise OutputError(f"{path}: already exists; pass --overwrite to replace it or choose another name") from None
        os.replace(temp, path)
        return
    temp.unlink()


def write_bytes_atomic(path: str | Path, data: bytes, overwrite: bool = True) -> Path:
    with atomic_output(path, overwrite, allow_empty=True) as temp:
        with open(temp, "wb") as handle:
            handle.write(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str, overwrite: bool = True) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"), overwrite)
