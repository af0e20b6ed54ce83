"""Procedural textures for the synthetic world: smooth value noise, skin grain, hair streaks and backgrounds.

Everything is seeded from the identity's `texture_seed` (never from the expression), so textures are identical
across all images of a person and an AU change never alters pixels outside its own region. For the same reason they
are cached per (identity, size): a dataset renders each person many times. Cached arrays are read-only.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from faceaug.synth.identity import Identity


def _cached(fn):
    """Memoise a per-identity texture (a few recent identities per process) and hand out read-only arrays."""

    @functools.lru_cache(maxsize=8)
    def cached(identity: Identity, size: int) -> np.ndarray:
        out = fn(identity, size)
        out.setflags(write=False)
        return out

    return functools.wraps(fn)(cached)


def value_noise(rng: np.random.Generator, size: int, cells: int | tuple[int, int]) -> np.ndarray:
    """Smooth noise in about [-1, 1]: a `cells` random grid upsampled bicubically to `size`×`size`, float32."""
    ch, cw = (cells, cells) if isinstance(cells, int) else cells
    grid = rng.uniform(-1.0, 1.0, (max(2, ch), max(2, cw))).astype(np.float32)
    return cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)


@_cached
def skin_texture(identity: Identity, size: int) -> np.ndarray:
    """Multiplicative skin/face-layer texture (size, size) around 1: blotches + pores."""
    rng = np.random.default_rng([identity.texture_seed, 1])
    blotch = 0.5 * value_noise(rng, size, 6) + 0.3 * value_noise(rng, size, 14)
    pores = rng.normal(0.0, 1.0, (size, size)).astype(np.float32)
    pores = cv2.GaussianBlur(pores, (0, 0), max(0.6, size / 300))
    return 1.0 + 0.05 * blotch + 0.035 * pores / max(float(pores.std()), 1e-6)


@_cached
def hair_texture(identity: Identity, size: int) -> np.ndarray:
    """Multiplicative hair texture (size, size): fine vertical-ish streaks."""
    rng = np.random.default_rng([identity.texture_seed, 2])
    streaks = value_noise(rng, size, (6, max(8, size // 3)))
    angle = rng.uniform(-20, 20)
    rot = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
    streaks = cv2.warpAffine(streaks, rot, (size, size), borderMode=cv2.BORDER_REFLECT)
    return 1.0 + 0.22 * streaks + 0.08 * value_noise(rng, size, 5)


@_cached
def background(identity: Identity, size: int) -> np.ndarray:
    """Background image (size, size, 3) float32 in 0–1, in output pixels."""
    rng = np.random.default_rng([identity.texture_seed, 3])
    a = np.asarray(identity.bg_colour_a, dtype=np.float32)
    b = np.asarray(identity.bg_colour_b, dtype=np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if identity.bg_texture == 0:
        mix = 0.5 + 0.5 * value_noise(rng, size, max(2, int(4 * identity.bg_scale)))
    elif identity.bg_texture == 1:
        theta = rng.uniform(0, np.pi)
        freq = 3 + 6 * identity.bg_scale
        mix = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)))
        mix = cv2.GaussianBlur(mix, (0, 0), size / 200 + 0.5)
    else:
        mix = np.zeros((size, size), np.float32)
        for _ in range(int(4 + 4 * identity.bg_scale)):
            c = (int(rng.uniform(0, size)), int(rng.uniform(0, size)))
            cv2.circle(mix, c, int(rng.uniform(0.05, 0.2) * size), float(rng.uniform(0.4, 1.0)), -1, cv2.LINE_AA)
        mix = cv2.GaussianBlur(mix, (0, 0), size / 40)
    mix = np.clip(mix, 0, 1)[..., None]
    img = a * (1 - mix) + b * mix
    grain = value_noise(rng, size, max(8, size // 4))[..., None]
    shade = 1.0 - 0.25 * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2)[..., None]
    return np.clip(img * shade * (1 + 0.06 * grain), 0, 1).astype(np.float32)


@_cached
def lighting(identity: Identity, size: int) -> np.ndarray:
    """Multiplicative lighting gradient (size, size) across the canonical canvas."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    return 1.0 + identity.light_strength * 2 * (
        (0.5 - xx) * np.cos(identity.light_angle) + (0.5 - yy) * np.sin(identity.light_angle)
    )
