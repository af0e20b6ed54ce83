"""Variants that are still faces: redraw the variants in which a face detector no longer finds the face.

Both regenerators trade variety for structure with one noise knob, and at the variety asked for (mean
pairwise SSIM ≤ 0.90) a few variants of some faces lose the face (OpenCV's Haar detector finds it in 84–86% of the
variants of the synthetic world's face 0 at 64 px). Drawing is cheap next to SinGAN's training, so `expand` draws
the M variants of an edit, and when the detector misses the face in some of them (and finds it in the edit itself:
otherwise there is no face to keep), draws M × `expand.face_redraws` spare ones with another seed and replaces the
misses by the first spares it finds a face in; misses stay only when the spares run out. Most edits need no spare,
so the cost stays ~1×. The same seed gives the same variants.

SinGAN's start-scale amplitude is chosen per edit here too (`inject_amplitude`): one amplitude leaves blurry real
crops near-copies while it varies sharp faces enough, so a few probe draws measure it first.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from faceaug.inference.singan import SinganModel, sample_singan
from faceaug.metrics.diversity import pairwise_ssim
from faceaug.metrics.structure import face_detected

SPARE_SEED_OFFSET = 1_000_003  # the spares' seed = the job's seed + this


def keep_faces(
    draw: Callable[[int, int], np.ndarray],
    edit: np.ndarray,
    n: int,
    redraws: int,
    detect: Callable[[np.ndarray], bool] = face_detected,
) -> np.ndarray:
    """n variants (n, H, W, 3) of `edit`: `draw(k, seed_offset)` → k variants; see the module doc."""
    first = draw(n, 0)
    if redraws <= 0 or n == 0:
        return first
    found = [bool(detect(variant)) for variant in first]
    if all(found) or not detect(edit):
        return first
    spares = [variant for variant in draw(n * redraws, SPARE_SEED_OFFSET) if detect(variant)]
    kept = []
    for variant, ok in zip(first, found):
        kept.append(variant if ok or not spares else spares.pop(0))
    return np.stack(kept)


#: seed offset of the probe draws that choose the amplitude (never the variants that are written)
PROBE_SEED_OFFSET = 2_000_003
PROBES = 8  # samples per probe


def start_noise_for_variety(
    model: SinganModel,
    *,
    start_scale: int,
    base_amp: float,
    target_pairwise_ssim: float,
    max_amp: float,
    seed: int,
    device,
) -> float:
    """Inject mode: the start-scale noise amplitude, from `base_amp` up to `max_amp`, at which the model's samples
    are about as varied as `target_pairwise_ssim` asks (mean pairwise SSIM of PROBES probe draws).

    One amplitude does not fit every face: 0.06 varies a sharp face (pairwise SSIM 0.87 on the astronaut) but
    leaves a blurry 48-px real crop near-copies (0.96), which needs ~0.12 (docs/results.md). The pairwise SSIM
    falls steadily with the amplitude, so: a probe at `base_amp` (varied enough: done); a probe at
    base × (1 − target) / (1 − measured) (1 − SSIM about proportional to the amplitude); then, unless that one is
    within 0.01 of the target, the amplitude where the line through the two measurements meets the target. Never
    below `base_amp` nor above `max_amp`; `base_amp` when it or the target is 0."""
    if base_amp <= 0 or target_pairwise_ssim <= 0:
        return base_amp

    def measure(amp: float) -> float:
        return pairwise_ssim(
            sample_singan(
                model,
                PROBES,
                start_scale=start_scale,
                mode="inject",
                seed=seed + PROBE_SEED_OFFSET,
                device=device,
                start_noise_amp=amp,
            )
        )

    a0, p0 = base_amp, measure(base_amp)
    if p0 <= target_pairwise_ssim:
        return base_amp
    a1 = min(max_amp, base_amp * (1.0 - target_pairwise_ssim) / max(1.0 - p0, 1e-3))
    p1 = measure(a1)
    if abs(p1 - target_pairwise_ssim) <= 0.01 or p0 - p1 < 1e-4:
        return float(a1)
    return float(np.clip(a1 + (target_pairwise_ssim - p1) * (a1 - a0) / (p1 - p0), base_amp, max_amp))


def inject_amplitude(model: SinganModel, cfg, *, start_scale: int, mode: str, seed: int, device) -> float:
    """The start-scale amplitude to sample with under SinganConfig `cfg` (inject_noise_amp, raised towards
    target_pairwise_ssim in inject mode); 0 = the trained one."""
    if mode != "inject":
        return cfg.inject_noise_amp
    return start_noise_for_variety(
        model,
        start_scale=start_scale,
        base_amp=cfg.inject_noise_amp,
        target_pairwise_ssim=cfg.target_pairwise_ssim,
        max_amp=cfg.max_inject_noise_amp,
        seed=seed,
        device=device,
    )
