"""Write OpenFace 2.x FeatureExtraction CSVs (for the synthetic world and for tests).

OpenFace 2.x writes its column groups in a fixed order; flags decide which groups exist::

    frame, face_id, timestamp, confidence, success,
    gaze_0_x … gaze_angle_y (-gaze), eye_lmk_* (-gaze), pose_Tx … pose_Rz (-pose),
    x_0 … x_67, y_0 … y_67 (-2Dfp), X_0 … Z_67 (-3Dfp), p_scale … p_33 (-pdmparams),
    AU01_r … AU45_r, AU01_c … AU45_c (-aus; 17 intensities, 18 presences incl. AU28_c)

This writer produces the groups it can fill exactly — the layout of `FeatureExtraction -2Dfp -aus`: the five
leading columns, the 68 2D landmarks and the AUs — with OpenFace's names, order and ", " separator. Intensities
are written on OpenFace's 0–5 scale with 4 decimals (OpenFace itself writes 2), so AUs round-trip to ≤ 1e-4 on
faceaug's 0–1 scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceaug.aus import AU_INTENSITY_COLUMNS, AU_NAMES, N_AUS, unit_to_openface
from faceaug.io.atomic import write_bytes_atomic

N_LANDMARKS = 68
LEADING_COLUMNS = ("frame", "face_id", "timestamp", "confidence", "success")
LANDMARK_COLUMNS = tuple(f"x_{i}" for i in range(N_LANDMARKS)) + tuple(f"y_{i}" for i in range(N_LANDMARKS))
#: OpenFace's 18 presence columns: AU28 has a presence classifier but no intensity regressor.
PRESENCE_COLUMNS_2X = tuple(f"{n}_c" for n in (*AU_NAMES[:-1], "AU28", AU_NAMES[-1]))
#: Presence is written as 1 when the intensity reaches this (0–1 scale; 1.0 on OpenFace's 0–5 scale).
PRESENCE_THRESHOLD = 0.2


@dataclass
class OpenFaceRow:
    """One face in one frame: AUs (17,) on 0–1 and 68 landmarks (68, 2) in image pixels."""

    aus: np.ndarray
    landmarks: np.ndarray
    confidence: float = 0.98
    success: bool = True
    frame: int = 1
    face_id: int = 0
    timestamp: float = 0.0


def openface_2x_columns() -> list[str]:
    """The header of the CSVs this module writes (a valid OpenFace 2.x `-2Dfp -aus` header)."""
    return [*LEADING_COLUMNS, *LANDMARK_COLUMNS, *AU_INTENSITY_COLUMNS, *PRESENCE_COLUMNS_2X]


def format_openface_row(row: OpenFaceRow) -> str:
    aus = np.asarray(row.aus, dtype=np.float32)
    lm = np.asarray(row.landmarks, dtype=np.float64)
    if aus.shape != (N_AUS,) or lm.shape != (N_LANDMARKS, 2):
        raise ValueError(f"expected aus ({N_AUS},) and landmarks (68, 2), got {aus.shape} and {lm.shape}")
    intensity = unit_to_openface(aus)
    presence = [int(a >= PRESENCE_THRESHOLD) for a in aus]
    presence.insert(AU_NAMES.index("AU45"), 0)  # AU28_c
    fields = [
        str(int(row.frame)),
        str(int(row.face_id)),
        f"{row.timestamp:.3f}",
        f"{row.confidence:.2f}",
        "1" if row.success else "0",
    ]
    fields += [f"{v:.3f}" for v in lm[:, 0]] + [f"{v:.3f}" for v in lm[:, 1]]
    fields += [f"{v:.4f}" for v in intensity] + [str(p) for p in presence]
    return ", ".join(fields)


def openface_csv_text(rows: list[OpenFaceRow]) -> str:
    return "\n".join([", ".join(openface_2x_columns()), *(format_openface_row(r) for r in rows)]) + "\n"


def write_openface_csv(path: Path, rows: list[OpenFaceRow], *, durable: bool = True) -> Path:
    """Write rows as an OpenFace 2.x FeatureExtraction CSV, atomically (temp file + rename).

    `durable=False` skips the per-file fsync, like `faceaug.io.images.write_png_atomic`: for writers of many files
    that flush them together (`os.sync()`) before writing the table that lists them.
    """
    return write_bytes_atomic(openface_csv_text(rows).encode(), path, durable=durable)
