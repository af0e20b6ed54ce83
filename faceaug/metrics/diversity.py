"""How different are the M variants SinGAN (or any regenerator) made of one edited face? One home for the measure.

- `singan_diversity`: SinGAN's own measure (Shaham et al. 2019, §4): the standard deviation of each pixel's
  intensity over the variants, averaged over the face region, divided by the standard deviation of the reference
  image's intensity over the same region. 0 = copies; the paper reports ~0.5 for samples from its coarsest scale
  and less from finer ones.
- `pairwise_ssim`: the mean SSIM over pairs of variants (1 = identical).
- `template_face_mask`: the face region of a `faceaug preprocess` crop when no landmarks are at hand — an ellipse
  around the crop template's eyes and mouth (faceaug.preprocess.align.CROP_TEMPLATE) covering brows to chin.

    report = variant_diversity(variants_nhw3, edit_hw3)   # {"diversity", "pairwise_ssim", "ssim_to_edit", ...}
"""

from __future__ import annotations

from itertools import combinations

import cv2
import numpy as np

from faceaug.metrics.structure import face_detected, ssim_rgb
from faceaug.preprocess.align import CROP_TEMPLATE

MAX_PAIRS = 45  # pairwise SSIM over at most this many pairs (all pairs of 10 variants)


def template_face_mask(size: int) -> np.ndarray:
    """(size, size) bool: the face region of a template crop (brows to chin, cheek to cheek)."""
    t = CROP_TEMPLATE
    eye_y = (t.left_eye[1] + t.right_eye[1]) / 2
    centre = ((t.left_eye[0] + t.right_eye[0]) / 2, (eye_y + t.mouth[1]) / 2)
    half_width = 0.9 * (t.right_eye[0] - t.left_eye[0])  # eye distance 0.36 → ±0.32: the cheeks
    half_height = 0.95 * (t.mouth[1] - eye_y)  # eye–mouth 0.37 → brows to chin
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(
        mask,
        (round(centre[0] * size), round(centre[1] * size)),
        (max(1, round(half_width * size)), max(1, round(half_height * size))),
        0,
        0,
        360,
        1,
        -1,
    )
    return mask.astype(bool)


def _intensity(images: np.ndarray) -> np.ndarray:
    """Luma (ITU-R 601) of uint8 RGB images (..., H, W, 3) as float32; 2-D / single-channel images as they are."""
    images = np.asarray(images, dtype=np.float32)
    if images.shape[-1] == 3:
        return images @ np.array([0.299, 0.587, 0.114], np.float32)
    return images[..., 0] if images.shape[-1] == 1 else images


def singan_diversity(variants: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> float:
    """SinGAN's diversity of `variants` (n, H, W[, 3]) relative to `reference` (H, W[, 3]) over `mask` (H, W)
    (default: the template face region). 0.0 for fewer than two variants or a flat reference."""
    variants = np.asarray(variants)
    if len(variants) < 2:
        return 0.0
    if variants.shape[1:] != np.asarray(reference).shape:
        raise ValueError(f"variants {variants.shape[1:]} and reference {np.asarray(reference).shape} differ in shape")
    region = template_face_mask(variants.shape[1]) if mask is None else np.asarray(mask, bool)
    spread = _intensity(variants).std(axis=0)[region].mean()
    scale = _intensity(reference)[region].std()
    return float(spread / scale) if scale > 1e-6 else 0.0


def pairwise_ssim(variants: np.ndarray, max_pairs: int = MAX_PAIRS, seed: int = 0) -> float:
    """Mean SSIM over pairs of variants (all pairs, or `max_pairs` drawn at random); 1.0 for fewer than two."""
    pairs = list(combinations(range(len(variants)), 2))
    if not pairs:
        return 1.0
    if len(pairs) > max_pairs:
        pick = np.random.default_rng(seed).choice(len(pairs), max_pairs, replace=False)
        pairs = [pairs[i] for i in sorted(pick)]
    return float(np.mean([ssim_rgb(_rgb(variants[i]), _rgb(variants[j])) for i, j in pairs]))


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image


def variant_diversity(variants: np.ndarray, edit: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """The variety summary of one edit's variants: SinGAN diversity, mean pairwise SSIM, mean SSIM to the edit,
    mean absolute difference to the edit (grey levels) and the Haar face-detected rate."""
    if len(variants) == 0:
        raise ValueError("variant_diversity needs at least one variant")
    variants, edit = np.stack([_rgb(v) for v in variants]), _rgb(edit)
    return {
        "n": int(len(variants)),
        "diversity": singan_diversity(variants, edit, mask),
        "pairwise_ssim": pairwise_ssim(variants),
        "ssim_to_edit": float(np.mean([ssim_rgb(v, edit) for v in variants])),
        "abs_diff_to_edit": float(np.abs(variants.astype(np.float32) - edit.astype(np.float32)).mean()),
        "face_detected": float(np.mean([face_detected(v) for v in variants])),
    }
