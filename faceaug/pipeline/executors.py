"""Executors run the pending shards of an expansion: `local` (in-process, or a process pool) and `ray`.

Both call the same `run_shard` with the same plain-data arguments, so they produce the same manifest rows.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import as_completed
from multiprocessing import get_context

from faceaug.config import EXECUTORS
from faceaug.cpus import cpu_count
from faceaug.errors import UserError
from faceaug.interrupts import process_pool, submit_all
from faceaug.pipeline.plan import EditJob
from faceaug.pipeline.shard import ShardContext, ShardResult, run_shard

Pending = list[tuple[int, list[EditJob]]]
OnDone = Callable[[ShardResult], None]


def auto_workers(device: str, n_pending: int) -> int:
    """`--workers 0`: one in-process worker on a GPU (SinGANs train batched there); on a CPU one process per core,
    each on one thread — measured faster than in-process threads for SinGAN's small convolutions
    (benchmarks/bench_singan.py)."""
    if device.startswith("cuda"):
        return 1
    return max(1, min(cpu_count(), n_pending))


def run_shards(
    executor: str, pending: Pending, ctx: ShardContext, *, address: str | None, workers: int, on_done: OnDone
) -> None:
    """Run the pending shards with the named executor (one of `faceaug.config.EXECUTORS`)."""
    if executor == "ray":
        run_ray(pending, ctx, address=address, workers=workers, on_done=on_done)
    elif executor == "local":
        run_local(pending, ctx, workers=workers, on_done=on_done)
    else:
        raise UserError(f"Unknown executor {executor!r}: use {', '.join(EXECUTORS)}.")


def run_local(pending: Pending, ctx: ShardContext, *, workers: int, on_done: OnDone) -> None:
    """workers 1: shards run one after another in this process (batched SinGAN uses the GPU). workers > 1: a
    spawn-based process pool, each worker limited to its share of the CPU threads. workers 0: `auto_workers`."""
    if workers <= 0:
        workers = auto_workers(ctx.device, len(pending))
    if workers <= 1 or len(pending) <= 1:
        for index, jobs in pending:
            on_done(run_shard(index, jobs, ctx))
        return
    threads = max(1, cpu_count() // workers)
    worker_ctx = ShardContext(**{**ctx.__dict__, "torch_threads": threads})
    with process_pool(get_context("spawn"), workers) as pool:
        indices, shards = zip(*pending)
        for future in as_completed(submit_all(pool, run_shard, indices, shards, [worker_ctx] * len(pending))):
            on_done(future.result())


def run_ray(pending: Pending, ctx: ShardContext, *, address: str | None, workers: int, on_done: OnDone) -> None:
    """Submit every pending shard as a Ray task (one GPU each when CUDA is used) and collect them as they finish.

    `address` None starts a local Ray with `workers` CPUs (0 = all); otherwise connects to that cluster
    (e.g. "auto" on a cluster node, or "ray://head:10001")."""
    try:
        import ray
    except ImportError:
        raise UserError("The Ray executor needs Ray: pip install 'faceaug[ray]'.") from None

    started_here = False
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=workers or cpu_count(), **kwargs)
        started_here = True
    try:
        use_gpu = ctx.device.startswith("cuda") or (ctx.device == "auto" and _cuda_available())
        threads = 1 if not use_gpu else 0
        task_ctx = ShardContext(**{**ctx.__dict__, "torch_threads": threads})
        remote = ray.remote(num_cpus=1, num_gpus=1 if use_gpu else 0, max_retries=2)(run_shard)
        refs = [remote.remote(index, jobs, task_ctx) for index, jobs in pending]
        while refs:
            done, refs = ray.wait(refs, num_returns=1)
            on_done(ray.get(done[0]))
    finally:
        if started_here:
            ray.shutdown()


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
