"""`make bench`: run every benchmark with its default (CPU-sized) settings, one results file per topic.

    .venv/bin/python -m benchmarks.run                                 # all → benchmarks/results/<topic>-cpu.json
    .venv/bin/python -m benchmarks.run --only singan patch             # some
    .venv/bin/python -m benchmarks.run --device cuda                   # `make bench-gpu` → <topic>-cuda.json
    .venv/bin/python -m benchmarks.run --out bench-out                 # scratch folder instead of the committed one

Each benchmark is its own module (`benchmarks/bench_<topic>.py`, runnable alone with more options); this runner
starts them one after another in fresh processes, so one's threads or memory don't disturb the next (and each
file's peak RAM is that benchmark's). The files are written by benchmarks/results.py (figures beside their
baselines, machine info, load average); `python -m benchmarks.readme_table` puts them into the README. With
`--device cuda` only the topics that run on a GPU are run, and without CUDA nothing runs (exit code 0).

Not in the default list: `benchmarks/fault_injection.py`, a robustness check rather than a performance figure
(`kill -9` of preprocess / expand at random moments, re-run, check the result): `python -m benchmarks.fault_injection`;
`benchmarks/bench_variety.py` (variety vs cost of the variant generators) and `bench_singan --quality / --sweep`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.results import EXPECTED, RESULTS_DIR, load_results, results_path, text_rows

# topic → extra arguments for the default run (each module documents its own options); sized so that the CPU run
# fits in 15 minutes on 2 shared cores
BENCHMARKS: dict[str, list[str]] = {
    "preprocess": [],
    "ganimation": [],
    "singan": [],
    "patch": [],
    "expand": [],
    "report": ["--sifid"],
}
DEVICE_AWARE = {"ganimation", "singan", "expand"}
assert list(BENCHMARKS) == list(EXPECTED), "benchmarks/results.py EXPECTED lists the same topics"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="default: benchmarks/results (committed)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS))
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    topics = args.only
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("bench-gpu: torch sees no CUDA GPU here; nothing to measure (the CPU figures: `make bench`).")
            return
        topics = [t for t in topics if t in DEVICE_AWARE]
    args.out.mkdir(parents=True, exist_ok=True)
    failed, started = [], time.perf_counter()
    for topic in topics:
        cmd = [sys.executable, "-m", f"benchmarks.bench_{topic}", *BENCHMARKS[topic], "--out", str(args.out)]
        if topic in DEVICE_AWARE:
            cmd += ["--device", args.device]
        print(f"\n== {topic}: {' '.join(cmd[1:])}", flush=True)
        start, path = time.perf_counter(), results_path(args.out, topic, args.device)
        before = path.stat().st_mtime_ns if path.exists() else None
        if subprocess.call(cmd) != 0 or not path.exists() or path.stat().st_mtime_ns == before:
            failed.append(topic)  # a benchmark that exits 0 without writing its file failed too
        print(f"== {topic}: {time.perf_counter() - start:.0f} s", flush=True)
    print(
        f"\nbenchmarks done in {time.perf_counter() - started:.0f} s: {len(topics) - len(failed)} ok, "
        f"{len(failed)} failed {failed or ''} → {args.out}\n"
    )
    for topic in topics:
        path = results_path(args.out, topic, args.device)
        if topic not in failed and path.exists():
            print("\n".join(text_rows(load_results(path))))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
