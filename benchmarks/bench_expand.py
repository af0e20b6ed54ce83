"""Expand throughput: generated images per minute for the demo configuration (edit + SinGAN train + samples).

    .venv/bin/python -m benchmarks.bench_expand --out bench_expand.json            # CPU, fast profile
    .venv/bin/python -m benchmarks.bench_expand --device cuda --per-class 200      # GPU

A small synthetic work folder is made (synth → preprocess). GANimation quality does not change the cost of an
expansion, so the editor is an untrained generator of the profile's size (no training time in the benchmark).
Timed: `faceaug expand --au-preset happy,surprise --per-class P` with each `--workers` value asked for; the
figure is generated images (edits + SinGAN samples) per minute of wall time, plus the stage split from expand.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from faceaug.aus import AU_NAMES, parse_au_spec
from faceaug.config import resolve_config
from faceaug.console import set_verbosity
from faceaug.models.ganimation import Generator
from faceaug.models.ganimation_file import MODEL_FILE, GanimationModel
from faceaug.preprocess.align import crop_template_id
from faceaug.commands.expand import ExpandRequest, run_expand
from faceaug.commands.preprocess import run_preprocess
from faceaug.commands.synth import run_synth


def make_work(root: Path, profile: str, size: int) -> Path:
    data, work = root / "data", root / "work"
    run_synth(data, subjects=4, per_class=2, size=size, classes=parse_au_spec("all"), seed=0, overwrite=True)
    cfg = resolve_config(profile, None, {"preprocess.size": size}, seed=0, device="cpu")
    run_preprocess(data, work, cfg, labels=data / "labels.csv")
    g = cfg.ganimation
    torch.manual_seed(0)
    GanimationModel(Generator(g.generator_config()), AU_NAMES, crop_template_id()).save(work / "models" / MODEL_FILE)
    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="fast")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--per-class", type=int, default=12, help="per class, 2 classes (happy, surprise)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="local executor workers to compare")
    parser.add_argument("--out", type=Path, default=Path("bench_expand.json"))
    args = parser.parse_args()
    set_verbosity(-1)
    cfg = resolve_config(args.profile, None, {}, seed=0, device=args.device)
    size = cfg.ganimation.image_size
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = make_work(Path(tmp), args.profile, size)
        for workers in args.workers:
            out = Path(tmp) / f"out_w{workers}"
            request = ExpandRequest(work_dir=work, au_preset="happy,surprise", per_class=args.per_class,
                                    out_dir=out, workers=workers)
            start = time.perf_counter()
            summary = run_expand(request, cfg)
            seconds = time.perf_counter() - start
            generated = summary["counts"]["generated"]
            results.append({"workers": workers, "generated": generated, "seconds": round(seconds, 1),
                            "images_per_minute": round(60 * generated / seconds, 1),
                            "stage_seconds": summary["timings"]})
    report = {"benchmark": "expand", "profile": args.profile, "device": args.device, "image_size": size,
              "torch_threads": torch.get_num_threads(), "samples_per_edit": cfg.expand.samples_per_edit,
              "start_scale": cfg.expand.start_scale, "singan_iters_per_scale": cfg.singan.iters_per_scale,
              "results": results}
    print(f"{'workers':>7} {'generated':>9} {'seconds':>8} {'img/min':>8}")
    for r in results:
        print(f"{r['workers']:>7} {r['generated']:>9} {r['seconds']:>8} {r['images_per_minute']:>8}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
