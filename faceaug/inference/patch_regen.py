"""A training-free regenerator: variants of one face by patch nearest-neighbour generation, in the style of GPNN
("Drop the GAN", Granot et al., CVPR 2022); written from the paper's description, not from its code.

    variants = regenerate_patches(edit_rgb_uint8, 4, cfg=PatchConfig(), seed=0)   # (4, H, W, 3) uint8

1. A pyramid of the image from `coarse_size` (short side) to full size, ratio ≈ `scale_factor`.
2. Start: the image at the coarsest level, moved by a smooth random displacement field (std `warp`), plus
   Gaussian noise of std `noise` (in the [-1, 1] image range). These are the variety knobs: 0 and 0 return the
   image itself.
3. At every level, coarse → fine: replace each p×p patch of the current guess by its nearest patch of the image at
   that level, then fold the patches back by averaging the overlaps. The first pass of a finer level compares the
   (blurry, upsampled) guess with the patches of the equally blurred image, i.e. the coarser level upsampled, and
   pastes the sharp patches found there; later passes compare with the sharp patches themselves.
   The search for a patch is local (within `search_radius` × the level's side of its own position), which keeps
   the eyes, nose and mouth where a face has them and makes the search cheap. With `completeness` > 0 the
   distances are normalised by how well each image patch is already covered (GPNN's score d / (α + min d)), which
   favours image patches no query uses yet.
4. Upsample to the next level; the finest level's result is the variant.

Every random draw comes from one torch generator seeded by `seed`; the same seed gives the same variants.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from faceaug.config import PatchConfig
from faceaug.device import torch_cpu_threads, torch_generator
from faceaug.io.images import grey_like
from faceaug.models.singan_pyramid import resize
from faceaug.models.tensors import image_to_tensor, to_uint8

TILE = 8  # query positions are searched in tiles of TILE × TILE (the keys of a tile: its window)


def patch_pyramid_sizes(height: int, width: int, cfg: PatchConfig) -> list[tuple[int, int]]:
    """Level sizes coarse → fine: the short side goes from `coarse_size` up to the image's, ratio ≈ scale_factor
    (recomputed so the coarsest level is exactly coarse_size); one level when the image is not larger."""
    short = min(height, width)
    if short <= cfg.coarse_size:
        return [(height, width)]
    steps = max(1, math.ceil(math.log(cfg.coarse_size / short, cfg.scale_factor) - 1e-9))
    r = (cfg.coarse_size / short) ** (1.0 / steps)
    return [(round(height * r ** (steps - i)), round(width * r ** (steps - i))) for i in range(steps + 1)]


def _window(lo: int, hi: int, radius: int, limit: int) -> tuple[int, int]:
    return max(0, lo - radius), min(limit, hi + radius)


def _nearest(queries: torch.Tensor, keys: torch.Tensor, completeness: float) -> torch.Tensor:
    """queries (n, q, d), keys (k, d) → index of the chosen key per query (n, q)."""
    dist = (queries.pow(2).sum(-1, keepdim=True) + keys.pow(2).sum(-1) - 2 * queries @ keys.T).clamp_min(0)
    if completeness > 0:
        dist = dist / (completeness + dist.amin(dim=1, keepdim=True))
    return dist.argmin(dim=-1)


def replace_patches(
    guess: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, patch: int, radius: int, completeness: float = 0.0
) -> torch.Tensor:
    """One nearest-neighbour pass: every p×p patch of `guess` (n, 3, h, w) is replaced by the patch of `values`
    (1, 3, h, w) at the position whose `keys` patch is nearest (within `radius` positions), overlaps averaged."""
    n, c, h, w = guess.shape
    patch = min(patch, h, w)
    ly, lx = h - patch + 1, w - patch + 1
    q = F.unfold(guess, patch).transpose(1, 2).reshape(n, ly, lx, -1)  # (n, ly, lx, d)
    k = F.unfold(keys, patch)[0].T.reshape(ly, lx, -1)  # (ly, lx, d)
    chosen = torch.empty((n, ly, lx), dtype=torch.long)
    for y0 in range(0, ly, TILE):
        for x0 in range(0, lx, TILE):
            y1, x1 = min(y0 + TILE, ly), min(x0 + TILE, lx)
            (ky0, ky1), (kx0, kx1) = _window(y0, y1, radius, ly), _window(x0, x1, radius, lx)
            tile_keys = k[ky0:ky1, kx0:kx1].reshape(-1, k.shape[-1])
            best = _nearest(q[:, y0:y1, x0:x1].reshape(n, -1, q.shape[-1]), tile_keys, completeness)
            by, bx = best // (kx1 - kx0) + ky0, best % (kx1 - kx0) + kx0
            chosen[:, y0:y1, x0:x1] = (by * lx + bx).reshape(n, y1 - y0, x1 - x0)
    v = F.unfold(values, patch)[0]  # (d, L)
    pasted = v[:, chosen.reshape(n, -1)].permute(1, 0, 2)  # (n, d, L)
    total = F.fold(pasted, (h, w), patch)
    counts = F.fold(torch.ones_like(pasted[:1]), (h, w), patch)
    return total / counts


def random_warp(images: torch.Tensor, gen: torch.Generator, strength: float, grid: int) -> torch.Tensor:
    """Each image (n, 3, h, w) moved by its own smooth random displacement field: a grid × grid field of offsets
    with std `strength` (normalised coordinates, ±1 = the image's half side), upsampled bicubically. 0 = as is."""
    if strength <= 0:
        return images
    n, _, h, w = images.shape
    coarse = torch.randn((n, 2, grid, grid), generator=gen) * strength
    field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
    identity = F.affine_grid(torch.eye(2, 3).expand(n, 2, 3), [n, 3, h, w], align_corners=False)
    return F.grid_sample(images, identity + field, mode="bilinear", padding_mode="reflection", align_corners=False)


@torch.no_grad()
def regenerate_patches(image: np.ndarray, n: int, *, cfg: PatchConfig, seed: int, threads: int = 1) -> np.ndarray:
    """n variants of the RGB uint8 image (H, W, 3) → (n, H, W, 3) uint8; reproducible for a seed (CPU). A grey
    image gives grey variants."""
    cpu = torch.device("cpu")
    with torch_cpu_threads(cpu, threads):
        source = image_to_tensor(image)
        sizes = patch_pyramid_sizes(*image.shape[:2], cfg)
        levels = [resize(source, s).clamp(-1, 1) for s in sizes]
        gen = torch_generator(seed)
        start = random_warp(levels[0].expand(n, -1, -1, -1), gen, cfg.warp, cfg.warp_grid)
        guess = start + cfg.noise * torch.randn(start.shape, generator=gen)
        for i, (size, values) in enumerate(zip(sizes, levels)):
            share = cfg.search_radius if i == 0 or cfg.fine_search_radius <= 0 else cfg.fine_search_radius
            radius = max(1, round(share * min(size)))
            keys = values if i == 0 else resize(levels[i - 1], size)
            if i > 0:
                guess = resize(guess, size)
            for step in range(cfg.coarse_iters if i == 0 else cfg.fine_iters):
                guess = replace_patches(
                    guess, keys if step == 0 else values, values, cfg.patch_size, radius, cfg.completeness
                )
        variants = to_uint8(guess.clamp(-1, 1))
    return grey_like(variants, image)
