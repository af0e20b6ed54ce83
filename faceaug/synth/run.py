"""`faceaug synth`: write a synthetic labelled face dataset with exact AUs and landmarks.

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
import json
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from faceaug import __version__
from faceaug.aus import AU_NAMES, N_AUS, TargetClass
from faceaug.console import info, progress
from faceaug.cpus import cpu_count
from faceaug.errors import UserError
from faceaug.io.images import write_png_atomic
from faceaug.io.openface_writer import OpenFaceRow, write_openface_csv
from faceaug.io.atomic import atomic_path, fsync_files, write_bytes_atomic, write_json_atomic
from faceaug.io.owned import clear_folder, mark_owned
from faceaug.synth.render import Identity, Pose, render_face, sample_identity

#: Per-image variation around a class vector (0–1 scale) and the pose jitter: data, documented in synth.json.
VARIATION = {
    "class_scale": (0.7, 1.15),  # each active AU of the class is multiplied by U(a, b)
    "noise_std": 0.04,  # N(0, s) on every AU (then clipped to 0–1, so inactive AUs stay near zero)
    "extra_prob": 0.1,  # each inactive AU is switched on with this probability (0.03 for neutral) …
    "extra_max": 0.3,  # … at U(0, extra_max)
    "blink_prob": 0.08,  # AU45 = U(0.5, 1) with this probability
}
POSE_JITTER = {"roll_deg": 10.0, "skew": 0.08, "scale": (0.85, 1.1), "shift": 0.06}
SYNTH_FILES = ("labels.csv", "identities.parquet", "images.parquet", "synth.json")


def vary_class_aus(vector: np.ndarray, rng: np.random.Generator, *, neutral: bool = False) -> np.ndarray:
    """A class AU vector (17,) → one image's AUs: scaled, noisy, a few random extra AUs; float32 in 0–1."""
    v = np.asarray(vector, dtype=np.float64)
    active = v > 0
    lo, hi = VARIATION["class_scale"]
    out = np.where(active, v * rng.uniform(lo, hi, N_AUS), 0.0)
    out = out + rng.normal(0.0, VARIATION["noise_std"], N_AUS)
    prob = 0.03 if neutral else VARIATION["extra_prob"]
    extra = (~active) & (rng.random(N_AUS) < prob)
    out = np.where(extra, rng.uniform(0.0, VARIATION["extra_max"], N_AUS), out)
    if rng.random() < VARIATION["blink_prob"]:
        out[AU_NAMES.index("AU45")] = rng.uniform(0.5, 1.0)
    jaw = AU_NAMES.index("AU26")
    if out[jaw] > 0.3:  # a dropped jaw parts the lips
        lips = AU_NAMES.index("AU25")
        out[lips] = max(out[lips], out[jaw] * rng.uniform(0.6, 1.0))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def sample_pose(rng: np.random.Generator) -> Pose:
    j = POSE_JITTER
    return Pose(roll=float(rng.uniform(-j["roll_deg"], j["roll_deg"])), skew=float(rng.uniform(-j["skew"], j["skew"])),
                scale=float(rng.uniform(*j["scale"])), dx=float(rng.uniform(-j["shift"], j["shift"])),
                dy=float(rng.uniform(-j["shift"], j["shift"])))


def subject_name(index: int) -> str:
    return f"s{index:03d}"


def _render_subject_class(out_dir: str, seed: int, subject: int, identity: Identity, class_index: int,
                          target: TargetClass, per_class: int, size: int) -> list[dict]:
    """Render and write the `per_class` images of one subject and class; returns their images.parquet rows."""
    rows = []
    name = subject_name(subject)
    for k in range(per_class):
        rng = np.random.default_rng([seed, 1, subject, class_index, k])
        aus = vary_class_aus(target.vector, rng, neutral=not target.vector.any())
        pose = sample_pose(rng)
        rgb, landmarks = render_face(identity, aus, size, pose, rng=rng)
        rel = f"{target.name}/{name}_{k}"
        # No per-file fsync: run_synth flushes all of them at once before writing the tables that list them.
        write_png_atomic(Path(out_dir) / f"{rel}.png", rgb, durable=False)
        write_openface_csv(Path(out_dir) / f"{rel}.csv", [OpenFaceRow(aus=aus, landmarks=landmarks)], durable=False)
        rows.append({"path": f"{rel}.png", "label": target.name, "subject": name, "k": k,
                     **{au: float(v) for au, v in zip(AU_NAMES, aus)},
                     "roll": pose.roll, "skew": pose.skew, "scale": pose.scale, "dx": pose.dx, "dy": pose.dy})
    return rows


#: Every file `faceaug synth` writes, relative to OUT_DIR (what --overwrite may remove).
SYNTH_OUTPUTS = re.compile(r"(labels\.csv|identities\.parquet|images\.parquet|synth\.json"
                           r"|[A-Za-z0-9_-]+/s\d+_\d+\.(png|csv))")


def _prepare_out_dir(out_dir: Path, classes: list[TargetClass], overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir} exists and is not a folder.")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise UserError(f"{out_dir} is not empty; choose an empty folder or pass --overwrite to replace the "
                            "synthetic dataset in it.")
        clear_folder(out_dir, SYNTH_OUTPUTS, command="synth", what="OUT_DIR", legacy=("synth.json",))
    mark_owned(out_dir, "synth")
    for target in classes:
        (out_dir / target.name).mkdir(exist_ok=True)


def run_synth(out_dir: Path, *, subjects: int, per_class: int, size: int, classes: list[TargetClass], seed: int,
              overwrite: bool, workers: int | None = None) -> dict:
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
    jobs = [(str(out_dir), seed, i, identities[i], c, target, per_class, size)
            for i in range(subjects) for c, target in enumerate(classes)]
    total = len(jobs) * per_class
    if workers is None:
        workers = min(cpu_count(), 8) if total >= 64 else 1
    rows: list[dict] = []
    with progress() as bar:
        task = bar.add_task("rendering faces", total=total)
        if workers <= 1:
            for job in jobs:
                rows.extend(_render_subject_class(*job))
                bar.advance(task, per_class)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(_render_subject_class, *job) for job in jobs]
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
        "faceaug_version": __version__, "command": "synth", "out_dir": str(out_dir.resolve()),
        "subjects": subjects, "per_class": per_class, "size": size, "seed": seed,
        "classes": {t.name: dict(zip(AU_NAMES, (round(float(v), 4) for v in t.aus))) for t in classes},
        "images": int(len(images)), "variation": VARIATION, "pose_jitter": POSE_JITTER,
        "files": {"labels": "labels.csv", "identities": "identities.parquet", "images": "images.parquet",
                  "layout": "<label>/<subject>_<k>.png + .csv (OpenFace 2.x FeatureExtraction)"},
    }
    write_json_atomic(summary, out_dir / "synth.json")  # no timings in it: same seed → identical files
    summary["seconds"] = round(time.time() - started, 2)
    info(f"Wrote {len(images)} faces ({subjects} subjects × {len(classes)} classes × {per_class}) to {out_dir}")
    info(f"  labels: {out_dir / 'labels.csv'}   identities: {out_dir / 'identities.parquet'}   "
         f"summary: {out_dir / 'synth.json'}")
    return summary
