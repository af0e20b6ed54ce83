"""GANimation training throughput (images/s) for the `paper` and `fast` profiles.

    .venv/bin/python -m benchmarks.bench_ganimation [--out benchmarks/results] [--threads 2] [--steps 1] [--sweep]

Images/s = batch size / mean wall time of one training step (one critic update, plus a generator update on every
`n_critic`-th step). Critic-only steps and steps with a generator update are timed separately (at least `--steps`
of each and for at least 3 s, after `--warmup` untimed steps) and combined as one n_critic cycle, so the slow
`paper` profile is measured in a few steps (the whole run stays under ~2 minutes on 2 CPU cores). Faces are random
uint8 tensors held in memory (data loading is a tensor lookup, as in training). It measures fp32 eager, and the
optimised path where there is one: on CUDA bf16 autocast + channels_last + torch.compile (not with --no-compile),
on a CPU with native bf16 the `cpu_amp` bf16 autocast. Edits/s: the GanimationEditor on a batch of 64 faces, fp32
eager vs bf16 autocast + channels_last. The `fast` profile is measured in `--rounds` alternating rounds (best
of each mode kept; the shared cores' bursts rarely hit every round).
`--sweep` also times candidate CPU settings around the `fast` profile.

Edit quality (AU error, recognition, attention, change outside the face) is measured by
`python -m faceaug.metrics.edit_quality`, not here.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import time

import numpy as np
import torch

from benchmarks.results import BenchRecord, add_output_args
from faceaug.aus import AU_NAMES, N_AUS
from faceaug.config import resolve_config
from faceaug.device import cpu_has_native_bf16
from faceaug.inference.editor import GanimationEditor
from faceaug.models.ganimation import Generator
from faceaug.training.ganimation_data import FaceCache
from faceaug.training.ganimation_trainer import GanimationTrainer


def random_cache(n: int, size: int, seed: int = 0) -> FaceCache:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), generator=gen, dtype=torch.uint8)
    return FaceCache(images, torch.rand(n, N_AUS, generator=gen), [str(i) for i in range(n)], ["s"] * n)


def _time_steps(
    trainer: GanimationTrainer, step: int, count: int, device: torch.device, min_seconds: float = 0.0
) -> float:
    """Mean seconds of at least `count` training steps (more until `min_seconds` have passed) taken at step number
    `step`, which decides whether the generator is updated too."""
    done = 0
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    while done < count or time.perf_counter() - start < min_seconds:
        trainer.step = step
        trainer.train_step()
        done += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
    return (time.perf_counter() - start) / done


def measure(
    profile: str,
    device: torch.device,
    *,
    optimised: bool,
    steps: int,
    warmup: int,
    compile_: bool = False,
    overrides: dict | None = None,
    min_seconds: float = 3.0,
) -> dict:
    cfg = resolve_config(profile, overrides={f"ganimation.{k}": v for k, v in (overrides or {}).items()})
    cfg.ganimation = dataclasses.replace(
        cfg.ganimation,
        amp=optimised,
        cpu_amp=optimised,
        channels_last=optimised,
        compile=optimised and compile_,
        critic_warmup_steps=0,
    )
    g = cfg.ganimation
    cache = random_cache(max(4 * g.batch_size, 64), g.image_size)
    trainer = GanimationTrainer(cfg, cache, device)
    # warm-up on the cheaper kind of step (critic only, at step 1) when there is one; step 0 updates both nets
    _time_steps(trainer, 1 if g.n_critic > 1 else 0, warmup, device)
    # a fast step is timed over ≥ min_seconds (single short steps are noisy on shared cores); a slow one once
    with_g = _time_steps(trainer, 0, steps, device, min_seconds)
    critic_only = _time_steps(trainer, 1, steps, device, min_seconds) if g.n_critic > 1 else 0.0
    per_step = (with_g + (g.n_critic - 1) * critic_only) / g.n_critic
    return {
        "profile": profile,
        "device": str(device),
        "mode": "optimised" if optimised else "fp32-eager",
        "image_size": g.image_size,
        "batch_size": g.batch_size,
        "conv_dim": g.conv_dim,
        "critic_dim": g.critic_dim,
        "repeat_num": g.repeat_num,
        "n_critic": g.n_critic,
        "min_steps_timed_each": steps,
        "s_per_step_with_generator": round(with_g, 4),
        "s_per_critic_only_step": round(critic_only, 4) if g.n_critic > 1 else None,
        "s_per_step": round(per_step, 4),
        "images_per_s": round(g.batch_size / per_step, 2),
        "threads": torch.get_num_threads(),
    }


#: `--sweep`: candidate CPU settings around the `fast` profile (image size, channels, residual blocks, batch).
SWEEP = (
    {"image_size": 64, "conv_dim": 16, "critic_dim": 16, "repeat_num": 2, "batch_size": 8},
    {"image_size": 64, "conv_dim": 16, "critic_dim": 16, "repeat_num": 2, "batch_size": 16},
    {"image_size": 64, "conv_dim": 32, "critic_dim": 32, "repeat_num": 3, "batch_size": 16},
    {"image_size": 128, "conv_dim": 16, "critic_dim": 16, "repeat_num": 2, "critic_layers": 6, "batch_size": 8},
)


def _row(r: dict) -> str:
    return (
        f"{r['profile']:6s} {r['mode']:10s} {r['image_size']:4d}px c{r['conv_dim']:<3d} r{r['repeat_num']} "
        f"batch {r['batch_size']:3d} n_critic {r['n_critic']}  {r['s_per_step']:8.3f} s/step  "
        f"{r['images_per_s']:8.1f} img/s"
    )


def _timed_edits(
    editor: GanimationEditor, faces, aus, device: torch.device, min_seconds: float, optimised: bool
) -> float:
    """Edits per second of `editor.edit` on one batch, repeated for at least `min_seconds` after one warm-up."""
    context = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if optimised else contextlib.nullcontext
    with context():
        editor.edit(faces, aus)
        done, start = 0, time.perf_counter()
        while done == 0 or time.perf_counter() - start < min_seconds:
            editor.edit(faces, aus)
            if device.type == "cuda":
                torch.cuda.synchronize()
            done += 1
    return done * len(faces) / (time.perf_counter() - start)


def measure_edit(
    profile: str, device: torch.device, *, batch: int = 64, min_seconds: float = 3.0, rounds: int = 1
) -> dict:
    """Inference: the GanimationEditor (untrained weights: same cost) on `batch` faces, fp32 eager vs bf16 autocast
    + channels_last (what the editor would gain; expand runs it in fp32 today); the best of `rounds` alternating
    rounds of each."""
    g = resolve_config(profile).ganimation
    torch.manual_seed(0)
    generator = Generator(g.generator_config()).to(device).eval()
    editor = GanimationEditor(
        generator=generator,
        device=device,
        image_size=g.image_size,
        au_names=AU_NAMES,
        model_id="bench",
        crop_template="bench",
    )
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (batch, g.image_size, g.image_size, 3), dtype=np.uint8)
    aus = rng.random((batch, N_AUS), dtype=np.float32)
    eager, optimised = [], []
    for _ in range(rounds):
        editor.generator = generator.to(memory_format=torch.contiguous_format)
        eager.append(_timed_edits(editor, faces, aus, device, min_seconds, optimised=False))
        editor.generator = generator.to(memory_format=torch.channels_last)
        optimised.append(_timed_edits(editor, faces, aus, device, min_seconds, optimised=True))
    return {
        "profile": profile,
        "image_size": g.image_size,
        "batch": batch,
        "rounds": rounds,
        "edits_per_s_fp32": round(max(eager), 1),
        "edits_per_s_optimised": round(max(optimised), 1),
        "edits_per_s_fp32_rounds": [round(x, 1) for x in eager],
        "edits_per_s_optimised_rounds": [round(x, 1) for x in optimised],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_output_args(parser)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--steps", type=int, default=1, help="timed steps of each kind per measurement")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--rounds", type=int, default=3, help="`fast`: alternating rounds, best of each mode kept")
    parser.add_argument("--no-compile", action="store_true", help="on CUDA, do not torch.compile the optimised path")
    parser.add_argument("--sweep", action="store_true", help="also time candidate CPU settings (SWEEP)")
    parser.add_argument(
        "--profiles",
        nargs="+",
        default=["fast", "paper"],
        choices=["fast", "paper"],
        help="profiles to time (default both)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    compile_ = device.type == "cuda" and not args.no_compile
    record = BenchRecord(
        "ganimation",
        device,
        settings={"threads": torch.get_num_threads(), "steps": args.steps, "warmup": args.warmup, "compile": compile_},
    )
    optimised_label = (
        "bf16 autocast + channels_last" + (" + compile" if compile_ else "")
        if device.type == "cuda"
        else "bf16 autocast (cpu_amp)"
    )
    if device.type == "cpu":
        record.skip(
            "compile",
            "torch.compile",
            "the trainer compiles on CUDA only (compile time on 2 CPU cores exceeds the budget)",
        )
    runs, edits = [], []
    jobs = [(profile, None) for profile in args.profiles] + [("fast", o) for o in (SWEEP if args.sweep else ())]
    modes = (False, True) if device.type == "cuda" or cpu_has_native_bf16() else (False,)
    for profile, overrides in jobs:
        # the cheap `fast` steps are measured in `--rounds` alternating rounds, the best of each mode kept: on shared
        # cores another process's burst hits one measurement, rarely all of them
        rounds = args.rounds if profile == "fast" else 1
        tried = []
        for _ in range(rounds):
            for optimised in modes:
                try:
                    tried.append(
                        measure(
                            profile,
                            device,
                            optimised=optimised,
                            steps=args.steps,
                            warmup=args.warmup,
                            compile_=compile_,
                            overrides=overrides,
                        )
                    )
                except Exception as error:  # noqa: BLE001 - torch.compile fails in many ways (no compiler, Triton)
                    if not (optimised and compile_):
                        raise
                    record.skip("compile", "torch.compile", f"failed here ({type(error).__name__}: {error})"[:300])
                    compile_, optimised_label = False, "bf16 autocast + channels_last"
                    tried.append(
                        measure(
                            profile, device, optimised=True, steps=args.steps, warmup=args.warmup, overrides=overrides
                        )
                    )
                print(_row(tried[-1]), flush=True)
        runs += tried
        if overrides is not None:
            continue
        best_of = {
            mode: max((r for r in tried if r["mode"] == mode), key=lambda r: r["images_per_s"])
            for mode in {r["mode"] for r in tried}
        }
        base, best = best_of["fp32-eager"], best_of.get("optimised", best_of["fp32-eager"])
        record.figure(
            f"train_{profile}",
            f"train `{profile}` {best['image_size']} px, {optimised_label}",
            best["images_per_s"],
            "images/s",
            baseline=("fp32 eager", base["images_per_s"]) if best is not base else None,
            goal=1500 if profile == "paper" and device.type == "cuda" else None,
            note=f"best of {rounds} alternating rounds" if rounds > 1 else None,
        )
        edit = measure_edit(profile, device, rounds=rounds)
        edits.append(edit)
        record.figure(
            f"edit_{profile}",
            f"edit `{profile}` {edit['image_size']} px, bf16 autocast + channels_last",
            edit["edits_per_s_optimised"],
            "edits/s",
            baseline=("fp32 eager", edit["edits_per_s_fp32"]),
            note="expand edits in fp32 eager today" + (f"; best of {rounds} rounds" if rounds > 1 else ""),
        )
    if len(modes) == 1:
        record.skip("train_optimised", "bf16 training", "this CPU has no native bf16 (emulated bf16 is slower)")
    record.details = {"train": runs, "edit": edits}
    record.write(args.out)


if __name__ == "__main__":
    main()
