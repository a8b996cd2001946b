"""Writing outputs so nothing partial is ever left behind.

Every output goes to a temporary file in the destination folder first and is renamed into
place only when it is complete (and validated, where the caller validates), so a crash, a
full disk or a failed check leaves either the old file or no file — never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Iterator

from realtime.errors import Selfie3DError


class OutputError(Selfie3DError):
    """An output that cannot be written (folder missing or read-only, disk full, file exists)."""


@contextlib.contextmanager
def atomic_output(path: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    The temporary name keeps the suffix so writers that choose a format by extension (OpenCV,
    trimesh) still work. On any exception the temporary file is removed and the error is
    re-raised as an ``OutputError`` with a hint when it is an OS error.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: already exists; pass --overwrite to replace it or choose another name")
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=folder)
        os.close(handle)
    except OSError as error:
        raise OutputError(f"{path}: cannot write here ({error.strerror}); choose another output folder") from None
    temp = Path(temp_name)
    try:
        yield temp
        os.replace(temp, path)
    except OSError as error:
        temp.unlink(missing_ok=True)
        hint = "free some disk space" if error.errno == errno.ENOSPC else "check the folder's permissions"
        raise OutputError(f"{path}: could not be written ({error.strerror}); {hint}") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes, overwrite: bool = True) -> Path:
    with atomic_output(path, overwrite) as temp:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    return Path(path)


def write_text_atomic(path: str | Path, text: str, overwrite: bool = True) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"), overwrite)
