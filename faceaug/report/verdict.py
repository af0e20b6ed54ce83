"""The report's one-paragraph verdict: are the generated images usable for FER training, and the numbers behind it.

The rules (judgement calls, stated so the reader can disagree):
- the edits must move faces towards their target: the median achieved-AU error of the edits at most
  `1 − MIN_AU_GAIN` of the median error the unedited sources had to the same targets;
- they must still be faces: a Haar face rate of the generated images ≥ `MIN_FACE_RATIO` × their sources' rate;
- greyscale sources must give greyscale images (faceaug.report.checks.colour_outputs);
- GANimation must edit, not repaint: its attention keeps at least `REPAINT_FLOOR` of the face (median over edits);
- the variants of one edit should differ: median mean-pairwise SSIM ≤ checks.COPY_SSIM (else a caveat).
"good" = all of these with a clear margin (AU gain ≥ `GOOD_AU_GAIN`), "poor" = one of the first four fails,
"usable" otherwise. Without an AU measurement the edits are "not judged".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from faceaug.aus import LABEL_PROTOTYPE
from faceaug.metrics.edit_measures import REPAINT_FLOOR, au_gain
from faceaug.report.checks import COPY_SSIM, Finding

MIN_AU_GAIN = 0.25
GOOD_AU_GAIN = 0.5
MIN_FACE_RATIO = 0.9
WEAK_ESTIMATOR = 0.8  # held-out MAE ≥ this × the always-the-mean MAE: the estimator barely beats guessing


@dataclass
class Verdict:
    level: str  # good | usable | poor | not judged | no expansion
    text: str
    numbers: dict[str, float | None] = field(default_factory=dict)


def _median(values: pd.Series) -> float | None:
    values = values.dropna()
    return float(np.median(values)) if len(values) else None


def _source_face_rate(originals: pd.DataFrame, generated: pd.DataFrame) -> float | None:
    """The Haar face rate of the originals the generated images were made from (all originals if unknown)."""
    sources = originals[originals["id"].isin("orig_" + generated["source_id"])]
    sources = sources if len(sources) else originals
    return float(sources["face_detected"].mean()) if len(sources) else None


def judge(
    metrics: pd.DataFrame | None, findings: list[Finding], estimator_info: dict | None, maker: str = "SinGAN"
) -> Verdict:
    """The verdict on an expansion's metrics; `maker` names what made the variants (checks.variant_maker)."""
    if metrics is None or (metrics["stage"] == "original").all():
        return Verdict(
            "no expansion",
            "No generated images yet: this is a summary of the dataset. "
            "Run `faceaug train` and `faceaug expand` to add some.",
        )
    originals = metrics[metrics["stage"] == "original"]
    edits, generated = metrics[metrics["stage"] == "ganimation"], metrics[metrics["stage"] != "original"]
    n = {
        "edit_au_error": _median(edits["au_error"]),
        "unedited_au_error": _median(edits["unedited_au_error"]),
        "face_rate_generated": float(generated["face_detected"].mean()),
        "face_rate_originals": _source_face_rate(originals, generated),
        "diversity": _median(metrics["diversity"]),
        "pairwise_ssim": _median(metrics["pairwise_ssim"]),
        "ssim_to_edit": _median(metrics["ssim_to_edit"]),
        "sifid": _median(metrics["sifid"]),
        "face_attention": _median(edits["face_attention"]) if "face_attention" in edits else None,
    }
    gain = None
    if n["edit_au_error"] is not None and n["unedited_au_error"]:
        gain = au_gain(n["edit_au_error"], n["unedited_au_error"])
    n["au_gain"] = gain
    face_ok = n["face_rate_originals"] is None or n["face_rate_generated"] >= MIN_FACE_RATIO * n["face_rate_originals"]
    colour_ok = not any(f.code == "colour_outputs" for f in findings)
    problems, caveats = [], []
    if not face_ok:
        problems.append(
            f"a face is found in {n['face_rate_generated']:.0%} of the generated images against "
            f"{n['face_rate_originals']:.0%} of their source faces"
        )
    if not colour_ok:
        problems.append("greyscale faces came out in colour")
    if any(f.code == "colour_shift" for f in findings):
        problems.append("the edits tint the colour faces outside the face region")
    if n["face_attention"] is not None and n["face_attention"] < REPAINT_FLOOR:
        problems.append(
            f"GANimation repainted the faces instead of editing them (its attention keeps a median "
            f"{n['face_attention']:.0%} of the face; an edit keeps most of it)"
        )
    if gain is not None and gain < MIN_AU_GAIN:
        problems.append(
            f"the edits barely reach their targets (median AU error {n['edit_au_error']:.3f} after the "
            f"edit vs {n['unedited_au_error']:.3f} before, {_change(gain)})"
        )
    if n["pairwise_ssim"] is not None and n["pairwise_ssim"] > COPY_SSIM:
        caveats.append(
            f"the {maker} variants of an edit are near-copies (median pairwise SSIM "
            f"{n['pairwise_ssim']:.3f}, diversity {n['diversity']:.3f})"
        )
    if any(f.code == "au_judge" for f in findings):
        caveats.append(
            "the AU estimator is the one GANimation was trained against, so its AU figures flatter the edits"
        )
    if estimator_info:
        held, base = estimator_info.get("mae"), estimator_info.get("baseline", {}).get("mae")
        if held is not None and base and held >= WEAK_ESTIMATOR * base:
            caveats.append(
                f"the AU estimator barely beats guessing (held-out MAE {held:.3f} vs {base:.3f} for "
                "always answering the mean), so its AU figures are weak evidence"
            )
        if LABEL_PROTOTYPE in estimator_info.get("au_source", []):
            caveats.append("the AU estimator learned label prototypes only (the faces' AUs came from their labels)")
    facts = _facts(n, maker)
    if gain is None:
        level = "poor" if problems else "not judged"
        lead = (
            "The edits' AUs were not measured (no AU estimator: run `faceaug train-au WORK_DIR`, or pass "
            "--openface-dir)"
        )
    elif problems:
        level, lead = "poor", "The generated images look poor for FER training"
    elif gain >= GOOD_AU_GAIN and not caveats:
        level, lead = "good", "The generated images look usable for FER training"
    else:
        level, lead = "usable", "The generated images look usable for FER training, with caveats"
    text = lead + (": " + "; ".join(problems) if problems else "") + ". " + facts
    if caveats:
        text += " Caveats: " + "; ".join(caveats) + "."
    return Verdict(level, text, n)


def _change(gain: float) -> str:
    return f"{gain:.0%} lower" if gain >= 0 else f"{-gain:.0%} higher"


def _facts(n: dict, maker: str) -> str:
    parts = []
    if n["au_gain"] is not None:
        parts.append(
            f"Median AU error to the target {n['edit_au_error']:.3f} after editing vs "
            f"{n['unedited_au_error']:.3f} for the unedited source ({_change(n['au_gain'])})"
        )
    rate = f"face detected in {n['face_rate_generated']:.0%} of generated images"
    if n["face_rate_originals"] is not None:
        rate += f" ({n['face_rate_originals']:.0%} of their sources)"
    parts.append(rate)
    if n["diversity"] is not None:
        parts.append(
            f"{maker} diversity {n['diversity']:.3f}, pairwise SSIM {n['pairwise_ssim']:.3f}, "
            f"SSIM to the edit {n['ssim_to_edit']:.3f}"
        )
    if n["sifid"] is not None:
        parts.append(f"SIFID {n['sifid']:.3f}")
    return "; ".join(parts) + "."
