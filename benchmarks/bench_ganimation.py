"""GANimation training throughput (images/s) for the `paper` and `fast` profiles.

    .venv/bin/python -m benchmarks.bench_ganimation --out bench_ganimation.json [--threads 2] [--steps 6]
    .venv/bin/python -m benchmarks.bench_ganimation --evaluate WORK_DIR --oracles DIR --out eval.json

`--evaluate` scores a trained WORK_DIR/models/ganimation.pt with the synthetic world's oracles
(faceaug.synth.oracle): every test-split (held-out subject) face is edited toward every preset; reported are the
AU oracle's mean absolute error against the preset vector (and, for comparison, of the unedited faces and the
oracle's own error on real test faces), the emotion oracle's recognition rate of the target class, the attention
mean, and the mean absolute pixel change (0–255) inside and outside the face (convex hull of the landmarks).

Images/s = batch size / mean wall time of one training step (one critic update; a generator update on every
`n_critic`-th step, so a window of whole n_critic cycles is timed), after warm-up steps, on random uint8 faces held
in memory (data loading is a tensor lookup, as in training). On CPU it measures fp32 eager; on CUDA it also
measures the optimised path (bf16 autocast + channels_last, and torch.compile with --compile).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from faceaug.aus import N_AUS
from faceaug.config import resolve_config
from faceaug.training.ganimation import GanimationTrainer
from faceaug.training.ganimation_data import FaceCache


def random_cache(n: int, size: int, seed: int = 0) -> FaceCache:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), generator=gen, dtype=torch.uint8)
    return FaceCache(images, torch.rand(n, N_AUS, generator=gen), [str(i) for i in range(n)], ["s"] * n)


def measure(profile: str, device: torch.device, *, optimised: bool, steps: int, warmup: int,
            compile_: bool = False, overrides: dict | None = None) -> dict:
    cfg = resolve_config(profile, overrides={f"ganimation.{k}": v for k, v in (overrides or {}).items()})
    cfg.ganimation = dataclasses.replace(cfg.ganimation, amp=optimised, channels_last=optimised,
                                         compile=optimised and compile_)
    g = cfg.ganimation
    cache = random_cache(max(4 * g.batch_size, 64), g.image_size)
    trainer = GanimationTrainer(cfg, cache, device)
    cycle = g.n_critic
    n = max(cycle, steps // cycle * cycle)
    for _ in range(warmup):
        trainer.train_step()
    while trainer.step % cycle:
        trainer.train_step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(n):
        trainer.train_step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    per_step = (time.perf_counter() - start) / n
    return {"profile": profile, "device": str(device), "mode": "optimised" if optimised else "fp32-eager",
            "image_size": g.image_size, "batch_size": g.batch_size, "conv_dim": g.conv_dim,
            "repeat_num": g.repeat_num, "n_critic": g.n_critic, "steps_timed": n,
            "s_per_step": round(per_step, 4), "images_per_s": round(g.batch_size / per_step, 2),
            "threads": torch.get_num_threads()}


def face_masks(faces, size: int, crop_size: int):
    """Boolean (N, size, size) masks of the face region: hull of the 68 landmarks mapped into the crop."""
    import cv2
    import numpy as np

    masks = np.zeros((len(faces), size, size), dtype=np.uint8)
    for i, (lm, m) in enumerate(zip(faces["landmarks"], faces["crop_transform"])):
        if lm is None or len(lm) != 136:
            masks[i] = 1  # unknown: count everything as face (outside change then reads 0)
            continue
        pts = np.stack([np.asarray(lm[:68]), np.asarray(lm[68:])], 1)
        crop = pts @ np.asarray(m, dtype=np.float64).reshape(2, 3)[:, :2].T + np.asarray(m).reshape(2, 3)[:, 2]
        hull = cv2.convexHull((crop * size / crop_size).astype(np.int32))
        cv2.fillConvexPoly(masks[i], hull, 1)
    return masks.astype(bool)


def evaluate(work_dir: Path, oracle_dir: Path, max_sources: int = 0) -> dict:
    import numpy as np

    from faceaug.aus import AU_NAMES, PRESET_NAMES, preset_vector
    from faceaug.editing import GanimationEditor
    from faceaug.io.images import read_image
    from faceaug.schema import read_table
    from faceaug.synth.oracle import AuOracle, EmotionOracle

    au_oracle = AuOracle.load(next(Path(oracle_dir).glob("au*.safetensors")))
    emo_oracle = EmotionOracle.load(next(Path(oracle_dir).glob("emo*.safetensors")))
    editor = GanimationEditor.load(Path(work_dir) / "models" / "ganimation.pt", torch.device("cpu"))
    faces = read_table(Path(work_dir) / "faces.parquet", "faces")
    faces = faces[faces["split"] == "test"].reset_index(drop=True)
    if max_sources:
        faces = faces.iloc[:: max(1, len(faces) // max_sources)].reset_index(drop=True)
    originals = np.stack([read_image(Path(work_dir) / p) for p in faces["image_path"]])
    crop_size = originals.shape[1]
    source_aus = faces[list(AU_NAMES)].to_numpy(np.float32)
    s = editor.image_size
    inside = face_masks(faces, s, crop_size)
    small = editor._prepare(originals).permute(0, 2, 3, 1).numpy()
    real_pred = au_oracle.predict(small)
    per_class, totals = {}, {"mae": [], "mae_unedited": [], "hit": [], "attention": [], "out": [], "in": []}
    for name in PRESET_NAMES:
        target = np.repeat(preset_vector(name)[None], len(faces), 0)
        edited, attention = editor.edit(originals, target)
        err = np.abs(au_oracle.predict(edited) - target).mean(1)
        base = np.abs(real_pred - target).mean(1)
        hit = emo_oracle.predict(edited) == name
        diff = np.abs(edited.astype(np.float32) - small.astype(np.float32)).mean(3)
        out_change = np.array([d[~m].mean() if (~m).any() else 0.0 for d, m in zip(diff, inside)])
        in_change = np.array([d[m].mean() for d, m in zip(diff, inside)])
        per_class[name] = {"au_mae": float(err.mean()), "au_mae_unedited": float(base.mean()),
                           "recognition": float(hit.mean()), "attention_mean": float(attention.mean())}
        for key, v in (("mae", err), ("mae_unedited", base), ("hit", hit), ("attention", attention.mean((1, 2))),
                       ("out", out_change), ("in", in_change)):
            totals[key].append(v)
    t = {k: float(np.concatenate(v).mean()) for k, v in totals.items()}
    return {"sources": len(faces), "edits": len(faces) * len(PRESET_NAMES), "au_mae": t["mae"],
            "au_mae_unedited": t["mae_unedited"],
            "au_oracle_error_on_real": float(np.abs(real_pred - source_aus).mean()),
            "recognition": t["hit"], "attention_mean": t["attention"],
            "pixel_change_outside_face": t["out"], "pixel_change_inside_face": t["in"], "per_class": per_class}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench_ganimation.json"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also torch.compile on CUDA")
    parser.add_argument("--evaluate", type=Path, help="score WORK_DIR's trained model with the synth oracles")
    parser.add_argument("--oracles", type=Path, help="folder with the oracle .safetensors files")
    parser.add_argument("--max-sources", type=int, default=0, help="evaluate: at most this many test faces")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.evaluate:
        result = evaluate(args.evaluate, args.oracles, args.max_sources)
        for name, row in result["per_class"].items():
            print(f"{name:9s} AU MAE {row['au_mae']:.3f} (unedited {row['au_mae_unedited']:.3f})  "
                  f"recognised {100 * row['recognition']:5.1f}%  attention {row['attention_mean']:.2f}")
        print(json.dumps({k: v for k, v in result.items() if k != "per_class"}, indent=2))
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        return
    device = torch.device(args.device)
    runs = []
    for profile in ("paper", "fast"):
        modes = (False, True) if device.type == "cuda" else (False,)
        for optimised in modes:
            runs.append(measure(profile, device, optimised=optimised, steps=args.steps, warmup=args.warmup,
                                compile_=args.compile))
            r = runs[-1]
            print(f"{r['profile']:6s} {r['mode']:10s} {r['image_size']:4d}px batch {r['batch_size']:3d} "
                  f"n_critic {r['n_critic']}  {r['s_per_step']:8.3f} s/step  {r['images_per_s']:8.1f} img/s",
                  flush=True)
    args.out.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
