"""The source faces of an expansion: which faces are edited (split, label), the size their edits are written at,
how they were framed compared with the editor's training faces, and what the plan made of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from faceaug.console import info, warn
from faceaug.errors import UserError
from faceaug.io.images import ImageDecodeError, read_image
from faceaug.pipeline.plan import EditJob
from faceaug.preprocess.align import other_framing


def select_sources(faces: pd.DataFrame, split: str, label: str | None) -> pd.DataFrame:
    """The source faces for editing; an empty selection is a UserError naming what exists."""
    chosen = faces[faces["split"] == split]
    if chosen.empty:
        raise UserError(f"No faces in split {split!r} (splits present: {', '.join(sorted(faces['split'].unique()))}).")
    if label is not None:
        chosen = chosen[chosen["label"] == label]
        if chosen.empty:
            labels = ", ".join(sorted(faces.loc[faces["split"] == split, "label"].unique()))
            raise UserError(f"No {split} faces with label {label!r} to use as sources (labels present: {labels}).")
    return chosen.reset_index(drop=True)


def source_size(work_dir: Path, sources: pd.DataFrame) -> int:
    """The side of the source faces, read from the first one: edits are written at the source faces' size
    whatever the editor's (faceaug.inference.editor)."""
    try:
        return int(read_image(work_dir / sources["image_path"].iloc[0]).shape[0])
    except (FileNotFoundError, ImageDecodeError) as exc:
        raise UserError(
            f"Source face {sources['image_path'].iloc[0]} of {work_dir} cannot be read ({exc}); re-run "
            "`faceaug preprocess`."
        ) from None


def warn_other_landmarks(model_path: Path, provenance: dict[str, Any], sources: pd.DataFrame) -> None:
    """Warn when source faces were framed by another landmark method than the model's training faces."""
    problem = other_framing((provenance.get("training") or {}).get("landmark_methods"), sources["landmark_method"])
    if problem:
        warn(f"{model_path} {problem}.")


def hint_more_sources(jobs: list[EditJob], n_sources: int, samples_per_edit: int, per_class: int = 0) -> None:
    """Say when a target edits only some of the source faces (distinct edits are what helps a classifier most:
    docs/results.md, 2026-12-02), when a target ran out of sources (or of edits passing the gate) so that its edits
    take more than --samples-per-edit variants each, and when it gets fewer than `per_class` images."""
    by_target: dict[str, list] = {}
    for job in jobs:
        by_target.setdefault(job.target, []).append(job)
    used = max((len({job.source_id for job in group}) for group in by_target.values()), default=0)
    if 0 < used < n_sources:
        info(
            f"Each target edited {used} of the {n_sources} source faces; --per-class {n_sources} edits every "
            "one of them (on FER2013 more distinct edits per class helped the classifier most)."
        )
    for target, group in by_target.items():
        faces = f"{len(group)} source face{'s' if len(group) != 1 else ''} gave usable edits"
        most = max(job.n_samples for job in group)
        made = sum(job.n_samples + 1 for job in group)
        if per_class and made < per_class:
            warn(
                f"{target}: only {faces}; with at most {most} variants each "
                f"(--max-variants-per-edit) it gets {made} of the {per_class} images asked for."
            )
        elif most > samples_per_edit:
            info(
                f"{target}: {faces}, so each edit takes up to {most} variants "
                f"(--samples-per-edit {samples_per_edit}) rather than repeat an edit."
            )
