"""Differentiable augmentation of the critic's inputs for small training sets (DiffAugment, Zhao et al. 2020).

With a few hundred faces the critic memorises the real set and its gradients stop teaching the generator. The
same kind of random transform applied to every image the critic sees — real and generated, in the critic's and in
the generator's update — keeps it from memorising, and being differentiable it still passes gradients back to the
generator. Images are in [−1, 1], (B, C, H, W); each image gets its own draw from the step's torch.Generator, so a
seeded (or resumed) run augments the same way.

- `color`: brightness ±0.5, saturation ×[0, 2], contrast ×[0.5, 1.5] (a grey image stays grey);
- `translation`: an integer shift of up to 1/8 of the side, zero (mid-grey) padding;
- `cutout`: one square of half the side set to 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from faceaug.config import DIFFAUGMENT_POLICIES as POLICIES


def parse_policy(text: str) -> tuple[str, ...]:
    """ "color,translation" → ("color", "translation"); "" → () (off). Unknown names raise ValueError."""
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown[0]!r} (known: {', '.join(POLICIES)})")
    return names


def _rand(gen: torch.Generator, *shape: int, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(shape, generator=gen).to(device=like.device, dtype=like.dtype)


def _color(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    x = x + (_rand(gen, b, 1, 1, 1, like=x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(gen, b, 1, 1, 1, like=x) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(gen, b, 1, 1, 1, like=x) + 0.5) + mean


def _translation(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    max_dy, max_dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, (b,), generator=gen)
    dx = torch.randint(-max_dx, max_dx + 1, (b,), generator=gen)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = -2.0 * dx / w  # grid coordinates in [−1, 1]: a shift of k pixels is 2k / side
    theta[:, 1, 2] = -2.0 * dy / h
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def _cutout(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h - ch + 1, (b,), generator=gen).to(x.device)
    left = torch.randint(0, w - cw + 1, (b,), generator=gen).to(x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (
        (rows >= top.view(b, 1, 1))
        & (rows < (top + ch).view(b, 1, 1))
        & (cols >= left.view(b, 1, 1))
        & (cols < (left + cw).view(b, 1, 1))
    )
    return x * (~hole).unsqueeze(1).to(x.dtype)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], gen: torch.Generator) -> torch.Tensor:
    """`x` through the policy's transforms, in the order given (identity for an empty policy)."""
    for name in policy:
        x = _OPS[name](x, gen)
    return x
