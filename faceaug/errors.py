"""Errors a user can fix, and faults of the machine. The CLI prints them as one sentence, without a traceback:
exit code 2 for the user's input, 1 for the machine (a full disk is never reported as success)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class UserError(Exception):
    """A mistake in the user's input (paths, flags, config, data) — reported without a traceback."""

    exit_code = 2


#: errno values that are faults of the machine (disk full, over quota, I/O error, read-only filesystem), never of
#: one input file: a run that meets one stops with a clear message and keeps what it finished for the rerun.
MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})


def is_machine_fault(exc: BaseException) -> bool:
    """True for an OSError whose errno is one of MACHINE_ERRNOS."""
    return isinstance(exc, OSError) and exc.errno in MACHINE_ERRNOS


class MachineFault(UserError):
    """The machine could not read or write a file (see MACHINE_ERRNOS). Exit code 1."""

    exit_code = 1

    @classmethod
    def from_os_error(cls, exc: OSError, folder: Path | str | None = None) -> MachineFault:
        """`folder`: the output folder the command was writing (an error from a worker process has lost its
        file name); else the folder of the file the error names, if any."""
        where = exc.filename or exc.filename2
        if folder is None and where:
            folder = Path(os.fsdecode(where)).parent
        folder = f" in {folder}" if folder else ""
        reason = exc.strerror or os.strerror(exc.errno or 0)
        return cls(
            f"{reason}{folder} ({errno.errorcode.get(exc.errno or 0, exc.errno)}): a fault of the machine, "
            "not of your data. Free space (or fix the filesystem) and rerun the same command: what was "
            "finished is kept and reused."
        )


@contextmanager
def machine_faults(folder: Path | str) -> Iterator[None]:
    """Turn a machine fault met while writing into `folder` into a MachineFault that names it."""
    try:
        yield
    except OSError as exc:
        if is_machine_fault(exc):
            raise MachineFault.from_os_error(exc, folder) from None
        raise
