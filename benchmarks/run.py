"""`make bench`: run every benchmark with its default (CPU-sized) settings, one JSON per benchmark in --out.

    .venv/bin/python -m benchmarks.run --out bench-out                 # all
    .venv/bin/python -m benchmarks.run --out bench-out --only singan   # one
    .venv/bin/python -m benchmarks.run --out bench-out --device cuda   # `make bench-gpu`

Each benchmark is its own module (`benchmarks/bench_<topic>.py`, runnable alone with more options); this runner
starts them one after another in fresh processes, so one's threads or memory don't disturb the next.

Not in the default list: `benchmarks/fault_injection.py`, a robustness check rather than a performance figure
(`kill -9` of preprocess / expand at random moments, re-run, check the result): `python -m benchmarks.fault_injection`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

# topic → extra arguments for the default run (each module documents its own options)
BENCHMARKS: dict[str, list[str]] = {
    "preprocess": [],
    "ganimation": [],
    "singan": ["speed"],
    "expand": [],
    "report": [],
}
DEVICE_AWARE = {"ganimation", "expand"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=sorted(BENCHMARKS))
    parser.add_argument("--device", default=None, help="cpu or cuda (default: each benchmark's own choice)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for topic in args.only:
        out = args.out / f"bench_{topic}.json"
        cmd = [sys.executable, "-m", f"benchmarks.bench_{topic}", *BENCHMARKS[topic], "--out", str(out)]
        if args.device and topic in DEVICE_AWARE:
            cmd += ["--device", args.device]
        print(f"\n== {topic}: {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        rc = subprocess.call(cmd)
        summary[topic] = {"returncode": rc, "seconds": round(time.perf_counter() - start, 1), "json": str(out)}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    failed = [t for t, s in summary.items() if s["returncode"] != 0]
    print(f"\nbenchmarks done: {len(summary) - len(failed)} ok, {len(failed)} failed {failed or ''} → {args.out}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
