"""Read OpenFace CSVs (FeatureExtraction legacy / 2.x, FaceLandmarkImg) by column name.

OpenFace separates columns with ", ", so names are stripped of spaces before use. Intensities `AUxx_r` (0–5) are
mapped to faceaug's 0–1 scale with `faceaug.aus.openface_to_unit`; presence flags `AUxx_c` are kept. The 68 2D
landmarks `x_0..x_67, y_0..y_67` are returned when every one of those columns is present.

Problems a user can fix in their data raise `OpenFaceError(reason, message)`; `reason` is a stable code that
`faceaug preprocess` writes into rejects.parquet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceaug.aus import AU_INTENSITY_COLUMNS, AU_PRESENCE_COLUMNS, N_AUS, OPENFACE_MAX_INTENSITY, openface_to_unit

N_LANDMARKS = 68
LANDMARK_X_COLUMNS = tuple(f"x_{i}" for i in range(N_LANDMARKS))
LANDMARK_Y_COLUMNS = tuple(f"y_{i}" for i in range(N_LANDMARKS))

#: Reason codes raised by this module (stable: they end up in rejects.parquet).
OPENFACE_REASONS: dict[str, str] = {
    "csv_unreadable": "the CSV file could not be read or decoded as text",
    "csv_empty": "the CSV file is empty",
    "csv_malformed": "a CSV row does not match the header or holds a non-number",
    "csv_no_au_columns": "the CSV has no AU intensity columns (run OpenFace with -aus)",
    "csv_no_rows": "the CSV has a header but no data rows (OpenFace found no face)",
    "invalid_au_values": "AU intensities are NaN, infinite or negative",
    "no_success": "OpenFace marked every row as failed (success = 0)",
    "low_confidence": "the best face's confidence is below --min-confidence",
    "face_id_missing": "the --face-id asked for is not in the CSV",
}


class OpenFaceError(ValueError):
    """An OpenFace CSV that cannot give a usable face. `reason` is a stable code (see OPENFACE_REASONS)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class OpenFaceFace:
    """One row of an OpenFace CSV (one face in one frame)."""

    frame: int | None
    face_id: int | None
    confidence: float | None  # None: the CSV's confidence is empty, NaN or infinite (not known, never shown as 0)
    success: bool
    aus: np.ndarray  # (17,) float32 on 0–1, faceaug.aus.AU_NAMES order
    presence: np.ndarray  # (17,) bool
    landmarks: np.ndarray | None  # (68, 2) float32 in source pixels, or None when the CSV has no 2D landmarks


def _to_float(text: str) -> float:
    text = text.strip()
    if not text:
        return math.nan
    return float(text)  # accepts "nan", "inf", "-1e3"


def _opt_int(values: list[str], index: int | None) -> int | None:
    if index is None:
        return None
    value = _to_float(values[index])
    return int(value) if math.isfinite(value) else None


def read_openface_csv(path: Path | str) -> list[OpenFaceFace]:
    """Parse an OpenFace CSV into one `OpenFaceFace` per row (raises OpenFaceError for unusable files).

    Rows OpenFace marked as failed (success = 0) are kept with `success=False`; their AUs are not validated (OpenFace
    writes zeros or garbage there) but non-finite values are zeroed. Rows marked successful with NaN, infinite or
    negative intensities make the whole file invalid (`invalid_au_values`): such values mean the file is damaged.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OpenFaceError("csv_unreadable", f"{path.name} could not be read: {exc.strerror or exc}.") from None
    return parse_openface_csv(data, path.name)


def parse_openface_csv(data: bytes, name: str = "the CSV") -> list[OpenFaceFace]:
    """`read_openface_csv` on the bytes of a file already read (`name` is used in messages)."""
    path = Path(name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise OpenFaceError("csv_unreadable", f"{path.name} is not a UTF-8 text file.") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise OpenFaceError("csv_empty", f"{path.name} is empty.")
    header = [name.strip() for name in lines[0].split(",")]
    index = {name: i for i, name in enumerate(header)}
    missing = [c for c in AU_INTENSITY_COLUMNS if c not in index]
    if len(missing) == len(AU_INTENSITY_COLUMNS):
        raise OpenFaceError(
            "csv_no_au_columns", f"{path.name} has no AU intensity columns (AU01_r ...); run OpenFace with -aus."
        )
    if missing:
        raise OpenFaceError("csv_no_au_columns", f"{path.name} lacks AU intensity columns {', '.join(missing)}.")
    if len(lines) == 1:
        raise OpenFaceError("csv_no_rows", f"{path.name} has a header but no rows: OpenFace found no face.")

    au_idx = [index[c] for c in AU_INTENSITY_COLUMNS]
    pres_idx = [index.get(c) for c in AU_PRESENCE_COLUMNS]
    has_landmarks = all(c in index for c in LANDMARK_X_COLUMNS + LANDMARK_Y_COLUMNS)
    lx_idx = [index[c] for c in LANDMARK_X_COLUMNS] if has_landmarks else []
    ly_idx = [index[c] for c in LANDMARK_Y_COLUMNS] if has_landmarks else []
    face_col = index.get("face_id", index.get("face"))
    frame_col, conf_col, succ_col = index.get("frame"), index.get("confidence"), index.get("success")

    faces: list[OpenFaceFace] = []
    for row_no, line in enumerate(lines[1:], start=2):
        values = line.split(",")
        if len(values) != len(header):
            raise OpenFaceError(
                "csv_malformed", f"{path.name} line {row_no} has {len(values)} fields, the header {len(header)}."
            )
        try:
            raw = np.array([_to_float(values[i]) for i in au_idx], dtype=np.float64)
            success = True if succ_col is None else _to_float(values[succ_col]) >= 0.5
            confidence = 1.0 if conf_col is None else _to_float(values[conf_col])
            presence_raw = [None if i is None else _to_float(values[i]) for i in pres_idx]
            frame, face_id = _opt_int(values, frame_col), _opt_int(values, face_col)
            landmarks = None
            if has_landmarks:
                pts = np.array([[_to_float(values[i]), _to_float(values[j])] for i, j in zip(lx_idx, ly_idx)])
                landmarks = pts.astype(np.float32) if np.isfinite(pts).all() else None
        except ValueError:
            raise OpenFaceError(
                "csv_malformed", f"{path.name} line {row_no} holds a value that is not a number."
            ) from None
        confidence = confidence if math.isfinite(confidence) else None
        if success:
            bad = ~np.isfinite(raw) | (raw < 0)
            if bad.any():
                names = [AU_INTENSITY_COLUMNS[i] for i in np.flatnonzero(bad)]
                raise OpenFaceError(
                    "invalid_au_values",
                    f"{path.name} line {row_no} has NaN, infinite or negative AU intensities ({', '.join(names)}).",
                )
        raw = np.nan_to_num(raw, nan=0.0, posinf=OPENFACE_MAX_INTENSITY, neginf=0.0)
        presence = np.array(
            [raw[k] > 0 if p is None or not math.isfinite(p) else p >= 0.5 for k, p in enumerate(presence_raw)],
            dtype=bool,
        )
        faces.append(
            OpenFaceFace(
                frame=frame,
                face_id=face_id,
                confidence=None if confidence is None else float(confidence),
                success=bool(success),
                aus=openface_to_unit(raw),
                presence=presence,
                landmarks=landmarks,
            )
        )
    assert all(f.aus.shape == (N_AUS,) for f in faces)
    return faces


def select_face(faces: list[OpenFaceFace], face_id: int | None = None, min_confidence: float = 0.8) -> OpenFaceFace:
    """The successful row with the highest confidence (of `face_id` only, when given).

    Raises OpenFaceError: `face_id_missing` (no row of that face), `no_success` (no successful row),
    `low_confidence` (the best successful row is below `min_confidence`).
    """
    candidates = faces
    if face_id is not None:
        # Legacy FeatureExtraction CSVs have no face_id column: they track one face, which is face 0.
        candidates = [f for f in faces if (0 if f.face_id is None else f.face_id) == face_id]
        if not candidates:
            present = sorted({0 if f.face_id is None else f.face_id for f in faces})
            raise OpenFaceError(
                "face_id_missing", f"face_id {face_id} is not in the CSV (it has {', '.join(map(str, present))})."
            )
    successful = [f for f in candidates if f.success]
    if not successful:
        raise OpenFaceError("no_success", "OpenFace marked every row as failed (success = 0): no usable face.")
    best = max(successful, key=lambda f: -math.inf if f.confidence is None else f.confidence)
    # An unknown confidence passes only where any confidence would (--min-confidence 0 or less).
    if (0.0 if best.confidence is None else best.confidence) < min_confidence:
        shown = (
            "confidence n/a (the CSV's value is not a number), so it does not pass"
            if best.confidence is None
            else f"confidence {best.confidence:.2f}, below"
        )
        raise OpenFaceError("low_confidence", f"the best face has {shown} --min-confidence {min_confidence:g}.")
    return best
