"""One writer per run folder, and run folders private to the user.

`cadbench run` and `cadbench score` hold an exclusive lock on `<folder>/.lock` for as long as
they write there: a second command on the same folder stops at once, naming the holder's
pid, instead of doing the whole work again and overwriting the first one's results. The lock is
an `fcntl.flock` on an open file, so the kernel releases it on every exit path (an exception,
Ctrl-C, kill -9); the file itself stays and is harmless.

Folders cadbench creates for runs are 0700 and the files in them 0600: a run folder holds
predictions (gold's are the ground truth) and records that other users of the machine, and
the candidates the sandbox runs as another user, have no business reading.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import CadbenchError

LOCK_FILE = ".lock"
DIR_MODE = 0o700
FILE_MODE = 0o600


class FolderBusy(CadbenchError):
    """Another cadbench command is writing into this run folder."""


def make_private_dir(path: str | Path) -> list[Path]:
    """Create `path` and any missing parents 0700 (whatever the umask); returns the folders it
    created, outermost first, so a command that fails can remove what it made."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    missing.reverse()
    for d in missing:
        try:
            d.mkdir(mode=DIR_MODE)
        except FileExistsError:  # made meanwhile by another process: not ours to remove
            continue
        os.chmod(d, DIR_MODE)   # mkdir's mode is filtered by the umask
    if not path.is_dir():
        raise CadbenchError(f"{path}: exists and is not a folder")
    return [d for d in missing if d.is_dir()]


def make_private(folder: str | Path) -> None:
    """Set the folder 0700 and the files cadbench wrote directly in it 0600."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    os.chmod(folder, DIR_MODE)
    for f in folder.iterdir():
        if f.is_file() and not f.is_symlink():
            os.chmod(f, FILE_MODE)


def remove_if_empty(created: list[Path]) -> None:
    """Remove the folders a failed command created, innermost first, when nothing is in them
    but the lock file (a failed command leaves no empty run folder behind)."""
    for d in reversed(created):
        try:
            lock = d / LOCK_FILE
            if lock.is_file() and [p.name for p in d.iterdir()] == [LOCK_FILE]:
                lock.unlink()
            d.rmdir()
        except OSError:   # not empty (or gone): keep it
            return


class RunLock:
    """`with RunLock(folder):` holds `<folder>/.lock` exclusively or raises FolderBusy."""

    def __init__(self, folder: str | Path, command: str = "cadbench"):
        self.folder = Path(folder)
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        path = self.folder / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise FolderBusy(f"{self.folder}: in use by another cadbench command{holder}; "
                             f"wait for it to finish or pass another --out") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {self.command}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)   # closing drops the flock

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    pid, _, what = text.partition(" ")
    return f" (pid {pid}: {what})" if pid.isdigit() else ""
