"""Train/test assignment by subject (one person never in both splits), deterministic from the seed: preprocess's
splits, and every held-out set of subjects a trainer or an oracle sets aside (`held_out_subjects`).

Each unit (a subject, or an image with `--split-by image`) gets a rank from sha256(seed, unit); the lowest-ranked
`round(test_fraction × units)` go to test. A unit's split depends only on the seed, its id and the number of units,
so re-runs and added images move few units. Splits given explicitly (labels file `split` column, GANimation
ids files) are kept as given.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence

import numpy as np


def _rank(seed: int, unit: str) -> str:
    return hashlib.sha256(f"{seed}\x00{unit}".encode()).hexdigest()


def assign_splits(units: list[str], explicit: list[str | None], test_fraction: float, seed: int) -> list[str]:
    """Split per row: `units[i]` is the row's subject (or image id), `explicit[i]` a given split or None."""
    given: dict[str, Counter] = {}
    for unit, split in zip(units, explicit):
        if split:
            given.setdefault(unit, Counter())[split] += 1
    free = sorted({u for u in units if u not in given}, key=lambda u: _rank(seed, u))
    n_test = round(test_fraction * len(free))
    if test_fraction > 0 and len(free) >= 2:
        n_test = min(max(n_test, 1), len(free) - 1)
    unit_split = {u: ("test" if i < n_test else "train") for i, u in enumerate(free)}
    unit_split.update({u: c.most_common(1)[0][0] for u, c in given.items()})
    return [split or unit_split[unit] for unit, split in zip(units, explicit)]


def held_out_subjects(subjects: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """Boolean mask over rows: the faces of a seeded `fraction` of the subjects (at least one subject when
    fraction > 0, never all of them; none when there is a single subject), chosen as `assign_splits` does."""
    subjects = [str(s) for s in subjects]
    if fraction <= 0 or len(set(subjects)) < 2:
        return np.zeros(len(subjects), bool)
    return np.array(
        [split == "test" for split in assign_splits(subjects, [None] * len(subjects), fraction, seed)], bool
    )
