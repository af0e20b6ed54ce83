"""SinGAN benchmark: training speed (single, batched vs sequential) and the structure acceptance check.

    .venv/bin/python -m benchmarks.bench_singan speed --out singan_speed.json
    .venv/bin/python -m benchmarks.bench_singan structure --out singan_structure.json [--iters N] [--size 64]

`speed` trains a few iterations per scale and extrapolates linearly to the profile's iterations per scale (the
per-iteration cost is constant within a scale). `structure` trains real models (astronaut face crop + synthetic
faces) and reports Haar face-detection rate and SSIM of 50 samples per start scale / mode.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from faceaug.config import resolve_config  # noqa: E402
from faceaug.training.singan import sample_singan, train_singan, train_singan_batch  # noqa: E402
from faceaug.training.singan_pyramid import pyramid_sizes  # noqa: E402


def astronaut_face(size: int) -> np.ndarray:
    import skimage.data

    from faceaug.preprocess.align import align_face

    return align_face(skimage.data.astronaut(), None, size).crop


def synthetic_faces(size: int, n: int, seed: int = 0) -> list[np.ndarray]:
    from faceaug.synth.identity import sample_identity
    from faceaug.synth.render import render_face

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        identity = sample_identity(rng)
        aus = np.zeros(17, dtype=np.float32)
        image, _ = render_face(identity, aus, size, rng=rng)
        out.append(image)
    return out


def _timed_train(images, cfg, strategy):
    t = time.perf_counter()
    if len(images) == 1 and strategy == "single":
        train_singan(images[0], cfg, seed=0, device=torch.device("cpu"))
    else:
        train_singan_batch(images, cfg, seeds=list(range(len(images))), device=torch.device("cpu"), strategy=strategy)
    return time.perf_counter() - t


def speed(args) -> dict:
    results: dict = {"note": "2 shared CPU cores; times are pessimistic", "threads": torch.get_num_threads()}
    probe = args.probe_iters
    rows = []
    for size in args.sizes:
        face = astronaut_face(size)
        for profile in ("paper", "fast"):
            cfg = resolve_config(profile).singan
            n_scales = len(pyramid_sizes(size, size, cfg)[0])
            short = dataclasses.replace(cfg, iters_per_scale=probe)
            _timed_train([face], dataclasses.replace(cfg, iters_per_scale=1), "single")  # warm-up
            seconds = _timed_train([face], short, "single")
            full = seconds * cfg.iters_per_scale / probe
            rows.append({"size": size, "profile": profile, "scales": n_scales, "iters_per_scale": cfg.iters_per_scale,
                         "probe_iters": probe, "probe_s": round(seconds, 2), "extrapolated_train_s": round(full, 1)})
            print(f"{size:4d}px {profile:6s} {n_scales} scales × {cfg.iters_per_scale} it: "
                  f"{seconds:.2f} s for {probe} it/scale → {full:.0f} s per face (extrapolated)")
    results["single"] = rows
    batch_rows = []
    cfg = resolve_config("fast").singan
    short = dataclasses.replace(cfg, iters_per_scale=probe)
    faces = synthetic_faces(args.batch_size, max(args.ks))
    for k in args.ks:
        for strategy in ("sequential", "grouped"):
            seconds = _timed_train(faces[:k], short, strategy)
            per_face = seconds * cfg.iters_per_scale / probe / k
            batch_rows.append({"k": k, "strategy": strategy, "size": args.batch_size, "probe_s": round(seconds, 2),
                               "images_per_hour_fast": round(3600 / per_face, 1)})
            print(f"K={k:3d} {strategy:10s} {args.batch_size}px fast: {seconds:.2f} s for {probe} it/scale → "
                  f"{3600 / per_face:.1f} images/hour")
    results["batched"] = batch_rows
    return results


def structure(args) -> dict:
    cfg_all = resolve_config("fast")
    cfg = dataclasses.replace(cfg_all.singan, **({"iters_per_scale": args.iters} if args.iters else {}))
    faces = {"astronaut": astronaut_face(args.size)}
    for i, face in enumerate(synthetic_faces(args.size, args.synthetic)):
        faces[f"synthetic{i}"] = face
    from faceaug.metrics.structure import structure_report

    rows = []
    for name, face in faces.items():
        t = time.perf_counter()
        rec_model = train_singan(face, cfg, seed=0, device=torch.device("cpu"))
        t_rec = time.perf_counter() - t
        t = time.perf_counter()
        inj_model = train_singan(face, cfg, seed=0, device=torch.device("cpu"), start_scale=2, mode="inject")
        t_inj = time.perf_counter() - t
        for mode, model, train_s in (("reconstruct", rec_model, t_rec), ("inject", inj_model, t_inj)):
            for start in ((0, 1, 2) if mode == "reconstruct" else (2, 3)):
                samples = sample_singan(model, args.samples, start_scale=start, mode=mode, seed=1, device="cpu")
                rep = structure_report(samples, face)
                row = {"face": name, "mode": mode, "start_scale": start, "train_s": round(train_s, 1), **rep}
                rows.append(row)
                print(f"{name:11s} {mode:11s} start {start}: face {rep['face_detected']:.0%}  SSIM "
                      f"{rep['ssim_mean']:.3f} [{rep['ssim_min']:.3f}, {rep['ssim_max']:.3f}]  variety "
                      f"{rep['variety']:.1f}  (train {train_s:.0f} s)")
                if args.save_dir:
                    from faceaug.io.images import write_png_atomic

                    grid = np.concatenate([face] + list(samples[:7]), axis=1)
                    write_png_atomic(Path(args.save_dir) / f"{name}_{mode}_s{start}.png", grid)
    return {"note": "2 shared CPU cores", "size": args.size, "config": dataclasses.asdict(cfg), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    sp = sub.add_parser("speed")
    sp.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    sp.add_argument("--ks", type=int, nargs="+", default=[1, 4, 16])
    sp.add_argument("--batch-size", type=int, default=64)
    sp.add_argument("--probe-iters", type=int, default=4)
    st = sub.add_parser("structure")
    st.add_argument("--size", type=int, default=64)
    st.add_argument("--iters", type=int, default=0, help="override iters_per_scale (0 = fast profile)")
    st.add_argument("--samples", type=int, default=50)
    st.add_argument("--synthetic", type=int, default=2)
    st.add_argument("--save-dir", type=str, default="")
    for p in (sp, st):
        p.add_argument("--out", type=Path, default=None)
        p.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = speed(args) if args.what == "speed" else structure(args)
    if args.out:
        from faceaug.schema import write_json_atomic

        write_json_atomic(result, args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
