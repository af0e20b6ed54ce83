"""Preprocess throughput: `faceaug preprocess` as a user runs it, on N synthetic 128-px images with OpenFace CSVs,
then on FER2013-like 48-px crops with OpenFace CSVs, then on the same kind of crops with dlib landmarks.

    .venv/bin/python -m benchmarks.bench_preprocess --n 2000 --fer-csv-n 7636 --dlib-n 7636 --workers 2 \
        [--out benchmarks/results]
    .venv/bin/python -m benchmarks.bench_preprocess --source fer-like --size 48 \
        --landmarks dlib --n 1000 --workers 2 --out bench-out/dlib     # FER2013-like, dlib landmarks

The dataset comes from `faceaug.synth` (rendered faces with OpenFace 2.x CSVs; `--source drawn` uses the simple
drawn faces of faceaug.preprocess.drawn_faces instead; `--source fer-like` cuts synth faces into `--size`-px
greyscale crops without CSVs, as FER2013 ships them, and runs with --aus-from-labels --assume-cropped;
`--source fer-like-csv` gives each crop the OpenFace CSV of its AUs and landmarks, FER2013 run through OpenFace).
`--landmarks` is preprocess's option (auto | openface | dlib | haar | none). Timed from the outside, as the user
waits (the `faceaug` command in a subprocess: interpreter start, imports, the worker pool's start, the tables):
`--repeats` rounds (3) of a cold run (nothing to reuse, a fresh folder) with 1 process then one with `--workers`
processes, the figures being each kind's median (single runs of the same code differ by ±0.2 s of 3–5 s on this
VM's disk), and a warm re-run (everything reused: hashing only); then the same for `--dlib-n` FER-like 48-px crops
with dlib landmarks (the FER2013 user's path, 7,636 faces by default: FER2013's training set of the few-shot
protocol), and before it as many FER-like crops with CSVs (`--fer-csv-n`: the OpenFace-CSV path on the same kind
of input; the dlib section links those crops' images rather than render them again). Generation is not timed;
the one-off costs are, so a small N understates the rate and the ratio. The CPU time recorded is the command's own
process (the workers are children of multiprocessing's fork server, whose time the OS does not hand up).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.results import BenchRecord, add_output_args
from faceaug.config import LANDMARK_METHODS
from faceaug.console import set_verbosity
from faceaug.preprocess.landmarks import dlib_problem


def make_dataset(root: Path, n: int, size: int, source: str, seed: int = 0, like: Path | None = None) -> Path:
    """The dataset of `source` under root/data; `like`: the data folder of the same `fer-like-csv` crops (same n,
    size and seed), whose images are linked rather than rendered again when `source` is "fer-like"."""
    data = root / "data"
    if source == "fer-like" and like is not None:
        for image in like.rglob("*.png"):
            target = data / image.relative_to(like)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(image, target)
    elif source in ("fer-like", "fer-like-csv"):
        write_fer_like(data, n, size, seed, csvs=source == "fer-like-csv")
    elif source == "synth":
        from faceaug.aus import parse_au_spec
        from faceaug.commands.synth import run_synth

        classes = parse_au_spec("all")
        per_class = 5
        subjects = max(1, -(-n // (len(classes) * per_class)))
        run_synth(data, subjects=subjects, per_class=per_class, size=size, classes=classes, seed=seed, overwrite=True)
    else:
        from faceaug.preprocess.drawn_faces import write_drawn_face

        rng = np.random.default_rng(seed)
        for i in range(n):
            write_drawn_face(data / ("happy", "sad", "angry", "neutral")[i % 4], f"s{i // 8:03d}_{i}", rng, size=size)
    return data


def write_fer_like(data: Path, n: int, size: int, seed: int, csvs: bool = False) -> None:
    """N greyscale `size`-px crops of synth faces (8 classes, 10 subjects); `csvs`: each with the OpenFace CSV of
    its AUs and its landmarks in the crop beside it (FER2013 run through OpenFace), else none (FER2013 as shipped)."""
    from faceaug.aus import parse_au_spec
    from faceaug.io.images import write_png_atomic
    from faceaug.io.openface_writer import OpenFaceRow, write_openface_csv
    from faceaug.synth.fer_like import fer_like_crop
    from faceaug.synth.render import render_face, sample_identity
    from faceaug.synth.world import sample_pose, vary_class_aus

    classes = parse_au_spec("all")
    identities = [sample_identity(np.random.default_rng([seed, s])) for s in range(10)]
    for i in range(n):
        target, subject = classes[i % len(classes)], i // len(classes) % len(identities)
        rng = np.random.default_rng([seed, 1, i])
        aus = vary_class_aus(target.vector, rng, neutral=not target.vector.any())
        rgb, landmarks = render_face(identities[subject], aus, 4 * size, sample_pose(rng), rng=rng)
        crop, crop_landmarks = fer_like_crop(rgb, landmarks, size)
        path = data / target.name / f"s{subject:03d}_{i}.png"
        write_png_atomic(path, crop, durable=False)
        if csvs:
            write_openface_csv(path.with_suffix(".csv"), [OpenFaceRow(aus, crop_landmarks)], durable=False)


def _command() -> list[str]:
    """How a user runs faceaug: the `faceaug` script installed beside this interpreter (what a worker process
    imports as its main module is then the CLI's, as for the user), else `python -m faceaug`."""
    script = Path(sys.executable).with_name("faceaug")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "faceaug"]


def timed_run(data: Path, work: Path, workers: int, size: int, landmarks: str, source: str) -> tuple[float, dict]:
    """One `faceaug preprocess` run, timed from the outside as the user waits for it (interpreter start included);
    (seconds, the counts of its preprocess.json plus the CPU seconds of its processes)."""
    command = [*_command(), "preprocess", str(data), "--out", str(work), "--workers", str(workers), "--quiet"]
    command += ["--size", str(size), "--landmarks", landmarks]
    if source == "fer-like":
        command += ["--aus-from-labels", "--assume-cropped"]
    elif source == "fer-like-csv":
        command += ["--assume-cropped"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    counts = json.loads((work / "preprocess.json").read_text())["counts"]
    counts["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, counts


def _record(label: str, count: int, seconds: float, counts: dict) -> dict:
    return {
        "run": label,
        "workers": count,
        "inputs": counts["inputs"],
        "faces": counts["faces"],
        "alignment": counts["alignment"],
        "reused": counts["reused"],
        "seconds": round(seconds, 3),
        "images_per_s": round(counts["inputs"] / seconds, 1),
        "cpu_ms_per_image": round(1000 * counts["cpu_s"] / counts["inputs"], 2),
    }


def _runs(
    root: Path, n: int, size: int, source: str, landmarks: str, workers: int, repeats: int, like: Path | None = None
) -> tuple[list[dict], list[dict]]:
    """On one generated dataset (`like`: see make_dataset): `repeats` rounds of a cold run with 1 process then one
    with `workers` (each into a fresh folder, so that the rounds alternate and share the machine's drift), then a
    warm re-run with `workers` of the last folder. Returns (the median run of each of the three, every run)."""
    data = make_dataset(root, n, size, source, like=like)
    runs: list[dict] = []
    for round_ in range(repeats):
        for label, count in (("cold, 1 process", 1), (f"cold, {workers} processes", workers)):
            seconds, counts = timed_run(data, root / f"w{count}-{round_}", count, size, landmarks, source)
            runs.append(_record(label, count, seconds, counts))
    seconds, counts = timed_run(data, root / f"w{workers}-{repeats - 1}", workers, size, landmarks, source)
    runs.append(_record(f"warm re-run, {workers} processes", workers, seconds, counts))
    medians = []
    for label in dict.fromkeys(run["run"] for run in runs):
        same = sorted((run for run in runs if run["run"] == label), key=lambda run: run["seconds"])
        medians.append({**same[len(same) // 2], "of_runs": len(same)})
    return medians, runs


def _fer_like_figure(
    record: BenchRecord, key: str, runs: list[dict], what: str, goal: float | None, skipped: str | None
) -> None:
    """The figure of one FER-like section (cold with `--workers` processes against one process), or why it did not
    run (`skipped`)."""
    if not runs:
        record.skip(key, what, skipped or "not run")
        return
    single, pool, _ = runs
    record.figure(
        key,
        f"{what}, --assume-cropped, {pool['run']}",
        pool["images_per_s"],
        "images/s",
        baseline=(single["run"], single["images_per_s"]),
        goal=goal,
        note=f"goal{' also' if goal else ''}: ≥ 1.7× one process",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--source", choices=("synth", "drawn", "fer-like", "fer-like-csv"), default="synth")
    parser.add_argument("--landmarks", choices=LANDMARK_METHODS, default="auto")
    parser.add_argument(
        "--fer-csv-n",
        type=int,
        default=7636,
        help="then N FER-like 48-px crops, each with its OpenFace CSV (landmarks and AUs; 0 = skip)",
    )
    parser.add_argument(
        "--dlib-n",
        type=int,
        default=7636,  # FER2013's training faces a user of the few-shot protocol preprocesses
        help="then N FER-like 48-px crops with dlib landmarks (0 = skip)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="cold runs of each kind, alternating; the figures are their medians"
    )
    add_output_args(parser)
    args = parser.parse_args()
    set_verbosity(-1)
    record = BenchRecord(
        "preprocess",
        "cpu",
        settings={
            "n": args.n,
            "size": args.size,
            "source": args.source,
            "landmarks": args.landmarks,
            "workers": args.workers,
            "fer_csv_n": args.fer_csv_n,
            "dlib_n": args.dlib_n,
            "repeats": args.repeats,
        },
    )
    root = Path(tempfile.mkdtemp(prefix="bench_preprocess_"))
    try:
        (single, pool, warm), every_run = _runs(
            root / "main", args.n, args.size, args.source, args.landmarks, args.workers, args.repeats
        )
        fer_csv_runs, every_fer_csv_run = [], []
        if args.fer_csv_n:
            fer_csv_runs, every_fer_csv_run = _runs(
                root / "fer-csv", args.fer_csv_n, 48, "fer-like-csv", "auto", args.workers, args.repeats
            )
        dlib_runs, every_dlib_run = [], []
        if args.dlib_n and dlib_problem() is None:
            like = root / "fer-csv" / "data" if fer_csv_runs and args.fer_csv_n == args.dlib_n else None
            dlib_runs, every_dlib_run = _runs(
                root / "dlib", args.dlib_n, 48, "fer-like", "dlib", args.workers, args.repeats, like
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    what = f"{args.n} {args.source} {args.size}-px images ({', '.join(single['alignment'])})"
    record.figure(
        "images_per_s",
        f"{what}, {pool['run']}",
        pool["images_per_s"],
        "images/s",
        baseline=(single["run"], single["images_per_s"]),
        goal=200,
        note="goal also: ≥ 1.7× one process",
    )
    record.figure(
        "warm_images_per_s",
        f"{what}, {warm['run']}",
        warm["images_per_s"],
        "images/s",
        baseline=(pool["run"], pool["images_per_s"]),
    )
    csv_what = f"{args.fer_csv_n} FER-like 48-px crops with OpenFace CSVs"
    _fer_like_figure(record, "fer_csv_images_per_s", fer_csv_runs, csv_what, None, "--fer-csv-n 0")
    dlib_what = f"{args.dlib_n} FER-like 48-px crops, dlib landmarks"
    dlib_skipped = "--dlib-n 0" if not args.dlib_n else dlib_problem()
    _fer_like_figure(record, "dlib_images_per_s", dlib_runs, dlib_what, 300, dlib_skipped)
    record.details = {
        "runs": [single, pool, warm],
        "fer_csv_runs": fer_csv_runs,
        "dlib_runs": dlib_runs,
        "every_run": every_run,
        "every_fer_csv_run": every_fer_csv_run,
        "every_dlib_run": every_dlib_run,
        "alignment": single["alignment"],
        "note": "timed as the faceaug command in a subprocess; cpu_ms_per_image: that process only (with 1 process, "
        "the whole per-image cost); each process loads its models once (dlib ~0.65 s)",
    }
    record.write(args.out)


if __name__ == "__main__":
    main()
