"""The synthetic face world's draws: per-image AU variation around a class, pose jitter, and rendering one
subject's faces of one class to PNG + OpenFace CSV (what `faceaug synth` runs in its worker processes).

All draws come from generators seeded by (seed, subject, class, k), so a dataset does not depend on the number of
worker processes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceaug.aus import AU_NAMES, N_AUS, TargetClass
from faceaug.io.images import write_png_atomic
from faceaug.io.openface_writer import OpenFaceRow, write_openface_csv
from faceaug.synth.render import Identity, Pose, render_face

#: Per-image variation around a class vector (0–1 scale) and the pose jitter: data, documented in synth.json.
VARIATION = {
    "class_scale": (0.7, 1.15),  # each active AU of the class is multiplied by U(a, b)
    "noise_std": 0.04,  # N(0, s) on every AU (then clipped to 0–1, so inactive AUs stay near zero)
    "extra_prob": 0.1,  # each inactive AU is switched on with this probability (0.03 for neutral) …
    "extra_max": 0.3,  # … at U(0, extra_max)
    "blink_prob": 0.08,  # AU45 = U(0.5, 1) with this probability
}
POSE_JITTER = {"roll_deg": 10.0, "skew": 0.08, "scale": (0.85, 1.1), "shift": 0.06}


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
    return Pose(
        roll=float(rng.uniform(-j["roll_deg"], j["roll_deg"])),
        skew=float(rng.uniform(-j["skew"], j["skew"])),
        scale=float(rng.uniform(*j["scale"])),
        dx=float(rng.uniform(-j["shift"], j["shift"])),
        dy=float(rng.uniform(-j["shift"], j["shift"])),
    )


def subject_name(index: int) -> str:
    return f"s{index:03d}"


def render_subject_class(
    out_dir: str,
    seed: int,
    subject: int,
    identity: Identity,
    class_index: int,
    target: TargetClass,
    per_class: int,
    size: int,
) -> list[dict]:
    """Render and write the `per_class` images of one subject and class; returns their images.parquet rows."""
    rows = []
    name = subject_name(subject)
    for k in range(per_class):
        rng = np.random.default_rng([seed, 1, subject, class_index, k])
        aus = vary_class_aus(target.vector, rng, neutral=not target.vector.any())
        pose = sample_pose(rng)
        rgb, landmarks = render_face(identity, aus, size, pose, rng=rng)
        rel = f"{target.name}/{name}_{k}"
        # No per-file fsync: `faceaug synth` flushes all of them at once before writing the tables that list them.
        write_png_atomic(Path(out_dir) / f"{rel}.png", rgb, durable=False)
        write_openface_csv(Path(out_dir) / f"{rel}.csv", [OpenFaceRow(aus=aus, landmarks=landmarks)], durable=False)
        rows.append(
            {
                "path": f"{rel}.png",
                "label": target.name,
                "subject": name,
                "k": k,
                **{au: float(v) for au, v in zip(AU_NAMES, aus)},
                "roll": pose.roll,
                "skew": pose.skew,
                "scale": pose.scale,
                "dx": pose.dx,
                "dy": pose.dy,
            }
        )
    return rows
