"""Per-image metrics of an expansion (→ OUT_DIR/metrics.parquet; the manifest itself is never rewritten).

For every image: its achieved AUs (the AU estimator of `faceaug train-au`, or OpenFace CSVs from --openface-dir)
and their mean absolute error to the row's target AUs; whether OpenCV's Haar detector finds a face; whether it is
grey (R = G = B) and its colour spread. For a GANimation edit, also the AU error its *source* had to the same
target (the unedited error: an edit is only worth something when it is clearly lower), the SSIM to the source and
the colour shift outside the face (faceaug.metrics.edit_measures.colour_change: the tint part of the change, grey
levels, outside the template face region);
for a SinGAN variant, its SSIM to its edit and SIFID against it (with InceptionV3 weights); per edit, the variety
of its variants (faceaug.metrics.diversity) and, with the expansion's GANimation model at hand, how much of the
face its attention kept (< REPAINT_FLOOR = the face was repainted), on the edit's row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from faceaug.aus import AU_NAMES
from faceaug.io.images import GREY_TOLERANCE, colour_spread, read_image, resize_face
from faceaug.io.openface import OpenFaceError, read_openface_csv, select_face
from faceaug.metrics.diversity import template_face_mask, variant_diversity
from faceaug.metrics.edit_measures import colour_change, face_attention
from faceaug.metrics.structure import face_detected, ssim_rgb
from faceaug.schema import EDIT, VARIANT

ACHIEVED = [f"achieved_{au}" for au in AU_NAMES]


@dataclass
class AuSource:
    """Where achieved AUs come from: `predict(images, ids) → (N, 17)` (NaN rows = not measured) and a name."""

    name: str  # "faceaug-au-estimator" | "openface"
    predict: Callable[[np.ndarray, list[str]], np.ndarray]


def estimator_source(estimator, device: str = "cpu") -> AuSource:
    return AuSource("faceaug-au-estimator", lambda images, _ids: estimator.predict(images, device))


def openface_source(csv_dir: Path) -> AuSource:
    """AUs OpenFace measured on the generated images: `<csv_dir>/<image id>.csv` (flat or beside the label)."""

    def predict(_images: np.ndarray, ids: list[str]) -> np.ndarray:
        out = np.full((len(ids), len(AU_NAMES)), np.nan, np.float32)
        for i, image_id in enumerate(ids):
            found = [p for p in (csv_dir / f"{image_id}.csv", *csv_dir.glob(f"*/{image_id}.csv")) if p.is_file()]
            if found:
                try:
                    out[i] = select_face(read_openface_csv(found[0]), min_confidence=0.0).aus
                except (OpenFaceError, OSError, ValueError):
                    pass
        return out

    return AuSource("openface", predict)


def edit_id_of(sample_id: str) -> str:
    """`<stem>_sNN` → `<stem>_edit` (ids are made by faceaug.pipeline.plan.EditJob)."""
    return sample_id.rsplit("_s", 1)[0] + "_edit"


def score_manifest(
    manifest: pd.DataFrame,
    load: Callable[[str], np.ndarray],
    *,
    au_source: AuSource | None,
    sifid_stem=None,
    size: int | None = None,
    attention_of=None,
    on_progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """One row per manifest row: the metrics above (NaN / None where they do not apply or were not measured).

    `load(path)` returns an image (RGB uint8); `size` resizes everything to one side first (default: the size of the
    first generated image, else of the first image)."""
    rows = manifest.reset_index(drop=True)
    paths = list(rows["path"])
    images = [load(p) for p in paths]
    if on_progress:
        on_progress(len(images) // 2)
    if size is None:
        generated = np.flatnonzero(rows["is_generated"].to_numpy())
        size = images[generated[0] if len(generated) else 0].shape[0] if images else 64
    faces = np.stack([resize_face(im, size) for im in images]) if images else np.zeros((0, size, size, 3), np.uint8)
    index = {image_id: i for i, image_id in enumerate(rows["id"])}
    out = pd.DataFrame(
        {
            "id": rows["id"],
            "label": rows["label"],
            "stage": rows["stage"],
            "target": rows["target"],
            "source_id": rows["source_id"],
        }
    )
    out["face_detected"] = [face_detected(f) for f in faces]
    out["colour_spread"] = np.array([colour_spread(f) for f in images], np.int32)
    out["grey"] = out["colour_spread"] <= GREY_TOLERANCE

    targets = rows[list(AU_NAMES)].to_numpy(np.float32)
    achieved = au_source.predict(faces, list(rows["id"])) if au_source else np.full(targets.shape, np.nan, np.float32)
    for j, name in enumerate(ACHIEVED):
        out[name] = achieved[:, j]
    out["au_error"] = np.abs(achieved - targets).mean(axis=1)
    out["au_measured_by"] = au_source.name if au_source else None
    source_rows = np.array([index.get(f"orig_{s}", -1) for s in rows["source_id"]])
    has_source = (source_rows >= 0) & rows["is_generated"].to_numpy()
    unedited = np.full(len(rows), np.nan, np.float32)
    unedited[has_source] = np.abs(achieved[source_rows[has_source]] - targets[has_source]).mean(axis=1)
    out["unedited_au_error"] = unedited

    ssim_source = np.full(len(rows), np.nan, np.float32)
    ssim_edit = np.full(len(rows), np.nan, np.float32)
    sifid_values = np.full(len(rows), np.nan, np.float32)
    for column in ("diversity", "pairwise_ssim"):
        out[column] = np.nan
    stages = rows["stage"].to_numpy()
    colour_shift = np.full(len(rows), np.nan, np.float32)
    outside = ~template_face_mask(size)
    for i in np.flatnonzero(stages == EDIT):
        if source_rows[i] >= 0:
            ssim_source[i] = ssim_rgb(faces[i], faces[source_rows[i]])
            colour_shift[i] = colour_change(faces[i], faces[source_rows[i]])[outside].mean()
    out["colour_shift_outside_face"] = colour_shift
    variants: dict[int, list[int]] = {}
    for i in np.flatnonzero(stages == VARIANT):
        edit = index.get(edit_id_of(rows["id"][i]), -1)
        if edit >= 0:
            variants.setdefault(edit, []).append(i)
            ssim_edit[i] = ssim_rgb(faces[i], faces[edit])
    for edit, members in variants.items():
        if len(members) < 2:  # one variant has no spread to measure
            continue
        summary = variant_diversity(faces[members], faces[edit])
        out.loc[edit, "diversity"] = summary["diversity"]
        out.loc[edit, "pairwise_ssim"] = summary["pairwise_ssim"]
        if sifid_stem is not None:
            from faceaug.metrics.sifid import sifid

            sifid_values[members] = sifid(sifid_stem, faces[members], faces[edit])
    out["ssim_to_source"], out["ssim_to_edit"], out["sifid"] = ssim_source, ssim_edit, sifid_values
    out["face_attention"] = np.nan
    edits = np.flatnonzero((stages == EDIT) & (source_rows >= 0))
    recorded = rows["face_attention"].to_numpy(np.float32) if "face_attention" in rows else None
    if recorded is not None and len(edits) and np.isfinite(recorded[edits]).all():  # expand recorded it
        out.loc[edits, "face_attention"] = recorded[edits]
    elif attention_of is not None:  # an older expansion: recompute each edit's mask with the expansion's editor
        if len(edits):
            masks = attention_of(faces[source_rows[edits]], rows.iloc[edits])
            out.loc[edits, "face_attention"] = [face_attention(m) for m in masks]
    if on_progress:
        on_progress(len(images) - len(images) // 2)
    return out


def load_from(folder: Path) -> Callable[[str], np.ndarray]:
    return lambda rel: read_image(Path(folder) / rel)
