"""What a report warns about: problems of the data or of the generated images a user would not see by themselves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from faceaug.preprocess.align import other_framing
from faceaug.report.inputs import ReportInputs
from faceaug.schema import PATCH, SINGAN, VARIANT

#: variants more alike than this (mean pairwise SSIM) are near-copies of each other
COPY_SSIM = 0.95
#: share of a greyscale dataset's generated images that may carry colour before it is a warning
COLOUR_SHARE = 0.02
#: colour sources: the median edit's colour shift outside the face (grey levels, the tint part of the change,
#: faceaug.metrics.edit_measures.colour_change) above this is a warning: the editor tints what it should keep.
#: Measured: a trained `fast` editor on the small synthetic world (3,000 steps, 48 edits) median 0.28, max 0.57; a
#: cast of +d / 0 / −d grey levels on R / G / B reads 2d/3, so 1.5 flags casts from ~2 grey levels on
COLOUR_SHIFT_BOUND = 1.5


def variant_maker(manifest: pd.DataFrame) -> str:
    """What made the expansion's variants, as the report names it: "SinGAN", "patch regenerator" or both (from
    the variant rows' `regenerator`)."""
    makers = set(manifest.loc[manifest["stage"] == VARIANT, "regenerator"].dropna())
    if PATCH in makers and SINGAN in makers:
        return "SinGAN and patch regenerator"
    return "patch regenerator" if PATCH in makers else "SinGAN"


def variants_caption(manifest: pd.DataFrame) -> str:
    """The contact sheets' last columns: whose variants, or none (an expansion of edits only: `--samples-per-edit
    0`, or edits first with fewer images per class than sources)."""
    if not (manifest["stage"] == VARIANT).any():
        return "no variants: every image is an edit of its own source."
    return f"{variant_maker(manifest)} variants."


@dataclass(frozen=True)
class Finding:
    code: str  # stable, for scripts: no_sources, subject_leak, missing_files, crop_template, colour_outputs, ...
    message: str


def dataset_findings(inputs: ReportInputs) -> list[Finding]:
    found: list[Finding] = []
    originals = inputs.originals
    train = originals[originals["split"] == "train"]
    for label in sorted(set(originals["label"]) - set(train["label"])):
        found.append(
            Finding(
                "no_sources",
                f"class {label!r} has no train-split faces: nothing to learn it from or "
                "to edit (its faces are all in the test split).",
            )
        )
    if not inputs.generated.empty:
        for label in sorted(set(inputs.generated["label"]) - set(originals["label"])):
            found.append(
                Finding(
                    "no_sources",
                    f"class {label!r} was generated but has no real faces: a classifier "
                    "trained on it is never checked against a real one.",
                )
            )
    by_split = originals.groupby("subject")["split"].nunique()
    leaking = sorted(by_split[by_split > 1].index)
    if leaking:
        found.append(
            Finding(
                "subject_leak",
                f"{len(leaking)} subject(s) appear in both the train and the test split "
                f"(e.g. {leaking[0]}): test accuracy will be optimistic.",
            )
        )
    missing = _missing(inputs)
    if missing:
        found.append(
            Finding(
                "missing_files", f"{len(missing)} image file(s) listed in the tables are missing (e.g. {missing[0]})."
            )
        )
    if inputs.rejects is not None and len(inputs.rejects):
        reasons = inputs.rejects["reason"].value_counts()
        found.append(
            Finding(
                "rejects",
                f"{len(inputs.rejects)} input image(s) did not become faces: "
                + ", ".join(f"{n} {r}" for r, n in reasons.items())
                + ".",
            )
        )
    return found


def _missing(inputs: ReportInputs) -> list[str]:
    if inputs.manifest is not None:
        rels, root = inputs.manifest["path"], inputs.out_dir
    else:
        rels, root = inputs.faces["image_path"], inputs.work_dir
    return [rel for rel in rels if not (Path(root) / rel).is_file()]


def model_findings(
    crop_template: str | None,
    ours: str,
    model_path: str | None,
    trained_methods: dict[str, int] | None = None,
    source_methods=(),
) -> list[Finding]:
    """A model trained on another crop template, or on faces aligned by another landmark method than the sources."""
    found = []
    if crop_template is not None and crop_template != ours:
        found.append(
            Finding(
                "crop_template",
                f"the GANimation model {model_path} was trained on faces framed "
                f"differently from today's crops (template {crop_template}, ours "
                f"{ours}): edits may be poor.",
            )
        )
    problem = other_framing(trained_methods or {}, source_methods)
    if problem:
        found.append(Finding("landmark_method", f"the GANimation model {model_path} {problem}."))
    return found


def image_findings(metrics: pd.DataFrame, maker: str = "SinGAN") -> list[Finding]:
    found: list[Finding] = []
    originals, generated = metrics[metrics["stage"] == "original"], metrics[metrics["stage"] != "original"]
    if len(originals) and len(generated) and originals["grey"].all():
        coloured = generated[~generated["grey"]]
        if len(coloured) > COLOUR_SHARE * len(generated):
            found.append(
                Finding(
                    "colour_outputs",
                    f"the source faces are greyscale but {len(coloured)} of "
                    f"{len(generated)} generated images carry colour (largest channel "
                    f"difference up to {int(coloured['colour_spread'].max())} grey "
                    "levels): the editor tints them.",
                )
            )
    shifts = metrics.get("colour_shift_outside_face", pd.Series(dtype=float)).dropna()  # edits only
    if len(originals) and not originals["grey"].all() and len(shifts) and shifts.median() > COLOUR_SHIFT_BOUND:
        found.append(
            Finding(
                "colour_shift",
                f"the edits change the colour outside the face by {shifts.median():.1f} "
                f"grey levels (median tint part of the change; bound "
                f"{COLOUR_SHIFT_BOUND:g}): the editor tints what it should keep.",
            )
        )
    copies = metrics["pairwise_ssim"].dropna()
    if len(copies) and (copies > COPY_SSIM).mean() > 0.5:
        found.append(
            Finding(
                "near_copies",
                f"the {maker} variants of {int((copies > COPY_SSIM).sum())} of "
                f"{len(copies)} edits are near-copies of each other (mean pairwise SSIM "
                f"> {COPY_SSIM}): M variants add little more than one image.",
            )
        )
    return found
