"""Does a generated face keep the training face's structure? Haar detection rate, SSIM and sample variety.

The SinGAN acceptance rule: samples from start scale 2 must still be detected as a face by OpenCV's Haar
frontal-face detector in ≥ 95% of cases, with a mean SSIM to the training image between 0.5 (still that face) and
0.95 (not a copy); and the samples must not be copies of each other (mean pairwise SSIM ≤ 0.90).
`singan_structure_check` measures it; `benchmarks/bench_singan.py --quality` applies it.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

from faceaug.preprocess.align import detect_face_haar

MIN_FACE_RATE = 0.95
SSIM_RANGE = (0.5, 0.95)
MAX_PAIRWISE_SSIM = 0.90  # variants whose mean SSIM to each other is above this are near-copies


def ssim_rgb(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two RGB uint8 images of the same size (channels averaged; 7×7 windows, data range 255)."""
    if a.shape != b.shape:
        raise ValueError(f"SSIM needs images of the same shape, got {a.shape} and {b.shape}")
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def face_detected(image: np.ndarray) -> bool:
    """True if OpenCV's Haar frontal-face detector finds a face in the RGB uint8 image."""
    return detect_face_haar(image) is not None


def structure_report(samples: np.ndarray, reference: np.ndarray,
                     ssim_range: tuple[float, float] = SSIM_RANGE) -> dict[str, float]:
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
        if len(samples) > 1 else 1.0,
    }


def singan_structure_check(samples: np.ndarray, reference: np.ndarray, *, min_face_rate: float = MIN_FACE_RATE,
                           ssim_range: tuple[float, float] = SSIM_RANGE,
                           max_pairwise_ssim: float = MAX_PAIRWISE_SSIM) -> dict[str, float | bool]:
    """`structure_report` plus faceaug.metrics.diversity's measures (`diversity`: SinGAN's, `pairwise_ssim`) and
    two verdicts. `passes` is the acceptance rule: a face found in ≥ `min_face_rate` of the samples and the mean SSIM
    to the training image inside `ssim_range`. It cannot tell a blurred copy from a varied sample (an untrained model
    that returns the blurred input passes), so `varied` adds: the samples are not copies of each other either (mean
    pairwise SSIM ≤ `max_pairwise_ssim`)."""
    from faceaug.metrics.diversity import pairwise_ssim, singan_diversity  # (diversity imports this module)

    rep: dict[str, float | bool] = dict(structure_report(samples, reference, ssim_range))
    rep["diversity"] = singan_diversity(samples, reference)
    rep["pairwise_ssim"] = pairwise_ssim(samples)
    lo, hi = ssim_range
    rep["passes"] = bool(rep["face_detected"] >= min_face_rate and lo <= rep["ssim_mean"] <= hi)
    rep["varied"] = bool(rep["pairwise_ssim"] <= max_pairwise_ssim)
    return rep
