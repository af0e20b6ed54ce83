"""The synthetic world written as a dataset (what `faceaug synth` makes, the oracles and benchmarks build on).

Layout (what `faceaug preprocess` reads from users, plus ground truth)::

    OUT_DIR/<label>/<subject>_<k>.png     the image
    OUT_DIR/<label>/<subject>_<k>.csv     OpenFace 2.x FeatureExtraction CSV (68 landmarks, 17 AUs)
    OUT_DIR/labels.csv                    path,label,subject
    OUT_DIR/identities.parquet            subject → identity parameters (re-render any face)
    OUT_DIR/images.parquet                per image: path, label, subject, k, exact AUs (0–1), pose
    OUT_DIR/synth.json                    resolved settings and a summary

Every subject shows every class `per_class` times. An image's AUs are its class vector with per-image variation
(`vary_class_aus`), its pose a small random jitter (`sample_pose`); all draws come from generators seeded by
(seed, subject, class, k), so the result does not depend on the number of worker processes.
"""

from __future__ import annotations

import io
import multiprocessing
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from faceaug import __version__
from faceaug.aus import AU_NAMES, TargetClass
from faceaug.console import progress
from faceaug.cpus import cpu_count
from faceaug.errors import UserError
from faceaug.interrupts import process_pool, submit_all
from faceaug.io.atomic import atomic_path, fsync_files, write_bytes_atomic, write_json_atomic
from faceaug.io.owned import clear_folder, holds_files, mark_owned
from faceaug.synth.render import sample_identity
from faceaug.synth.world import POSE_JITTER, VARIATION, render_subject_class, subject_name

#: Every file `faceaug synth` writes, relative to OUT_DIR (what --overwrite may remove).
SYNTH_OUTPUTS = re.compile(
    r"(labels\.csv|identities\.parquet|images\.parquet|synth\.json"
    r"|[A-Za-z0-9_-]+/s\d+_\d+\.(png|csv))"
)


def _prepare_out_dir(out_dir: Path, classes: list[TargetClass], overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir} exists and is not a folder.")
    if holds_files(out_dir):
        if not overwrite:
            raise UserError(
                f"{out_dir} is not empty; choose an empty folder or pass --overwrite to replace the "
                "synthetic dataset in it."
            )
        clear_folder(out_dir, SYNTH_OUTPUTS, command="synth", what="OUT_DIR", legacy=("synth.json",))
    mark_owned(out_dir, "synth")
    for target in classes:
        (out_dir / target.name).mkdir(exist_ok=True)


def write_dataset(
    out_dir: Path,
    *,
    subjects: int,
    per_class: int,
    size: int,
    classes: list[TargetClass],
    seed: int,
    overwrite: bool,
    workers: int | None = None,
) -> dict:
    """Write `subjects` × len(classes) × `per_class` synthetic faces into `out_dir`; returns the summary."""
    out_dir = Path(out_dir)
    if subjects <= 0 or per_class <= 0:
        raise UserError("--subjects and --per-class must be positive.")
    if size < 32:
        raise UserError(f"--size must be at least 32 px (faces smaller than that lose their features), got {size}.")
    if not classes:
        raise UserError("No classes to synthesise.")
    _prepare_out_dir(out_dir, classes, overwrite)
    started = time.time()
    id_seeds = np.random.SeedSequence([seed, 0]).spawn(subjects)
    identities = [sample_identity(np.random.default_rng(s)) for s in id_seeds]
    jobs = [
        (str(out_dir), seed, i, identities[i], c, target, per_class, size)
        for i in range(subjects)
        for c, target in enumerate(classes)
    ]
    total = len(jobs) * per_class
    if workers is None:
        workers = min(cpu_count(), 8) if total >= 64 else 1
    rows: list[dict] = []
    with progress() as bar:
        task = bar.add_task("rendering faces", total=total)
        if workers <= 1:
            for job in jobs:
                rows.extend(render_subject_class(*job))
                bar.advance(task, per_class)
        else:
            with process_pool(multiprocessing.get_context(), workers) as pool:
                futures = submit_all(pool, render_subject_class, *zip(*jobs))
                for future in futures:
                    rows.extend(future.result())
                    bar.advance(task, per_class)
    fsync_files(out_dir / f"{row['path'][:-4]}{ext}" for row in rows for ext in (".png", ".csv"))
    images = pd.DataFrame(rows).sort_values(["label", "subject", "k"], kind="stable").reset_index(drop=True)
    images[list(AU_NAMES)] = images[list(AU_NAMES)].astype(np.float32)
    with atomic_path(out_dir / "images.parquet") as tmp:
        images.to_parquet(tmp, index=False)
    ids = pd.DataFrame([{"subject": subject_name(i), **idn.to_record()} for i, idn in enumerate(identities)])
    with atomic_path(out_dir / "identities.parquet") as tmp:
        ids.to_parquet(tmp, index=False)
    buf = io.StringIO()
    images[["path", "label", "subject"]].to_csv(buf, index=False)
    write_bytes_atomic(buf.getvalue().encode(), out_dir / "labels.csv")
    summary = {
        "faceaug_version": __version__,
        "command": "synth",
        "out_dir": str(out_dir.resolve()),
        "subjects": subjects,
        "per_class": per_class,
        "size": size,
        "seed": seed,
        "classes": {t.name: dict(zip(AU_NAMES, (round(float(v), 4) for v in t.aus))) for t in classes},
        "images": int(len(images)),
        "variation": VARIATION,
        "pose_jitter": POSE_JITTER,
        "files": {
            "labels": "labels.csv",
            "identities": "identities.parquet",
            "images": "images.parquet",
            "layout": "<label>/<subject>_<k>.png + .csv (OpenFace 2.x FeatureExtraction)",
        },
    }
    write_json_atomic(summary, out_dir / "synth.json")  # no timings in it: same seed → identical files
    summary["seconds"] = round(time.time() - started, 2)
    return summary
