"""Outputs: written whole or not at all, never a silent clobber, and a line that says what to do.

Faults are injected: a path under a file (ENOTDIR), a read-only or forbidden folder (the rename
or the temporary file raises EROFS/EACCES; root ignores permission bits, so they are
monkeypatched), a disk that fills mid-write (ENOSPC) and a writer that produces nothing.
"""

import errno
import os
import stat

import cv2
import numpy as np
import pytest

from realtime import fileio
from realtime.fileio import OutputError, atomic_output, free_path, write_bytes_atomic, write_text_atomic


def _leftovers(folder):
    """Temporary files atomic_output may have left in ``folder``."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_write_round_trip_with_user_permissions(tmp_path):
    path = write_text_atomic(tmp_path / "sub folder" / "répört.json", '{"ok": 1}')
    assert path.read_text() == '{"ok": 1}'
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o666 & ~_umask()  # not mkstemp's 0600
    assert not _leftovers(path.parent)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_existing_file_is_never_silently_clobbered(tmp_path):
    path = tmp_path / "bust.stl"
    path.write_bytes(b"old")
    with pytest.raises(OutputError, match=r"already exists; pass --overwrite .* another name"):
        write_bytes_atomic(path, b"new", overwrite=False)
    assert path.read_bytes() == b"old"
    write_bytes_atomic(path, b"new", overwrite=True)
    assert path.read_bytes() == b"new"
    assert not _leftovers(tmp_path)


def test_file_appearing_while_writing_is_not_clobbered(tmp_path):
    path = tmp_path / "race.txt"
    with pytest.raises(OutputError, match="already exists"):
        with atomic_output(path, overwrite=False) as temp:
            temp.write_bytes(b"ours")
            path.write_bytes(b"theirs")  # another process got there first
    assert path.read_bytes() == b"theirs"
    assert not _leftovers(tmp_path)


def test_free_path_picks_a_new_name(tmp_path):
    path = tmp_path / "bust.stl"
    assert free_path(path) == path
    path.write_bytes(b"1")
    assert free_path(path) == tmp_path / "bust (2).stl"
    (tmp_path / "bust (2).stl").write_bytes(b"2")
    assert free_path(path) == tmp_path / "bust (3).stl"


def test_path_under_a_file_is_refused_with_a_hint(tmp_path):
    blocker = tmp_path / "not a folder"
    blocker.write_bytes(b"")
    for path in (blocker / "out.json", blocker / "deeper" / "out.json"):
        with pytest.raises(OutputError, match=r"cannot write here \(Not a directory\); a part of the path is a file"):
            write_text_atomic(path, "{}")


@pytest.mark.parametrize("code, hint", [
    (errno.EROFS, "read-only; choose another output folder"),
    (errno.EACCES, "no permission to write there"),
])
def test_read_only_folder_leaves_nothing(tmp_path, monkeypatch, code, hint):
    path = tmp_path / "out.png"
    path.write_bytes(b"old")

    def refuse(src, dst):
        raise OSError(code, os.strerror(code), str(dst))

    monkeypatch.setattr(fileio.os, "replace", refuse)
    with pytest.raises(OutputError, match=hint):
        with atomic_output(path) as temp:
            cv2.imwrite(str(temp), np.zeros((4, 4, 3), np.uint8))
    assert path.read_bytes() == b"old"
    assert not _leftovers(tmp_path)


def test_read_only_folder_when_creating_the_temporary(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(fileio.tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match=r"out.json: cannot write here \(Read-only file system\); the file system is read-only"):
        write_text_atomic(tmp_path / "out.json", "{}")
    assert not list(tmp_path.iterdir())


class _FullDisk:
    """A file handle on a disk that fills after ``room`` bytes: writes raise ENOSPC."""

    def __init__(self, handle, room):
        self.handle, self.room = handle, room

    def write(self, data):
        if len(data) > self.room:
            self.handle.write(data[: self.room])  # the part that fitted: must not survive
            self.handle.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


def test_disk_full_leaves_nothing_partial_and_says_free_space(tmp_path, monkeypatch):
    real_open = open
    monkeypatch.setattr(fileio, "open", lambda *a, **k: _FullDisk(real_open(*a, **k), room=10), raising=False)
    path = tmp_path / "model.stl"
    with pytest.raises(OutputError, match=r"model.stl: could not be written \(No space left on device\); the disk is full; free some space"):
        write_bytes_atomic(path, b"x" * 1000)
    assert not path.exists() and not _leftovers(tmp_path)


def test_disk_full_keeps_the_old_file(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old report")
    with pytest.raises(OutputError, match="disk is full"):
        with atomic_output(path) as temp:
            temp.write_text("half of a new rep")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert path.read_text() == "old report" and not _leftovers(tmp_path)


def test_writer_that_writes_nothing_is_an_error(tmp_path):
    path = tmp_path / "preview.png"
    with pytest.raises(OutputError, match="produced nothing"):
        with atomic_output(path):
            pass  # the writer failed quietly (cv2.imwrite returns False) and left the file empty
    assert not path.exists() and not _leftovers(tmp_path)


def test_interrupt_while_writing_leaves_nothing(tmp_path):
    path = tmp_path / "video.mp4"
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(path) as temp:
            temp.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert not path.exists() and not _leftovers(tmp_path)


def test_output_error_hints_for_other_errors(tmp_path):
    error = fileio.output_error(tmp_path / "x", OSError(errno.EIO, "Input/output error"))
    assert "Input/output error" in str(error) and "choose another output folder" in str(error)
