"""A tiny faces.parquet work folder for the GANimation tests: blob "faces" whose mouth opening follows AU25/26."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from faceaug.aus import AU_NAMES, AU_PRESENT_NAMES
from faceaug.config import GanimationConfig
from faceaug.io.images import write_png_atomic
from faceaug.models.ganimation import Generator
from faceaug.models.ganimation_file import GanimationModel
from faceaug.preprocess.align import crop_template_id
from faceaug.schema import read_table, write_table_atomic


def draw_face(size: int, mouth: float, rng: np.random.Generator) -> np.ndarray:
    img = np.full((size, size, 3), rng.integers(60, 120), np.uint8)
    skin = tuple(int(c) for c in rng.integers(150, 230, 3))
    c = size // 2
    cv2.ellipse(img, (c, c), (int(size * 0.32), int(size * 0.42)), 0, 0, 360, skin, -1)
    for dx in (-1, 1):
        cv2.circle(img, (c + dx * int(size * 0.14), int(size * 0.4)), max(1, size // 20), (30, 30, 30), -1)
    h = max(1, int(size * 0.02 + mouth * size * 0.12))
    cv2.ellipse(img, (c, int(size * 0.7)), (int(size * 0.12), h), 0, 0, 360, (90, 20, 30), -1)
    return img


def make_work_dir(root: Path, n: int = 24, size: int = 32, seed: int = 0, test_every: int = 6) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        mouth = float(rng.uniform(0, 1))
        face_id = f"f{i:04d}"
        rel = f"faces/{face_id}.png"
        write_png_atomic(root / rel, draw_face(size, mouth, rng))
        aus = {name: 0.0 for name in AU_NAMES}
        aus["AU25"] = mouth
        aus["AU26"] = mouth * 0.8
        rows.append(
            {
                "face_id": face_id,
                "image_path": rel,
                "source_path": f"src/{face_id}.png",
                "source_sha256": "0" * 64,
                "label": "happy" if mouth > 0.5 else "neutral",
                "subject": f"s{i % 4}",
                "split": "test" if i % test_every == test_every - 1 else "train",
                "au_source": "openface",
                **aus,
                **{name: bool(aus[au] > 0.2) for au, name in zip(AU_NAMES, AU_PRESENT_NAMES)},
                "confidence": 0.99,
                "landmarks": None,
                "landmark_method": "none",
                "crop_transform": [1, 0, 0, 0, 1, 0],
                "source_width": size,
                "source_height": size,
            }
        )
    write_table_atomic(rows, root / "faces.parquet", "faces")
    return root


def save_model(
    path: Path,
    model: GanimationConfig | Generator,
    *,
    au_names: tuple[str, ...] = AU_NAMES,
    provenance: dict | None = None,
) -> Path:
    """Write a model file for a generator (or an untrained one sized by `model`, drawn from torch's global RNG)."""
    generator = model if isinstance(model, Generator) else Generator(model.generator_config(len(au_names)))
    return GanimationModel(
        generator=generator, au_names=au_names, crop_template=crop_template_id(), provenance=provenance or {}
    ).save(path)


def split_by_subject(work: Path, n_subjects: int) -> Path:
    """Re-assign faces.parquet's subjects round-robin over `n_subjects`; the last subject becomes the test split."""
    faces = read_table(work / "faces.parquet", "faces")
    faces["subject"] = [f"s{i % n_subjects}" for i in range(len(faces))]
    faces["split"] = np.where(faces["subject"] == f"s{n_subjects - 1}", "test", "train")
    write_table_atomic(faces, work / "faces.parquet", "faces")
    return work
