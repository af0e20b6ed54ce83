"""`make bench-gpu`: what a lent CUDA GPU should show, in one run of at most 8 minutes, each figure beside a baseline
measured in the same run.

    .venv/bin/python -m benchmarks.gpu_check                        # CUDA → benchmarks/results/<topic>-cuda.json
    .venv/bin/python -m benchmarks.gpu_check --dry-run --out DIR    # the same steps on the CPU, sized down (tested)

Steps, each a fresh process with its own time limit (one that fails or runs out of time does not stop the next):

1. `tests/test_cuda.py`: the editor on the GPU gives the CPU's pixels within 2 grey levels; GANimation training
   steps (bf16 autocast on CUDA) give a finite model; batched SinGAN trains and samples; an expansion runs.
2. `bench_ganimation`: `paper` and `fast` training images/s, fp32 eager beside bf16 autocast + channels_last +
   torch.compile; edits/s of the editor.
3. `bench_singan --ks 1 16 64 --batch-size 128`: K SinGANs trained at once (grouped convolutions) beside one after
   another, 128-px faces.
4. `bench_expand`: expand images/min (SinGAN variants on the GPU) and the bundled editor's edits/min, with and
   without the expression gate.

The patch regenerator has no GPU path (it runs on the CPU in expand's workers): `make bench` measures it.
Writes OUT/gpu_check-<device>.json: per step the command, exit code, seconds and the end of its output. Exit code 1
when a step failed. Without CUDA (and without --dry-run) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.results import RESULTS_DIR

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 8 * 60


def steps(device: str, out: Path, dry_run: bool) -> list[tuple[str, list[str], int]]:
    """(name, argv after `python -m`, time limit in s) of each step; --dry-run sizes every step down."""
    py = [sys.executable, "-m"]
    if dry_run:
        return [
            ("cuda tests", [*py, "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cuda.py"], 240),
            (
                "ganimation",
                [
                    *py,
                    "benchmarks.bench_ganimation",
                    "--device",
                    device,
                    "--profiles",
                    "fast",
                    "--rounds",
                    "1",
                    "--steps",
                    "1",
                    "--warmup",
                    "1",
                    "--out",
                    str(out),
                ],
                180,
            ),
            (
                "singan",
                [
                    *py,
                    "benchmarks.bench_singan",
                    "--device",
                    device,
                    "--ks",
                    "1",
                    "2",
                    "--batch-size",
                    "32",
                    "--probe-iters",
                    "1",
                    "--batch-probe-iters",
                    "1",
                    "--pool-k",
                    "2",
                    "--out",
                    str(out),
                ],
                240,
            ),
            (
                "expand",
                [
                    *py,
                    "benchmarks.bench_expand",
                    "--device",
                    device,
                    "--per-class",
                    "2",
                    "--workers",
                    "1",
                    "--no-bundled",
                    "--out",
                    str(out),
                ],
                180,
            ),
        ]
    return [
        ("cuda tests", [*py, "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cuda.py"], 90),
        ("ganimation", [*py, "benchmarks.bench_ganimation", "--device", device, "--out", str(out)], 150),
        (
            "singan",
            [
                *py,
                "benchmarks.bench_singan",
                "--device",
                device,
                "--ks",
                "1",
                "16",
                "64",
                "--batch-size",
                "128",
                "--out",
                str(out),
            ],
            120,
        ),
        ("expand", [*py, "benchmarks.bench_expand", "--device", device, "--out", str(out)], 120),
    ]


def run_step(name: str, argv: list[str], limit_s: int, env: dict[str, str]) -> dict:
    """Run one step with its time limit; its record (the output's end kept for the summary)."""
    print(f"\n== {name}: {' '.join(argv[2:])} (limit {limit_s} s)", flush=True)
    start = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=limit_s)
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:  # what it printed so far comes as bytes or text
        code = "timeout"
        output = "".join(
            part.decode(errors="replace") if isinstance(part, bytes) else (part or "")
            for part in (exc.stdout, exc.stderr)
        )
    seconds = round(time.perf_counter() - start, 1)
    print(output[-2000:], flush=True)
    print(f"== {name}: exit {code}, {seconds} s", flush=True)
    return {
        "step": name,
        "command": " ".join(argv[2:]),
        "exit": code,
        "seconds": seconds,
        "ok": code == 0,
        "output_tail": output[-3000:],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="default: benchmarks/results (committed)")
    parser.add_argument(
        "--dry-run", action="store_true", help="every step on the CPU, sized down: checks that the GPU run will work"
    )
    args = parser.parse_args(argv)
    device = "cpu" if args.dry_run else "cuda"
    if not args.dry_run:
        import torch

        if not torch.cuda.is_available():
            print(
                "gpu_check: torch sees no CUDA GPU here; nothing to measure (the CPU figures: `make bench`; the "
                "check of this script on the CPU: --dry-run)."
            )
            return 0
    args.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "FACEAUG_TEST_DEVICE": device, "NO_ALBUMENTATIONS_UPDATE": "1"}
    started, records = time.perf_counter(), []
    for name, step_argv, limit in steps(device, args.out, args.dry_run):
        left = BUDGET_S - (time.perf_counter() - started)
        if left < 20 and not args.dry_run:
            records.append(
                {
                    "step": name,
                    "exit": "skipped",
                    "ok": False,
                    "seconds": 0,
                    "output_tail": f"the {BUDGET_S}-s budget was spent",
                }
            )
            continue
        records.append(run_step(name, step_argv, int(min(limit, left)) if not args.dry_run else limit, env))
    summary = {
        "device": device,
        "dry_run": args.dry_run,
        "seconds": round(time.perf_counter() - started, 1),
        "steps": records,
    }
    path = args.out / f"gpu_check-{device}.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    failed = [r["step"] for r in records if not r["ok"]]
    print(
        f"\ngpu_check ({device}{', dry run' if args.dry_run else ''}): {len(records) - len(failed)} of "
        f"{len(records)} steps ok in {summary['seconds']} s{'; failed: ' + ', '.join(failed) if failed else ''}; "
        f"wrote {path}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
