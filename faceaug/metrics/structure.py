"""Does a generated face keep the training face's structure? Haar detection rate and SSIM (`structure_report`);
the SinGAN acceptance rule built on them and on the variety measures is faceaug.metrics.singan_check."""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

from faceaug.preprocess.align import detect_face_haar

SSIM_RANGE = (0.5, 0.95)  # still that face, not a copy


def ssim_rgb(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two RGB uint8 images of the same size (channels averaged; 7×7 windows, data range 255)."""
    if a.shape != b.shape:
        raise ValueError(f"SSIM needs images of the same shape, got {a.shape} and {b.shape}")
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def face_detected(image: np.ndarray) -> bool:
    """True if OpenCV's Haar frontal-face detector finds a face in the RGB uint8 image."""
    return detect_face_haar(image) is not None


def structure_report(
    samples: np.ndarray, reference: np.ndarray, ssim_range: tuple[float, float] = SSIM_RANGE
) -> dict[str, float]:
    """Summary over samples (n, H, W, 3) vs the training image: detection rate, SSIM stats, variety.

    `ssim_in_range` is the share of samples whose SSIM lies in `ssim_range`; `variety` is the mean over pixels of
    the per-pixel standard deviation across samples (grey levels); `ssim_between_samples` is the mean SSIM of
    consecutive samples (1.0 = all samples identical, so an SSIM below 0.95 to the training image can still be
    one copy repeated: read it with `variety`).
    """
    if len(samples) == 0:
        raise ValueError("structure_report needs at least one sample")
    ssims = np.array([ssim_rgb(s, reference) for s in samples])
    detected = np.array([face_detected(s) for s in samples])
    lo, hi = ssim_range
    return {
        "n": int(len(samples)),
        "face_detected": float(detected.mean()),
        "ssim_mean": float(ssims.mean()),
        "ssim_min": float(ssims.min()),
        "ssim_max": float(ssims.max()),
        "ssim_in_range": float(((ssims >= lo) & (ssims <= hi)).mean()),
        "variety": float(samples.astype(np.float32).std(axis=0).mean()) if len(samples) > 1 else 0.0,
        "ssim_between_samples": float(np.mean([ssim_rgb(a, b) for a, b in zip(samples[:-1], samples[1:])]))
        if len(samples) > 1
        else 1.0,
    }
