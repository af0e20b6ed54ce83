"""The SinGAN acceptance rule: samples from start scale 2 must still be detected as a face by OpenCV's Haar
frontal-face detector in ≥ 95% of cases, with a mean SSIM to the training image between 0.5 (still that face) and
0.95 (not a copy); and the samples must not be copies of each other (mean pairwise SSIM ≤ 0.90).
`singan_structure_check` measures it (faceaug.metrics.structure's report plus faceaug.metrics.diversity's
measures); `benchmarks/bench_singan.py --quality` applies it.
"""

from __future__ import annotations

import numpy as np

from faceaug.metrics.diversity import pairwise_ssim, singan_diversity
from faceaug.metrics.structure import SSIM_RANGE, structure_report

MIN_FACE_RATE = 0.95
MAX_PAIRWISE_SSIM = 0.90  # variants whose mean SSIM to each other is above this are near-copies


def singan_structure_check(
    samples: np.ndarray,
    reference: np.ndarray,
    *,
    min_face_rate: float = MIN_FACE_RATE,
    ssim_range: tuple[float, float] = SSIM_RANGE,
    max_pairwise_ssim: float = MAX_PAIRWISE_SSIM,
) -> dict[str, float | bool]:
    """`structure_report` plus faceaug.metrics.diversity's measures (`diversity`: SinGAN's, `pairwise_ssim`) and
    two verdicts. `passes` is the acceptance rule: a face found in ≥ `min_face_rate` of the samples and the mean SSIM
    to the training image inside `ssim_range`. It cannot tell a blurred copy from a varied sample (an untrained model
    that returns the blurred input passes), so `varied` adds: the samples are not copies of each other either (mean
    pairwise SSIM ≤ `max_pairwise_ssim`)."""
    rep: dict[str, float | bool] = dict(structure_report(samples, reference, ssim_range))
    rep["diversity"] = singan_diversity(samples, reference)
    rep["pairwise_ssim"] = pairwise_ssim(samples)
    lo, hi = ssim_range
    rep["passes"] = bool(rep["face_detected"] >= min_face_rate and lo <= rep["ssim_mean"] <= hi)
    rep["varied"] = bool(rep["pairwise_ssim"] <= max_pairwise_ssim)
    return rep
