"""The patch regenerator's seconds per face (`expand --regenerator patch`) beside SinGAN's, same faces, same process.

    .venv/bin/python -m benchmarks.bench_patch [--sizes 64 128] [--out benchmarks/results]

Per face (scikit-image's astronaut, cropped as `faceaug preprocess` crops it): the `samples_per_edit` variants of
the `fast` profile from faceaug.inference.patch_regen (no training), vs training a `fast` SinGAN as expand trains
it (extrapolated from `--probe-iters` iterations per scale, see bench_singan) plus drawing the same number of
samples. One torch thread, as expand's workers run.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from benchmarks.bench_singan import CPU, _expand_kw, _probe_train_s, _singan_cfg, _timed, astronaut_face
from benchmarks.results import BenchRecord, add_output_args
from faceaug.config import resolve_config
from faceaug.inference.patch_regen import regenerate_patches
from faceaug.inference.singan import sample_singan
from faceaug.training.singan import train_singan


def singan_per_face(face, n: int, probe: int) -> dict:
    """`fast` SinGAN for one face: training (extrapolated) + n samples, wall seconds."""
    cfg = _singan_cfg("fast", 1)
    kw = _expand_kw("fast")
    # one iteration per scale: the model to sample from, and the one-time set-up out of the timings
    model = train_singan(face, dataclasses.replace(cfg, iters_per_scale=1), seed=0, device=CPU, **kw)
    train = _probe_train_s(face, cfg, probe, CPU, **kw)
    _, sample_s, _ = _timed(
        sample_singan,
        model,
        n,
        start_scale=kw["start_scale"],
        mode=kw["mode"],
        seed=1,
        device=CPU,
        start_noise_amp=cfg.inject_noise_amp,
    )
    return {**train, "sample_wall_s": round(sample_s, 3), "s_per_face": round(train["train_wall_s"] + sample_s, 2)}


def patch_per_face(face, n: int, repeats: int) -> float:
    cfg = resolve_config("fast").patch
    regenerate_patches(face, n, cfg=cfg, seed=0)  # warm-up
    start = time.perf_counter()
    for i in range(repeats):
        regenerate_patches(face, n, cfg=cfg, seed=i)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--probe-iters", type=int, default=4, help="SinGAN iterations per scale actually trained")
    parser.add_argument("--repeats", type=int, default=3, help="patch regenerator runs per size (timed mean)")
    add_output_args(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    n = resolve_config("fast").expand.samples_per_edit
    record = BenchRecord(
        "patch",
        CPU,
        settings={
            "sizes": args.sizes,
            "variants_per_face": n,
            "threads": 1,
            "singan_probe_iters": args.probe_iters,
            "repeats": args.repeats,
        },
    )
    rows = []
    for size in args.sizes:
        face = astronaut_face(size)
        patch_s = patch_per_face(face, n, args.repeats)
        singan = singan_per_face(face, n, args.probe_iters)
        rows.append({"size": size, "patch_s_per_face": round(patch_s, 3), "singan": singan})
        record.figure(
            f"s_per_face_{size}",
            f"{n} variants of one {size}-px face, patch regenerator",
            round(patch_s, 3),
            "s/face",
            higher_is_better=False,
            baseline=("`fast` SinGAN (train + sample)", singan["s_per_face"]),
        )
        print(f"{size}px: patch {patch_s:.2f} s/face, SinGAN fast {singan['s_per_face']:.1f} s/face", flush=True)
    for size in sorted({64, 128} - set(args.sizes)):
        record.skip(f"s_per_face_{size}", f"patch regenerator at {size} px", "not in --sizes")
    record.details = {"rows": rows}
    record.write(args.out)


if __name__ == "__main__":
    main()
