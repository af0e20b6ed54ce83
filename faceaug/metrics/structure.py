"""Does a generated face keep the training face's structure? Haar detection rate, SSIM and sample variety."""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

from faceaug.preprocess.align import detect_face_haar


def ssim_rgb(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two RGB uint8 images of the same size (channels averaged; 7×7 windows, data range 255)."""
    if a.shape != b.shape:
        raise ValueError(f"SSIM needs images of the same shape, got {a.shape} and {b.shape}")
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def face_detected(image: np.ndarray) -> bool:
    """True if OpenCV's Haar frontal-face detector finds a face in the RGB uint8 image."""
    return detect_face_haar(image) is not None


def structure_report(samples: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Summary over samples (n, H, W, 3) vs the training image: detection rate, SSIM stats, variety.

    `variety` is the mean over pixels of the per-pixel standard deviation across samples (grey levels).
    """
    ssims = np.array([ssim_rgb(s, reference) for s in samples])
    detected = np.array([face_detected(s) for s in samples])
    return {
        "n": int(len(samples)),
        "face_detected": float(detected.mean()),
        "ssim_mean": float(ssims.mean()),
        "ssim_min": float(ssims.min()),
        "ssim_max": float(ssims.max()),
        "ssim_in_0.5_0.95": float(((ssims >= 0.5) & (ssims <= 0.95)).mean()),
        "variety": float(samples.astype(np.float32).std(axis=0).mean()) if len(samples) > 1 else 0.0,
    }
