"""How varied are the variants of one edited face, and what does it cost? SinGAN levers vs the patch regenerator.

    .venv/bin/python -m benchmarks.bench_variety --size 64 --out variety64.json             # every setting
    .venv/bin/python -m benchmarks.bench_variety --size 128 --only fast patch --synthetic 1  # a few

For every setting and face (scikit-image's astronaut cropped as `faceaug preprocess` crops it, plus synthetic faces
from faceaug.synth): train (SinGAN) or nothing (patch), draw 50 variants, and report faceaug.metrics.diversity's
variant_diversity (SinGAN diversity, mean pairwise SSIM, SSIM to the edit, Haar face rate) and CPU seconds per face
(training + drawing `--per-face` variants; one torch thread). The variety acceptance rule is `ACCEPT`.
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

from benchmarks.bench_singan import _faces, _singan_cfg  # noqa: E402
from faceaug.config import PatchConfig  # noqa: E402
from faceaug.inference.patch_regen import regenerate_patches  # noqa: E402
from faceaug.inference.singan import sample_singan  # noqa: E402
from faceaug.io.images import read_image, resize_face  # noqa: E402
from faceaug.metrics.diversity import variant_diversity  # noqa: E402
from faceaug.pipeline.variants import inject_amplitude, keep_faces  # noqa: E402
from faceaug.training.singan import train_singan  # noqa: E402

#: name → ("singan", SinganConfig overrides of the fast profile (training and inject_noise_amp), mode, start scale)
#: | ("patch", PatchConfig overrides). Training with a larger start-scale noise (the first version of
#: inject_noise_amp, commit 7d3da18) gave less variety than sampling with it: the start scale learns to remove it.
SETTINGS: dict[str, tuple] = {
    "fast (today)": ("singan", {"inject_noise_amp": 0.0}, "inject", 2),  # before the variety levers
    **{
        f"fast, sample amp {a:g}": ("singan", {"inject_noise_amp": a}, "inject", 2)
        for a in (0.03, 0.05, 0.06, 0.07, 0.08, 0.1, 0.12, 0.15)
    },
    **{
        f"fast, amp .06 raised to pairwise {t:g}": (
            "singan",
            {"inject_noise_amp": 0.06, "target_pairwise_ssim": t},
            "inject",
            2,
        )
        for t in (0.85, 0.88)
    },
    "fast, jitter .05": ("singan", {"inject_jitter": 0.05}, "inject", 2),
    **{
        f"fast, jitter .05, sample amp {a:g}": ("singan", {"inject_jitter": 0.05, "inject_noise_amp": a}, "inject", 2)
        for a in (0.05, 0.08)
    },
    "fast, jitter .1, sample amp .08": ("singan", {"inject_jitter": 0.1, "inject_noise_amp": 0.08}, "inject", 2),
    "fast, reconstruct N-1": ("singan", {}, "reconstruct", 1),
    "patch noise .25": ("patch", {"noise": 0.25}),
    "patch noise 1": ("patch", {"noise": 1.0}),
    "patch noise 1.5": ("patch", {"noise": 1.5}),
    "patch warp .07, grid 3, noise 0": ("patch", {"noise": 0.0, "warp": 0.07, "warp_grid": 3}),
    "patch warp .06, grid 2, noise .1": ("patch", {"noise": 0.1, "warp": 0.06, "warp_grid": 2}),
    "patch warp .08, grid 3, noise .25": ("patch", {"noise": 0.25, "warp": 0.08, "warp_grid": 3}),
    "patch warp .1, grid 4, noise .25": ("patch", {"noise": 0.25, "warp": 0.1, "warp_grid": 4}),
    "patch warp .09, grid 3, noise .25": ("patch", {"noise": 0.25, "warp": 0.09, "warp_grid": 3}),
    "patch warp .08, grid 4, noise .25": ("patch", {"noise": 0.25, "warp": 0.08, "warp_grid": 4}),
    "patch warp .08, grid 3, noise .4": ("patch", {"noise": 0.4, "warp": 0.08, "warp_grid": 3}),
    "patch warp .07, noise .5, completeness .01": ("patch", {"noise": 0.5, "warp": 0.07, "completeness": 0.01}),
    **{f"patch fine radius {r:g}": ("patch", {"fine_search_radius": r}) for r in (0.0, 0.03, 0.06, 0.1)},
}
_MODELS: dict[tuple, tuple] = {}  # (face id, training settings, mode, start) → (model, training CPU-s)
ACCEPT = {"face_detected": 0.95, "ssim_to_edit": (0.5, 0.95), "pairwise_ssim": 0.90}


def _cpu(fn, *args, **kwargs):
    c = time.process_time()
    return fn(*args, **kwargs), time.process_time() - c


def run_setting(name: str, face: np.ndarray, samples: int, per_face: int, patch: PatchConfig, redraws: int = 0) -> dict:
    """One setting on one face; with `redraws`, variants that lost the face are replaced by spares as expand does
    (pipeline.variants.keep_faces, expand.face_redraws)."""
    kind, overrides, *how = SETTINGS[name]
    if kind == "patch":
        cfg = dataclasses.replace(patch, **overrides)

        def patches(n: int, seed: int) -> np.ndarray:
            return keep_faces(lambda k, off: regenerate_patches(face, k, cfg=cfg, seed=seed + off), face, n, redraws)

        variants, cpu = _cpu(patches, samples, 1)
        _, cpu_face = _cpu(patches, per_face, 2)
        return {
            "train_cpu_s": 0.0,
            "sample_cpu_s": round(cpu, 2),
            "cpu_s_per_face": round(cpu_face, 2),
            **variant_diversity(variants, face),
        }
    mode, start = how
    # a fixed amplitude unless the setting asks for a variety target
    cfg = dataclasses.replace(_singan_cfg("fast", 1), **{"target_pairwise_ssim": 0.0, **overrides})
    # sampling only: the same model for every amplitude
    trained = dataclasses.replace(cfg, inject_noise_amp=0.0, target_pairwise_ssim=0.0)
    key = (face.tobytes(), repr(trained), mode, start)
    if key not in _MODELS:
        _MODELS.clear()
        _MODELS[key] = _cpu(train_singan, face, trained, seed=0, device="cpu", start_scale=start, mode=mode)
    model, train_cpu = _MODELS[key]

    amp, probe_cpu = _cpu(inject_amplitude, model, cfg, start_scale=start, mode=mode, seed=1, device="cpu")

    def sample(k: int, offset: int) -> np.ndarray:
        return sample_singan(model, k, start_scale=start, mode=mode, seed=1 + offset, device="cpu", start_noise_amp=amp)

    variants, cpu = _cpu(keep_faces, sample, face, samples, redraws)
    return {
        "train_cpu_s": round(train_cpu, 1),
        "sample_cpu_s": round(cpu, 2),
        "probe_cpu_s": round(probe_cpu, 2),
        "start_noise_amp": round(amp, 4),
        "cpu_s_per_face": round(train_cpu + probe_cpu + cpu * per_face / samples, 1),
        **variant_diversity(variants, face),
    }


def accepted(row: dict, baseline_diversity: float | None) -> bool:
    lo, hi = ACCEPT["ssim_to_edit"]
    ok = (
        row["face_detected"] >= ACCEPT["face_detected"]
        and lo <= row["ssim_to_edit"] <= hi
        and row["pairwise_ssim"] <= ACCEPT["pairwise_ssim"]
    )
    return bool(ok and (baseline_diversity is None or row["diversity"] >= 3 * baseline_diversity))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--per-face", type=int, default=4, help="M: variants per face in the CPU-s figure")
    parser.add_argument("--synthetic", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=[], help="settings whose name contains one of these")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--face-redraws",
        type=int,
        default=0,
        help="replace variants that lost the face as expand does (expand.face_redraws; 0 = off)",
    )
    parser.add_argument("--save-dir", type=Path, default=None, help="write variant grids (PNG) here")
    parser.add_argument(
        "--images",
        nargs="*",
        type=Path,
        default=[],
        help="measure these face crops too (e.g. a work dir's faces/*.png: real faces, aligned as "
        "preprocess writes them; resized to --size)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = [n for n in SETTINGS if not args.only or any(o in n for o in args.only)]
    rows, baseline = [], {}
    faces = _faces(args.size, args.synthetic)
    for path in args.images:
        faces[path.stem] = resize_face(read_image(path), args.size)
    for face_name, face in faces.items():
        for name in names:
            row = {
                "setting": name,
                "face": face_name,
                "size": args.size,
                **run_setting(name, face, args.samples, args.per_face, PatchConfig(), args.face_redraws),
            }
            if name == "fast (today)":
                baseline[face_name] = row["diversity"]
            row["accepted"] = accepted(row, baseline.get(face_name))
            rows.append(row)
            print(
                f"{args.size}px {face_name[-10:]:10s} {name:34s} div {row['diversity']:.3f} pairSSIM "
                f"{row['pairwise_ssim']:.3f} SSIM-edit {row['ssim_to_edit']:.3f} face {row['face_detected']:4.0%} "
                f"CPU-s/face {row['cpu_s_per_face']:6.2f} accepted {row['accepted']}",
                flush=True,
            )
    if args.out:
        from faceaug.io.atomic import write_json_atomic

        write_json_atomic({"size": args.size, "samples": args.samples, "rows": rows}, args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
