"""The start method of preprocess's worker processes, and starting their fork server early.

Workers fork from multiprocessing's fork server, never from the main process, whose OpenCV / torch thread pools can
deadlock a forked child (spawn where the platform has no fork server). The server imports the worker module once,
so each worker starts in milliseconds; the server itself takes a fresh interpreter and that import (~0.2 s), which
`start_server` lets a run spend while it still imports its own modules and finds its files.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext

from faceaug.cpus import cpu_count

#: what the fork server imports before it forks a worker: everything a worker runs (`run_chunk`) and needs
WORKER_MODULE = "faceaug.preprocess.worker"


def pool_context() -> BaseContext:
    """The multiprocessing context preprocess's pool starts its workers with."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([WORKER_MODULE])
    return ctx


def requested_processes(requested: int) -> int:
    """The processes `--workers` asks for (0 = one per core)."""
    return requested if requested > 0 else cpu_count()


def start_server(requested_workers: int) -> None:
    """Start the fork server now, in the background, when this run may use more than one process; a run that ends
    up with too few sources for a pool leaves it idle (it exits with us)."""
    if requested_processes(requested_workers) <= 1 or pool_context().get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    forkserver.ensure_running()
