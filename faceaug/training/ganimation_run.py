"""A GANimation training run: the loop around `GanimationTrainer.train_step`.

`train` joins the other ranks (torchrun), loads the faces and a checkpoint to resume from, pre-trains the critic's
AU head, then steps: checkpoints every `checkpoint_every` steps (models/checkpoints/last.pt), per-step losses in
models/metrics.jsonl, a sample grid per epoch, the time budget, and the model file at the end (the weight average
when the profile keeps one).

Multi-GPU: started with `torchrun --nproc_per_node N -m faceaug train ...`, each rank trains on its share of every
epoch's batches under DistributedDataParallel and rank 0 writes all files.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from rich.progress import TextColumn

from faceaug.aus import AU_NAMES
from faceaug.config import Config, GanimationConfig, write_resolved_config
from faceaug.console import info, progress, warn
from faceaug.device import resolve_device
from faceaug.errors import UserError
from faceaug.fer.au_estimator import default_au_estimator_path
from faceaug.io.atomic import write_bytes_atomic, write_json_atomic
from faceaug.io.images import write_png_atomic
from faceaug.models.ganimation_file import MODEL_FILE, GanimationModel
from faceaug.preprocess.align import crop_template_id
from faceaug.training.ganimation_checkpoint import config_from_checkpoint, load_checkpoint, save_checkpoint
from faceaug.training.ganimation_data import FaceCache, load_faces
from faceaug.training.ganimation_trainer import GanimationTrainer

#: Settings that fix the networks' shapes, what their inputs mean, or the batch order; a resumed run must keep them.
_FIXED_ON_RESUME = (
    "image_size",
    "conv_dim",
    "critic_dim",
    "repeat_num",
    "critic_layers",
    "upsample",
    "condition",
    "batch_size",
    "n_critic",
)

MAX_GRIDS = 60  # sample grids per run at most (samples/epoch_NNN.png)


@dataclass(frozen=True)
class FineTuning:
    """The model a fine-tuning run starts from, its name and weights id, and a line that says what was taken from
    it (printed with the run's other opening lines)."""

    model: GanimationModel
    origin: dict[str, str]
    line: str


def _distributed() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def _check_resume(stored: GanimationConfig, wanted: GanimationConfig, path: Path) -> None:
    for key in _FIXED_ON_RESUME:
        if getattr(stored, key) != getattr(wanted, key):
            raise UserError(
                f"{path} was trained with {key}={getattr(stored, key)}, not {getattr(wanted, key)}; "
                "resume with the same settings or train into another work folder."
            )


def _adapt_to_au_sources(cfg: Config, au_sources: dict[str, int]) -> tuple[Config, str]:
    """The config to train with on faces whose AUs came from `au_sources` (the AU weight of label prototypes,
    GanimationConfig.au_weight_for), and a line that says what changed ("" if nothing did)."""
    weight = cfg.ganimation.au_weight_for(au_sources)
    if weight == cfg.ganimation.lambda_au:
        return cfg, ""
    line = (
        f"Most training faces' AUs are label prototypes: AU weight {weight:g} (ganimation.lambda_au_prototypes) "
        f"instead of {cfg.ganimation.lambda_au:g}; set ganimation.lambda_au to choose it yourself."
    )
    return dataclasses.replace(cfg, ganimation=dataclasses.replace(cfg.ganimation, lambda_au=weight)), line


def train(
    work_dir: Path, cfg: Config, *, resume: bool, max_steps: int | None = None, initial: FineTuning | None = None
) -> Path:
    """Train GANimation on WORK_DIR's train split; returns the path of the model file.

    `max_steps` (for tests and benchmarks) stops after that many steps in total, like a time budget does.
    `initial` fine-tunes: the generator starts from that model's weights (its architecture is already in `cfg`).
    """
    rank, world, local_rank = _distributed()
    device = resolve_device(cfg.device)
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    model_path = _train_rank(work_dir, cfg, device, rank, world, resume=resume, max_steps=max_steps, initial=initial)
    if world > 1:
        # The trainer (its DDP modules and their gradient buckets) is only freed by the cycle collector: free it now,
        # while the process group and the interpreter are whole. Left to interpreter shut-down, gloo's threads can
        # abort the process (`terminate called without an active exception`) after a finished run.
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()
    return model_path


def _train_rank(
    work_dir: Path,
    cfg: Config,
    device: torch.device,
    rank: int,
    world: int,
    *,
    resume: bool,
    max_steps: int | None,
    initial: FineTuning | None,
) -> Path:
    """One rank's training (the process group, if any, is up); returns the path of the model file."""
    models_dir = work_dir / "models"
    ckpt_path = models_dir / "checkpoints" / "last.pt"
    state = None
    if resume and not ckpt_path.is_file():
        raise UserError(f"Nothing to resume: {ckpt_path} does not exist. Start without --resume.")
    cache = load_faces(work_dir, cfg.ganimation.image_size)
    cfg, adapted = _adapt_to_au_sources(cfg, cache.au_sources)
    if resume:
        state = load_checkpoint(ckpt_path)
        _check_resume(config_from_checkpoint(state, ckpt_path), cfg.ganimation, ckpt_path)
    trainer = GanimationTrainer(
        cfg,
        cache,
        device,
        rank=rank,
        world=world,
        au_estimator=_au_estimator(work_dir, cfg) if cfg.ganimation.au_judge == "estimator" else None,
    )
    if state is not None:
        trainer.load_state_dict(state)
    if initial is not None:
        trainer.start_from(
            initial.model.generator.state_dict(),
            initial.origin,
            grey=bool((initial.model.provenance.get("training") or {}).get("grey", False)),
        )
    writer = rank == 0
    metrics_path = models_dir / "metrics.jsonl"
    if writer:
        models_dir.mkdir(parents=True, exist_ok=True)
        _trim_metrics(metrics_path, trainer.step)
        write_resolved_config(
            cfg,
            models_dir / "train_config.json",
            faces=len(cache),
            steps_per_epoch=trainer.steps_per_epoch,
            total_steps=trainer.total_steps,
        )
        if adapted:
            info(adapted)
        if initial is not None and initial.line:
            info(initial.line)
        info(
            f"Training GANimation on {len(cache)} faces at {cfg.ganimation.image_size} px "
            f"(profile {cfg.profile}, {device}, {trainer.total_steps} steps"
            f"{f', resuming at step {trainer.step}' if trainer.step else ''})."
        )
    end_step = trainer.total_steps if max_steps is None else min(trainer.total_steps, max_steps)
    budget_s = cfg.ganimation.max_minutes * 60.0
    started = time.monotonic()
    if not trainer.au_pretrained and cfg.ganimation.au_pretrain_steps > 0:
        _pretrain_au_head(trainer, cfg, models_dir, started, world, device)
    pending: list[dict[str, Any]] = []
    stopped_early = False

    def save() -> None:
        if writer:
            _flush_metrics(metrics_path, pending)
            save_checkpoint(ckpt_path, trainer.state_dict())

    # a grid per epoch, but no more than MAX_GRIDS a run (a step budget over 100 faces has ~700 epochs)
    grid_every = max(1, -(-trainer.total_steps // (trainer.steps_per_epoch * MAX_GRIDS)))
    bar = progress(TextColumn("{task.fields[losses]}"), shown=writer)
    try:
        with bar:
            task = bar.add_task("train GANimation", total=trainer.total_steps, completed=trainer.step, losses="")
            while trainer.step < end_step:
                step = trainer.step
                if budget_s > 0:
                    trainer.time_progress = (time.monotonic() - started) / budget_s
                losses = trainer.train_step()
                if writer:
                    pending.append({"step": step, "epoch": step // trainer.steps_per_epoch, **losses})
                done_epoch = trainer.step % trainer.steps_per_epoch == 0
                if writer and (len(pending) >= 25 or done_epoch):
                    last = _flush_metrics(metrics_path, pending)
                    bar.update(
                        task,
                        losses=" ".join(
                            f"{k} {last[k]:.3g}" for k in ("d_adv", "g_au", "g_cyc", "attention_mean") if k in last
                        ),
                    )
                bar.update(task, completed=trainer.step)
                if trainer.step % cfg.ganimation.checkpoint_every == 0:
                    save()
                epoch = trainer.step // trainer.steps_per_epoch
                if done_epoch and writer and cfg.ganimation.sample_every_epoch and epoch % grid_every == 0:
                    write_png_atomic(models_dir / "samples" / f"epoch_{epoch:03d}.png", trainer.sample_grid())
                if budget_s > 0 and _out_of_time(time.monotonic() - started >= budget_s, trainer.step, world, device):
                    stopped_early = trainer.step < end_step
                    break
    except KeyboardInterrupt:
        save()
        if writer:
            warn(f"Interrupted at step {trainer.step}; checkpoint saved to {ckpt_path}. Continue with --resume.")
        raise
    save()
    model_path = models_dir / MODEL_FILE
    if writer:
        if trainer.step % trainer.steps_per_epoch and cfg.ganimation.sample_every_epoch:
            write_png_atomic(models_dir / "samples" / f"step_{trainer.step:07d}.png", trainer.sample_grid())
        _model(trainer, cfg, cache).save(model_path)
        if stopped_early:
            info(
                f"Stopped after {cfg.ganimation.max_minutes:g} minutes at step {trainer.step} of "
                f"{trainer.total_steps}; continue with --resume."
            )
        info(
            f"model:       {model_path}\ncheckpoints: {ckpt_path.parent}\nmetrics:     {metrics_path}\n"
            f"samples:     {models_dir / 'samples'}"
        )
    return model_path


def _pretrain_au_head(
    trainer: GanimationTrainer, cfg: Config, models_dir: Path, started: float, world: int, device: torch.device
) -> None:
    """Pre-train the critic's AU head (within its share of the time budget counted from `started`); rank 0
    writes models/au_pretrain.json and says how it went."""
    writer = trainer.rank == 0
    budget_s = cfg.ganimation.max_minutes * 60.0
    with progress(TextColumn("AU MSE {task.fields[mse]}"), shown=writer) as bar:
        task = bar.add_task("pre-train critic AU head", total=cfg.ganimation.au_pretrain_steps, mse="")
        pretrain_s = budget_s * cfg.ganimation.au_pretrain_share
        au_losses = trainer.pretrain_au_head(
            cfg.ganimation.au_pretrain_steps,
            on_step=lambda done, mse: bar.update(task, completed=done, mse=f"{mse:.4f}"),
            stop=None
            if pretrain_s <= 0
            else lambda step: _out_of_time(time.monotonic() - started >= pretrain_s, step, world, device),
        )
    if writer:
        heldout = trainer.au_heldout
        write_json_atomic(
            {
                "steps": len(au_losses),
                "batch": cfg.ganimation.au_pretrain_batch,
                "au_mse": au_losses,
                "au_judge": cfg.ganimation.au_judge,
                "heldout_au_mse": [{"step": s, "au_mse": e} for s, e in heldout],
            },
            models_dir / "au_pretrain.json",
        )
        info(
            f"AU head pre-trained: {len(au_losses)} steps, AU MSE {au_losses[0]:.4f} → "
            f"{float(np.mean(au_losses[-20:])):.4f} ({time.monotonic() - started:.0f} s)."
        )
        if heldout:
            step, error = min(heldout, key=lambda x: x[1])
            info(
                f"AU judge frozen at pre-training step {step}: held-out AU MSE {error:.4f} "
                f"(first {heldout[0][1]:.4f}, last {heldout[-1][1]:.4f})."
            )


#: With several ranks, how often (in steps) they agree on whether the time budget is spent (a GPU sync each time).
_BUDGET_CHECK_EVERY = 10


def _au_estimator(work_dir: Path, cfg: Config) -> Path:
    """The AU estimator file that judges the generator's AUs (ganimation.au_judge = estimator)."""
    path = Path(cfg.ganimation.au_estimator) if cfg.ganimation.au_estimator else default_au_estimator_path(work_dir)
    if not path.is_file():
        raise UserError(
            f"ganimation.au_judge 'estimator' reads the AU estimator {path}, which does not exist: run "
            f"`faceaug train-au {work_dir}` first, or set ganimation.au_estimator to its file."
        )
    return path


def _out_of_time(mine: bool, step: int, world: int, device: torch.device) -> bool:
    """Whether any rank has used up the time budget: all ranks must stop at the same step, or the ones that go on
    wait for the others forever. Several ranks ask each other every `_BUDGET_CHECK_EVERY` steps."""
    if world == 1:
        return mine
    if step % _BUDGET_CHECK_EVERY:
        return False
    flag = torch.tensor([float(mine)], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def _flush_metrics(path: Path, pending: list[dict[str, Any]]) -> dict[str, float]:
    """Append pending per-step loss records to metrics.jsonl; returns the last record as floats."""
    last: dict[str, float] = {}
    if not pending:
        return last
    with open(path, "a", encoding="utf-8") as fh:
        for record in pending:
            last = {k: (float(v) if isinstance(v, torch.Tensor) else v) for k, v in record.items()}
            fh.write(json.dumps(last) + "\n")
    pending.clear()
    return last


def _trim_metrics(path: Path, step: int) -> None:
    """Drop records at or after `step` (written after the checkpoint a resumed run starts from)."""
    if not path.is_file():
        return
    keep = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line).get("step", 0) < step
    ]
    write_bytes_atomic(("\n".join(keep) + "\n" if keep else "").encode(), path)


def _model(trainer: GanimationTrainer, cfg: Config, cache: FaceCache) -> GanimationModel:
    """The model file's content: the generator to use (the weight average when kept) and its provenance
    (incl. how the training faces were aligned and where their AUs came from, which `expand` compares with its
    source faces)."""
    provenance = {
        "training": {
            "profile": cfg.profile,
            "seed": cfg.seed,
            "steps": trainer.step,
            "total_steps": trainer.total_steps,
            "faces": len(cache),
            "landmark_methods": cache.landmark_methods,
            "au_sources": cache.au_sources,
            "au_judge": cfg.ganimation.au_judge,
            # grey training faces: the editor edits a colour face's luminance, keeps its chroma
            "grey": bool(trainer.grey),
        }
    }
    if trainer.init_from:
        provenance["training"]["init_from"] = trainer.init_from
    judge_id = getattr(trainer.au_judge, "estimator_id", None)
    if judge_id is not None:  # the report and the quality gate check they are not handed this estimator
        provenance["training"]["au_judge_id"] = judge_id
    return GanimationModel(
        generator=trainer.inference_generator,
        au_names=AU_NAMES,
        crop_template=crop_template_id(),
        origin="trained",
        provenance=provenance,
    )
