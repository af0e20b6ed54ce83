"""`faceaug expand`: plan the edit jobs, run the shards that are not finished yet, merge the manifest.

OUT_DIR while running: `parts/plan.json` (what is being made) and `parts/shard_*.parquet` (finished shards).
When done: `manifest.parquet` (originals + generated), `images/<label>/<id>.png`, `expand.json`; `parts/` is
removed. Re-running the same command resumes; a different command into the same OUT_DIR is refused unless
`--overwrite` (faceaug.pipeline.out_dir); finished shards are checked and merged by faceaug.pipeline.manifest.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from faceaug.aus import AU_NAMES, parse_au_spec
from faceaug.config import EXPAND_MODES, Config, write_resolved_config
from faceaug.console import info, progress, warn
from faceaug.device import resolve_device
from faceaug.errors import UserError
from faceaug.inference.au_coherence import coherent_sources
from faceaug.io.atomic import file_sha256, write_json_atomic
from faceaug.io.owned import remove_tree_if_ours
from faceaug.models.ganimation_file import default_model_path
from faceaug.pipeline import executors
from faceaug.pipeline.gate import make_gate, report_gate
from faceaug.pipeline.manifest import (
    complete_expansion_is_intact,
    copy_originals,
    manifest_counts,
    merge,
    original_rows,
    shard_is_finished,
)
from faceaug.pipeline.out_dir import (
    EXPAND_OUTPUTS_IN_PARTS,
    MANIFEST,
    PLAN,
    SUMMARY,
    expansion_fingerprint,
    prepare_out_dir,
)
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
from faceaug.pipeline.shard import PARTS_DIR, ShardContext, ShardResult, load_editor
from faceaug.pipeline.sources import hint_more_sources, select_sources, source_size, warn_other_landmarks
from faceaug.preprocess.align import crop_template_id
from faceaug.pretrained import BUNDLED, choose_editor
from faceaug.schema import EDIT, ORIGINAL, VARIANT, read_table
from faceaug.training.singan import check_singan_setup


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


def _print_summary(manifest: pd.DataFrame, out_dir: Path, seconds: float) -> None:
    from rich.table import Table

    from faceaug.console import console

    table = Table(title="faceaug expand", show_lines=False)
    columns = {ORIGINAL: "original", EDIT: "ganimation", VARIANT: "variants"}  # stage → its column
    for column in ("label", *columns.values(), "total"):
        table.add_column(column, justify="right" if column != "label" else "left")
    counts = manifest.groupby(["label", "stage"]).size().unstack(fill_value=0)
    for label, row in counts.iterrows():
        values = [int(row.get(stage, 0)) for stage in columns]
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
    editor = load_editor(model_path, str(device), choice.name, cfg.expand.warp)  # validated, reused by shards
    if tuple(editor.au_names) != AU_NAMES:
        raise UserError(f"{model_path} was trained for another AU list ({', '.join(editor.au_names)}).")
    if editor.crop_template != crop_template_id():
        warn(
            f"{model_path} was trained on faces framed differently from `faceaug preprocess` crops (crop template "
            f"{editor.crop_template}, ours {crop_template_id()}): edits may be poorer."
        )
    sources = select_sources(faces, request.sources_split, request.sources_label)
    size = source_size(work_dir, sources)
    if cfg.expand.samples_per_edit > 0 and cfg.expand.regenerator == "singan":  # M = 0 or patch: no SinGAN
        check_singan_setup(size, size, cfg.singan, start_scale=cfg.expand.start_scale, mode=cfg.expand.singan_mode)
    warn_other_landmarks(model_path, editor.provenance, sources)
    source_aus = coherent_sources(sources, editor.condition, editor.provenance, str(model_path))
    if source_aus.note():
        info(source_aus.note())
    sources = source_aus.sources
    gate, judge_files = make_gate(cfg.expand, work_dir, editor, str(device), request.au_estimator)
    if gate is not None:
        gate.read_sources(sources, cfg.seed)
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
        max_variants=cfg.expand.max_variants_per_edit,
    )
    plan_seconds = time.perf_counter() - planning
    if gate is not None:
        report_gate(gate, jobs, targets)
    hint_more_sources(jobs, len(sources), cfg.expand.samples_per_edit, request.per_class)
    shards = cut_shards(jobs, cfg.expand.shard_size)
    expected = sum(job.n_samples + 1 for job in jobs)

    out_dir = Path(request.out_dir or work_dir / "expanded")
    model_sha = file_sha256(model_path)
    fingerprint = expansion_fingerprint(
        asdict(request), cfg, file_sha256(faces_path), model_sha, [file_sha256(path) for path in judge_files] or None
    )
    if prepare_out_dir(out_dir, work_dir, fingerprint, request.overwrite) and complete_expansion_is_intact(out_dir):
        summary = json.loads((out_dir / SUMMARY).read_text())
        remove_tree_if_ours(out_dir / PARTS_DIR, EXPAND_OUTPUTS_IN_PARTS)
        info(f"{out_dir} already holds this expansion, complete: nothing to do.")
        _print_summary(read_table(out_dir / MANIFEST, "manifest"), out_dir, summary.get("seconds", 0.0))
        return summary
    write_json_atomic(
        {"fingerprint": fingerprint, "shards": len(shards), "jobs": len(jobs)}, out_dir / PARTS_DIR / PLAN
    )
    copy_originals(faces, work_dir, out_dir)

    pending = [(i, shard) for i, shard in enumerate(shards) if not shard_is_finished(out_dir, i, shard)]
    if len(pending) < len(shards):
        info(f"Resuming: {len(shards) - len(pending)} of {len(shards)} shards already finished.")
    ctx = ShardContext(
        work_dir=str(work_dir),
        out_dir=str(out_dir),
        model_path=str(model_path),
        device=str(device),
        editor_name=choice.name,
        warp=cfg.expand.warp,
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

    manifest = merge(out_dir, original_rows(faces), len(shards), expected)
    seconds = time.perf_counter() - started
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
            "warp": cfg.expand.warp,
        },
        "counts": manifest_counts(manifest, len(jobs), len(shards)),
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
