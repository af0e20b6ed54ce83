"""Classic FER augmentation (albumentations): what faceaug's images are measured against, and added to.

The defaults are the usual ones for face crops: mirror, a small affine jitter (the crops are aligned, so a few
degrees and percent), brightness/contrast, a little blur or noise, and a coarse dropout patch. Every parameter
can be changed through `AugmentSettings`; draws are seeded, so a seeded run augments the same way every time.
"""

from __future__ import annotations

from dataclasses import dataclass

import albumentations as A
import numpy as np


@dataclass(frozen=True)
class AugmentSettings:
    flip: float = 0.5  # probability of a horizontal mirror
    rotate_deg: float = 10.0
    translate: float = 0.06  # fraction of the side
    scale: tuple[float, float] = (0.9, 1.1)
    affine: float = 0.7  # probability of the affine jitter
    brightness: float = 0.25
    contrast: float = 0.25
    brightness_contrast: float = 0.6
    blur_or_noise: float = 0.3
    dropout: float = 0.3  # probability of one or two coarse holes of 10-25 % of the side


def classic_pipeline(settings: AugmentSettings = AugmentSettings(), seed: int = 0) -> A.Compose:
    """The albumentations pipeline for RGB uint8 (H, W, 3) face crops."""
    s = settings
    return A.Compose(
        [
            A.HorizontalFlip(p=s.flip),
            A.Affine(
                rotate=(-s.rotate_deg, s.rotate_deg),
                translate_percent=(-s.translate, s.translate),
                scale=s.scale,
                border_mode=0,
                p=s.affine,
            ),
            A.RandomBrightnessContrast(
                brightness_limit=s.brightness, contrast_limit=s.contrast, p=s.brightness_contrast
            ),
            A.OneOf([A.GaussianBlur(blur_limit=(3, 3)), A.GaussNoise(std_range=(0.02, 0.06))], p=s.blur_or_noise),
            A.CoarseDropout(
                num_holes_range=(1, 2), hole_height_range=(0.1, 0.25), hole_width_range=(0.1, 0.25), p=s.dropout
            ),
        ],
        seed=seed,
    )


def augment(pipeline: A.Compose, image: np.ndarray) -> np.ndarray:
    return pipeline(image=image)["image"]
