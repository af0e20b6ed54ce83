"""The manifest of an expansion: the originals' rows and image files, which shards' part files are finished and
intact, whether a complete OUT_DIR still is, and the merge of the parts into OUT_DIR/manifest.parquet."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from faceaug.aus import AU_NAMES
from faceaug.console import warn
from faceaug.errors import UserError
from faceaug.io.atomic import atomic_path
from faceaug.io.images import ImageDecodeError, read_image
from faceaug.io.owned import sweep
from faceaug.pipeline.out_dir import EXPAND_OUTPUTS, MANIFEST, PLAN, SUMMARY
from faceaug.pipeline.plan import EditJob
from faceaug.pipeline.shard import PARTS_DIR, image_relpath, part_path
from faceaug.schema import ORIGINAL, read_table, write_table_atomic


def original_rows(faces: pd.DataFrame) -> list[dict[str, Any]]:
    """The manifest rows of the source faces themselves (stage "original")."""
    rows = []
    for face in faces.itertuples(index=False):
        face = face._asdict()
        image_id = f"orig_{face['face_id']}"
        row = {
            "id": image_id,
            "path": image_relpath(face["label"], image_id),
            "label": face["label"],
            "split": face["split"],
            "is_generated": False,
            "stage": ORIGINAL,
            "source_id": face["face_id"],
            "source_label": face["label"],
            "subject": face["subject"],
            "target": "original",
            "alpha": None,
            "gen_start_scale": None,
            "singan_mode": None,
            "sample_index": None,
            "seed": None,
            "ganimation_model_id": None,
            "editor": None,
            "singan_model_id": None,
            "edit_score": None,
            "target_probability": None,
            "identity_distance": None,
            "face_attention": None,
            "regenerator": None,
        }
        row.update({au: face[au] for au in AU_NAMES})
        rows.append(row)
    return rows


def copy_originals(faces: pd.DataFrame, work_dir: Path, out_dir: Path) -> None:
    """Originals go into OUT_DIR too, so the manifest's folder is a self-contained training set."""
    for face in faces.itertuples(index=False):
        source, dest = work_dir / face.image_path, out_dir / image_relpath(face.label, f"orig_{face.face_id}")
        if dest.is_file() and filecmp.cmp(source, dest, shallow=False):
            continue
        with atomic_path(dest) as tmp:
            shutil.copyfile(source, tmp)


def _damaged_images(out_dir: Path, rel_paths) -> list[str]:
    """The listed images that are missing or do not decode (checked before trusting a finished shard)."""
    damaged = []
    for rel in rel_paths:
        try:
            read_image(out_dir / rel)
        except (OSError, ImageDecodeError):
            damaged.append(rel)
    return damaged


def shard_is_finished(out_dir: Path, index: int, jobs: list[EditJob]) -> bool:
    """A shard counts as finished when its part file reads as a valid manifest table holding exactly the
    shard's rows, each with a decodable image. A damaged shard's part file is removed, so the shard is redone."""
    path = part_path(out_dir, index)
    if not path.is_file():
        return False
    expected = {job.edit_id() for job in jobs} | {job.sample_id(k) for job in jobs for k in range(job.n_samples)}
    try:
        rows = read_table(path, "manifest")
        finished = (
            set(rows["id"]) == expected and len(rows) == len(expected) and not _damaged_images(out_dir, rows["path"])
        )
    except UserError:
        finished = False
    if not finished:
        warn(f"shard {index} is damaged (its part file or images are missing or corrupt): redoing it.")
        path.unlink(missing_ok=True)
    return finished


def complete_expansion_is_intact(out_dir: Path) -> bool:
    """A finished OUT_DIR whose manifest or images were damaged since is made again (same ids, same pixels)."""
    try:
        manifest = read_table(out_dir / MANIFEST, "manifest")
        damaged = _damaged_images(out_dir, manifest["path"])
    except UserError as exc:
        warn(f"{out_dir / MANIFEST} is damaged ({exc}): making the expansion again.")
    else:
        if not damaged:
            return True
        warn(
            f"{len(damaged)} images listed in {out_dir / MANIFEST} are missing or corrupt (e.g. {damaged[0]}): "
            "making the expansion again."
        )
    for name in (SUMMARY, MANIFEST):
        (out_dir / name).unlink(missing_ok=True)
    return False


def merge(out_dir: Path, originals: list[dict[str, Any]], n_shards: int, expected: int) -> pd.DataFrame:
    """Write OUT_DIR/manifest.parquet: the originals' rows, then every shard's part file in shard order."""
    parts = [read_table(part_path(out_dir, i), "manifest") for i in range(n_shards)]
    generated = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if len(generated) != expected:
        raise RuntimeError(f"expected {expected} generated rows, the shards hold {len(generated)}")
    manifest = pd.concat([pd.DataFrame(originals), generated], ignore_index=True)
    if manifest["id"].duplicated().any():
        raise RuntimeError("duplicate ids in the manifest")
    missing = [p for p in manifest["path"] if not (out_dir / p).is_file()]
    if missing:
        raise RuntimeError(f"{len(missing)} manifest rows have no image file, e.g. {missing[0]}")
    write_table_atomic(manifest, out_dir / MANIFEST, "manifest")
    # orphans from an interrupted shard of an earlier plan: only faceaug's own image names are swept
    sweep(out_dir, EXPAND_OUTPUTS, keep={*manifest["path"], MANIFEST, SUMMARY, *_parts_files(n_shards)})
    return manifest


def _parts_files(n_shards: int) -> list[str]:
    return [f"{PARTS_DIR}/{PLAN}", *(f"{PARTS_DIR}/{part_path(Path(), i).name}" for i in range(n_shards))]


def manifest_counts(manifest: pd.DataFrame, n_jobs: int, n_shards: int) -> dict[str, Any]:
    """What a merged manifest holds (expand.json's `counts`)."""
    generated = manifest[manifest["is_generated"]]
    return {
        "originals": int((~manifest["is_generated"]).sum()),
        "generated": int(len(generated)),
        "per_label": {str(k): int(v) for k, v in generated["label"].value_counts().sort_index().items()},
        "per_stage": {str(k): int(v) for k, v in generated["stage"].value_counts().sort_index().items()},
        "jobs": n_jobs,
        "shards": n_shards,
    }
