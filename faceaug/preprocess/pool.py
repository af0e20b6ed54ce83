"""Running `process_source` over every source: in this process for a few sources, else in a process pool.

Results come back in task order; every new face is appended to the journal (faceaug.preprocess.cache) as it
arrives, so the work of a run that is stopped is reused by the next one. Pool workers hand their faces' PNG bytes
back and this process writes every face file: one writer, as processes creating files side by side in one folder
wait on each other (`_written`).
"""

from __future__ import annotations

import importlib
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import as_completed
from contextlib import closing
from functools import partial
from pathlib import Path

from faceaug.console import progress
from faceaug.interrupts import process_pool, submit_all
from faceaug.preprocess.cache import journal_face
from faceaug.preprocess.server import pool_context, requested_processes
from faceaug.preprocess.worker import (
    SourceTask,
    init_worker_process,
    internal_error,
    reused_face,
    run_chunk,
    run_one,
    write_face,
)

_SERIAL_BELOW = 24  # fewer sources than this: no process pool (its start-up costs more than it saves)


def worker_count(requested: int, n_tasks: int) -> int:
    """Processes for `n_tasks` sources (`requested` 0 = one per core; one below `_SERIAL_BELOW` sources)."""
    return 1 if n_tasks < _SERIAL_BELOW else max(1, min(requested_processes(requested), n_tasks))


def process_all(tasks: list[SourceTask], requested: int, journal: Path, settings_key: str) -> list[dict]:
    """Results in task order, with a progress bar; every new face is appended to the journal as it arrives.

    The last run's faces that are still right are found first, in this process, by hashing alone (no decoding):
    only the sources left are handed to `worker_count(requested, …)` processes, so a re-run with nothing new
    starts none."""
    results: list[dict | None] = [None] * len(tasks)
    todo = []
    for index, task in enumerate(tasks):
        reused = reused_face(task)
        if reused is None:
            todo.append((index, task))
        else:
            results[index] = reused
    workers = worker_count(requested, len(todo))
    # closing(): a stop raised here (Ctrl-C, SIGTERM, a full disk while journalling) closes the generator at once,
    # which stops its worker pool, rather than whenever the generator is garbage collected
    running = _run_tasks(todo, workers, light=_light(todo))
    with progress() as bar, open(journal, "a", encoding="utf-8") as log, closing(running) as done:
        job = bar.add_task(f"Aligning faces ({workers} process{'es' if workers > 1 else ''})", total=len(tasks))
        bar.advance(job, len(tasks) - len(todo))
        for index, res in done:
            results[index] = res
            if res["status"] == "face":
                journal_face(log, tasks[index], res, settings_key)
            bar.advance(job)
    return results  # type: ignore[return-value]


def _light(pairs: list[tuple[int, SourceTask]]) -> bool:
    """Whether this process can align these faces without first loading dlib's models (0.65 s, as long as a
    worker takes to start): only then is it worth its running faces while the workers start."""
    return not any(task.settings.detector == "dlib" and task.may_detect for _, task in pairs)


def _run_tasks(pairs: list[tuple[int, SourceTask]], workers: int, light: bool) -> Iterator[tuple[int, dict]]:
    """(task index, result) pairs in completion order; `light` (`_light`): this process runs chunks itself while the
    workers start, and the chunks are bigger."""
    if workers <= 1:
        yield from map(run_one, pairs)
        return
    ctx = pool_context()
    # chunks of about 45 ms of a worker's time, at least 8 a worker: each chunk costs this process a future, two
    # pickles and a few wake-ups (at 16 sources a chunk, 0.2 s of 7,636 FER-sized faces with CSVs, 0.7 ms each),
    # and the last one keeps one worker busy while the other has none (faces detected by dlib take 3 ms each)
    size = max(1, min(64 if light else 16, len(pairs) // (workers * 8)))
    chunks = [pairs[i : i + size] for i in range(0, len(pairs), size)]
    tasks = dict(pairs)
    with process_pool(ctx, workers, init_worker_process) as pool:
        # the first worker can take a few tenths of a second to start (the fork server's own start, when the command
        # did not start it early): the pool gets two chunks a worker at first, and this process runs chunks from the
        # back of the queue itself (when `light`) until a worker's first result arrives; then the pool gets the rest
        queue = deque(chunks)
        first = [queue.popleft() for _ in range(min(len(queue), 2 * workers))]
        unwritten = partial(run_chunk, write=False)  # the workers hand their faces back (`_written`)
        running = submit_all(pool, unwritten, first)
        while light and queue and not any(future.done() for future in running):
            yield from run_chunk(queue.pop())
        _import_in_background("faceaug.schema", "pandas")
        running += submit_all(pool, unwritten, list(queue))
        for done in as_completed(running):
            for index, res in done.result():
                yield index, _written(tasks[index], res)


def _written(task: SourceTask, res: dict) -> dict:
    """A worker's result, its face written here: the workers hand their PNGs back rather than write them, because
    processes creating files side by side in one folder wait on its lock (on ext4, two such processes create files
    no faster than one), while this process, otherwise waiting, writes them one after another."""
    if "png" not in res:
        return res
    try:
        write_face(task, res.pop("png"))
    except OSError as exc:
        return internal_error(task, exc)
    return res


def _import_in_background(*modules: str) -> None:
    """Import `modules` in a daemon thread: the tables written after the pool need pyarrow and pandas (0.3 s to
    import; pyarrow imports pandas to convert Python values), which this process, otherwise waiting for its workers,
    can import meanwhile instead of after them. An import of the same module by the main thread waits for this one
    (Python's import lock)."""

    def load() -> None:
        for module in modules:
            importlib.import_module(module)

    threading.Thread(target=load, daemon=True, name="import-table-modules").start()
