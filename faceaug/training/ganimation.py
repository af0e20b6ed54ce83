"""`faceaug train`: the GANimation training loop (WGAN-GP critic, AU regression, cycle and attention losses).

One *step* is one critic update; the generator is updated on every `n_critic`-th step (step % n_critic == 0),
reusing that step's generated batch, as in the public code. `critic_warmup_steps` (0 in the paper profile) lets
the critic train alone first, counting the n_critic cycle from the end of the warm-up, and `au_pretrain_steps` (0 in
the paper profile) trains the critic's AU head on real faces alone before that: short runs need an AU head that
reads AUs, or the generator learns to fool it instead of editing. The learning rate is constant for `epochs` epochs,
then decays linearly to 0 over `epochs_decay` epochs (computed from the step, so resuming needs no scheduler
object). With `ema_decay` > 0 (the fast profile) the model file holds a running average of the generator's
weights. Every random draw of a step (flips, targets, target noise, gradient-penalty mixing) comes from a generator
seeded by (seed, rank, step) and the batch order from (seed, epoch): `--resume` continues exactly, and on CPU
k steps + resume + k steps give the same weights as 2k steps.

Multi-GPU: start with `torchrun --nproc_per_node N -m faceaug train ...`; each rank trains on its share of every
epoch's batches under DistributedDataParallel and rank 0 writes all files.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from rich.progress import TextColumn

from faceaug.aus import AU_NAMES, PRESET_NAMES, preset_vector
from faceaug.config import Config, GanimationConfig, write_resolved_config
from faceaug.console import info, progress, warn
from faceaug.device import cpu_has_native_bf16, resolve_device
from faceaug.errors import UserError
from faceaug.io.atomic import write_json_atomic
from faceaug.io.images import write_png_atomic
from faceaug.models.ganimation import Critic, Generator, blend, check_sizes, conditioning
from faceaug.training import ganimation_losses as L
from faceaug.training.ganimation_checkpoint import (
    config_from_model, load_checkpoint, save_checkpoint, save_model_file)
from faceaug.training.ganimation_data import FaceCache, epoch_order, load_faces, random_targets, to_uint8

#: Settings that fix the networks' shapes, what their inputs mean, or the batch order; a resumed run must keep them.
_FIXED_ON_RESUME = ("image_size", "conv_dim", "critic_dim", "repeat_num", "critic_layers", "upsample", "condition",
                    "batch_size", "n_critic")


def lr_factor(step: int, steps_per_epoch: int, g: GanimationConfig) -> float:
    """1 for the first `epochs` epochs, then linear decay to 0 over `epochs_decay` epochs."""
    progress_epochs = step / max(steps_per_epoch, 1)
    if progress_epochs < g.epochs or g.epochs_decay <= 0:
        return 1.0
    return max(0.0, 1.0 - (progress_epochs - g.epochs) / g.epochs_decay)


#: Offset of the AU pre-training draws in `step_generator`'s rank slot, so they never meet a training step's draws.
_PRETRAIN_STREAM = 7_777


def step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed((int(seed) * 7919 + rank) * 1_000_003 + int(step))


class GanimationTrainer:
    """Networks, optimisers and one training step; file I/O stays in `run_train`."""

    def __init__(self, cfg: Config, cache: FaceCache, device: torch.device, *, rank: int = 0, world: int = 1):
        self.cfg, self.g, self.cache, self.device = cfg, cfg.ganimation, cache, device
        self.rank, self.world = rank, world
        init = torch.Generator().manual_seed(int(cfg.seed))
        self.generator = Generator(self.g, init_generator=init).to(device)
        self.critic = Critic(self.g, init_generator=init).to(device)
        cuda = device.type == "cuda"
        self.amp = (cuda and self.g.amp) or (device.type == "cpu" and self.g.cpu_amp and cpu_has_native_bf16())
        self.memory_format = torch.channels_last if (cuda and self.g.channels_last) else torch.contiguous_format
        self.generator.to(memory_format=self.memory_format)
        self.critic.to(memory_format=self.memory_format)
        betas = (self.g.beta1, self.g.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.g.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.critic.parameters(), lr=self.g.lr, betas=betas)
        # Exponential moving average of the generator's weights (`ema_decay` > 0): what the model file, the
        # samples and expand get. It follows the oscillating adversarial game smoothly, like the averaged
        # generators of ProGAN / StyleGAN.
        self.generator_ema = (copy.deepcopy(self.generator).requires_grad_(False).eval()
                              if self.g.ema_decay > 0 else None)
        self.G, self.D = self.generator, self.critic  # what the step calls (DDP / compiled wrappers)
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [device.index] if cuda else None
            self.G, self.D = DDP(self.generator, device_ids=ids), DDP(self.critic, device_ids=ids)
        if cuda and self.g.compile:
            self.G = torch.compile(self.G)
        self.steps_per_epoch = len(cache) // (self.g.batch_size * world)
        if self.steps_per_epoch < 1:
            raise UserError(f"The train split has {len(cache)} faces, fewer than one batch of {self.g.batch_size}"
                            f"{f' per GPU × {world}' if world > 1 else ''}; lower --batch-size.")
        self.total_steps = self.steps_per_epoch * (self.g.epochs + self.g.epochs_decay)
        self.step = 0
        self.au_pretrained = False

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if self.amp else nullcontext()

    def _batch(self, step: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        epoch, within = divmod(step, self.steps_per_epoch)
        order = epoch_order(len(self.cache), self.cfg.seed, epoch)
        b = self.g.batch_size
        start = (within * self.world + self.rank) * b
        index = order[start:start + b]
        images, aus = self.cache.batch(index, torch.rand(b, generator=gen) < 0.5)
        targets = random_targets(self.cache, b, self.g.target_noise, gen)
        to = dict(device=self.device, non_blocking=True)
        return (images.to(**to).contiguous(memory_format=self.memory_format), aus.to(**to), targets.to(**to))

    def pretrain_au_head(self, steps: int, on_step=None) -> list[float]:
        """Train the critic on AU regression alone (real faces, batch `au_pretrain_batch`, no generator): the
        generator's AU loss is read through this head, and until it reads AUs the generator can only learn to
        fool it. Costs little: the critic is far smaller than the generator and no fake is made. Returns the
        loss per step. Draws come from (seed, rank + _PRETRAIN_STREAM, step), so a run is reproducible."""
        g, losses = self.g, []
        n = len(self.cache)
        batch = min(g.au_pretrain_batch, n)
        self.critic.requires_grad_(True)
        for step in range(steps):
            gen = step_generator(self.cfg.seed, self.rank + _PRETRAIN_STREAM, step)
            index = torch.randint(n, (batch,), generator=gen)
            real, aus = self.cache.batch(index, torch.rand(batch, generator=gen) < 0.5)
            # The plain critic, not its DDP wrapper: the realism head takes no part here, which DDP cannot
            # tell from a bug; the ranks average their gradients below instead.
            with self._autocast():
                _, predicted = self.critic(real.to(self.device).contiguous(memory_format=self.memory_format))
            loss = L.au_regression_loss(predicted, aus.to(self.device))
            self.opt_d.zero_grad(set_to_none=True)
            (g.lambda_au * loss).backward()
            self._average_gradients(self.critic)
            self.opt_d.step()
            losses.append(float(loss.detach()))
            if on_step is not None:
                on_step(step + 1, losses[-1])
        self.au_pretrained = True
        return losses

    def _average_gradients(self, module: torch.nn.Module) -> None:
        """Average `module`'s gradients over the ranks (what DDP does, for passes that bypass its wrapper)."""
        if self.world == 1:
            return
        for p in module.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
                p.grad.div_(self.world)

    def train_step(self) -> dict[str, torch.Tensor]:
        """One critic update (+ one generator update every n_critic steps); returns detached loss terms."""
        g, step = self.g, self.step
        gen = step_generator(self.cfg.seed, self.rank, step)
        real, real_aus, target = self._batch(step, gen)
        epsilon = torch.rand(real.shape[0], 1, 1, 1, generator=gen).to(self.device)
        factor = lr_factor(step, self.steps_per_epoch, g)
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = g.lr * factor
        train_g = step >= g.critic_warmup_steps and (step - g.critic_warmup_steps) % g.n_critic == 0

        with torch.set_grad_enabled(train_g), self._autocast():
            color, attention = self.G(real, conditioning(g.condition, target, real_aus))
            fake = blend(real, color, attention)

        self.critic.requires_grad_(True)
        with self._autocast():
            scores, pred_aus = self.D(torch.cat([real, fake.detach()]))
        real_scores, fake_scores = scores.split(real.shape[0])
        d_adv = L.critic_wasserstein_loss(real_scores, fake_scores)
        d_au = L.au_regression_loss(pred_aus[: real.shape[0]], real_aus)
        d_loss = d_adv + g.lambda_au * d_au
        out = {"d_adv": d_adv, "d_au": d_au, "lr": torch.tensor(g.lr * factor)}
        if step % g.gp_every == 0:  # lazy regularisation: every gp_every-th step, weighted by gp_every
            out["d_gp"] = L.gradient_penalty(lambda x: self.D(x)[0], real, fake.detach(), epsilon)
            d_loss = d_loss + g.lambda_gp * g.gp_every * out["d_gp"]
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        out["d_loss"] = d_loss

        if train_g:
            # The critic is frozen here and only passes gradients to the generator: the plain module, as a DDP
            # wrapper would wait for critic gradients that never come.
            self.critic.requires_grad_(False)
            with self._autocast():
                fake_scores, fake_aus = self.critic(fake)
                rec_color, rec_attention = self.G(fake, conditioning(g.condition, real_aus, target))
                reconstructed = blend(fake, rec_color, rec_attention)
            g_adv = L.generator_adversarial_loss(fake_scores)
            g_au = L.au_regression_loss(fake_aus, target)
            g_cyc = L.cycle_loss(reconstructed, real)
            g_mask = L.attention_mean_loss(attention) + L.attention_mean_loss(rec_attention)
            g_tv = L.attention_tv_loss(attention) + L.attention_tv_loss(rec_attention)
            g_loss = g_adv + g.lambda_au * g_au + g.lambda_cyc * g_cyc + g.lambda_mask * g_mask + g.lambda_tv * g_tv
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_g.step()
            self._update_ema(step)
            self.critic.requires_grad_(True)
            out.update(g_loss=g_loss, g_adv=g_adv, g_au=g_au, g_cyc=g_cyc, g_mask=g_mask, g_tv=g_tv,
                       attention_mean=attention.float().mean())
        self.step += 1
        return {k: v.detach() for k, v in out.items()}

    def generator_updates(self, step: int) -> int:
        """How many generator updates steps 0..`step` make (a function of the step, so resuming keeps it)."""
        g = self.g
        return 0 if step < g.critic_warmup_steps else (step - g.critic_warmup_steps) // g.n_critic + 1

    @torch.no_grad()
    def _update_ema(self, step: int) -> None:
        if self.generator_ema is None:
            return
        n = self.generator_updates(step)
        decay = min(self.g.ema_decay, (1.0 + n) / (10.0 + n))  # short memory while the first updates land
        for average, live in zip(self.generator_ema.parameters(), self.generator.parameters()):
            average.lerp_(live, 1.0 - decay)

    @property
    def inference_generator(self) -> torch.nn.Module:
        """The generator to save and sample from: the weight average when there is one."""
        return self.generator if self.generator_ema is None else self.generator_ema

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "au_pretrained": self.au_pretrained,
            "generator": self.generator.state_dict(),
            "generator_ema": None if self.generator_ema is None else self.generator_ema.state_dict(),
            "critic": self.critic.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scheduler": {"kind": "constant_then_linear", "step": self.step},
            "scaler": None,  # bf16 autocast needs no gradient scaler
            "rng": {"torch": torch.get_rng_state(), "seed": self.cfg.seed},
            "config": self.cfg.to_dict(),
            "ganimation": dataclasses.asdict(self.g),
            "au_names": list(AU_NAMES),
            "image_size": self.g.image_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        if self.generator_ema is not None:
            self.generator_ema.load_state_dict(state.get("generator_ema") or state["generator"])
        self.critic.load_state_dict(state["critic"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        torch.set_rng_state(state["rng"]["torch"])
        self.step = int(state["step"])
        self.au_pretrained = bool(state.get("au_pretrained", self.step > 0))

    @torch.no_grad()
    def sample_grid(self, n_sources: int = 4) -> np.ndarray:
        """Rows of: source | one edit per preset | the attention mask of each edit (RGB uint8)."""
        pick = torch.linspace(0, len(self.cache) - 1, min(n_sources, len(self.cache))).round().long()
        images = self.cache.images[pick]  # spread over the table (usually different subjects)
        real = (images.float() / 127.5 - 1.0).to(self.device)
        source = self.cache.aus[pick].to(self.device)
        columns, masks = [to_uint8(real)], []
        for name in PRESET_NAMES:
            target = torch.from_numpy(preset_vector(name)).expand(real.shape[0], -1).to(self.device)
            color, attention = self.inference_generator(real, conditioning(self.g.condition, target, source))
            columns.append(to_uint8(blend(real, color, attention)))
            masks.append(np.repeat((attention.float().clamp(0, 1) * 255).round().byte().cpu().numpy()
                                   .transpose(0, 2, 3, 1), 3, axis=3))
        return np.concatenate([np.concatenate(list(row), axis=1) for row in zip(*(columns + masks))], axis=0)


def _distributed() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def _check_resume(stored: GanimationConfig, wanted: GanimationConfig, path: Path) -> None:
    for key in _FIXED_ON_RESUME:
        if getattr(stored, key) != getattr(wanted, key):
            raise UserError(f"{path} was trained with {key}={getattr(stored, key)}, not {getattr(wanted, key)}; "
                            "resume with the same settings or train into another work folder.")


def run_train(work_dir: Path, cfg: Config, *, resume: bool, max_steps: int | None = None) -> Path:
    """Train GANimation on WORK_DIR's train split; returns the path of models/ganimation.pt.

    `max_steps` (for tests and benchmarks) stops after that many steps in total, like a time budget does.
    """
    work_dir = Path(work_dir)
    problem = check_sizes(cfg.ganimation)
    if problem:
        raise UserError(f"GANimation settings don't fit: {problem}")
    rank, world, local_rank = _distributed()
    device = resolve_device(cfg.device)
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    models_dir = work_dir / "models"
    ckpt_path = models_dir / "checkpoints" / "last.pt"
    state = None
    if resume:
        if not ckpt_path.is_file():
            raise UserError(f"Nothing to resume: {ckpt_path} does not exist. Start without --resume.")
        state = load_checkpoint(ckpt_path)
        _check_resume(config_from_model(state, ckpt_path), cfg.ganimation, ckpt_path)
    cache = load_faces(work_dir, cfg.ganimation.image_size)
    trainer = GanimationTrainer(cfg, cache, device, rank=rank, world=world)
    if state is not None:
        trainer.load_state_dict(state)
    writer = rank == 0
    metrics_path = models_dir / "metrics.jsonl"
    if writer:
        models_dir.mkdir(parents=True, exist_ok=True)
        _trim_metrics(metrics_path, trainer.step)
        write_resolved_config(cfg, models_dir / "train_config.json", faces=len(cache),
                              steps_per_epoch=trainer.steps_per_epoch, total_steps=trainer.total_steps)
        info(f"Training GANimation on {len(cache)} faces at {cfg.ganimation.image_size} px "
             f"(profile {cfg.profile}, {device}, {trainer.total_steps} steps"
             f"{f', resuming at step {trainer.step}' if trainer.step else ''}).")
    end_step = trainer.total_steps if max_steps is None else min(trainer.total_steps, max_steps)
    budget_s = cfg.ganimation.max_minutes * 60.0
    started = time.monotonic()
    if not trainer.au_pretrained and cfg.ganimation.au_pretrain_steps > 0:
        with progress(TextColumn("AU MSE {task.fields[mse]}"), shown=writer) as bar:
            task = bar.add_task("pre-train critic AU head", total=cfg.ganimation.au_pretrain_steps, mse="")
            au_losses = trainer.pretrain_au_head(
                cfg.ganimation.au_pretrain_steps,
                on_step=lambda done, mse: bar.update(task, completed=done, mse=f"{mse:.4f}"))
        if writer:
            write_json_atomic({"steps": len(au_losses), "batch": cfg.ganimation.au_pretrain_batch,
                               "au_mse": au_losses}, models_dir / "au_pretrain.json")
            info(f"AU head pre-trained: {len(au_losses)} steps, AU MSE {au_losses[0]:.4f} → "
                 f"{float(np.mean(au_losses[-20:])):.4f} ({time.monotonic() - started:.0f} s).")
    pending: list[dict[str, Any]] = []
    stopped_early = False

    def save() -> None:
        if writer:
            _flush_metrics(metrics_path, pending)
            save_checkpoint(ckpt_path, trainer.state_dict())

    bar = progress(TextColumn("{task.fields[losses]}"), shown=writer)
    try:
        with bar:
            task = bar.add_task("train GANimation", total=trainer.total_steps, completed=trainer.step, losses="")
            while trainer.step < end_step:
                step = trainer.step
                losses = trainer.train_step()
                if writer:
                    pending.append({"step": step, "epoch": step // trainer.steps_per_epoch, **losses})
                done_epoch = trainer.step % trainer.steps_per_epoch == 0
                if writer and (len(pending) >= 25 or done_epoch):
                    last = _flush_metrics(metrics_path, pending)
                    bar.update(task, losses=" ".join(f"{k} {last[k]:.3g}" for k in ("d_adv", "g_au", "g_cyc",
                                                                                   "attention_mean") if k in last))
                bar.update(task, completed=trainer.step)
                if trainer.step % cfg.ganimation.checkpoint_every == 0:
                    save()
                if done_epoch and writer and cfg.ganimation.sample_every_epoch:
                    epoch = trainer.step // trainer.steps_per_epoch
                    write_png_atomic(models_dir / "samples" / f"epoch_{epoch:03d}.png", trainer.sample_grid())
                if budget_s > 0 and _out_of_time(time.monotonic() - started >= budget_s, trainer.step, world,
                                                 device):
                    stopped_early = trainer.step < end_step
                    break
    except KeyboardInterrupt:
        save()
        if writer:
            warn(f"Interrupted at step {trainer.step}; checkpoint saved to {ckpt_path}. Continue with --resume.")
        raise
    save()
    model_path = models_dir / "ganimation.pt"
    if writer:
        if trainer.step % trainer.steps_per_epoch and cfg.ganimation.sample_every_epoch:
            write_png_atomic(models_dir / "samples" / f"step_{trainer.step:07d}.png", trainer.sample_grid())
        save_model_file(model_path, trainer.inference_generator.state_dict(), cfg.ganimation)
        if stopped_early:
            info(f"Stopped after {cfg.ganimation.max_minutes:g} minutes at step {trainer.step} of "
                 f"{trainer.total_steps}; continue with --resume.")
        info(f"model:       {model_path}\ncheckpoints: {ckpt_path.parent}\nmetrics:     {metrics_path}\n"
             f"samples:     {models_dir / 'samples'}")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return model_path


#: With several ranks, how often (in steps) they agree on whether the time budget is spent (a GPU sync each time).
_BUDGET_CHECK_EVERY = 10


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
    from faceaug.io.atomic import write_bytes_atomic

    keep = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("step", 0) < step]
    write_bytes_atomic(("\n".join(keep) + "\n" if keep else "").encode(), path)
