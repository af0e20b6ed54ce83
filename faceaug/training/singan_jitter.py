"""Perturbed injected images for inject-mode SinGAN training (SinganConfig.inject_jitter): the start scale learns
to turn varied coarse inputs into the face instead of copying one fixed input."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from faceaug.models.tensors import IMAGE_CHANNELS


def _draw(gen: torch.Generator, count: int, strength: float) -> torch.Tensor:
    """`count` values uniform in ±strength from one model's generator."""
    return (torch.rand(count, generator=gen) * 2 - 1) * strength


def perturb_image(image: torch.Tensor, gen: torch.Generator, strength: float) -> torch.Tensor:
    """One random affine warp + colour change of (1, 3, h, w) in [-1, 1]: shift ±strength (normalised
    coordinates, i.e. ±strength·side/2 px), rotation ±strength rad, scale 1 ± strength, per-channel gain
    1 ± strength and offset ±strength. Borders are filled by reflection."""
    shift_y, shift_x, angle, zoom = _draw(gen, 4, strength)
    gain, offset = 1 + _draw(gen, IMAGE_CHANNELS, strength), _draw(gen, IMAGE_CHANNELS, strength)
    cos, sin, s = torch.cos(angle), torch.sin(angle), 1 + zoom
    theta = torch.stack([torch.stack([s * cos, -s * sin, shift_x]), torch.stack([s * sin, s * cos, shift_y])])
    grid = F.affine_grid(theta[None].to(image), list(image.shape), align_corners=False)
    warped = F.grid_sample(image, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return (warped * gain.view(1, -1, 1, 1).to(image) + offset.view(1, -1, 1, 1).to(image)).clamp(-1, 1)


def perturb_images(stacked: torch.Tensor, gens: list[torch.Generator], strength: float) -> torch.Tensor:
    """K models' images stacked on the channel axis (1, 3K, h, w): each perturbed with its own generator."""
    pieces = stacked.split(IMAGE_CHANNELS, dim=1)
    return torch.cat([perturb_image(p, g, strength) for p, g in zip(pieces, gens)], dim=1)
