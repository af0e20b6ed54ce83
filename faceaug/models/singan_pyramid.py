"""SinGAN's image pyramid: the official scale rule, resizing, and the training image at every scale (pure tensor
functions; images enter and leave through faceaug.models.tensors)."""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from faceaug.errors import UserError
from faceaug.models.tensors import image_to_tensor


class PyramidRule(Protocol):
    """The settings that size a pyramid (SinganConfig has them)."""

    scale_factor: float
    min_size: int
    max_size: int


def pyramid_sizes(height: int, width: int, rule: PyramidRule) -> tuple[list[tuple[int, int]], float]:
    """(sizes coarse → fine, effective scale factor) by the official SinGAN rule.

    number of scales = ceil(log_r(min_size / short side)) + 1 levels below the finest, where the finest level is
    the image shrunk (never enlarged) so its long side is ≤ max_size; r is then recomputed so that the coarsest
    short side is exactly `min_size`. Sizes are rounded (the official code rounds up, which turns e.g. 50.3 px into
    51; rounding gives the 25, 32, 40, 50, 64, 80, 101, 128 pyramid of a 128 px face).
    """
    r0 = rule.scale_factor
    short, long = min(height, width), max(height, width)
    scale1 = min(rule.max_size / long, 1.0)
    h1, w1 = round(height * scale1), round(width * scale1)
    if min(h1, w1) <= rule.min_size or not 0 < r0 < 1:
        raise UserError(
            f"Image of {width}×{height} px is too small for SinGAN: after limiting the long side to "
            f"{rule.max_size} px its short side must exceed the coarsest scale's {rule.min_size} px."
        )
    num_scales = math.ceil(math.log(rule.min_size / short, r0)) + 1
    scale2stop = math.ceil(math.log(min(rule.max_size, long) / long, r0) - 1e-9)
    stop = max(num_scales - scale2stop, 1)
    r = (rule.min_size / min(h1, w1)) ** (1.0 / stop)
    sizes = [(round(h1 * r ** (stop - i)), round(w1 * r ** (stop - i))) for i in range(stop + 1)]
    return sizes, r


def coarser_size(size: tuple[int, int], r: float) -> tuple[int, int]:
    """The size one pyramid level below `size` (used to inject the image below the coarsest trained scale)."""
    return max(round(size[0] * r), 1), max(round(size[1] * r), 1)


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize to an exact size; anti-aliased when shrinking (like the official MATLAB-style imresize)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=shrinking)


def real_pyramid(image: np.ndarray, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
    """The training image at every pyramid size, each resized from the full image, in [-1, 1]."""
    full = image_to_tensor(image)
    return [resize(full, s).clamp(-1, 1) for s in sizes]


def injected_image(image: np.ndarray, sizes: list[tuple[int, int]], scale: int, r: float) -> torch.Tensor:
    """Inject mode's input to `scale`: the image at the level below it, upsampled to its size, (1, 3, h, w)."""
    below = coarser_size(sizes[0], r) if scale == 0 else sizes[scale - 1]
    return resize(real_pyramid(image, [below])[0], sizes[scale])
