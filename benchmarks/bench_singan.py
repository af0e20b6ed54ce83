"""SinGAN benchmark: training speed, batched vs sequential vs a process pool, and the structure acceptance check.

    .venv/bin/python -m benchmarks.bench_singan [--device cuda]             # speed → benchmarks/results/singan-cpu.json
    .venv/bin/python -m benchmarks.bench_singan --quality --out bench-out   # acceptance (slow)
    .venv/bin/python -m benchmarks.bench_singan --sweep --out bench-out     # fast-profile table (slow)

Speed: every timing trains a bounded number of iterations per scale (`--probe-iters` p, then 2p) and extrapolates
to the profile's iterations per scale: the difference of the two runs is p iterations' cost (within a scale every
iteration costs the same), the rest of the short run the fixed cost (`extrapolate`). Seconds per face are SinGAN
trained as `faceaug expand` trains it at that profile (mode, start scale), for `fast` and `paper` at 64 and 128
px; batched: K = 1/4/16 (64 on CUDA) faces trained at once (grouped convolutions) vs one after another, K = 8 one
after another in this process vs a 2-process pool. Wall time and process CPU time
are both reported; on the shared 2-core machines wall times are pessimistic, and CPU time measured on one thread is
the steadier number (one core's work per face).

Quality (`--quality`): trains real models on scikit-image's astronaut face (cropped by faceaug.preprocess.align)
and on synthetic faces (faceaug.synth), draws 50 samples per (mode, start scale) and reports the Haar
face-detection rate, SSIM to the training image, SinGAN's diversity and the mean pairwise SSIM between samples
(faceaug.metrics.singan_check.singan_structure_check). The patch regenerator and the
variety levers: benchmarks/bench_variety.py.

Sweep (`--sweep`): the speed/quality table behind the `fast` profile: candidate settings trained in inject mode
from start scale 2, seconds per face vs detection rate and SSIM of start-scale-2 samples.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.results import BenchRecord, add_output_args  # noqa: E402
from faceaug.config import SinganConfig, resolve_config  # noqa: E402
from faceaug.inference.singan import sample_singan  # noqa: E402
from faceaug.metrics.singan_check import singan_structure_check  # noqa: E402
from faceaug.models.singan_pyramid import pyramid_sizes  # noqa: E402
from faceaug.training.singan import train_singan, train_singan_batch  # noqa: E402

CPU = torch.device("cpu")
NOTE = (
    "2 CPU cores shared with other agents: wall times are pessimistic; cpu_s is process CPU time "
    "(one thread's work unless threads > 1)"
)

#: Candidates for the `fast` profile (differences from the paper defaults), measured by `--sweep`.
SWEEP: dict[str, dict] = {
    "paper-ch, 3+3 steps, r=.75, 100 it": dict(iters_per_scale=100),
    "16ch, 2+2, r=.75, 100 it": dict(nfc=16, max_nfc=64, d_steps=2, g_steps=2, iters_per_scale=100),
    "16ch, 1+1, r=.75, 100 it": dict(nfc=16, max_nfc=64, d_steps=1, g_steps=1, iters_per_scale=100),
    "16ch, 1+1, r=.75, 40 it": dict(nfc=16, max_nfc=64, d_steps=1, g_steps=1, iters_per_scale=40),
    "16ch, 1+1, r=.6, 150 it": dict(nfc=16, max_nfc=64, d_steps=1, g_steps=1, scale_factor=0.6, iters_per_scale=150),
    "16ch, 1+1, r=.6, 60 it": dict(nfc=16, max_nfc=64, d_steps=1, g_steps=1, scale_factor=0.6, iters_per_scale=60),
    "8ch, 1+1, r=.6, 150 it": dict(nfc=8, max_nfc=32, d_steps=1, g_steps=1, scale_factor=0.6, iters_per_scale=150),
    "16ch, 1+1, r=.75, 100 it, amp .3": dict(
        nfc=16, max_nfc=64, d_steps=1, g_steps=1, noise_amp=0.3, iters_per_scale=100
    ),
    "16ch, 1+1, r=.75, 100 it, amp .6": dict(
        nfc=16, max_nfc=64, d_steps=1, g_steps=1, noise_amp=0.6, iters_per_scale=100
    ),
    "16ch, 1+1, r=.6, 150 it, amp .3": dict(
        nfc=16, max_nfc=64, d_steps=1, g_steps=1, scale_factor=0.6, noise_amp=0.3, iters_per_scale=150
    ),
    "16ch, 1+1, r=.75, 250 it": dict(nfc=16, max_nfc=64, d_steps=1, g_steps=1, iters_per_scale=250),
    "16ch, 4 layers, 1+1, r=.6, 100 it": dict(
        nfc=16, max_nfc=64, d_steps=1, g_steps=1, num_layers=4, scale_factor=0.6, iters_per_scale=100
    ),
}


def astronaut_face(size: int) -> np.ndarray:
    """scikit-image's public-domain astronaut portrait, face cropped as `faceaug preprocess` crops it."""
    import skimage.data

    from faceaug.preprocess.align import align_face

    return align_face(skimage.data.astronaut(), None, size).crop


def synthetic_faces(size: int, n: int, seed: int = 0) -> list[np.ndarray]:
    """n neutral synthetic faces (faceaug.synth) whose clean render the Haar detector finds (so a miss on a
    sample is the model's doing, not the renderer's)."""
    from faceaug.metrics.structure import face_detected
    from faceaug.synth.identity import sample_identity
    from faceaug.synth.render import render_face

    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    if n == 0:
        return out
    for _ in range(20 * n):
        identity = sample_identity(rng)
        image, _ = render_face(identity, np.zeros(17, dtype=np.float32), size, rng=rng)
        if face_detected(image):
            out.append(image)
        if len(out) == n:
            return out
    raise RuntimeError(f"the Haar detector found fewer than {n} synthetic faces at {size} px")


def _singan_cfg(profile: str, threads: int) -> SinganConfig:
    """The profile's SinGAN settings, trained with `threads` torch threads (SinganConfig.cpu_threads)."""
    return dataclasses.replace(resolve_config(profile).singan, cpu_threads=threads)


def _timed(fn, *args, **kwargs):
    t, c = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - t, time.process_time() - c


def extrapolate(short_s: float, long_s: float, probe: int, iters: int) -> tuple[float, float]:
    """Seconds of `iters` iterations per scale from runs of `probe` and `2 * probe`: (total, fixed part). The
    difference is the cost of `probe` iterations (within a scale every iteration costs the same), the rest of the
    short run the fixed cost (building the pyramid and models); on a noisy machine where the longer run was not
    slower, linear from the longer run."""
    per_iter = (long_s - short_s) / probe
    if per_iter <= 0:
        return long_s * iters / (2 * probe), 0.0
    fixed = max(short_s - probe * per_iter, 0.0)
    return fixed + iters * per_iter, fixed


def _probe_train_s(face: np.ndarray, cfg: SinganConfig, probe: int, device=CPU, **kw) -> dict:
    """Train `probe` and `2 * probe` iterations per scale; extrapolate wall and CPU seconds to cfg.iters_per_scale."""
    walls, cpus = [], []
    for n in (probe, 2 * probe):
        _, wall, cpu = _timed(
            train_singan, face, dataclasses.replace(cfg, iters_per_scale=n), seed=0, device=device, **kw
        )
        _sync(device)
        walls.append(wall)
        cpus.append(cpu)
    wall, fixed = extrapolate(*walls, probe, cfg.iters_per_scale)
    return {
        "probe_iters": [probe, 2 * probe],
        "probe_wall_s": [round(w, 2) for w in walls],
        "fixed_wall_s": round(fixed, 2),
        "train_wall_s": round(wall, 1),
        "train_cpu_s": round(extrapolate(*cpus, probe, cfg.iters_per_scale)[0], 1),
    }


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _train_one(args) -> None:  # process-pool worker
    face, cfg, seed, kw = args
    torch.set_num_threads(1)
    train_singan(face, cfg, seed=seed, device=CPU, **kw)


def _expand_kw(profile: str) -> dict:
    """How `faceaug expand` trains a SinGAN at this profile (mode, start scale)."""
    expand = resolve_config(profile).expand
    return {"mode": expand.singan_mode, "start_scale": expand.start_scale}


def single_face(args, record: BenchRecord) -> None:
    """Seconds to train one SinGAN for one face, at each profile and size, as `expand` trains it."""
    rows = []
    for profile, size in (("fast", 64), ("fast", 128), ("paper", 64), ("paper", 128)):
        cfg = _singan_cfg(profile, args.threads)
        kw = _expand_kw(profile)
        # paper: 2,000 iterations per scale; one probe iteration per scale is plenty to extrapolate
        probe = 1 if profile == "paper" else args.probe_iters
        row = {
            "size": size,
            "profile": profile,
            **kw,
            "scales": len(pyramid_sizes(size, size, cfg)[0]),
            "iters_per_scale": cfg.iters_per_scale,
            **_probe_train_s(astronaut_face(size), cfg, probe, args.device, **kw),
        }
        rows.append(row)
        record.figure(
            f"s_per_face_{profile}_{size}",
            f"train one {size}-px face, `{profile}` ({kw['mode']})",
            row["train_wall_s"],
            "s/face",
            higher_is_better=False,
            goal=10 if (profile, size, args.device.type) == ("paper", 128, "cuda") else None,
            note=f"extrapolated from {probe} and {2 * probe} of {cfg.iters_per_scale} it/scale; "
            f"{row['train_cpu_s']} CPU-s",
        )
        print(
            f"train one {size}px face, {profile:5s} {kw['mode']:11s}: {row['scales']} scales x "
            f"{cfg.iters_per_scale} it -> {row['train_wall_s']:8.1f} s wall, {row['train_cpu_s']:8.1f} s CPU "
            f"(extrapolated from {probe} and {2 * probe} it/scale)",
            flush=True,
        )
    record.details["single"] = rows


def batched(args, record: BenchRecord, faces: list[np.ndarray]) -> None:
    """K SinGANs at once (grouped convolutions) vs one after another, `fast` profile."""
    cfg = _singan_cfg("fast", args.threads)
    probe = args.batch_probe_iters
    kw = _expand_kw("fast")
    rows = []
    for k in args.ks:
        images = [faces[i % len(faces)] for i in range(k)]
        per_face = {}
        for strategy in ("sequential", "grouped"):
            walls = []
            for n in (probe, 2 * probe):
                _, wall, _ = _timed(
                    train_singan_batch,
                    images,
                    dataclasses.replace(cfg, iters_per_scale=n),
                    seeds=list(range(k)),
                    device=args.device,
                    strategy=strategy,
                    **kw,
                )
                _sync(args.device)
                walls.append(wall)
            per_face[strategy] = extrapolate(*walls, probe, cfg.iters_per_scale)[0] / k
            rows.append(
                {
                    "k": k,
                    "strategy": strategy,
                    "size": args.batch_size,
                    "probe_iters": [probe, 2 * probe],
                    "probe_wall_s": [round(w, 2) for w in walls],
                    "s_per_face": round(per_face[strategy], 2),
                }
            )
            print(
                f"K={k:3d} {strategy:10s} {args.batch_size}px fast: {walls[0]:6.2f} / {walls[1]:6.2f} s for "
                f"{probe} / {2 * probe} it/scale -> {per_face[strategy]:7.2f} s per face",
                flush=True,
            )
        record.figure(
            f"batched_k{k}",
            f"K = {k} SinGANs at once, {args.batch_size} px `fast` (grouped)",
            round(per_face["grouped"], 2),
            "s/face",
            higher_is_better=False,
            baseline=("one at a time", round(per_face["sequential"], 2)),
            note=f"extrapolated from {probe} and {2 * probe} of {cfg.iters_per_scale} it/scale",
        )
    for k in sorted({1, 4, 16, 64} - set(args.ks)):
        record.skip(
            f"batched_k{k}",
            f"K = {k} SinGANs at once",
            "not in --ks (the CPU default stops at 16 to fit the 15-minute budget)",
        )
    record.details["batched"] = rows


def pool(args, record: BenchRecord, faces: list[np.ndarray]) -> None:
    """K SinGANs one after another in this process vs spread over a process pool (1 thread per worker)."""
    if args.device.type != "cpu":
        record.skip("pool", "process pool", "CPU only (on CUDA the SinGANs of a shard train batched)")
        return
    k, probe, kw = args.pool_k, args.probe_iters, _expand_kw("fast")
    short = dataclasses.replace(_singan_cfg("fast", args.threads), iters_per_scale=probe)
    images = [faces[i % len(faces)] for i in range(k)]
    _, in_process, _ = _timed(
        train_singan_batch, images, short, seeds=list(range(k)), device=CPU, strategy="sequential", **kw
    )
    ctx = get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.pool_workers, mp_context=ctx) as executor:
        list(
            executor.map(
                _train_one, [(faces[0], dataclasses.replace(short, iters_per_scale=1), 0, kw)] * args.pool_workers
            )
        )  # start the workers and import torch before timing
        t = time.perf_counter()
        list(executor.map(_train_one, [(im, short, i, kw) for i, im in enumerate(images)]))
        pooled = time.perf_counter() - t
    record.details["pool"] = {
        "k": k,
        "probe_iters": probe,
        "in_process_threads": args.threads,
        "in_process_wall_s": round(in_process, 2),
        "pool_workers": args.pool_workers,
        "threads_per_worker": 1,
        "pool_wall_s": round(pooled, 2),
    }
    record.figure(
        "pool",
        f"K = {k} SinGANs, {args.pool_workers}-process pool ({probe} it/scale)",
        round(pooled, 2),
        "s",
        higher_is_better=False,
        baseline=(f"in one process, {args.threads} thread(s)", round(in_process, 2)),
    )
    print(
        f"K={k} sequential in-process ({args.threads} threads): {in_process:.2f} s; process pool "
        f"({args.pool_workers} workers x 1 thread): {pooled:.2f} s",
        flush=True,
    )


def speed(args) -> BenchRecord:
    record = BenchRecord(
        "singan",
        args.device,
        settings={
            "threads": torch.get_num_threads(),
            "probe_iters": args.probe_iters,
            "batch_probe_iters": args.batch_probe_iters,
            "ks": args.ks,
            "batch_size": args.batch_size,
            "pool_k": args.pool_k,
            "pool_workers": args.pool_workers,
            "note": NOTE,
        },
    )
    train_singan(
        synthetic_faces(32, 1)[0],
        dataclasses.replace(_singan_cfg("fast", args.threads), iters_per_scale=1),
        seed=0,
        device=args.device,
    )  # warm-up: one-time kernel and allocator set-up stays out of the timings
    single_face(args, record)
    faces = synthetic_faces(args.batch_size, 4)
    batched(args, record, faces)
    pool(args, record, faces)
    return record


def _faces(size: int, synthetic: int) -> dict[str, np.ndarray]:
    faces = {"astronaut": astronaut_face(size)}
    for i, face in enumerate(synthetic_faces(size, synthetic)):
        faces[f"synthetic{i}"] = face
    return faces


def _print_row(row: dict) -> None:
    print(
        f"{row['face']:11s} {row['trained']:11s} sample {row['mode']:11s} start {row['start_scale']}: "
        f"face {row['face_detected']:4.0%}  SSIM {row['ssim_mean']:.3f} [{row['ssim_min']:.3f}, "
        f"{row['ssim_max']:.3f}] in 0.5-0.95 {row['ssim_in_range']:4.0%}  diversity {row['diversity']:.3f}  "
        f"pairwise SSIM {row['pairwise_ssim']:.3f}  pass {row['passes']} varied {row['varied']}  "
        f"(train {row['train_wall_s']:.0f} s wall)",
        flush=True,
    )


def quality(args) -> dict:
    """Acceptance: models trained in both modes; samples from start scales 2 and 0 (and 1)."""
    cfg = _singan_cfg(args.profile, args.threads)
    if args.iters:
        cfg = dataclasses.replace(cfg, iters_per_scale=args.iters)
    rows = []
    for name, face in _faces(args.size, args.synthetic).items():
        rec_model, rec_s, _ = _timed(train_singan, face, cfg, seed=0, device=CPU)
        inj_model, inj_s, _ = _timed(train_singan, face, cfg, seed=0, device=CPU, start_scale=2, mode="inject")
        plans = [("reconstruct", rec_model, rec_s, "reconstruct", s) for s in (0, 1, 2)]
        plans += [("reconstruct", rec_model, rec_s, "inject", s) for s in (0, 2)]
        plans += [("inject@2", inj_model, inj_s, "inject", 2)]
        for trained, model, train_s, mode, start in plans:
            samples = sample_singan(
                model,
                args.samples,
                start_scale=start,
                mode=mode,
                seed=1,
                device=CPU,
                start_noise_amp=cfg.inject_noise_amp,
            )
            row = {
                "face": name,
                "trained": trained,
                "mode": mode,
                "start_scale": start,
                "train_wall_s": round(train_s, 1),
                **singan_structure_check(samples, face),
            }
            rows.append(row)
            _print_row(row)
            if args.save_dir:
                from faceaug.io.images import write_png_atomic

                grid = np.concatenate([face] + list(samples[:7]), axis=1)
                write_png_atomic(Path(args.save_dir) / f"{name}_{trained}_{mode}_s{start}.png", grid)
    return {"note": NOTE, "profile": args.profile, "size": args.size, "config": dataclasses.asdict(cfg), "rows": rows}


def sweep(args) -> dict:
    """Speed/quality table of the `fast` candidates: inject mode, trained and sampled from start scale 2."""
    rows = []
    faces = _faces(args.size, args.synthetic)
    base = dataclasses.replace(SinganConfig(), max_size=128, cpu_threads=args.threads)
    for label, overrides in SWEEP.items():
        if args.only and not any(o in label for o in args.only):
            continue
        cfg = dataclasses.replace(base, **overrides)
        for name, face in faces.items():
            model, wall, cpu = _timed(train_singan, face, cfg, seed=0, device=CPU, start_scale=2, mode="inject")
            samples = sample_singan(model, args.samples, start_scale=2, mode="inject", seed=1, device=CPU)
            row = {
                "candidate": label,
                "face": name,
                "trained_scales": len(model.generators),
                "train_wall_s": round(wall, 1),
                "train_cpu_s": round(cpu, 1),
                **singan_structure_check(samples, face),
            }
            rows.append(row)
            print(
                f"{label:34s} {name:11s} {row['trained_scales']} scales  {wall:6.1f} s wall {cpu:6.1f} s CPU  "
                f"face {row['face_detected']:4.0%}  SSIM {row['ssim_mean']:.3f} [{row['ssim_min']:.3f}, "
                f"{row['ssim_max']:.3f}]  variety {row['variety']:4.1f}",
                flush=True,
            )
            if args.save_dir:
                from faceaug.io.images import write_png_atomic

                grid = np.concatenate([face] + list(samples[:7]), axis=1)
                safe = "".join(c if c.isalnum() else "_" for c in label)
                write_png_atomic(Path(args.save_dir) / f"sweep_{safe}_{name}.png", grid)
    return {"note": NOTE, "size": args.size, "threads": torch.get_num_threads(), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--quality", action="store_true", help="structure acceptance (Haar rate, SSIM); slow")
    what.add_argument("--sweep", action="store_true", help="speed/quality table of fast-profile candidates; slow")
    add_output_args(parser)
    parser.add_argument("--device", type=torch.device, default=CPU, help="speed: cpu or cuda")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for SinGAN (cpu_threads; on shared cores 2 measured far slower than 1)",
    )
    speed_opts = parser.add_argument_group("speed (default)")
    speed_opts.add_argument("--probe-iters", type=int, default=4)
    speed_opts.add_argument("--batch-probe-iters", type=int, default=8)
    speed_opts.add_argument("--ks", type=int, nargs="+", default=None, help="default: 1 4 16 (CPU), 1 4 16 64 (CUDA)")
    speed_opts.add_argument("--batch-size", type=int, default=64, help="face size (px) for the batched runs")
    speed_opts.add_argument("--pool-k", type=int, default=8)
    speed_opts.add_argument("--pool-workers", type=int, default=2)
    q = parser.add_argument_group("quality / sweep")
    q.add_argument("--profile", default="fast", choices=("fast", "paper"))
    q.add_argument("--size", type=int, default=64)
    q.add_argument("--iters", type=int, default=0, help="override iters_per_scale (0 = the profile's)")
    q.add_argument("--samples", type=int, default=50)
    q.add_argument("--synthetic", type=int, default=2)
    q.add_argument("--only", nargs="*", default=[], help="sweep: candidates whose label contains one of these")
    q.add_argument("--save-dir", type=str, default="", help="write sample grids (PNG) here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.ks is None:
        args.ks = [1, 4, 16, 64] if args.device.type == "cuda" else [1, 4, 16]
    if not (args.quality or args.sweep):
        speed(args).write(args.out)
        return
    topic = "singan-quality" if args.quality else "singan-sweep"
    record = BenchRecord(topic, CPU, settings={k: v for k, v in vars(args).items() if k not in ("out", "device")})
    record.details = quality(args) if args.quality else sweep(args)
    record.write(args.out)


if __name__ == "__main__":
    main()
