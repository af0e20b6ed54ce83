"""`faceaug expand`: plan the edit jobs, run the shards that are not finished yet, merge the manifest.

OUT_DIR while running: `parts/plan.json` (what is being made) and `parts/shard_*.parquet` (finished shards).
When done: `manifest.parquet` (originals + generated), `images/<label>/<id>.png`, `expand.json`; `parts/` is
removed. Re-running the same command resumes; a different command into the same OUT_DIR is refused unless
`--overwrite`.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import re
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from faceaug.aus import AU_NAMES, parse_au_spec
from faceaug.commands.preprocess import data_dir_of
from faceaug.config import EXPAND_MODES, Config, write_resolved_config
from faceaug.console import info, progress, warn
from faceaug.device import resolve_device
from faceaug.errors import UserError
from faceaug.inference.au_coherence import coherent_sources
from faceaug.io.atomic import atomic_path, file_sha256, write_json_atomic
from faceaug.io.images import ImageDecodeError, read_image
from faceaug.io.owned import (
    clear_folder,
    holds_files,
    is_marked,
    mark_owned,
    refuse_protected,
    remove_tree_if_ours,
    sweep,
)
from faceaug.models.ganimation_file import default_model_path
from faceaug.pipeline import executors
from faceaug.pipeline.gate import make_gate, report_gate
from faceaug.pipeline.plan import (
    EditJob,
    check_per_class,
    continuous_targets,
    cut_shards,
    discrete_targets,
    parse_au_list,
    plan_jobs,
    single_au_targets,
)
from faceaug.pipeline.shard import (
    IMAGES_DIR,
    PARTS_DIR,
    ShardContext,
    ShardResult,
    image_relpath,
    load_editor,
    part_path,
)
from faceaug.preprocess.align import crop_template_id, other_framing
from faceaug.pretrained import BUNDLED, choose_editor
from faceaug.schema import read_table, write_table_atomic
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
    au_estimator: Path | None = None  # the quality gate's judge [default: WORK_DIR/models/au_estimator.safetensors]


def _targets(request: ExpandRequest, cfg: Config):
    if request.mode == "single-au":
        return single_au_targets(parse_au_list(request.aus))
    classes = parse_au_spec(request.au_preset)
    if request.mode == "continuous":
        return continuous_targets(classes, cfg.expand.continuous_steps)
    if request.mode not in EXPAND_MODES:
        raise UserError(f"Unknown mode {request.mode!r}: use {', '.join(EXPAND_MODES)}.")
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
            "id": image_id,
            "path": image_relpath(face["label"], image_id),
            "label": face["label"],
            "split": face["split"],
            "is_generated": False,
            "stage": "original",
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
        }
        row.update({au: face[au] for au in AU_NAMES})
        rows.append(row)
    return rows


def _copy_originals(faces: pd.DataFrame, work_dir: Path, out_dir: Path) -> None:
    """Originals go into OUT_DIR too, so the manifest's folder is a self-contained training set."""
    for face in faces.itertuples(index=False):
        source, dest = work_dir / face.image_path, out_dir / image_relpath(face.label, f"orig_{face.face_id}")
        if dest.is_file() and filecmp.cmp(source, dest, shallow=False):
            continue
        with atomic_path(dest) as tmp:
            shutil.copyfile(source, tmp)


def _fingerprint(
    request: ExpandRequest, cfg: Config, faces_sha: str, model_sha: str, judge_sha: list[str] | None = None
) -> str:
    what = {
        "mode": request.mode,
        "au_preset": request.au_preset,
        "aus": request.aus,
        "per_class": request.per_class,
        "sources_label": request.sources_label,
        "sources_split": request.sources_split,
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


#: Every file `faceaug expand` writes into OUT_DIR (what --overwrite and the orphan sweep may remove).
EXPAND_OUTPUTS = re.compile(
    rf"{MANIFEST}|{SUMMARY}|fer-eval\.(json|png)|report\.(html|json)|metrics\.parquet"
    rf"|{PARTS_DIR}/({PLAN}|shard_\d{{5}}\.parquet)"
    rf"|{IMAGES_DIR}/[A-Za-z0-9_-]+/(orig_[A-Za-z0-9_-]+|[A-Za-z0-9_-]+_\d{{5}}_(edit|s\d{{2}}))\.png"
)
EXPAND_OUTPUTS_IN_PARTS = re.compile(rf"{PLAN}|shard_\d{{5}}\.parquet")  # the same, relative to OUT_DIR/parts
_LEGACY_MARKS = (SUMMARY, f"{PARTS_DIR}/{PLAN}")  # expansions written before OUT_DIR carried the faceaug mark


def _existing_fingerprint(out_dir: Path) -> str | None:
    for path in (out_dir / SUMMARY, out_dir / PARTS_DIR / PLAN):
        if path.is_file():
            try:
                fingerprint = json.loads(path.read_text()).get("fingerprint")
            except (OSError, ValueError, AttributeError):
                return None
            return fingerprint if isinstance(fingerprint, str) else None
    return None


def _prepare_out_dir(out_dir: Path, work_dir: Path, fingerprint: str, overwrite: bool) -> bool:
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


def _damaged_images(out_dir: Path, rel_paths) -> list[str]:
    """The listed images that are missing or do not decode (checked before trusting a finished shard)."""
    damaged = []
    for rel in rel_paths:
        try:
            read_image(out_dir / rel)
        except (OSError, ImageDecodeError):
            damaged.append(rel)
    return damaged


def _shard_is_finished(out_dir: Path, index: int, jobs: list[EditJob]) -> bool:
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


def _complete_expansion_is_intact(out_dir: Path) -> bool:
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


def _merge(out_dir: Path, originals: list[dict[str, Any]], n_shards: int, expected: int) -> pd.DataFrame:
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


def _hint_more_sources(jobs: list, n_sources: int, samples_per_edit: int) -> None:
    """Say when a target edits only some of the source faces (distinct edits are what helps a classifier most:
    docs/results.md, 2026-12-02), and when a target ran out of sources (or of edits passing the
    gate) so that its edits take more than --samples-per-edit variants each."""
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
        most = max(job.n_samples for job in group)
        if most > samples_per_edit:
            info(
                f"{target}: {len(group)} source faces gave usable edits, so each edit takes up to {most} variants "
                f"(--samples-per-edit {samples_per_edit}) rather than repeat an edit."
            )


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


def _warn_other_landmarks(model_path: Path, provenance: dict[str, Any], sources: pd.DataFrame) -> None:
    """Warn when source faces were framed by another landmark method than the model's training faces."""
    problem = other_framing((provenance.get("training") or {}).get("landmark_methods"), sources["landmark_method"])
    if problem:
        warn(f"{model_path} {problem}.")


def run_expand(request: ExpandRequest, cfg: Config) -> dict[str, Any]:
    """Run (or resume) an expansion; returns the summary written to expand.json."""
    started = time.perf_counter()
    work_dir = Path(request.work_dir)
    if not work_dir.is_dir():
        raise UserError(f"Work folder {work_dir} does not exist. Run `faceaug preprocess DATA --out {work_dir}`.")
    faces_path = work_dir / "faces.parquet"
    faces = read_table(faces_path, "faces")
    check_per_class(request.per_class)
    choice = choose_editor(request.model, default_model_path(work_dir))
    model_path = choice.path
    if not model_path.is_file():
        raise UserError(
            f"No GANimation model at {model_path}. Pass --model PATH, --model {BUNDLED} (the editor that "
            f"ships with faceaug), or train one with `faceaug train {work_dir}`."
        )
    if choice.bundled:
        how = "as asked" if request.model else f"{work_dir} has no model of its own"
        info(
            f"Editing with the bundled editor {choice.name} ({how}; trained on FER2013, docs/bundled-editor.md). "
            f"To adapt it to your faces: `faceaug train {work_dir} --init {BUNDLED}`."
        )
    device = resolve_device(cfg.device)
    editor = load_editor(model_path, str(device), choice.name)  # validated here, reused by in-process shards
    if tuple(editor.au_names) != AU_NAMES:
        raise UserError(f"{model_path} was trained for another AU list ({', '.join(editor.au_names)}).")
    if editor.crop_template != crop_template_id():
        warn(
            f"{model_path} was trained on faces framed differently from `faceaug preprocess` crops (crop template "
            f"{editor.crop_template}, ours {crop_template_id()}): edits may be poorer."
        )
    sources = select_sources(faces, request.sources_split, request.sources_label)
    # edits are written at the source faces' size whatever the editor's (faceaug.inference.editor)
    try:
        size = int(read_image(work_dir / sources["image_path"].iloc[0]).shape[0])
    except (FileNotFoundError, ImageDecodeError) as exc:
        raise UserError(
            f"Source face {sources['image_path'].iloc[0]} of {work_dir} cannot be read ({exc}); re-run "
            "`faceaug preprocess`."
        ) from None
    if cfg.expand.samples_per_edit > 0 and cfg.expand.regenerator == "singan":  # M = 0 or patch: no SinGAN
        check_singan_setup(size, size, cfg.singan, start_scale=cfg.expand.start_scale, mode=cfg.expand.singan_mode)
    _warn_other_landmarks(model_path, editor.provenance, sources)
    source_aus = coherent_sources(sources, editor.condition, editor.provenance, str(model_path))
    if source_aus.note():
        info(source_aus.note())
    sources = source_aus.sources
    gate, judge_files = make_gate(cfg.expand, work_dir, editor, str(device), request.au_estimator)
    targets = _targets(request, cfg)
    planning = time.perf_counter()
    jobs = plan_jobs(
        sources,
        targets,
        per_class=request.per_class,
        samples_per_edit=cfg.expand.samples_per_edit,
        seed=cfg.seed,
        label_threshold=cfg.expand.continuous_label_threshold,
        accept=gate,
        edits_first=cfg.expand.edits_first,
    )
    plan_seconds = time.perf_counter() - planning
    if gate is not None:
        report_gate(gate, jobs, targets)
    _hint_more_sources(jobs, len(sources), cfg.expand.samples_per_edit)
    shards = cut_shards(jobs, cfg.expand.shard_size)
    expected = sum(job.n_samples + 1 for job in jobs)

    out_dir = Path(request.out_dir or work_dir / "expanded")
    model_sha = file_sha256(model_path)
    fingerprint = _fingerprint(
        request, cfg, file_sha256(faces_path), model_sha, [file_sha256(path) for path in judge_files] or None
    )
    if _prepare_out_dir(out_dir, work_dir, fingerprint, request.overwrite) and _complete_expansion_is_intact(out_dir):
        summary = json.loads((out_dir / SUMMARY).read_text())
        remove_tree_if_ours(out_dir / PARTS_DIR, EXPAND_OUTPUTS_IN_PARTS)
        info(f"{out_dir} already holds this expansion, complete: nothing to do.")
        _print_summary(read_table(out_dir / MANIFEST, "manifest"), out_dir, summary.get("seconds", 0.0))
        return summary
    write_json_atomic(
        {"fingerprint": fingerprint, "shards": len(shards), "jobs": len(jobs)}, out_dir / PARTS_DIR / PLAN
    )
    _copy_originals(faces, work_dir, out_dir)

    pending = [(i, shard) for i, shard in enumerate(shards) if not _shard_is_finished(out_dir, i, shard)]
    if len(pending) < len(shards):
        info(f"Resuming: {len(shards) - len(pending)} of {len(shards)} shards already finished.")
    ctx = ShardContext(
        work_dir=str(work_dir),
        out_dir=str(out_dir),
        model_path=str(model_path),
        device=str(device),
        editor_name=choice.name,
        singan=asdict(cfg.singan),
        start_scale=cfg.expand.start_scale,
        singan_mode=cfg.expand.singan_mode,
        regenerator=cfg.expand.regenerator,
        patch=asdict(cfg.patch),
        face_redraws=cfg.expand.face_redraws,
    )
    timings: Counter[str] = Counter({"plan": plan_seconds})  # with the quality gate's edits and judges
    with progress() as bar:
        task = bar.add_task(
            f"expand ({request.executor})",
            total=expected,
            completed=expected - sum(job.n_samples + 1 for _, s in pending for job in s),
        )

        def on_done(result: ShardResult) -> None:
            timings.update(result.timings)
            bar.advance(task, result.rows)

        executors.run_shards(
            request.executor, pending, ctx, address=request.ray_address, workers=request.workers, on_done=on_done
        )

    manifest = _merge(out_dir, _original_rows(faces), len(shards), expected)
    seconds = time.perf_counter() - started
    generated = manifest[manifest["is_generated"]]
    summary = {
        "fingerprint": fingerprint,
        # absolute paths: `faceaug report` finds the WORK_DIR and the model from any working directory
        "request": {k: str(v.resolve()) if isinstance(v, Path) else v for k, v in asdict(request).items()},
        "ganimation_model": {
            "path": str(model_path.resolve()),
            "sha256": model_sha,
            "id": editor.model_id,
            "name": choice.name,
            "bundled": choice.bundled,
        },
        "counts": {
            "originals": int((~manifest["is_generated"]).sum()),
            "generated": int(len(generated)),
            "per_label": {str(k): int(v) for k, v in generated["label"].value_counts().sort_index().items()},
            "per_stage": {str(k): int(v) for k, v in generated["stage"].value_counts().sort_index().items()},
            "jobs": len(jobs),
            "shards": len(shards),
        },
        "quality_gate": gate.summary() if gate is not None else None,
        "source_aus": source_aus.summary(),  # what a relative-conditioned editor was given (inference.au_coherence)
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "seconds": round(seconds, 2),
    }
    write_resolved_config(cfg, out_dir / SUMMARY, **summary)
    remove_tree_if_ours(out_dir / PARTS_DIR, EXPAND_OUTPUTS_IN_PARTS)
    _print_summary(manifest, out_dir, seconds)
    return summary


__all__ = ["ExpandRequest", "run_expand", "EditJob"]
