"""The measures of one edit that expand's quality gate, the report and the oracle harness share: how much of the
face the editor kept (`face_attention`, and the floor below which it repainted the face), how far it went towards
its target (`au_gain`), and how much it tinted (`colour_change`)."""

from __future__ import annotations

import numpy as np

from faceaug.metrics.diversity import template_face_mask

#: An edit whose attention keeps less than this share of the face (template face region) repainted it. Measured:
#: the demo's 6 healthy edits keep 0.73–0.84 (median 0.78), the 42 striped-box edits of a FER2013 few-shot run
#: 0.34–0.78 (median 0.39; docs/results.md).
REPAINT_FLOOR = 0.5


def face_attention(attention: np.ndarray) -> float:
    """Mean attention (1 = kept from the source) of an (S, S) mask over the template face region."""
    return float(np.asarray(attention)[template_face_mask(attention.shape[-1])].mean())


def colour_change(edited: np.ndarray, source: np.ndarray) -> np.ndarray:
    """The colour part of the change per pixel, (..., H, W) from RGB (..., H, W, 3): what is left of each pixel's
    change once its grey part (the channel mean) is taken out, in grey levels. 0 for any brightness change (and
    always for grey in, grey out), > 0 for a tint."""
    signed = edited.astype(np.float32) - source.astype(np.float32)
    return np.abs(signed - signed.mean(-1, keepdims=True)).mean(-1)


def au_gain(error_after: float, error_before: float) -> float:
    """How much of the way to its target an edit went: 1 − error after / error before (1 = reached, 0 = no
    closer than the unedited face, < 0 = further away); 1.0 when the source was already at the target."""
    if error_before <= 1e-6:
        return 1.0 if error_after <= 1e-6 else 0.0
    return 1.0 - error_after / error_before
