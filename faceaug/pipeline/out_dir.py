"""An expansion's OUT_DIR: the names `faceaug expand` writes there, the fingerprint that says which expansion it
holds, and the check (or, with --overwrite, the clearing) before anything is written into it."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from faceaug.config import Config
from faceaug.errors import UserError
from faceaug.io.owned import clear_folder, holds_files, is_marked, mark_owned, refuse_protected
from faceaug.pipeline.shard import IMAGES_DIR, PARTS_DIR
from faceaug.preprocess.work_dir import data_dir_of

MANIFEST = "manifest.parquet"
SUMMARY = "expand.json"
PLAN = "plan.json"

#: Every file `faceaug expand` writes into OUT_DIR (what --overwrite and the orphan sweep may remove).
EXPAND_OUTPUTS = re.compile(
    rf"{MANIFEST}|{SUMMARY}|fer-eval\.(json|png)|report\.(html|json)|metrics\.parquet"
    rf"|{PARTS_DIR}/({PLAN}|shard_\d{{5}}\.parquet)"
    rf"|{IMAGES_DIR}/[A-Za-z0-9_-]+/(orig_[A-Za-z0-9_-]+|[A-Za-z0-9_-]+_\d{{5}}_(edit|s\d{{2}}))\.png"
)
EXPAND_OUTPUTS_IN_PARTS = re.compile(rf"{PLAN}|shard_\d{{5}}\.parquet")  # the same, relative to OUT_DIR/parts
_LEGACY_MARKS = (SUMMARY, f"{PARTS_DIR}/{PLAN}")  # expansions written before OUT_DIR carried the faceaug mark

#: The fields of expand's request that decide what it makes (the others say where and how it runs).
ASKED = ("mode", "au_preset", "aus", "per_class", "sources_label", "sources_split")


def expansion_fingerprint(
    request: Mapping[str, Any], cfg: Config, faces_sha: str, model_sha: str, judge_sha: list[str] | None = None
) -> str:
    """What an expansion is, as 16 hex digits: the `ASKED` fields of `request` (the request as a dict), the
    settings and seed, and the SHA-256 of the faces table, the model and (when the gate judges) the judges."""
    what = {
        **{key: request[key] for key in ASKED},
        "seed": cfg.seed,
        "expand": asdict(cfg.expand),
        "singan": asdict(cfg.singan),
        "patch": asdict(cfg.patch),
        "faces": faces_sha,
        "model": model_sha,
    }
    if judge_sha is not None:  # the gate's judges decide which sources are used
        what["judge"] = judge_sha
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _existing_fingerprint(out_dir: Path) -> str | None:
    for path in (out_dir / SUMMARY, out_dir / PARTS_DIR / PLAN):
        if path.is_file():
            try:
                found = json.loads(path.read_text()).get("fingerprint")
            except (OSError, ValueError, AttributeError):
                return None
            return found if isinstance(found, str) else None
    return None


def prepare_out_dir(out_dir: Path, work_dir: Path, fingerprint: str, overwrite: bool) -> bool:
    """Check (and with `overwrite` clear) OUT_DIR; True when it already holds this very expansion, complete."""
    protected = {"the WORK_DIR": work_dir, "the DATA_DIR": data_dir_of(work_dir)}
    refuse_protected(out_dir, protected, "--out")
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} exists and is not a folder.")
    if overwrite:
        clear_folder(out_dir, EXPAND_OUTPUTS, command="expand", what="--out", protected=protected, legacy=_LEGACY_MARKS)
    elif holds_files(out_dir):
        existing = _existing_fingerprint(out_dir)
        if existing != fingerprint:
            if is_marked(out_dir, "expand", _LEGACY_MARKS):
                what = "a different expansion" if existing else "an expansion whose plan is damaged"
            else:
                what = "files faceaug did not write"
            raise UserError(
                f"{out_dir} already holds {what}. Re-run the same command to resume, pass --overwrite to "
                "replace it, or choose another --out."
            )
    mark_owned(out_dir, "expand")
    return (out_dir / SUMMARY).is_file() and (out_dir / MANIFEST).is_file()
