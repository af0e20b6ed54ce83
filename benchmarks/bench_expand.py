"""Expand throughput: generated images per minute for the demo configuration (edit + SinGAN train + samples), and
edits per minute of the editor bundled with faceaug (the user's default flow), with and without its quality gate.

    .venv/bin/python -m benchmarks.bench_expand                    # CPU, fast profile → benchmarks/results
    .venv/bin/python -m benchmarks.bench_expand --device cuda --per-class 200      # GPU

A small synthetic work folder is made (synth → preprocess). GANimation quality does not change the cost of an
expansion, so the editor is an untrained generator of the profile's size (no training time in the benchmark).
Timed: `faceaug expand --au-preset happy,surprise --per-class P` with each `--workers` value asked for; the
figure is generated images (edits + SinGAN samples) per minute of wall time, the pool of the last --workers value
beside 1 worker, plus the stage split (expand.json's timings) of the fastest run. Then `expand --model bundled
--au-preset all --samples-per-edit 0` on the same faces (one edit of every training face into every preset): edits
per minute with the expression gate off, and the profile's default gate (batched) beside the same gate judging one
candidate edit at a time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.results import BenchRecord, add_output_args
from faceaug.aus import AU_NAMES, parse_au_spec
from faceaug.commands.expand import ExpandRequest, run_expand
from faceaug.commands.preprocess import run_preprocess
from faceaug.commands.synth import run_synth
from faceaug.config import resolve_config
from faceaug.console import set_verbosity
from faceaug.models.ganimation import Generator
from faceaug.models.ganimation_file import MODEL_FILE, GanimationModel
from faceaug.preprocess.align import crop_template_id


def make_work(root: Path, profile: str, size: int) -> Path:
    data, work = root / "data", root / "work"
    run_synth(data, subjects=4, per_class=2, size=size, classes=parse_au_spec("all"), seed=0, overwrite=True)
    cfg = resolve_config(profile, None, {"preprocess.size": size}, seed=0, device="cpu")
    run_preprocess(data, work, cfg, labels=data / "labels.csv")
    g = cfg.ganimation
    torch.manual_seed(0)
    GanimationModel(Generator(g.generator_config()), AU_NAMES, crop_template_id()).save(work / "models" / MODEL_FILE)
    return work


def _one_at_a_time(make_gate):
    """expand's gate factory, with the gate judging one candidate edit per call (the baseline of batching)."""

    def make(*args, **kwargs):
        gate, files = make_gate(*args, **kwargs)
        if gate is not None:
            gate.batch_size = 1
        return gate, files

    return make


def _bundled_runs(root: Path, profile: str, size: int, cfg) -> tuple[dict, dict, dict]:
    """(the default flow, the default flow judging one candidate at a time, edits only) of the bundled editor on
    every training face into every preset, 1 worker: the profile's gate and variants, then the gate off and no
    variants (every image an edit)."""
    import dataclasses

    import faceaug.commands.expand as expand_module

    work = make_work(root, profile, size)
    runs = []
    plain = dataclasses.replace(cfg.expand, samples_per_edit=0, min_target_probability=0.0)
    for name, expand in (("default", cfg.expand), ("default_unbatched", cfg.expand), ("edits", plain)):
        out = root / f"bundled_{name}"
        real = expand_module.make_gate
        if name == "default_unbatched":
            expand_module.make_gate = _one_at_a_time(real)
        start = time.perf_counter()
        try:
            summary = run_expand(
                ExpandRequest(
                    work_dir=work, au_preset="all", per_class=_sources(work), out_dir=out, workers=1, model="bundled"
                ),
                dataclasses.replace(cfg, expand=expand),
            )
        finally:
            expand_module.make_gate = real
        seconds = time.perf_counter() - start
        gate = summary["quality_gate"] or {}
        runs.append(
            {
                "run": name,
                "generated": summary["counts"]["generated"],
                "edits": summary["counts"]["jobs"],
                "judged": gate.get("judged"),
                "seconds": round(seconds, 1),
                "plan_seconds": round(summary["timings"].get("plan", 0.0), 1),
                "images_per_minute": round(60 * summary["counts"]["generated"] / seconds, 1),
            }
        )
    return runs[0], runs[1], runs[2]


def _sources(work: Path) -> int:
    from faceaug.schema import read_table

    faces = read_table(work / "faces.parquet", "faces")
    return int((faces["split"] == "train").sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="fast")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    # 20 per class: 4 edit jobs of M + 1 = 5 images per class (`fast`), 8 jobs in 4 shards of 2, so two workers get
    # two shards each (with 12 per class, 3 shards: one worker waits on the third, which caps the ratio at 1.5x)
    parser.add_argument("--per-class", type=int, default=20, help="per class, 2 classes (happy, surprise)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="local executor workers to compare")
    parser.add_argument("--no-bundled", action="store_true", help="skip the bundled editor's runs (a quick check)")
    add_output_args(parser)
    args = parser.parse_args()
    set_verbosity(-1)
    profile_cfg = resolve_config(args.profile, None, {}, seed=0, device=args.device)
    # M SinGAN variants of every edit (the work two workers share); an untrained editor, whose edits would not pass
    # the expression gate: gating is timed with the bundled editor below
    cfg = resolve_config(
        args.profile,
        None,
        {"expand.min_target_probability": 0.0, "expand.regenerator": "singan", "expand.edits_first": False},
        seed=0,
        device=args.device,
    )
    size = cfg.ganimation.image_size
    device = torch.device(args.device)
    record = BenchRecord(
        "expand",
        device,
        settings={
            "profile": args.profile,
            "au_preset": "happy,surprise",
            "per_class": args.per_class,
            "image_size": size,
            "samples_per_edit": cfg.expand.samples_per_edit,
            "start_scale": cfg.expand.start_scale,
            "singan_mode": cfg.expand.singan_mode,
            "singan_iters_per_scale": cfg.singan.iters_per_scale,
            "regenerator": cfg.expand.regenerator,
            "torch_threads": torch.get_num_threads(),
        },
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = make_work(Path(tmp), args.profile, size)
        for workers in args.workers:
            out = Path(tmp) / f"out_w{workers}"
            request = ExpandRequest(
                work_dir=work, au_preset="happy,surprise", per_class=args.per_class, out_dir=out, workers=workers
            )
            start = time.perf_counter()
            summary = run_expand(request, cfg)
            seconds = time.perf_counter() - start
            generated = summary["counts"]["generated"]
            results.append(
                {
                    "workers": workers,
                    "generated": generated,
                    "seconds": round(seconds, 1),
                    "images_per_minute": round(60 * generated / seconds, 1),
                    "stage_seconds": summary["timings"],
                }
            )
    one, last = results[0], results[-1]
    record.figure(
        "images_per_minute",
        f"{last['generated']} images, `{args.profile}` {size} px, {last['workers']} worker(s)",
        last["images_per_minute"],
        "images/min",
        baseline=(f"{one['workers']} worker(s)", one["images_per_minute"]) if last is not one else None,
        goal=300 if device.type == "cuda" else None,
    )
    fastest = max(results, key=lambda r: r["images_per_minute"])
    record.details = {
        "runs": results,
        "stage_seconds": fastest["stage_seconds"],
        "stage_split_of": f"{fastest['workers']} worker(s)",
    }
    if args.no_bundled:
        record.skip("bundled_edits_per_minute", "the bundled editor's runs", "--no-bundled")
        record.write(args.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        bundled = _bundled_runs(Path(tmp), args.profile, size, profile_cfg)
    gated, unbatched, plain = bundled
    record.figure(
        "bundled_edits_per_minute",
        f"{plain['generated']} edits by the bundled editor, {size}-px faces, no gate, no variants",
        plain["images_per_minute"],
        "edits/min",
        goal=1000 if device.type == "cpu" else None,
    )
    record.figure(
        "bundled_gated_edits_per_minute",
        f"{gated['generated']} images, the default flow: the expression gate (min target probability "
        f"{profile_cfg.expand.min_target_probability:g}, identity check when dlib is installed) judged "
        f"{gated['judged']} candidate edits, {gated['edits']} kept, patch variants fill up",
        gated["images_per_minute"],
        "images/min",
        baseline=("the same, the gate judging one candidate at a time", unbatched["images_per_minute"]),
    )
    record.details["bundled_runs"] = bundled
    record.write(args.out)


if __name__ == "__main__":
    main()
