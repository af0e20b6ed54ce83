"""`faceaug expand`: plan the edit jobs, run the shards that are not finished yet, merge the manifest.

OUT_DIR while running: `parts/plan.json` (what is being made) and `parts/shard_*.parquet` (finished shards).
When done: `manifest.parquet` (originals + generated), `images/<label>/<id>.png`, `expand.json`; `parts/` is
removed. Re-running the same command resumes; a different command into the same OUT_DIR is refused unless
`--overwrite`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from faceaug.aus import AU_NAMES, parse_au_spec
from faceaug.config import Config, write_resolved_config
from faceaug.console import info, progress, warn
from faceaug.device import resolve_device
from faceaug.errors import UserError
from faceaug.pipeline import executors
from faceaug.pipeline.plan import (
    EditJob,
    continuous_targets,
    cut_shards,
    discrete_targets,
    parse_au_list,
    plan_jobs,
    single_au_targets,
)
from faceaug.pipeline.shard import PARTS_DIR, ShardContext, ShardResult, image_relpath, load_editor, part_path
from faceaug.io.atomic import atomic_path, file_sha256, write_json_atomic
from faceaug.schema import read_table, write_table_atomic
from faceaug.training.ganimation_checkpoint import crop_template_id
from faceaug.training.singan import check_singan_setup

MANIFEST = "manifest.parquet"
SUMMARY = "expand.json"
PLAN = "plan.json"


@dataclass
class ExpandRequest:
    work_dir: Path
    au_preset: str
    per_class: int
    mode: str = "discrete"  # discrete | single-au | continuous
    aus: str | None = None
    sources_label: str | None = None
    sources_split: str = "train"
    model: Path | None = None
    out_dir: Path | None = None
    executor: str = "local"  # local | ray
    ray_address: str | None = None
    workers: int = 0
    overwrite: bool = False


def _targets(request: ExpandRequest, cfg: Config):
    if request.mode == "single-au":
        return single_au_targets(parse_au_list(request.aus))
    classes = parse_au_spec(request.au_preset)
    if request.mode == "continuous":
        return continuous_targets(classes, cfg.expand.continuous_steps)
    if request.mode != "discrete":
        raise UserError(f"Unknown mode {request.mode!r}: use discrete, single-au or continuous.")
    return discrete_targets(classes)


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


def _original_rows(faces: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for face in faces.itertuples(index=False):
        face = face._asdict()
        image_id = f"orig_{face['face_id']}"
        row = {
            "id": image_id, "path": image_relpath(face["label"], image_id), "label": face["label"],
            "split": face["split"], "is_generated": False, "stage": "original", "source_id": face["face_id"],
            "source_label": face["label"], "subject": face["subject"], "target": "original", "alpha": None,
            "gen_start_scale": None, "singan_mode": None, "sample_index": None, "seed": None,
            "ganimation_model_id": None, "singan_model_id": None,
        }
        row.update({au: face[au] for au in AU_NAMES})
        rows.append(row)
    return rows


def _copy_originals(faces: pd.DataFrame, work_dir: Path, out_dir: Path) -> None:
    """Originals go into OUT_DIR too, so the manifest's folder is a self-contained training set."""
    for face in faces.itertuples(index=False):
        dest = out_dir / image_relpath(face.label, f"orig_{face.face_id}")
        if dest.exists():
            continue
        with atomic_path(dest) as tmp:
            shutil.copyfile(work_dir / face.image_path, tmp)


def _fingerprint(request: ExpandRequest, cfg: Config, faces_sha: str, model_sha: str) -> str:
    what = {
        "mode": request.mode, "au_preset": request.au_preset, "aus": request.aus, "per_class": request.per_class,
        "sources_label": request.sources_label, "sources_split": request.sources_split, "seed": cfg.seed,
        "expand": asdict(cfg.expand), "singan": asdict(cfg.singan), "faces": faces_sha, "model": model_sha,
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _existing_fingerprint(out_dir: Path) -> str | None:
    for path in (out_dir / SUMMARY, out_dir / PARTS_DIR / PLAN):
        if path.is_file():
            try:
                return json.loads(path.read_text()).get("fingerprint")
            except (OSError, json.JSONDecodeError):
                return None
    return None


def _prepare_out_dir(out_dir: Path, fingerprint: str, overwrite: bool) -> bool:
    """Returns True when OUT_DIR already holds this very expansion, complete."""
    if overwrite and out_dir.exists():
        shutil.rmtree(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        existing = _existing_fingerprint(out_dir)
        if existing != fingerprint:
            what = "a different expansion" if existing else "files faceaug did not write"
            raise UserError(
                f"{out_dir} already holds {what}. Re-run the same command to resume, pass --overwrite to "
                "replace it, or choose another --out."
            )
        if (out_dir / SUMMARY).is_file() and (out_dir / MANIFEST).is_file():
            return True
    return False


def _merge(out_dir: Path, originals: list[dict[str, Any]], n_shards: int, expected: int) -> pd.DataFrame:
    parts = [pq.read_table(part_path(out_dir, i)).to_pandas() for i in range(n_shards)]
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
    listed = {str(out_dir / p) for p in manifest["path"]}
    for png in (out_dir / "images").rglob("*"):
        if png.is_file() and str(png) not in listed:
            png.unlink()  # an orphan from an interrupted shard of an earlier plan
    return manifest


def _print_summary(manifest: pd.DataFrame, out_dir: Path, seconds: float) -> None:
    from rich.table import Table

    from faceaug.console import console

    table = Table(title="faceaug expand", show_lines=False)
    for column in ("label", "original", "ganimation", "singan", "total"):
        table.add_column(column, justify="right" if column != "label" else "left")
    counts = manifest.groupby(["label", "stage"]).size().unstack(fill_value=0)
    for label, row in counts.iterrows():
        values = [int(row.get(stage, 0)) for stage in ("original", "ganimation", "singan")]
        table.add_row(str(label), *map(str, values), str(sum(values)))
    console.print(table)
    generated = int(manifest["is_generated"].sum())
    info(f"{generated} generated images in {seconds:.0f} s ({60 * generated / max(seconds, 1e-9):.1f} per minute)")
    info(f"manifest: {out_dir / MANIFEST}")
    info(f"images:   {out_dir / 'images'}")


def run_expand(request: ExpandRequest, cfg: Config) -> dict[str, Any]:
    """Run (or resume) an expansion; returns the summary written to expand.json."""
    started = time.perf_counter()
    work_dir = Path(request.work_dir)
    if not work_dir.is_dir():
        raise UserError(f"Work folder {work_dir} does not exist. Run `faceaug preprocess DATA --out {work_dir}`.")
    faces_path = work_dir / "faces.parquet"
    faces = read_table(faces_path, "faces")
    if request.per_class <= 0:
        raise UserError(f"--per-class must be positive, got {request.per_class}.")
    model_path = Path(request.model) if request.model else work_dir / "models" / "ganimation.pt"
    if not model_path.is_file():
        raise UserError(
            f"No GANimation model at {model_path}. Train one with `faceaug train {work_dir}` or pass --model PATH."
        )
    device = resolve_device(cfg.device)
    editor = load_editor(model_path, str(device))  # validated here, reused by in-process shards
    if tuple(editor.au_names) != AU_NAMES:
        raise UserError(f"{model_path} was trained for another AU list ({', '.join(editor.au_names)}).")
    if editor.crop_template != crop_template_id():
        warn(f"{model_path} was trained on faces framed differently from `faceaug preprocess` crops (crop template "
             f"{editor.crop_template}, ours {crop_template_id()}): edits may be poorer.")
    size = editor.image_size
    if cfg.expand.samples_per_edit > 0:  # M = 0: edits only, no SinGAN is trained
        check_singan_setup(size, size, cfg.singan, start_scale=cfg.expand.start_scale, mode=cfg.expand.singan_mode)
    sources = select_sources(faces, request.sources_split, request.sources_label)
    jobs = plan_jobs(
        sources, _targets(request, cfg), per_class=request.per_class,
        samples_per_edit=cfg.expand.samples_per_edit, seed=cfg.seed,
        label_threshold=cfg.expand.continuous_label_threshold,
    )
    shards = cut_shards(jobs, cfg.expand.shard_size)
    expected = sum(job.n_samples + 1 for job in jobs)

    out_dir = Path(request.out_dir or work_dir / "expanded")
    model_sha = file_sha256(model_path)
    fingerprint = _fingerprint(request, cfg, file_sha256(faces_path), model_sha)
    if _prepare_out_dir(out_dir, fingerprint, request.overwrite):
        summary = json.loads((out_dir / SUMMARY).read_text())
        shutil.rmtree(out_dir / PARTS_DIR, ignore_errors=True)
        info(f"{out_dir} already holds this expansion, complete: nothing to do.")
        _print_summary(read_table(out_dir / MANIFEST, "manifest"), out_dir, summary.get("seconds", 0.0))
        return summary
    write_json_atomic({"fingerprint": fingerprint, "shards": len(shards), "jobs": len(jobs)},
                      out_dir / PARTS_DIR / PLAN)
    _copy_originals(faces, work_dir, out_dir)

    pending = [(i, shard) for i, shard in enumerate(shards) if not part_path(out_dir, i).is_file()]
    if len(pending) < len(shards):
        info(f"Resuming: {len(shards) - len(pending)} of {len(shards)} shards already finished.")
    ctx = ShardContext(
        work_dir=str(work_dir), out_dir=str(out_dir), model_path=str(model_path), device=str(device),
        singan=asdict(cfg.singan), start_scale=cfg.expand.start_scale, singan_mode=cfg.expand.singan_mode,
    )
    timings: Counter[str] = Counter()
    with progress() as bar:
        task = bar.add_task(f"expand ({request.executor})", total=expected,
                            completed=expected - sum(job.n_samples + 1 for _, s in pending for job in s))

        def on_done(result: ShardResult) -> None:
            timings.update(result.timings)
            bar.advance(task, result.rows)

        if request.executor == "ray":
            executors.run_ray(pending, ctx, address=request.ray_address, workers=request.workers, on_done=on_done)
        else:
            executors.run_local(pending, ctx, workers=request.workers, on_done=on_done)

    manifest = _merge(out_dir, _original_rows(faces), len(shards), expected)
    seconds = time.perf_counter() - started
    generated = manifest[manifest["is_generated"]]
    summary = {
        "fingerprint": fingerprint,
        "request": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(request).items()},
        "ganimation_model": {"path": str(model_path), "sha256": model_sha, "id": editor.model_id},
        "counts": {
            "originals": int((~manifest["is_generated"]).sum()),
            "generated": int(len(generated)),
            "per_label": {str(k): int(v) for k, v in generated["label"].value_counts().sort_index().items()},
            "per_stage": {str(k): int(v) for k, v in generated["stage"].value_counts().sort_index().items()},
            "jobs": len(jobs), "shards": len(shards),
        },
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "seconds": round(seconds, 2),
    }
    write_resolved_config(cfg, out_dir / SUMMARY, **summary)
    shutil.rmtree(out_dir / PARTS_DIR, ignore_errors=True)
    _print_summary(manifest, out_dir, seconds)
    return summary


__all__ = ["ExpandRequest", "run_expand", "EditJob"]
