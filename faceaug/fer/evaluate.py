"""`faceaug fer-eval`'s experiment: the same compact CNN trained once per arm and seed, scored on real test faces.

Arms (training pool × augmentation): `original` (the real training faces), `classic` (the same with albumentations),
`faceaug` (real + generated), `faceaug+classic` (real + generated, augmented). Every arm trains the same number of
steps on class-balanced batches; the test set is the test split's real faces only. Seed s gives every arm the same
initial weights, so per-seed differences between arms are paired.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from faceaug.config import GREYSCALE_CHOICES
from faceaug.errors import UserError

ARMS = ("original", "classic", "faceaug", "faceaug+classic")
__all__ = ["ARMS", "GREYSCALE_CHOICES", "check_no_leak", "compare", "parse_arms", "summary"]


@dataclass(frozen=True)
class Arm:
    name: str
    generated: bool  # the generated images join the training pool
    classic: bool  # albumentations augmentation


def parse_arms(spec: str) -> list[Arm]:
    names = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in ARMS]
    if unknown or not names:
        raise UserError(
            f"Unknown arm(s) {', '.join(unknown) or '(none given)'} in --arms; use any of {', '.join(ARMS)}."
        )
    return [Arm(name, generated=name.startswith("faceaug"), classic=name.endswith("classic")) for name in names]


def check_no_leak(train: pd.DataFrame, test: pd.DataFrame) -> None:
    """Refuse a training set holding an image (original or generated) of a test face or of a test subject."""
    test_ids = set(test["source_id"]) if "source_id" in test else set(test["face_id"])
    train_ids = train["source_id"] if "source_id" in train else train["face_id"]
    leaked = train[train["subject"].isin(set(test["subject"])) | train_ids.isin(test_ids)]
    if len(leaked):
        row = leaked.iloc[0]
        ident = row["id"] if "id" in row else row["face_id"]
        raise UserError(
            f"{len(leaked)} training image(s) come from test-split faces or subjects (e.g. {ident} of "
            f"subject {row['subject']}); a classifier that has seen the people it is tested on would "
            "score too high, so fer-eval refuses. Re-run preprocess/expand, or fix the splits."
        )


def summary(values: list[float]) -> dict:
    array = np.asarray(values, np.float64)
    return {"mean": round(float(array.mean()), 4), "std": round(float(array.std(ddof=1)) if len(array) > 1 else 0.0, 4)}


def paired(arm: list[float], base: list[float]) -> dict:
    """The gain of `arm` over `base`, seed by seed: mean ± std of the differences, wins, and a paired t-test."""
    diff = np.asarray(arm, np.float64) - np.asarray(base, np.float64)
    result = {
        "gain": summary(diff.tolist()),
        "wins": int((diff > 0).sum()),
        "losses": int((diff < 0).sum()),
        "seeds": len(diff),
    }
    if len(diff) > 1 and diff.std() > 0:
        result["p_value"] = round(float(stats.ttest_rel(arm, base).pvalue), 4)
    return result


def compare(runs: dict[str, list[dict]], metric: str = "accuracy") -> dict[str, dict]:
    """For every arm, its paired gain over `original` and over `classic` (where those arms ran)."""
    out = {}
    for name, arm_runs in runs.items():
        out[name] = {
            f"vs_{base}": paired([r[metric] for r in arm_runs], [r[metric] for r in runs[base]])
            for base in ("original", "classic")
            if base in runs and base != name
        }
    return out
