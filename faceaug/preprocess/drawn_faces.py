"""Simple drawn faces with exact 68-point landmarks, and minimal OpenFace 2.x CSVs for them.

For tests and the preprocess benchmark: they exercise the reader and the aligner with known geometry. Not a
face model (that is `faceaug.synth`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from faceaug.aus import AU_INTENSITY_COLUMNS, AU_PRESENCE_COLUMNS, unit_to_openface


def canonical_landmarks() -> np.ndarray:
    """A plausible iBUG 68-point shape: eye centres at (∓0.5, 0), mouth centre at (0, 1), (68, 2) float64."""
    pts = np.zeros((68, 2))
    jaw = np.linspace(0.05, np.pi - 0.05, 17)  # jaw: lower half of an ellipse, image-left to right
    pts[0:17] = np.stack([-np.cos(jaw), 0.1 + 1.35 * np.sin(jaw)], 1)
    pts[17:22] = np.stack([np.linspace(-0.85, -0.2, 5), -0.35 - 0.08 * np.sin(np.linspace(0, np.pi, 5))], 1)
    pts[22:27] = np.stack([np.linspace(0.2, 0.85, 5), -0.35 - 0.08 * np.sin(np.linspace(0, np.pi, 5))], 1)
    pts[27:31] = np.stack([np.zeros(4), np.linspace(-0.1, 0.5, 4)], 1)
    pts[31:36] = np.stack([np.linspace(-0.2, 0.2, 5), np.full(5, 0.6)], 1)
    ring = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    for start, cx in ((36, -0.5), (42, 0.5)):
        pts[start : start + 6] = np.stack([cx + 0.18 * np.cos(ring + np.pi), 0.07 * np.sin(ring + np.pi)], 1)
    outer = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    pts[48:60] = np.stack([0.4 * np.cos(outer + np.pi), 1.0 + 0.15 * np.sin(outer + np.pi)], 1)
    inner = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    pts[60:68] = np.stack([0.3 * np.cos(inner + np.pi), 1.0 + 0.05 * np.sin(inner + np.pi)], 1)
    # Centre the eyes exactly on (∓0.5, 0) and the mouth on (0, 1).
    pts[36:42] += np.array([-0.5, 0.0]) - pts[36:42].mean(0)
    pts[42:48] += np.array([0.5, 0.0]) - pts[42:48].mean(0)
    pts[48:68] += np.array([0.0, 1.0]) - pts[48:68].mean(0)
    return pts


def place_landmarks(centre: tuple[float, float], eye_distance: float, angle_deg: float = 0.0) -> np.ndarray:
    """Canonical landmarks scaled to `eye_distance` px, rotated by `angle_deg`, eyes' midpoint at `centre`."""
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (canonical_landmarks() * eye_distance) @ rot.T + np.asarray(centre, dtype=np.float64)


def draw_face(height: int, width: int, landmarks: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Draw a cartoon face along the landmarks on a plain background; RGB uint8 (height, width, 3)."""
    rng = rng or np.random.default_rng(0)
    bg = rng.integers(40, 200, 3)
    img = np.empty((height, width, 3), np.uint8)
    img[:] = bg
    pts = np.round(landmarks).astype(np.int32)
    skin = tuple(int(v) for v in rng.integers(150, 240, 3))
    eye_c = landmarks[36:48].mean(0)
    eye_d = float(np.linalg.norm(landmarks[36:42].mean(0) - landmarks[42:48].mean(0)))
    axes = (max(1, int(eye_d * 1.05)), max(1, int(eye_d * 1.5)))
    angle = float(np.degrees(np.arctan2(*(landmarks[42:48].mean(0) - landmarks[36:42].mean(0))[::-1])))
    centre = tuple(int(v) for v in np.round(eye_c + (landmarks[48:68].mean(0) - eye_c) * 0.45))
    cv2.ellipse(img, centre, axes, angle, 0, 360, skin, -1, cv2.LINE_AA)
    for sl in (slice(36, 42), slice(42, 48)):
        cv2.fillPoly(img, [pts[sl]], (30, 30, 30), cv2.LINE_AA)
    for sl in (slice(17, 22), slice(22, 27)):
        cv2.polylines(img, [pts[sl]], False, (60, 40, 20), max(1, int(eye_d / 12)), cv2.LINE_AA)
    cv2.polylines(img, [pts[27:31]], False, (120, 80, 60), 1, cv2.LINE_AA)
    cv2.fillPoly(img, [pts[48:60]], (150, 40, 50), cv2.LINE_AA)
    return img


def write_openface_csv(
    path: Path, landmarks: np.ndarray | None, aus: np.ndarray, rows: list[dict] | None = None
) -> Path:
    """Write a minimal OpenFace 2.x FeatureExtraction CSV (", " separators) for one face.

    `aus` are on the 0–1 scale. `rows` overrides per-row fields (face_id, confidence, success, AU values ...) to
    write several rows; by default one successful row with confidence 0.98.
    """
    lm_cols = [f"x_{i}" for i in range(68)] + [f"y_{i}" for i in range(68)]
    header = [
        "frame",
        "face_id",
        "timestamp",
        "confidence",
        "success",
        *(lm_cols if landmarks is not None else []),
        *AU_INTENSITY_COLUMNS,
        *AU_PRESENCE_COLUMNS,
    ]
    intens = unit_to_openface(aus)
    base = {"frame": 1, "face_id": 0, "timestamp": 0.0, "confidence": 0.98, "success": 1}
    if landmarks is not None:
        base.update({f"x_{i}": landmarks[i, 0] for i in range(68)})
        base.update({f"y_{i}": landmarks[i, 1] for i in range(68)})
    base.update({c: float(v) for c, v in zip(AU_INTENSITY_COLUMNS, intens)})
    base.update({c: int(v >= 1.0) for c, v in zip(AU_PRESENCE_COLUMNS, intens)})
    lines = [", ".join(header)]
    for override in rows or [{}]:
        row = {**base, **override}
        lines.append(", ".join(f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in header))
    path = Path(path)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_drawn_face(
    folder: Path,
    name: str,
    rng: np.random.Generator,
    *,
    size: int = 128,
    ext: str = ".png",
    csv: bool = True,
    landmarks_in_csv: bool = True,
    aus: np.ndarray | None = None,
    csv_rows: list[dict] | None = None,
) -> tuple[Path, np.ndarray, np.ndarray]:
    """Draw a random face into `folder/name+ext` with its OpenFace CSV beside it; returns (path, landmarks, aus)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    centre = (size * rng.uniform(0.42, 0.58), size * rng.uniform(0.36, 0.46))
    landmarks = place_landmarks(centre, size * rng.uniform(0.22, 0.3), rng.uniform(-15, 15))
    aus = rng.uniform(0, 1, 17).astype(np.float32) if aus is None else aus
    image = draw_face(size, size, landmarks, rng)
    path = folder / f"{name}{ext}"
    ok, buf = cv2.imencode(ext, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    path.write_bytes(buf.tobytes())
    if csv:
        write_openface_csv(folder / f"{name}.csv", landmarks if landmarks_in_csv else None, aus, rows=csv_rows)
    return path, landmarks, aus
