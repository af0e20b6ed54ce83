"""One writer per output folder: an advisory lock (`flock`) on OUT/.faceaug.lock for as long as a command writes.

A second faceaug command that would write the same folder stops at once (UserError, exit 2) naming the command
and process that holds it, instead of interleaving its files with the first one's. The kernel releases a `flock`
when its process ends however it ends (kill -9 included), so a dead writer never leaves a stale lock behind: the
next run simply takes it. The lock file is removed on release; a folder the lock had to create is removed again
when the command left nothing else in it (a run refused by its own checks leaves no trace).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from faceaug.errors import UserError, is_machine_fault, machine_faults

LOCK_FILE = ".faceaug.lock"


def _holder(path: Path) -> str:
    """'faceaug <command> (pid N)' from a lock file, or 'another faceaug command' when it cannot be read."""
    try:
        info = json.loads(path.read_text())
        return f"faceaug {info['command']} (pid {int(info['pid'])})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another faceaug command"


def _make_folder(folder: Path) -> list[Path]:
    """Create `folder` and its missing parents; returns the folders created, deepest first."""
    missing = []
    for path in (folder, *folder.parents):
        if path.exists():
            break
        missing.append(path)
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _open_locked(path: Path, command: str) -> int:
    """An fd of `path` holding its exclusive lock; the file is the one at `path` (not one unlinked meanwhile)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserError(
                f"{_holder(path)} is writing {path.parent}; wait for it to finish or choose another output folder."
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"tool": "faceaug", "command": command, "pid": os.getpid()}).encode())
            return fd
        os.close(fd)  # the holder released and removed it between our open and our lock: take the new file


@contextmanager
def output_lock(folder: Path | str, command: str) -> Iterator[None]:
    """Hold FOLDER's writer lock for the body (creating FOLDER if needed); UserError if another holds it."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} exists and is not a folder.")
    try:
        created = _make_folder(folder)
        fd = _open_locked(folder / LOCK_FILE, command)
    except OSError as exc:
        if is_machine_fault(exc):
            raise
        raise UserError(f"faceaug cannot write into {folder} ({exc.strerror or exc}).") from None
    try:
        yield
    finally:
        try:
            (folder / LOCK_FILE).unlink(missing_ok=True)
        finally:
            os.close(fd)  # releases the lock
        for path in created:  # deepest first; only folders left empty
            try:
                path.rmdir()
            except OSError:
                break


@contextmanager
def writing(folder: Path | str, command: str, *, lock: bool = True) -> Iterator[None]:
    """What every command that writes a folder runs inside: the folder's writer lock (unless `lock` is False: a
    process that writes nothing itself), and a machine fault met meanwhile reported as the folder's."""
    with output_lock(folder, command) if lock else nullcontext(), machine_faults(folder):
        yield
