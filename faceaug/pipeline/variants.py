"""Variants that are still faces: redraw the variants in which a face detector no longer finds the face.

Both regenerators trade variety for structure with one noise knob, and at the variety issue 21 asks for (mean
pairwise SSIM ≤ 0.90) a few variants of some faces lose the face (OpenCV's Haar detector finds it in 84–86% of the
variants of the synthetic world's face 0 at 64 px). Drawing is cheap next to SinGAN's training, so `expand` draws
the M variants of an edit, and when the detector misses the face in some of them (and finds it in the edit itself:
otherwise there is no face to keep), draws M × `expand.face_redraws` spare ones with another seed and replaces the
misses by the first spares it finds a face in; misses stay only when the spares run out. Most edits need no spare,
so the cost stays ~1×. The same seed gives the same variants.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from faceaug.metrics.structure import face_detected

SPARE_SEED_OFFSET = 1_000_003  # the spares' seed = the job's seed + this


def keep_faces(draw: Callable[[int, int], np.ndarray], edit: np.ndarray, n: int, redraws: int,
               detect: Callable[[np.ndarray], bool] = face_detected) -> np.ndarray:
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
