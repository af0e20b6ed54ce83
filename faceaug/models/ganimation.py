"""GANimation networks (Pumarola et al., ECCV 2018) — nn.Modules only, no training loops, no file I/O.

Generator: image (3) + AU map (the AU vector tiled spatially) → 7×7 conv → InstanceNorm → ReLU, two stride-2 4×4
convs (×2 channels each), `repeat_num` residual blocks, two stride-2 4×4 transposed convs, then two 7×7 heads:
colour map C (tanh, 3 channels) and attention mask A (sigmoid, 1 channel). The edited face is

    out = A · input + (1 − A) · C          (`blend`; A → 1 keeps the input pixel, as in the public code)

Critic: `critic_layers` stride-2 4×4 convs with LeakyReLU(0.01) and no normalisation (so the gradient penalty is
per sample), then a 3×3 patch head (realism map) and an AU-regression head whose kernel covers the whole final
feature map (17 values per image).

Images are float tensors in [−1, 1], (B, 3, S, S); AU vectors are (B, n_aus) on the 0–1 scale. The generator's
AU input is the target vector (the paper) or, with `condition = "relative"`, target − source AUs (`conditioning`).
Each network is sized by an architecture-only config (`GeneratorConfig`, `CriticConfig`): what its model file stores
and what rebuilds it; the training settings (faceaug.config.GanimationConfig) are the trainer's business.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from faceaug.models.ganimation_config import CONDITIONS, DOWNSAMPLINGS, UPSAMPLINGS, CriticConfig, GeneratorConfig
from faceaug.models.tensors import IMAGE_CHANNELS

__all__ = [
    "CONDITIONS",
    "UPSAMPLINGS",
    "Critic",
    "CriticConfig",
    "Generator",
    "GeneratorConfig",
    "blend",
    "conditioning",
]


def conditioning(condition: str, target: torch.Tensor, source: torch.Tensor | None) -> torch.Tensor:
    """The vector the generator is given to move a face with AUs `source` to AUs `target` (both (B, n_aus))."""
    if condition == "absolute":
        return target
    if source is None:
        raise ValueError("a relative-conditioned generator needs the source faces' AUs")
    return target - source


def blend(image: torch.Tensor, color: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """The GANimation composition: attention · image + (1 − attention) · colour (attention 1 keeps the input)."""
    return attention * image + (1.0 - attention) * color


def init_weights(module: nn.Module, generator: torch.Generator | None = None) -> None:
    """Conv weights N(0, 0.02) drawn from `generator`, biases 0, InstanceNorm scale 1 / shift 0 (as in the public
    implementations)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.InstanceNorm2d) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=True)


#: ×2 upsampling layers by `GeneratorConfig.upsample`, (c_in, c_out) → layers: the paper's 4×4 stride-2 transposed
#: conv, or nearest-neighbour resize + 3×3 conv, which cannot make the checkerboards transposed convs paint early on.
_UPSAMPLERS = {
    "transpose": lambda c_in, c_out: [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False)],
    "resize": lambda c_in, c_out: [
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
    ],
}
assert tuple(_UPSAMPLERS) == UPSAMPLINGS


def constant_map_conv(values: torch.Tensor, weight: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """`F.conv2d(values tiled to (B, A, H, W), weight, padding=k // 2)` without building the tiled map.

    values: (B, A); weight: (O, A, k, k), k odd, stride 1. Inside the image every output pixel sees the whole kernel;
    near the border only the taps that land on the image count (zero padding). Tap i of a kernel row lands on row
    h + i − k // 2, so the output is Σ_ij V[b, o, i, j] · inside[i, h] · inside[j, w] with V = Σ_a values · weight.
    """
    k = weight.shape[-1]
    per_sample = torch.einsum("ba,oaij->boij", values, weight)
    h, w = size
    rows = _taps_inside(k, h, weight)
    cols = _taps_inside(k, w, weight)
    return torch.einsum("boij,ih,jw->bohw", per_sample, rows, cols)


def _taps_inside(k: int, n: int, like: torch.Tensor) -> torch.Tensor:
    """(k, n) float mask: 1 where kernel tap i of an output at position p reads input p + i − k // 2 inside [0, n)."""
    source = torch.arange(n, device=like.device) + torch.arange(k, device=like.device)[:, None] - k // 2
    return ((source >= 0) & (source < n)).to(like.dtype)


class ResidualBlock(nn.Module):
    """x + (3×3 conv → IN → ReLU → 3×3 conv → IN)(x)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            _norm(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Generator(nn.Module):
    """G(image, AUs) → (colour map C in [−1, 1], attention mask A in [0, 1]).

    Convolutions that feed an InstanceNorm carry no bias (the norm would cancel it); the norms are affine.
    """

    def __init__(self, cfg: GeneratorConfig, *, init_generator: torch.Generator | None = None):
        super().__init__()
        self.config = cfg
        self.n_aus = n_aus = cfg.n_aus
        dim = cfg.conv_dim
        layers: list[nn.Module] = [
            nn.Conv2d(IMAGE_CHANNELS + n_aus, dim, 7, padding=3, bias=False),
            _norm(dim),
            nn.ReLU(inplace=True),
        ]
        for _ in range(DOWNSAMPLINGS):
            layers += [
                nn.Conv2d(dim, dim * 2, 4, stride=2, padding=1, bias=False),
                _norm(dim * 2),
                nn.ReLU(inplace=True),
            ]
            dim *= 2
        layers += [ResidualBlock(dim) for _ in range(cfg.repeat_num)]
        for _ in range(DOWNSAMPLINGS):
            layers += [*_UPSAMPLERS[cfg.upsample](dim, dim // 2), _norm(dim // 2), nn.ReLU(inplace=True)]
            dim //= 2
        self.body = nn.Sequential(*layers)
        self.color_head = nn.Sequential(nn.Conv2d(dim, IMAGE_CHANNELS, 7, padding=3, bias=False), nn.Tanh())
        self.attention_head = nn.Sequential(nn.Conv2d(dim, 1, 7, padding=3, bias=False), nn.Sigmoid())
        init_weights(self, init_generator)

    def forward(self, image: torch.Tensor, aus: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # The first layer is a 7×7 conv over [image, AU map]; by linearity it is the conv of the image plus that of
        # the tiled AU map, and the latter is computed in closed form (`constant_map_conv`) instead of convolving
        # 17 constant channels: same weights, same numbers, a third less generator time at 64 px on a CPU. The two
        # 7×7 heads run as one conv with 4 output channels (half the time of two). Both rely on these convs having
        # no bias (test_generator_computes_the_published_layers fails if one gets one).
        first = self.body[0]
        x = F.conv2d(image, first.weight[:, :IMAGE_CHANNELS], padding=first.padding)
        x = x + constant_map_conv(aus.to(x.dtype), first.weight[:, IMAGE_CHANNELS:], x.shape[-2:])
        for layer in self.body[1:]:
            x = layer(x)
        heads = torch.cat([self.color_head[0].weight, self.attention_head[0].weight])
        out = F.conv2d(x, heads, padding=self.color_head[0].padding)
        return self.color_head[1](out[:, :IMAGE_CHANNELS]), self.attention_head[1](out[:, IMAGE_CHANNELS:])

    def edit(self, image: torch.Tensor, aus: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The edited image (blend of input and colour map) and the attention mask."""
        color, attention = self(image, aus)
        return blend(image, color, attention), attention


class Critic(nn.Module):
    """D(image) → (patch realism scores (B, 1, s, s), AU regression (B, n_aus)), s = size / 2**critic_layers."""

    def __init__(self, cfg: CriticConfig, *, init_generator: torch.Generator | None = None):
        super().__init__()
        self.config = cfg
        n_aus = cfg.n_aus
        dim = cfg.critic_dim
        layers: list[nn.Module] = [nn.Conv2d(IMAGE_CHANNELS, dim, 4, stride=2, padding=1), nn.LeakyReLU(0.01)]
        for _ in range(1, cfg.critic_layers):
            layers += [nn.Conv2d(dim, dim * 2, 4, stride=2, padding=1), nn.LeakyReLU(0.01)]
            dim *= 2
        self.body = nn.Sequential(*layers)
        final_side = cfg.image_size // 2**cfg.critic_layers
        self.realism_head = nn.Conv2d(dim, 1, 3, padding=1, bias=False)
        self.au_head = nn.Conv2d(dim, n_aus, final_side, bias=False)
        init_weights(self, init_generator)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(image)
        return self.realism_head(features), self.au_head(features).flatten(1)
