"""Atomic file writes (temp file in the target folder + rename) and file hashes: the one home of both.

Anything a later stage reads is either complete or absent. `durable=True` also fsyncs the file before the rename
(survives a power cut); `durable=False` skips that — still never half-written after a crash of the process — for
writers of many files that flush them together (`fsync_files`) before writing the table that lists them.
Files get the permissions of a plain `open(path, "w")` (0666 less the user's umask), not mkstemp's private
0600, so a team sharing a dataset can read what faceaug wrote.
Kept free of pandas/pyarrow so image-only worker processes stay light.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _umask() -> int:
    """The process's umask: from /proc on Linux (a read that changes nothing), else by setting and restoring it."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is (fsynced and) renamed onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if durable:
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def fsync_files(paths: Iterable[Path]) -> None:
    """Make files written with `durable=False` durable (one fsync each: only these files, not the machine)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_bytes_atomic(data: bytes, path: Path, *, durable: bool = True) -> Path:
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json_atomic(payload: Any, path: Path) -> Path:
    return write_bytes_atomic((json.dumps(payload, indent=2, default=str) + "\n").encode(), path)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (models, tables: the ids recorded in outputs)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
