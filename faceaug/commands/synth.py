"""`faceaug synth`: write a synthetic labelled face dataset with exact AUs and landmarks (faceaug.synth.dataset
has the layout and the writer)."""

from __future__ import annotations

from pathlib import Path

from faceaug.aus import TargetClass
from faceaug.console import info
from faceaug.synth.dataset import SYNTH_OUTPUTS, write_dataset

__all__ = ["SYNTH_OUTPUTS", "run_synth"]


def run_synth(
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
    """Write `subjects` × len(classes) × `per_class` synthetic faces into `out_dir` and say so; returns the summary."""
    out_dir = Path(out_dir)
    summary = write_dataset(
        out_dir,
        subjects=subjects,
        per_class=per_class,
        size=size,
        classes=classes,
        seed=seed,
        overwrite=overwrite,
        workers=workers,
    )
    info(f"Wrote {summary['images']} faces ({subjects} subjects × {len(classes)} classes × {per_class}) to {out_dir}")
    info(
        f"  labels: {out_dir / 'labels.csv'}   identities: {out_dir / 'identities.parquet'}   "
        f"summary: {out_dir / 'synth.json'}"
    )
    return summary
