"""SinGAN training, single and batched (the trained model and sampling: faceaug.inference.singan; the `faceaug
singan` command: faceaug.training.singan_command).

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

from dataclasses import asdict
from typing import Callable

import numpy as np
import torch

from faceaug import __version__
from faceaug.config import SinganConfig
from faceaug.device import torch_cpu_threads, torch_generator
from faceaug.errors import UserError
from faceaug.inference.singan import SinganModel, check_mode_and_start_scale, scale_noise
from faceaug.models.singan import (
    ScaleCritic, ScaleGenerator, ScaleSpec, SinganArchitecture, init_weights, scale_channels, stack_modules,
    unstack_module,
)
from faceaug.models.singan_pyramid import injected_image, pyramid_sizes, real_pyramid, resize

Progress = Callable[[int, int], None]  # (iterations done so far, total iterations)


# ---------------------------------------------------------------------------------------------------------------
# Random draws: each model owns a CPU generator; draws are moved to the device (same numbers on CPU and GPU).


def _noise(gens: list[torch.Generator], size: tuple[int, int], scale: int, device) -> torch.Tensor:
    """Per-model noise at `scale` stacked on channels: (1, 3K, h, w)."""
    return torch.cat([scale_noise(g, 1, size, scale) for g in gens], dim=1).to(device)


def _per_model(values: list[float] | torch.Tensor, device) -> torch.Tensor:
    """K scalars → (1, 3K, 1, 1), each repeated over its model's 3 channels."""
    v = torch.as_tensor(values, dtype=torch.get_default_dtype()).reshape(-1)
    return v.repeat_interleave(3).reshape(1, -1, 1, 1).to(device)


def _model_means(x: torch.Tensor, k: int) -> torch.Tensor:
    """(1, C·K, h, w) → (K,) per-model means."""
    return x.reshape(k, -1).mean(dim=1)


def _gradient_penalty(critic, real, fake, gens, lambda_gp: float) -> torch.Tensor:
    """WGAN-GP as in SinGAN: per-pixel gradient norm over each model's 3 channels; returns (K,)."""
    k = len(gens)
    alpha = _per_model(torch.cat([torch.rand(1, generator=g) for g in gens]), real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    norms = grad.reshape(k, 3, *grad.shape[-2:]).norm(2, dim=1)
    return lambda_gp * ((norms - 1) ** 2).reshape(k, -1).mean(dim=1)


# ---------------------------------------------------------------------------------------------------------------
# Training.


def _train_group(images, cfg: SinganConfig, seeds, device, first: int, mode: str, progress: Progress | None):
    """Train K same-pyramid models at once (K = len(images)); returns K SinganModels."""
    with torch_cpu_threads(device, cfg.cpu_threads):
        return _train_group_impl(images, cfg, seeds, device, first, mode, progress)


def _train_group_impl(images, cfg: SinganConfig, seeds, device, first: int, mode: str,
                      progress: Progress | None):
    k = len(images)
    sizes, r = pyramid_sizes(*images[0].shape[:2], cfg)
    n_scales = len(sizes)
    gens = [torch_generator(s) for s in seeds]
    pyramids = [real_pyramid(im, sizes) for im in images]
    reals = [torch.cat([p[n] for p in pyramids], dim=1).to(device) for n in range(n_scales)]
    z_rec = [torch.randn((1, 1, *sizes[0]), generator=g) for g in gens] if mode == "reconstruct" else None
    if mode == "inject":
        base = torch.cat([injected_image(im, sizes, first, r) for im in images], dim=1).to(device)
    else:
        base = torch.zeros_like(reals[0])
    total = (n_scales - first) * cfg.iters_per_scale
    frozen: list[tuple[ScaleGenerator, torch.Tensor]] = []  # (grouped generator, amp (1,3K,1,1)) per scale
    per_model_g: list[list[ScaleGenerator]] = [[] for _ in range(k)]
    channels: list[int] = []
    amps: list[list[float]] = [[] for _ in range(k)]
    losses: list[list[dict]] = [[] for _ in range(k)]
    prev_plain: tuple[list, list] | None = None
    rec = None
    for n in range(first, n_scales):
        spec = ScaleSpec(scale_channels(n, cfg.nfc, cfg.max_nfc), cfg.num_layers)
        g_plain, d_plain = [], []
        for gen in gens:
            g_plain.append(init_weights(ScaleGenerator(spec), gen))
            d_plain.append(init_weights(ScaleCritic(spec), gen))
        if prev_plain is not None and prev_plain[0][0].spec == spec:  # same width: continue from the coarser scale
            for dst, src in zip(g_plain + d_plain, prev_plain[0] + prev_plain[1]):
                dst.load_state_dict(src.state_dict())
        netG = stack_modules(g_plain, lambda gr: ScaleGenerator(spec, gr)).to(device).train()
        netD = stack_modules(d_plain, lambda gr: ScaleCritic(spec, gr)).to(device).train()
        real = reals[n]
        rec_prev = base if n == first else resize(rec, sizes[n])
        if n == 0 and mode == "reconstruct":
            amp = torch.ones(k)
            rec_noise = torch.cat([z.expand(1, 3, *sizes[0]) for z in z_rec], dim=1).to(device)
        else:
            amp = cfg.noise_amp * ((real - rec_prev) ** 2).reshape(k, -1).mean(dim=1).sqrt().cpu()
            rec_noise = torch.zeros_like(real)
        amp_t = _per_model(amp, device)

        def random_prev() -> torch.Tensor:
            x = base
            with torch.no_grad():
                for j, (g_j, a_j) in enumerate(frozen):
                    scale = first + j
                    z = _noise(gens, sizes[scale], scale, device)
                    x = resize(g_j(a_j * z, x), sizes[scale + 1])
            return x

        opt_g = torch.optim.Adam(netG.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        opt_d = torch.optim.Adam(netD.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        milestone = [max(int(cfg.lr_decay_at * cfg.iters_per_scale), 1)]
        sched_g = torch.optim.lr_scheduler.MultiStepLR(opt_g, milestone, gamma=0.1)
        sched_d = torch.optim.lr_scheduler.MultiStepLR(opt_d, milestone, gamma=0.1)
        for it in range(cfg.iters_per_scale):
            noise = amp_t * _noise(gens, sizes[n], n, device)
            prev = None if cfg.d_steps else random_prev()
            for _ in range(cfg.d_steps):
                prev = random_prev()
                with torch.no_grad():
                    fake = netG(noise, prev)
                d_real = -_model_means(netD(real), k)
                d_fake = _model_means(netD(fake), k)
                gp = _gradient_penalty(netD, real, fake, gens, cfg.lambda_gp)
                loss_d = d_real + d_fake + gp
                opt_d.zero_grad(set_to_none=True)
                loss_d.sum().backward()
                opt_d.step()
            for _ in range(cfg.g_steps):  # fresh fake every step (the official loop reuses a stale one)
                adv = -_model_means(netD(netG(noise, prev)), k)
                rec_out = netG(rec_noise, rec_prev)
                rec_loss = cfg.alpha * ((rec_out - real) ** 2).reshape(k, -1).mean(dim=1)
                loss_g = adv + rec_loss
                opt_g.zero_grad(set_to_none=True)
                loss_g.sum().backward()
                opt_g.step()
            if cfg.g_steps:
                sched_g.step()
            if cfg.d_steps:
                sched_d.step()
            if progress is not None:
                progress((n - first) * cfg.iters_per_scale + it + 1, total)
        for p in list(netG.parameters()) + list(netD.parameters()):
            p.requires_grad_(False)
        netG.eval()
        netD.eval()
        with torch.no_grad():
            rec = netG(rec_noise, rec_prev)
        frozen.append((netG, amp_t))
        channels.append(spec.channels)
        prev_plain = (unstack_module(netG, lambda gr: ScaleGenerator(spec, gr)),
                      unstack_module(netD, lambda gr: ScaleCritic(spec, gr)))
        for i in range(k):
            per_model_g[i].append(prev_plain[0][i].eval())
            amps[i].append(float(amp[i]))
            if cfg.d_steps and cfg.g_steps and cfg.iters_per_scale:
                losses[i].append({"scale": n, "loss_d": loss_d[i].item(), "loss_g": loss_g[i].item(),
                                  "rec": rec_loss[i].item()})
    return [
        SinganModel(
            arch=SinganArchitecture(sizes=tuple(sizes), scale_factor=r, first_scale=first, channels=tuple(channels),
                                    num_layers=cfg.num_layers, noise_amps=tuple(amps[i]), mode=mode),
            image=images[i], generators=per_model_g[i], z_rec=None if z_rec is None else z_rec[i],
            provenance={"seed": int(seeds[i]), "faceaug_version": __version__, "settings": asdict(cfg),
                        "losses": losses[i]},
            cpu_threads=cfg.cpu_threads)
        for i in range(k)
    ]


def _first_trained(image: np.ndarray, cfg: SinganConfig, start_scale: int, mode: str) -> int:
    if mode != "inject":
        return 0
    n_scales = len(pyramid_sizes(*image.shape[:2], cfg)[0])
    if start_scale >= n_scales:
        raise UserError(f"Start scale {start_scale} is beyond this image's {n_scales} SinGAN scales; "
                        f"inject mode needs a start scale below {n_scales}.")
    return start_scale


def train_singan(image: np.ndarray, cfg: SinganConfig, *, seed: int, device: torch.device, start_scale: int = 0,
                 mode: str = "reconstruct", progress: Progress | None = None) -> SinganModel:
    """Train one single-image SinGAN on an RGB uint8 image (inject mode skips scales coarser than start_scale)."""
    check_mode_and_start_scale(mode, start_scale)
    first = _first_trained(image, cfg, start_scale, mode)
    return _train_group([image], cfg, [seed], torch.device(device), first, mode, progress)[0]


def train_singan_batch(images: list[np.ndarray], cfg: SinganConfig, *, seeds: list[int], device: torch.device,
                       start_scale: int = 0, mode: str = "reconstruct", strategy: str = "auto",
                       progress: Progress | None = None) -> list[SinganModel]:
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
    groups: dict[tuple, list[int]] = {}
    for i, image in enumerate(images):
        key = (tuple(pyramid_sizes(*image.shape[:2], cfg)[0]), _first_trained(image, cfg, start_scale, mode))
        groups.setdefault(key, []).append(i)
    models: list[SinganModel | None] = [None] * len(images)
    total = sum((len(key[0]) - key[1]) * cfg.iters_per_scale * len(idx) for key, idx in groups.items())
    done = 0
    for (_, first), idx in groups.items():
        chunks = [idx] if strategy == "grouped" else [[i] for i in idx]
        for chunk in chunks:
            def report(d, t, _base=done, _w=len(chunk)):
                if progress is not None:
                    progress(_base + d * _w, total)
            trained = _train_group([images[i] for i in chunk], cfg, [seeds[i] for i in chunk], device, first, mode,
                                   report)
            done += (trained[0].num_scales - first) * cfg.iters_per_scale * len(chunk)
            for i, m in zip(chunk, trained):
                models[i] = m
    return models  # type: ignore[return-value]


def check_singan_setup(height: int, width: int, cfg: SinganConfig, *, start_scale: int, mode: str) -> int:
    """Validate a SinGAN request for images of this size before any work starts (UserError on a bad one).

    Returns the number of pyramid scales."""
    check_mode_and_start_scale(mode, start_scale)
    _first_trained(np.zeros((height, width, 3), np.uint8), cfg, start_scale, mode)
    return len(pyramid_sizes(height, width, cfg)[0])
