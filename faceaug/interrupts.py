"""Stop signals and worker processes: SIGTERM / SIGHUP stop a command the way Ctrl-C does, and no worker outlives
the command that started it.

`stop_signals_interrupt` (the CLI wraps every command in it) turns Ctrl-C, SIGTERM and SIGHUP into a `Stopped`
KeyboardInterrupt in the main thread, so the same `with` blocks unwind: process pools are terminated, writer locks
released, training saves its checkpoint. `worker_init` (the initializer of every faceaug process pool) makes a
worker leave Ctrl-C to its parent, and exit by itself when its parent is gone (killed with SIGKILL, say), rather
than go on writing into a folder nobody owns any more.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
HELD = {signal.SIGINT, *STOP_SIGNALS}
PARENT_POLL_S = 0.5


class Stopped(KeyboardInterrupt):
    """A stop signal arrived (`signum`)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_held = {"depth": 0, "pending": None}


def _raise_stopped(signum: int, frame) -> None:
    if _held["depth"]:
        _held["pending"] = signum  # raised when the held section ends
        return
    raise Stopped(signum)


@contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """For the body: Ctrl-C, SIGTERM and SIGHUP raise `Stopped` (main thread only; elsewhere a no-op). The
    previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in HELD}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def stops_held() -> Iterator[None]:
    """Hold a stop (of `stop_signals_interrupt`) back during the body, and raise it right after."""
    _held["depth"] += 1
    try:
        yield
    finally:
        _held["depth"] -= 1
        pending = _held["pending"]
        if not _held["depth"] and pending is not None:
            _held["pending"] = None
            raise Stopped(pending)


def _exit_when_orphaned(parent: int) -> None:
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent:
            os._exit(1)


def worker_init() -> None:
    """Initializer of a worker process: Ctrl-C goes to the parent (which stops the pool), SIGTERM ends the worker
    quietly, and the worker exits within PARENT_POLL_S of its parent's death."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True, name="faceaug-orphan-watch").start()


@contextmanager
def process_pool(ctx, workers: int, initializer: Callable[[], None] = worker_init) -> Iterator[ProcessPoolExecutor]:
    """A ProcessPoolExecutor (`ctx`: a multiprocessing context) whose workers run `initializer` (which must call
    `worker_init`). Left normally it waits for its work; left by an exception (a failed task, Ctrl-C, SIGTERM)
    it stops its workers at once, and only then lets the pool clean up: a worker still being born when the
    pool's semaphores go would print a traceback from inside multiprocessing."""
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=initializer)
    try:
        yield pool
    except BaseException:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(PARENT_POLL_S * 10)
        # the queue of tasks not yet taken may hold more than its pipe can take, and nobody reads it any more: its
        # feeder thread must not be waited for (the pool's shutdown, and the interpreter's exit, would hang on it)
        call_queue = getattr(pool, "_call_queue", None)
        if call_queue is not None:
            call_queue.cancel_join_thread()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def submit_all(pool: ProcessPoolExecutor, fn: Callable, *arg_lists: Iterable) -> list[Future]:
    """`pool.submit(fn, *args)` for each args of zip(*arg_lists), with a stop held back meanwhile (raised right
    after): submitting starts the workers, and one started but not yet registered with the pool would be missed
    when the pool stops its workers."""
    with stops_held():
        return [pool.submit(fn, *args) for args in zip(*arg_lists)]
