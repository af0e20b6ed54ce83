"""Everything a report reads, found from one PATH: a WORK_DIR, an expand OUT_DIR or a manifest file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from faceaug.errors import UserError
from faceaug.schema import read_table

MANIFEST = "manifest.parquet"
FACES = "faces.parquet"


@dataclass
class ReportInputs:
    path: Path  # what the user named
    work_dir: Path | None = None
    faces: pd.DataFrame | None = None  # WORK_DIR/faces.parquet
    rejects: pd.DataFrame | None = None
    out_dir: Path | None = None  # the manifest's folder
    manifest: pd.DataFrame | None = None
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage → its resolved-settings JSON
    fer_eval: dict[str, Any] | None = None

    @property
    def has_expansion(self) -> bool:
        return self.manifest is not None

    @property
    def originals(self) -> pd.DataFrame:
        """The real faces, as manifest-like rows (label, split, subject, stage="original")."""
        if self.manifest is not None:
            return self.manifest[~self.manifest["is_generated"]]
        return self.faces.assign(stage="original", is_generated=False)

    @property
    def generated(self) -> pd.DataFrame:
        return self.manifest[self.manifest["is_generated"]] if self.manifest is not None else self.originals.iloc[0:0]

    def image_path(self, rel: str) -> Path:
        return (self.out_dir if self.manifest is not None else self.work_dir) / rel


def _json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _work_dir_of(out_dir: Path, expand: dict | None) -> Path | None:
    candidates = []
    if expand:
        work = expand.get("request", {}).get("work_dir")
        if isinstance(work, str):
            candidates.append(Path(work) if Path(work).is_absolute() else Path.cwd() / work)
    candidates.append(out_dir.parent)  # the default OUT_DIR is WORK_DIR/expanded
    return next((c for c in candidates if (c / FACES).is_file()), None)


def load_inputs(path: Path) -> ReportInputs:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist: give a WORK_DIR, an expand OUT_DIR or a manifest.parquet.")
    if path.is_file():
        out_dir, manifest_path = path.parent, path
    elif (path / MANIFEST).is_file():
        out_dir, manifest_path = path, path / MANIFEST
    elif (path / FACES).is_file():
        default = path / "expanded" / MANIFEST
        out_dir, manifest_path = (default.parent, default) if default.is_file() else (None, None)
    else:
        raise UserError(f"{path} holds neither {MANIFEST} (an expand OUT_DIR) nor {FACES} (a WORK_DIR).")
    inputs = ReportInputs(path=path)
    if manifest_path is not None:
        if manifest_path.name == FACES:
            return _with_work_dir(inputs, manifest_path.parent)
        inputs.out_dir, inputs.manifest = out_dir, read_table(manifest_path, "manifest")
        expand = _json(out_dir / "expand.json")
        if expand:
            inputs.settings["expand"] = expand
        inputs.fer_eval = _json(out_dir / "fer-eval.json")
        work_dir = path if path.is_dir() and (path / FACES).is_file() else _work_dir_of(out_dir, expand)
        return _with_work_dir(inputs, work_dir) if work_dir is not None else inputs
    return _with_work_dir(inputs, path)


def _with_work_dir(inputs: ReportInputs, work_dir: Path) -> ReportInputs:
    inputs.work_dir = work_dir
    inputs.faces = read_table(work_dir / FACES, "faces")
    if (work_dir / "rejects.parquet").is_file():
        inputs.rejects = read_table(work_dir / "rejects.parquet", "rejects")
    for stage, rel in (("preprocess", "preprocess.json"), ("train", "models/train_config.json")):
        found = _json(work_dir / rel)
        if found:
            inputs.settings[stage] = found
    if inputs.fer_eval is None:
        inputs.fer_eval = _json(work_dir / "fer-eval.json")
    return inputs
