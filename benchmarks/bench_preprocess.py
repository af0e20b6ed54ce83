"""Preprocess throughput: parse OpenFace CSVs + align + write PNGs for N synthetic 128-px images.

    .venv/bin/python -m benchmarks.bench_preprocess --n 1000 --workers 2 --out bench_preprocess.json

The dataset comes from `faceaug.synth` (rendered faces with OpenFace 2.x CSVs; `--source drawn` uses the simple
drawn faces of faceaug.preprocess.drawn_faces instead). Timed: a cold run (nothing to reuse) with 1 process and
with `--workers` processes, and a warm re-run (everything reused: hashing only). Generation is not timed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from faceaug.config import resolve_config
from faceaug.console import set_verbosity
from faceaug.commands.preprocess import run_preprocess


def make_dataset(root: Path, n: int, size: int, source: str, seed: int = 0) -> Path:
    data = root / "data"
    if source == "synth":
        from faceaug.aus import parse_au_spec
        from faceaug.commands.synth import run_synth

        classes = parse_au_spec("all")
        per_class = 5
        subjects = max(1, -(-n // (len(classes) * per_class)))
        run_synth(data, subjects=subjects, per_class=per_class, size=size, classes=classes, seed=seed,
                  overwrite=True)
    else:
        from faceaug.preprocess.drawn_faces import write_drawn_face

        rng = np.random.default_rng(seed)
        for i in range(n):
            write_drawn_face(data / ("happy", "sad", "angry", "neutral")[i % 4], f"s{i // 8:03d}_{i}", rng, size=size)
    return data


def timed_run(data: Path, work: Path, workers: int, size: int) -> tuple[float, dict]:
    cfg = resolve_config(overrides={"preprocess.workers": workers, "preprocess.size": size})
    start, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):  # the command's "wrote ..." lines
        counts = run_preprocess(data, work, cfg)
    counts["cpu_s_main_process"] = time.process_time() - cpu
    return time.perf_counter() - start, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--source", choices=("synth", "drawn"), default="synth")
    parser.add_argument("--out", type=Path, default=Path("bench_preprocess.json"))
    args = parser.parse_args()
    set_verbosity(-1)
    root = Path(tempfile.mkdtemp(prefix="bench_preprocess_"))
    try:
        data = make_dataset(root, args.n, args.size, args.source)
        results = []
        for label, workers, work in (("cold, 1 process", 1, root / "w1"),
                                     (f"cold, {args.workers} processes", args.workers, root / "w2"),
                                     (f"warm re-run, {args.workers} processes", args.workers, root / "w2")):
            seconds, counts = timed_run(data, work, workers, args.size)
            results.append({"run": label, "workers": workers, "inputs": counts["inputs"], "faces": counts["faces"],
                            "reused": counts["reused"], "seconds": round(seconds, 3),
                            "images_per_s": round(counts["inputs"] / seconds, 1),
                            "cpu_ms_per_image_main": round(1000 * counts["cpu_s_main_process"] / counts["inputs"], 2)})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{'run':<34} {'inputs':>7} {'faces':>6} {'s':>7} {'img/s':>7} {'CPU ms/img (main)':>18}")
    for r in results:
        print(f"{r['run']:<34} {r['inputs']:>7} {r['faces']:>6} {r['seconds']:>7.2f} {r['images_per_s']:>7.1f} "
              f"{r['cpu_ms_per_image_main']:>18.2f}")
    print("(1 process: CPU ms/img is the whole per-image cost; 2 cores at that cost give 2000/ms images/s)")
    payload = {"benchmark": "preprocess", "n": args.n, "size": args.size, "source": args.source,
               "cpu_count": len(os.sched_getaffinity(0)), "load_average_1min": round(os.getloadavg()[0], 2),
               "results": results, "note": "shared 2-core machine: timings are pessimistic"}
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
