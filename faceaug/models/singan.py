"""SinGAN per-scale networks (Shaham et al., ICCV 2019) — nn.Modules only, no training loops, no file I/O.

Each scale has a fully convolutional generator and critic of `num_layers` 3×3 conv blocks (no padding inside;
the generator's input is zero-padded once by `num_layers` px), BatchNorm and LeakyReLU 0.2. The generator is
residual: x_n = prev + ψ(noise + prev), where prev is the upsampled output of the coarser scale.

Every module takes a `groups` argument: `groups=K` stacks K independent models along the channel axis (grouped
convolutions, per-channel BatchNorm), so one forward pass runs K single-image SinGANs at once. Input and output
tensors then have 3·K channels, model k owning channels [3k, 3k+3). `stack_modules` / `unstack_module` convert
between K plain (groups=1) modules and one grouped module, exactly (weights are copied, not re-drawn).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from faceaug.config import SINGAN_MODES
from faceaug.models.tensors import IMAGE_CHANNELS

KERNEL = 3
MODES = SINGAN_MODES  # how the coarsest trained scale is fed: zeros + noise, or the image (faceaug.config)


@dataclass(frozen=True)
class ScaleSpec:
    """Size of one scale's networks."""

    channels: int  # feature channels of every conv block
    num_layers: int = 5  # conv layers including head and tail

    @property
    def pad(self) -> int:
        """Zero padding applied once to the generator input (= receptive-field radius)."""
        return self.num_layers * (KERNEL - 1) // 2


@dataclass(frozen=True)
class SinganArchitecture:
    """A trained SinGAN as far as rebuilding and sampling it goes (no training settings): its pyramid, the trained
    scales' networks and noise amplitudes, and the mode it was trained for (reconstruct | inject)."""

    sizes: tuple[tuple[int, int], ...]  # every pyramid size, coarse → fine
    scale_factor: float  # effective r between pyramid levels
    first_scale: int  # coarsest trained scale (> 0 only for inject-mode training)
    channels: tuple[int, ...]  # feature channels per trained scale
    num_layers: int  # conv layers per network, head and tail included
    noise_amps: tuple[float, ...]  # per trained scale
    mode: str  # one of MODES

    def spec(self, scale: int) -> ScaleSpec:
        """The networks' size at `scale` (first_scale … S-1)."""
        return ScaleSpec(self.channels[scale - self.first_scale], self.num_layers)


def scale_channels(scale: int, nfc: int, max_nfc: int) -> int:
    """Feature channels at scale `scale` (0 = coarsest): `nfc`, doubled every 4 scales, capped at `max_nfc`."""
    return min(nfc * 2 ** (scale // 4), max_nfc)


class ConvBlock(nn.Sequential):
    """3×3 conv (no padding) → BatchNorm → LeakyReLU(0.2), for `groups` stacked models.

    The conv has no bias: BatchNorm (batch statistics in training, running mean at sampling) cancels it, so its
    true gradient is zero and Adam would only turn float noise in that gradient into ±lr steps (the official code
    keeps the bias; the function computed is the same)."""

    def __init__(self, in_ch: int, out_ch: int, groups: int = 1):
        super().__init__(
            nn.Conv2d(in_ch * groups, out_ch * groups, KERNEL, padding=0, groups=groups, bias=False),
            nn.BatchNorm2d(out_ch * groups),
            nn.LeakyReLU(0.2),
        )


def _body(spec: ScaleSpec, groups: int) -> nn.Sequential:
    layers = [ConvBlock(IMAGE_CHANNELS, spec.channels, groups)]
    layers += [ConvBlock(spec.channels, spec.channels, groups) for _ in range(spec.num_layers - 2)]
    return nn.Sequential(*layers)


class ScaleGenerator(nn.Module):
    """ψ of one scale: forward(noise, prev) = prev + tanh-tail(body(pad(noise + prev)))."""

    def __init__(self, spec: ScaleSpec, groups: int = 1):
        super().__init__()
        self.spec, self.groups = spec, groups
        self.body = _body(spec, groups)
        self.tail = nn.Sequential(
            nn.Conv2d(spec.channels * groups, IMAGE_CHANNELS * groups, KERNEL, padding=0, groups=groups), nn.Tanh()
        )

    def forward(self, noise: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """`noise` is already scaled by the noise amplitude; both are (B, 3·groups, H, W); returns the same shape."""
        x = F.pad(noise + prev, [self.spec.pad] * 4)
        return self.tail(self.body(x)) + prev


class ScaleCritic(nn.Module):
    """Patch critic (WGAN): (B, 3·groups, H, W) → (B, groups, H - 2·pad, W - 2·pad) scores."""

    def __init__(self, spec: ScaleSpec, groups: int = 1):
        super().__init__()
        self.spec, self.groups = spec, groups
        self.body = _body(spec, groups)
        # No bias: a constant added to every score cancels in the WGAN-GP loss (its gradient is exactly zero).
        self.tail = nn.Conv2d(spec.channels * groups, groups, KERNEL, padding=0, groups=groups, bias=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(image))


@torch.no_grad()
def init_weights(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """SinGAN's initialisation, drawn from `generator`: conv weights N(0, 0.02), conv biases U(±1/√fan_in)
    (PyTorch's default range), BatchNorm weights N(1, 0.02) and biases 0. Only for groups=1 modules."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * 0.02)
            if m.bias is not None:
                bound = 1.0 / math.sqrt(m.weight[0].numel())
                m.bias.copy_((torch.rand(m.bias.shape, generator=generator) * 2 - 1) * bound)
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.copy_(1.0 + torch.randn(m.weight.shape, generator=generator) * 0.02)
            m.bias.zero_()
    return module


def _per_model_slices(tensor: torch.Tensor, groups: int) -> list[torch.Tensor]:
    return list(tensor.chunk(groups, dim=0)) if tensor.dim() > 0 else [tensor] * groups


@torch.no_grad()
def stack_modules(modules: list[nn.Module], factory) -> nn.Module:
    """K plain modules → one grouped module (built by `factory(groups)`), parameters and BN stats copied."""
    grouped = factory(len(modules))
    states = [m.state_dict() for m in modules]
    target = grouped.state_dict()
    for name in target:
        if name.endswith("num_batches_tracked"):
            target[name].copy_(states[0][name])
        else:
            target[name].copy_(torch.cat([s[name] for s in states], dim=0))
    return grouped


@torch.no_grad()
def unstack_module(grouped: nn.Module, factory) -> list[nn.Module]:
    """One grouped module → K plain modules (built by `factory(1)`) with the same parameters and BN stats."""
    k = grouped.groups
    pieces = {name: _per_model_slices(t, k) for name, t in grouped.state_dict().items()}
    out = []
    for i in range(k):
        m = factory(1)
        m.load_state_dict(
            {name: (p[i] if not name.endswith("num_batches_tracked") else p[0]).clone() for name, p in pieces.items()}
        )
        out.append(m)
    return out
