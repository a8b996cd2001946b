"""Folders the web service owns on disk, and the removal of those whose owner died.

A server keeps its results, and each of its workers the files a job exports, in a private
folder made by ``make_owned_folder``: inside it a lock file is locked (``flock``) for as long as
the owning process lives. The kernel drops that lock when the process ends, however it ends
(``kill -9`` included), so ``remove_abandoned`` can tell a dead owner's folder (its lock can be
taken) from a live one's (it cannot) without trusting process ids, which get reused. A new
server removes the abandoned folders of earlier servers when it starts; a server removes the
folder of a worker that died. Where ``fcntl`` is missing (Windows) folders are made the same
way and nothing is judged abandoned.

In: a parent folder and a name prefix. Out: the folder made and the open lock (keep it open).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; folders are still made, never judged abandoned
    fcntl = None

LOCK_NAME = ".owner.lock"
"""The file inside an owned folder whose lock the owner holds for its life."""
UNFINISHED_AGE_S = 60.0
"""An unrenamed ``.<prefix>new-...`` folder older than this is an owner that died while making it
(making one takes microseconds; the age keeps a folder being made from being taken)."""


def make_owned_folder(parent: Path, prefix: str) -> tuple[Path, int]:
    """A new private folder ``parent/<prefix><random>`` with its lock held by this process.

    Returns ``(folder, lock_fd)``: the lock lasts while ``lock_fd`` is open (close it after
    removing the folder, or let the process end)."""
    parent.mkdir(parents=True, exist_ok=True)
    # Made under an unfinished name and renamed to <prefix>... only once its lock is held, so a
    # folder with the real prefix always has a live lock while its owner lives.
    fresh = Path(tempfile.mkdtemp(prefix=_unfinished(prefix), dir=parent))
    fd = os.open(fresh / LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o600)
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a folder just made: nobody else has it
    folder = parent / (prefix + fresh.name[len(_unfinished(prefix)):])
    os.rename(fresh, folder)
    return folder, fd


def _unfinished(prefix: str) -> str:
    return f".{prefix}new-"


def is_abandoned(folder: Path) -> bool:
    """Whether ``folder`` was made by ``make_owned_folder`` and its owner has ended."""
    if fcntl is None:
        return False
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR)
    except OSError:  # no lock file: not a folder of ours (or an older version's); leave it
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held: the owner lives
        return False
    finally:
        os.close(fd)  # closing drops a lock this call took
    return True


def remove_abandoned(parent: Path, prefix: str) -> list[Path]:
    """Remove the folders ``parent/<prefix>*`` whose owner has ended (and unfinished ones older
    than ``UNFINISHED_AGE_S``); returns what was removed. A live owner's folder is kept."""
    removed = []
    if fcntl is None or not parent.is_dir():
        return removed
    now = time.time()
    for folder in sorted(parent.glob(prefix + "*")) + sorted(parent.glob(_unfinished(prefix) + "*")):
        unfinished = folder.name.startswith(".")
        with contextlib.suppress(OSError):
            if unfinished and now - folder.stat().st_mtime < UNFINISHED_AGE_S:
                continue
            if folder.is_dir() and not folder.is_symlink() and is_abandoned(folder):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


def release(folder: Path, fd: int | None) -> None:
    """Remove an owned folder and drop its lock."""
    shutil.rmtree(folder, ignore_errors=True)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
