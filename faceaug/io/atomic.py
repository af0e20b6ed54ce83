"""Atomic file writes (temp file in the target folder + rename) and file hashes: the one home of both.

Anything a later stage reads is either complete or absent. `durable=True` also fsyncs the file before the rename
(survives a power cut); `durable=False` skips that — still never half-written after a crash of the process — for
writers of many files that flush them together (`fsync_files`) before writing the table that lists them.
Files get the permissions of a plain `open(path, "w")` (0666 less the user's umask), not mkstemp's private
0600, so a team sharing a dataset can read what faceaug wrote.
Kept free of pandas/pyarrow so image-only worker processes stay light.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import secrets
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _create_temp(path: Path) -> tuple[int, Path]:
    """Create and open (O_EXCL) a new hidden temporary file beside `path`, creating its folder if needed. Mode 0666
    is given to the kernel, which takes the umask off, so the file gets a plain `open(path, "w")`'s permissions."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
    raise FileExistsError(f"could not create a temporary file beside {path}")


@contextmanager
def atomic_path(path: Path, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is (fsynced and) renamed onto `path`."""
    path = Path(path)
    fd, tmp_path = _create_temp(path)
    os.close(fd)
    try:
        yield tmp_path
        if durable:
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


#: From this many files on, `fsync_files` flushes their filesystem at once where the OS can (Linux's syncfs).
SYNCFS_FROM = 64


def _fsync(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs(path: str | os.PathLike) -> bool:
    """Flush the filesystem holding `path` with one syncfs(2) (Linux; errors of the writeback are reported since
    Linux 5.8); False where there is no syncfs."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"syncfs failed: {os.strerror(code)}", str(path))
    finally:
        os.close(fd)
    return True


def fsync_files(paths: Iterable[str | os.PathLike]) -> None:
    """Make files written with `durable=False` durable. A few files: one fsync each. Many (a preprocess or synth of
    thousands of images): one syncfs per filesystem they are on where the OS has it, which flushes that
    filesystem's dirty data, these files' included, at a fraction of the cost (2,000 files of 44 kB on ext4:
    0.06 s against 0.4 s for one fsync each). Paths stay strings here (no Path object per file): a caller may flush
    in a thread beside Python work, which this loop would otherwise hold up."""
    paths = [os.fspath(p) for p in paths]
    if len(paths) >= SYNCFS_FROM:
        folders: dict[int, str] = {}
        for folder in {os.path.dirname(p) or "." for p in paths}:
            folders.setdefault(os.stat(folder).st_dev, folder)
        if all(_syncfs(folder) for folder in folders.values()):
            return
    for path in paths:
        _fsync(path)


def write_bytes_atomic(data: bytes, path: Path, *, durable: bool = True) -> Path:
    """`data` as the file `path`, atomically: written through the temporary file's own descriptor (the fewest
    system calls, which is what a preprocess or expand of thousands of small images spends its I/O time on)."""
    path = Path(path)
    fd, tmp_path = _create_temp(path)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(payload: Any, path: Path) -> Path:
    return write_bytes_atomic((json.dumps(payload, indent=2, default=str) + "\n").encode(), path)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (models, tables: the ids recorded in outputs)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
