"""Running one shard of an expansion: GANimation edits → variants per edit → images + a part file. The variants
come from a SinGAN trained per edit (batched), or from the training-free patch regenerator
(`ExpandConfig.regenerator`); their manifest rows have stage "variant" either way and name the one that made them
in `regenerator` (SinGAN's also record their `singan_mode`, start scale and model id).

A shard is finished exactly when its part file exists. Images are written first (each atomically), the part file
last, so a crash anywhere leaves either a finished shard or one that is redone from scratch. Image ids are a pure
function of the plan, so a redone shard overwrites its own earlier images instead of leaving orphans.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceaug.aus import AU_NAMES
from faceaug.config import PatchConfig, SinganConfig
from faceaug.device import resolve_device
from faceaug.inference.patch_regen import regenerate_patches
from faceaug.inference.singan import sample_singan
from faceaug.io.images import read_image, write_png_atomic
from faceaug.metrics.edit_measures import face_attention
from faceaug.pipeline.editing import edit_jobs
from faceaug.pipeline.plan import EditJob
from faceaug.pipeline.variants import inject_amplitude, keep_faces
from faceaug.schema import EDIT, PATCH, SINGAN, VARIANT, write_table_atomic
from faceaug.training.singan import train_singan_batch

PARTS_DIR = "parts"
IMAGES_DIR = "images"


@dataclass(frozen=True)
class ShardContext:
    """Everything a worker process needs to run shards (plain data, picklable for process pools and Ray)."""

    work_dir: str
    out_dir: str
    model_path: str
    device: str
    singan: dict[str, Any]  # SinganConfig as a dict
    start_scale: int
    singan_mode: str
    torch_threads: int = 0  # 0 = leave torch's default
    regenerator: str = "singan"  # singan | patch (faceaug.config.REGENERATORS, the manifest's `regenerator`)
    patch: dict[str, Any] = field(default_factory=dict)  # PatchConfig as a dict
    face_redraws: int = 0  # spare draws per variant for the ones that lost the face (pipeline.variants)
    editor_name: str = ""  # how the manifest names the editor (the bundled one's name, else the model path)
    warp: float = 0.0  # the geometric warp after each edit (ExpandConfig.warp; 0 = none)


@dataclass
class ShardResult:
    index: int
    rows: int
    timings: dict[str, float] = field(default_factory=dict)


def part_path(out_dir: Path, index: int) -> Path:
    return Path(out_dir) / PARTS_DIR / f"shard_{index:05d}.parquet"


def image_relpath(label: str, image_id: str) -> str:
    return f"{IMAGES_DIR}/{label}/{image_id}.png"


_EDITORS: dict[tuple[str, int, int, str, str, float], Any] = {}


def load_editor(model_path: str | Path, device: str, name: str = "", warp: float = 0.0):
    """The GANimation editor, followed by the geometric warp when `warp` > 0 (faceaug.inference.warp), loaded once
    per process (and again only if the model file changes)."""
    from faceaug.inference.editor import GanimationEditor
    from faceaug.inference.warp import WarpEditor

    stat = Path(model_path).stat()
    key = (str(model_path), stat.st_mtime_ns, stat.st_size, str(device), name, float(warp))
    if key not in _EDITORS:
        _EDITORS.clear()
        editor = GanimationEditor.load(Path(model_path), resolve_device(str(device)), name or None)
        _EDITORS[key] = WarpEditor(warp, base=editor) if warp > 0 else editor
    return _EDITORS[key]


def _row(job: EditJob, image_id: str, stage: str, **extra: Any) -> dict[str, Any]:
    row = {
        "id": image_id,
        "path": image_relpath(job.label, image_id),
        "label": job.label,
        "split": job.source_split,
        "is_generated": True,
        "stage": stage,
        "source_id": job.source_id,
        "source_label": job.source_label,
        "subject": job.subject,
        "target": job.target,
        "alpha": job.alpha,
        "seed": job.seed,
        "gen_start_scale": None,
        "singan_mode": None,
        "sample_index": None,
        "singan_model_id": None,
        "edit_score": job.edit_score,
        "identity_distance": job.identity_distance,
        "target_probability": job.target_probability,
        "face_attention": None,
        "regenerator": None,
    }
    row.update(zip(AU_NAMES, job.aus))
    row.update(extra)
    return row


def run_shard(index: int, jobs: list[EditJob], ctx: ShardContext) -> ShardResult:
    """Edit, make the variants of the edits and write one shard; returns its row count and stage timings."""
    if ctx.torch_threads:
        torch.set_num_threads(ctx.torch_threads)
    device = resolve_device(ctx.device)
    out_dir, work_dir = Path(ctx.out_dir), Path(ctx.work_dir)
    timings: dict[str, float] = {}

    t = time.perf_counter()
    editor = load_editor(ctx.model_path, ctx.device, ctx.editor_name, ctx.warp)
    faces = np.stack([read_image(work_dir / job.source_image) for job in jobs])
    edited, attention = edit_jobs(editor, faces, jobs)
    timings["ganimation_s"] = time.perf_counter() - t

    rows: list[dict[str, Any]] = []
    for job, image, mask in zip(jobs, edited, attention):
        write_png_atomic(out_dir / image_relpath(job.label, job.edit_id()), image)
        rows.append(
            _row(job, job.edit_id(), EDIT, ganimation_model_id=editor.model_id, face_attention=face_attention(mask))
        )

    with_samples = [(job, image) for job, image in zip(jobs, edited) if job.n_samples > 0]
    if with_samples:
        make = _patch_variants if ctx.regenerator == PATCH else _singan_variants
        rows += make(with_samples, ctx, device, editor.model_id, out_dir, timings)

    for row in rows:
        row["editor"] = editor.name
    write_table_atomic(rows, part_path(out_dir, index), "manifest")
    return ShardResult(index=index, rows=len(rows), timings=timings)


def _write_variants(job: EditJob, samples: np.ndarray, out_dir: Path, **extra: Any) -> list[dict[str, Any]]:
    rows = []
    for k, sample in enumerate(samples):
        write_png_atomic(out_dir / image_relpath(job.label, job.sample_id(k)), sample)
        rows.append(_row(job, job.sample_id(k), VARIANT, sample_index=k, **extra))
    return rows


def _singan_variants(
    with_samples, ctx: ShardContext, device, editor_id: str, out_dir: Path, timings: dict[str, float]
) -> list[dict[str, Any]]:
    """Train one SinGAN per edit (batched) and sample its variants."""
    cfg = SinganConfig(**ctx.singan)
    t = time.perf_counter()
    models = train_singan_batch(
        [image for _, image in with_samples],
        cfg,
        seeds=[job.seed for job, _ in with_samples],
        device=device,
        start_scale=ctx.start_scale,
        mode=ctx.singan_mode,
    )
    timings["singan_train_s"] = time.perf_counter() - t
    t = time.perf_counter()
    rows = []
    for (job, image), model in zip(with_samples, models):
        amp = inject_amplitude(
            model, cfg, start_scale=ctx.start_scale, mode=ctx.singan_mode, seed=job.seed, device=device
        )

        def draw(k: int, offset: int, model=model, job=job, amp=amp) -> np.ndarray:
            return sample_singan(
                model,
                k,
                start_scale=ctx.start_scale,
                mode=ctx.singan_mode,
                seed=job.seed + offset,
                device=device,
                start_noise_amp=amp,
            )

        samples = keep_faces(draw, image, job.n_samples, ctx.face_redraws)
        rows += _write_variants(
            job,
            samples,
            out_dir,
            ganimation_model_id=editor_id,
            regenerator=SINGAN,
            gen_start_scale=ctx.start_scale,
            singan_mode=ctx.singan_mode,
            singan_model_id=model.model_id,
        )
    timings["singan_sample_s"] = time.perf_counter() - t
    return rows


def _patch_variants(
    with_samples, ctx: ShardContext, device, editor_id: str, out_dir: Path, timings: dict[str, float]
) -> list[dict[str, Any]]:
    """The training-free patch regenerator's variants of every edit (CPU; nothing is trained)."""
    cfg = PatchConfig(**ctx.patch)
    t = time.perf_counter()
    rows = []
    for job, image in with_samples:

        def draw(k: int, offset: int, image=image, job=job) -> np.ndarray:
            return regenerate_patches(image, k, cfg=cfg, seed=job.seed + offset)

        samples = keep_faces(draw, image, job.n_samples, ctx.face_redraws)
        rows += _write_variants(job, samples, out_dir, ganimation_model_id=editor_id, regenerator=PATCH)
    timings["patch_s"] = time.perf_counter() - t
    return rows
