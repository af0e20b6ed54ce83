"""SinGAN training, single and batched (the trained model and sampling: faceaug.inference.singan; the `faceaug
singan` command: faceaug.commands.singan).

In `inject` mode the training image enters the start scale directly and the coarser scales are never used, so
`train_singan(..., mode="inject", start_scale=s)` does not train them. What that saves is the coarse
scales' share of the work, small because they are small: measured on one CPU thread (benchmarks/bench_singan.py),
`fast` 64-px face 12-14 vs 19-22 CPU-s (2 of 4 scales trained), 128 px 96-101 vs 106-114 CPU-s; at `paper`
(channels double at the fine scales) about 1% by a pixels x channels² estimate. The larger gain is quality at
short schedules: with `fast` the coarse scales do not learn to reconstruct the face from noise in 150 iterations,
so reconstruct-mode samples are distorted (SSIM to the image 0.64-0.77) while inject-mode samples keep it (SSIM
0.94-0.95 at 64 px, 0.87 at 128 px, face found in 100%).

Batched training stacks K independent models along the channel axis (grouped convolutions; every random draw of
model k comes from its own seeded generator in the same order as a lone run), so K=1 and K>1 give the same
models up to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from faceaug import __version__
from faceaug.config import SinganConfig
from faceaug.device import torch_cpu_threads, torch_generator
from faceaug.errors import UserError
from faceaug.inference.singan import SinganModel, check_mode_and_start_scale, scale_noise
from faceaug.models.singan import (
    ScaleCritic,
    ScaleGenerator,
    ScaleSpec,
    SinganArchitecture,
    init_weights,
    scale_channels,
    stack_modules,
    unstack_module,
)
from faceaug.models.singan_pyramid import injected_image, pyramid_sizes, real_pyramid, resize
from faceaug.models.tensors import IMAGE_CHANNELS
from faceaug.training.singan_jitter import perturb_images
from faceaug.training.singan_losses import (
    critic_wasserstein_loss,
    generator_adversarial_loss,
    gradient_penalty,
    per_model_mean,
    reconstruction_loss,
)

Progress = Callable[[int, int], None]  # (iterations done so far, total iterations)


# ---------------------------------------------------------------------------------------------------------------
# K models trained together. Each owns a CPU generator; its draws are moved to the device (same numbers on CPU
# and GPU) and come in the same order as in a lone run.


def _per_model(values: list[float] | torch.Tensor, device) -> torch.Tensor:
    """K scalars → (1, 3K, 1, 1), each repeated over its model's 3 channels."""
    v = torch.as_tensor(values, dtype=torch.get_default_dtype()).reshape(-1)
    return v.repeat_interleave(IMAGE_CHANNELS).reshape(1, -1, 1, 1).to(device)


@dataclass
class _Group:
    """K same-pyramid models trained at once, stacked on the channel axis (model k: channels [3k, 3k+3))."""

    cfg: SinganConfig
    gens: list[torch.Generator]  # one per model
    device: torch.device
    mode: str
    first: int  # coarsest trained scale
    sizes: list[tuple[int, int]]
    scale_factor: float
    reals: list[torch.Tensor]  # the images at every scale, (1, 3K, h, w)
    base: torch.Tensor  # the input of the first trained scale: the injected images, or zeros
    z_rec: list[torch.Tensor] | None  # per model, reconstruct mode only
    progress: Progress | None
    frozen: list[tuple[ScaleGenerator, torch.Tensor]] = field(default_factory=list)  # (generator, amp) per scale

    @property
    def k(self) -> int:
        return len(self.gens)

    def noise(self, scale: int) -> torch.Tensor:
        """Every model's noise at `scale`, stacked: (1, 3K, h, w)."""
        return torch.cat([scale_noise(g, 1, self.sizes[scale], scale) for g in self.gens], dim=1).to(self.device)

    @torch.no_grad()
    def random_prev(self) -> torch.Tensor:
        """A random sample of the trained (frozen) scales, upsampled: the next scale's input (from a perturbed
        injected image when cfg.inject_jitter > 0)."""
        x = self.base
        if self.mode == "inject" and self.cfg.inject_jitter > 0:
            x = perturb_images(x, self.gens, self.cfg.inject_jitter)
        for scale, (generator, amp) in enumerate(self.frozen, start=self.first):
            x = resize(generator(amp * self.noise(scale), x), self.sizes[scale + 1])
        return x

    def report(self, done: int) -> None:
        if self.progress is not None:
            self.progress(done, (len(self.sizes) - self.first) * self.cfg.iters_per_scale)


def _prepare_group(images, cfg: SinganConfig, seeds, device, first: int, mode: str, progress) -> _Group:
    """The group's pyramid and inputs; draws each model's reconstruction noise z* first (reconstruct mode)."""
    sizes, r = pyramid_sizes(*images[0].shape[:2], cfg)
    gens = [torch_generator(s) for s in seeds]
    pyramids = [real_pyramid(im, sizes) for im in images]
    reals = [torch.cat([p[n] for p in pyramids], dim=1).to(device) for n in range(len(sizes))]
    z_rec = [torch.randn((1, 1, *sizes[0]), generator=g) for g in gens] if mode == "reconstruct" else None
    if mode == "inject":
        base = torch.cat([injected_image(im, sizes, first, r) for im in images], dim=1).to(device)
    else:
        base = torch.zeros_like(reals[0])
    return _Group(cfg, gens, device, mode, first, sizes, r, reals, base, z_rec, progress)


@dataclass
class _ScaleNets:
    """One scale's generator and critic, K models stacked (groups=K)."""

    spec: ScaleSpec
    g: ScaleGenerator
    d: ScaleCritic


def _scale_nets(group: _Group, n: int, previous: tuple[list, list] | None) -> _ScaleNets:
    """Fresh networks for scale n, drawn model by model (generator, then critic); where the coarser scale has the
    same width they start from its weights instead (drawn all the same, so that later draws stay in step)."""
    cfg = group.cfg
    spec = ScaleSpec(scale_channels(n, cfg.nfc, cfg.max_nfc), cfg.num_layers)
    g_plain, d_plain = [], []
    for gen in group.gens:
        g_plain.append(init_weights(ScaleGenerator(spec), gen))
        d_plain.append(init_weights(ScaleCritic(spec), gen))
    if previous is not None and previous[0][0].spec == spec:
        for dst, src in zip(g_plain + d_plain, previous[0] + previous[1]):
            dst.load_state_dict(src.state_dict())
    g = stack_modules(g_plain, lambda groups: ScaleGenerator(spec, groups)).to(group.device).train()
    d = stack_modules(d_plain, lambda groups: ScaleCritic(spec, groups)).to(group.device).train()
    return _ScaleNets(spec, g, d)


@dataclass
class _Reconstruction:
    """What scale n reconstructs the image from, and the noise amplitude that follows from it."""

    prev: torch.Tensor  # the coarser scales' reconstruction, upsampled (the base at the first scale)
    noise: torch.Tensor  # z* broadcast at scale 0 in reconstruct mode, zeros elsewhere
    amp: torch.Tensor  # per model, (K,) on CPU
    amp_t: torch.Tensor  # the same, (1, 3K, 1, 1) on the device


def _reconstruction(group: _Group, n: int, coarser: torch.Tensor | None) -> _Reconstruction:
    """From the coarser scale's reconstruction; noise amplitude = noise_amp × its RMSE to the image at scale n (1 at
    scale 0 in reconstruct mode)."""
    real = group.reals[n]
    prev = group.base if n == group.first else resize(coarser, group.sizes[n])
    if n == 0 and group.mode == "reconstruct":
        amp = torch.ones(group.k)
        noise = torch.cat([z.expand(1, IMAGE_CHANNELS, *group.sizes[0]) for z in group.z_rec], dim=1).to(group.device)
    else:
        amp = group.cfg.noise_amp * per_model_mean((real - prev) ** 2, group.k).sqrt().cpu()
        noise = torch.zeros_like(real)
    return _Reconstruction(prev, noise, amp, _per_model(amp, group.device))


def _optimizer(net: torch.nn.Module, cfg: SinganConfig):
    """Adam, its lr × 0.1 at lr_decay_at of the scale's iterations."""
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    milestone = [max(int(cfg.lr_decay_at * cfg.iters_per_scale), 1)]
    return opt, torch.optim.lr_scheduler.MultiStepLR(opt, milestone, gamma=0.1)


def _critic_step(group: _Group, n: int, nets: _ScaleNets, opt, noise: torch.Tensor):
    """One critic update on a fresh random input; returns (the per-model loss, that input)."""
    real = group.reals[n]
    prev = group.random_prev()
    with torch.no_grad():
        fake = nets.g(noise, prev)
    real_scores, fake_scores = nets.d(real), nets.d(fake)
    alpha = _per_model(torch.cat([torch.rand(1, generator=g) for g in group.gens]), real.device)
    gp = gradient_penalty(nets.d, real, fake, alpha, group.k)
    loss = critic_wasserstein_loss(real_scores, fake_scores, group.k) + group.cfg.lambda_gp * gp
    opt.zero_grad(set_to_none=True)
    loss.sum().backward()
    opt.step()
    return loss, prev


def _generator_step(
    group: _Group, n: int, nets: _ScaleNets, opt, noise: torch.Tensor, prev: torch.Tensor, rec: _Reconstruction
):
    """One generator update on a fresh fake (the official loop reuses a stale one); returns (loss, its weighted
    reconstruction term), per model."""
    adversarial = generator_adversarial_loss(nets.d(nets.g(noise, prev)), group.k)
    rec_loss = group.cfg.alpha * reconstruction_loss(nets.g(rec.noise, rec.prev), group.reals[n], group.k)
    loss = adversarial + rec_loss
    opt.zero_grad(set_to_none=True)
    loss.sum().backward()
    opt.step()
    return loss, rec_loss


def _train_scale(group: _Group, n: int, nets: _ScaleNets, rec: _Reconstruction) -> tuple | None:
    """iters_per_scale iterations of d_steps critic and g_steps generator updates at scale n; returns the last
    iteration's (critic loss, generator loss, reconstruction term) per model, None if a step kind never ran."""
    cfg = group.cfg
    opt_g, sched_g = _optimizer(nets.g, cfg)
    opt_d, sched_d = _optimizer(nets.d, cfg)
    loss_d = loss_g = rec_loss = None
    for it in range(cfg.iters_per_scale):
        noise = rec.amp_t * group.noise(n)
        prev = None if cfg.d_steps else group.random_prev()
        for _ in range(cfg.d_steps):
            loss_d, prev = _critic_step(group, n, nets, opt_d, noise)
        for _ in range(cfg.g_steps):
            loss_g, rec_loss = _generator_step(group, n, nets, opt_g, noise, prev, rec)
        if cfg.g_steps:
            sched_g.step()
        if cfg.d_steps:
            sched_d.step()
        group.report((n - group.first) * cfg.iters_per_scale + it + 1)
    return None if loss_d is None or loss_g is None else (loss_d, loss_g, rec_loss)


@dataclass
class _TrainedScale:
    """What the K models keep of one scale."""

    scale: int
    channels: int
    generators: list[ScaleGenerator]  # per model, eval mode
    amp: torch.Tensor  # (K,)
    losses: tuple | None  # see _train_scale


def _freeze(group: _Group, n: int, nets: _ScaleNets, rec: _Reconstruction, losses):
    """Freeze scale n; returns (its reconstruction, what the models keep of it, its plain generators and critics)."""
    for p in list(nets.g.parameters()) + list(nets.d.parameters()):
        p.requires_grad_(False)
    nets.g.eval()
    nets.d.eval()
    with torch.no_grad():
        reconstruction = nets.g(rec.noise, rec.prev)
    group.frozen.append((nets.g, rec.amp_t))
    plain = (
        unstack_module(nets.g, lambda groups: ScaleGenerator(nets.spec, groups)),
        unstack_module(nets.d, lambda groups: ScaleCritic(nets.spec, groups)),
    )
    trained = _TrainedScale(n, nets.spec.channels, [g.eval() for g in plain[0]], rec.amp, losses)
    return reconstruction, trained, plain


def _train_group(images, cfg: SinganConfig, seeds, device, first: int, mode: str, progress: Progress | None):
    """Train K same-pyramid models at once (K = len(images)), scale by scale; returns K SinganModels."""
    with torch_cpu_threads(device, cfg.cpu_threads):
        group = _prepare_group(images, cfg, seeds, device, first, mode, progress)
        scales: list[_TrainedScale] = []
        coarser_rec, plain = None, None
        for n in range(first, len(group.sizes)):
            nets = _scale_nets(group, n, plain)
            rec = _reconstruction(group, n, coarser_rec)
            losses = _train_scale(group, n, nets, rec)
            coarser_rec, trained, plain = _freeze(group, n, nets, rec, losses)
            scales.append(trained)
    return [_model(i, images[i], int(seeds[i]), group, scales) for i in range(group.k)]


def _model(i: int, image, seed: int, group: _Group, scales: list[_TrainedScale]) -> SinganModel:
    """Model i of a trained group."""
    arch = SinganArchitecture(
        sizes=tuple(group.sizes),
        scale_factor=group.scale_factor,
        first_scale=group.first,
        channels=tuple(s.channels for s in scales),
        num_layers=group.cfg.num_layers,
        noise_amps=tuple(float(s.amp[i]) for s in scales),
        mode=group.mode,
    )
    losses = [
        {
            "scale": s.scale,
            "loss_d": s.losses[0][i].item(),
            "loss_g": s.losses[1][i].item(),
            "rec": s.losses[2][i].item(),
        }
        for s in scales
        if s.losses is not None
    ]
    return SinganModel(
        arch=arch,
        image=image,
        generators=[s.generators[i] for s in scales],
        z_rec=None if group.z_rec is None else group.z_rec[i],
        provenance={"seed": seed, "faceaug_version": __version__, "settings": asdict(group.cfg), "losses": losses},
        cpu_threads=group.cfg.cpu_threads,
    )


def _first_trained(image: np.ndarray, cfg: SinganConfig, start_scale: int, mode: str) -> int:
    if mode != "inject":
        return 0
    n_scales = len(pyramid_sizes(*image.shape[:2], cfg)[0])
    if start_scale >= n_scales:
        raise UserError(
            f"Start scale {start_scale} is beyond this image's {n_scales} SinGAN scales; "
            f"inject mode needs a start scale below {n_scales}."
        )
    return start_scale


def train_singan(
    image: np.ndarray,
    cfg: SinganConfig,
    *,
    seed: int,
    device: torch.device,
    start_scale: int = 0,
    mode: str = "reconstruct",
    progress: Progress | None = None,
) -> SinganModel:
    """Train one single-image SinGAN on an RGB uint8 image (inject mode skips scales coarser than start_scale)."""
    check_mode_and_start_scale(mode, start_scale)
    first = _first_trained(image, cfg, start_scale, mode)
    return _train_group([image], cfg, [seed], torch.device(device), first, mode, progress)[0]


def train_singan_batch(
    images: list[np.ndarray],
    cfg: SinganConfig,
    *,
    seeds: list[int],
    device: torch.device,
    start_scale: int = 0,
    mode: str = "reconstruct",
    strategy: str = "auto",
    progress: Progress | None = None,
) -> list[SinganModel]:
    """Train K independent SinGANs, one per image; same models as K `train_singan` calls with these seeds.

    Images are grouped by (pyramid shape, first trained scale). `strategy`: "grouped" stacks each group into
    grouped convolutions; "sequential" trains one model after another; "auto" = grouped on CUDA, sequential on
    CPU (where grouped convolutions measured 0.85-1.2x a loop for K = 4-64, see benchmarks/bench_singan.py).
    """
    if len(images) != len(seeds):
        raise ValueError(f"{len(images)} images but {len(seeds)} seeds")
    check_mode_and_start_scale(mode, start_scale)
    device = torch.device(device)
    if strategy == "auto":
        strategy = "grouped" if device.type == "cuda" else "sequential"
    if strategy not in ("grouped", "sequential"):
        raise ValueError(f"unknown strategy {strategy!r}")
    groups = _stackable_groups(images, cfg, start_scale, mode)
    chunks = [
        (first, chunk)
        for (_, first), idx in groups.items()
        for chunk in ([idx] if strategy == "grouped" else [[i] for i in idx])
    ]
    total = sum((len(key[0]) - key[1]) * cfg.iters_per_scale * len(idx) for key, idx in groups.items())
    models: list[SinganModel | None] = [None] * len(images)
    done = 0
    for first, chunk in chunks:
        trained = _train_group(
            [images[i] for i in chunk],
            cfg,
            [seeds[i] for i in chunk],
            device,
            first,
            mode,
            _progress_of_chunk(progress, done, len(chunk), total),
        )
        done += (trained[0].num_scales - first) * cfg.iters_per_scale * len(chunk)
        for i, m in zip(chunk, trained):
            models[i] = m
    return models  # type: ignore[return-value]


def _stackable_groups(images, cfg: SinganConfig, start_scale: int, mode: str) -> dict[tuple, list[int]]:
    """Image indices by (pyramid sizes, first trained scale): the images whose models can be stacked."""
    groups: dict[tuple, list[int]] = {}
    for i, image in enumerate(images):
        key = (tuple(pyramid_sizes(*image.shape[:2], cfg)[0]), _first_trained(image, cfg, start_scale, mode))
        groups.setdefault(key, []).append(i)
    return groups


def _progress_of_chunk(progress: Progress | None, before: int, width: int, total: int) -> Progress | None:
    """A chunk of `width` models trained together advances the batch's progress `width` iterations a step."""
    if progress is None:
        return None
    return lambda done, _total: progress(before + done * width, total)


def check_singan_setup(height: int, width: int, cfg: SinganConfig, *, start_scale: int, mode: str) -> int:
    """Validate a SinGAN request for images of this size before any work starts (UserError on a bad one).

    Returns the number of pyramid scales."""
    check_mode_and_start_scale(mode, start_scale)
    _first_trained(np.zeros((height, width, 3), np.uint8), cfg, start_scale, mode)
    return len(pyramid_sizes(height, width, cfg)[0])
