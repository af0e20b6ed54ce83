"""Synthetic stand-ins for FER2013-style inputs: small greyscale crops that are one face, with known landmarks.

FER2013 (and many CK+ / JAFFE copies) ship 48-px greyscale images cut tightly around the face, no CSVs. For the
landmark tests and the preprocess benchmark, `fer_like_crop` cuts a rendered `faceaug synth` face the same way:
a square around the 68 landmarks' bounding box, 1.25 times its larger side, shifted up by 8% of its height (the
forehead), resized to `side` px (`warp_to_crop`: area-averaged when shrinking).
"""

from __future__ import annotations

import cv2
import numpy as np

from faceaug.preprocess.align import warp_to_crop

MARGIN = 1.25  # crop side / larger side of the landmarks' bounding box
LIFT = 0.08  # the crop's centre sits this share of the box height above the box centre


def fer_like_crop(rgb: np.ndarray, landmarks: np.ndarray, side: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """(greyscale uint8 (side, side) crop, its (68, 2) landmarks in crop pixels) of a face with known landmarks."""
    lo, hi = landmarks.min(0), landmarks.max(0)
    centre = (lo + hi) / 2 - np.array([0.0, LIFT * (hi - lo)[1]])
    extent = MARGIN * float((hi - lo).max())
    scale = side / extent
    m = np.array([[scale, 0.0, -(centre[0] - extent / 2) * scale], [0.0, scale, -(centre[1] - extent / 2) * scale]])
    crop = warp_to_crop(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY), m, side)
    return crop, landmarks * scale + m[:, 2]
