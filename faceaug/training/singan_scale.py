"""SinGAN training at one scale, for K models trained together (the pyramid driver: faceaug.training.singan).

K same-pyramid models are stacked along the channel axis (grouped convolutions; model k owns channels [3k, 3k+3)).
Each owns a CPU generator; its draws are moved to the device (same numbers on CPU and GPU) and come in the same
order as in a lone run. At each scale: fresh networks (or the coarser scale's weights where the width is the same),
the reconstruction input and noise amplitude, `iters_per_scale` critic and generator updates, then the scale is
frozen and feeds the next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from faceaug.config import SinganConfig
from faceaug.device import torch_generator
from faceaug.inference.singan import scale_noise
from faceaug.models.singan import (
    ScaleCritic,
    ScaleGenerator,
    ScaleSpec,
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


def _per_model(values: list[float] | torch.Tensor, device) -> torch.Tensor:
    """K scalars → (1, 3K, 1, 1), each repeated over its model's 3 channels."""
    v = torch.as_tensor(values, dtype=torch.get_default_dtype()).reshape(-1)
    return v.repeat_interleave(IMAGE_CHANNELS).reshape(1, -1, 1, 1).to(device)


@dataclass
class Group:
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


def prepare_group(images, cfg: SinganConfig, seeds, device, first: int, mode: str, progress) -> Group:
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
    return Group(cfg, gens, device, mode, first, sizes, r, reals, base, z_rec, progress)


@dataclass
class _ScaleNets:
    """One scale's generator and critic, K models stacked (groups=K)."""

    spec: ScaleSpec
    g: ScaleGenerator
    d: ScaleCritic


def _scale_nets(group: Group, n: int, previous: tuple[list, list] | None) -> _ScaleNets:
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


def _reconstruction(group: Group, n: int, coarser: torch.Tensor | None) -> _Reconstruction:
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


def _critic_step(group: Group, n: int, nets: _ScaleNets, opt, noise: torch.Tensor):
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
    group: Group, n: int, nets: _ScaleNets, opt, noise: torch.Tensor, prev: torch.Tensor, rec: _Reconstruction
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


def _train_scale(group: Group, n: int, nets: _ScaleNets, rec: _Reconstruction) -> tuple | None:
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
class TrainedScale:
    """What the K models keep of one scale."""

    scale: int
    channels: int
    generators: list[ScaleGenerator]  # per model, eval mode
    amp: torch.Tensor  # (K,)
    losses: tuple | None  # see _train_scale


def _freeze(group: Group, n: int, nets: _ScaleNets, rec: _Reconstruction, losses):
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
    trained = TrainedScale(n, nets.spec.channels, [g.eval() for g in plain[0]], rec.amp, losses)
    return reconstruction, trained, plain


def train_scales(group: Group) -> list[TrainedScale]:
    """Train the group's models scale by scale, coarse to fine, each scale frozen before the next starts."""
    scales: list[TrainedScale] = []
    coarser_rec, plain = None, None
    for n in range(group.first, len(group.sizes)):
        nets = _scale_nets(group, n, plain)
        rec = _reconstruction(group, n, coarser_rec)
        losses = _train_scale(group, n, nets, rec)
        coarser_rec, trained, plain = _freeze(group, n, nets, rec, losses)
        scales.append(trained)
    return scales
