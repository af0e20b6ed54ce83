"""`ManifestDataset`: a torch Dataset over a faceaug table (an expand manifest.parquet or a WORK_DIR faces.parquet).

    ds = ManifestDataset("WORK/expanded/manifest.parquet", split="train", image_size=64,
                         transform=classic_pipeline(seed=0))
    image, label = ds[0]          # float (C, S, S) in [−1, 1], label index
    ds.labels                     # index → label name (sorted names unless given)

Rows are chosen by split, stage (original, ganimation or variant) and `is_generated`; the label ↔ index map is
`labels` (pass the same list to every dataset of one experiment, e.g. the training set's). Paths are validated:
relative, never leaving the table's folder (also through links). Images are resized to `image_size` with faceaug's
face resize, made greyscale (one channel) with `greyscale`, then given to the albumentations `transform` (RGB or grey
uint8 (H, W[, C])).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from faceaug.aus import AU_NAMES
from faceaug.errors import UserError
from faceaug.io.images import path_inside, read_image, resize_face
from faceaug.models.tensors import to_model_range
from faceaug.schema import STAGES, read_table

_PATH_COLUMN = {"manifest": "path", "faces": "image_path"}


def read_any_table(path: Path) -> tuple[pd.DataFrame, str]:
    """A manifest or faces table (told apart by their path column), validated; (rows, kind)."""
    import pyarrow.parquet as pq

    try:
        names = set(pq.read_schema(path).names)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is not a readable Parquet file: {exc}.") from None
    kind = "manifest" if "path" in names else "faces"
    return read_table(path, kind), kind


class ManifestDataset(Dataset):
    """(image, label index[, the 17 AUs]) for the chosen rows of a faceaug table."""

    def __init__(
        self,
        table: Path | str,
        *,
        split: str | None = None,
        generated: bool | None = None,
        stages: Sequence[str] | None = None,
        labels: Sequence[str] | None = None,
        unknown_labels: str = "error",
        image_size: int | None = None,
        greyscale: bool = False,
        transform: Callable | None = None,
        with_aus: bool = False,
        preload: bool = False,
        grayscale: bool | None = None,  # `greyscale` in American spelling, for scripts that use it
    ):
        greyscale = greyscale if grayscale is None else grayscale
        unknown_stages = sorted(set(stages or ()) - set(STAGES))
        if unknown_stages:
            named = ", ".join(map(repr, unknown_stages))
            raise UserError(f"stages {named}: a manifest's stages are {', '.join(STAGES)}.")
        self.table = Path(table)
        rows, kind = read_any_table(self.table)
        self.root = self.table.parent
        if split is not None:
            rows = rows[rows["split"] == split]
        if generated is not None and kind == "manifest":
            rows = rows[rows["is_generated"] == generated]
        elif generated:
            rows = rows.iloc[0:0]  # a faces table holds no generated images
        if stages is not None and kind == "manifest":
            rows = rows[rows["stage"].isin(list(stages))]
        self.labels: list[str] = list(labels) if labels is not None else sorted(rows["label"].unique())
        unknown = sorted(set(rows["label"]) - set(self.labels))
        if unknown and unknown_labels == "error":
            raise UserError(
                f"{self.table} has labels outside the label map ({', '.join(unknown)}); "
                f"the map is {', '.join(self.labels)}."
            )
        rows = rows[rows["label"].isin(self.labels)]
        self.rows = rows.reset_index(drop=True)
        self.paths = [self._inside(rel) for rel in self.rows[_PATH_COLUMN[kind]]]
        self.label_index = {name: i for i, name in enumerate(self.labels)}
        self.targets = np.asarray([self.label_index[name] for name in self.rows["label"]], np.int64)
        self.aus = self.rows[list(AU_NAMES)].to_numpy(np.float32)
        self.image_size, self.greyscale, self.transform, self.with_aus = image_size, greyscale, transform, with_aus
        self._cache = [self._load(i) for i in range(len(self))] if preload else None

    def _inside(self, rel: str) -> Path:
        path = path_inside(self.root, rel)
        if path is None:
            raise UserError(f"{self.table} lists {rel}, which leads outside {self.root}; refused.")
        return path

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def channels(self) -> int:
        return 1 if self.greyscale else 3

    def _load(self, index: int) -> np.ndarray:
        image = read_image(self.paths[index])
        if self.image_size:
            image = resize_face(image, self.image_size)
        if self.greyscale:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return image

    def image(self, index: int) -> np.ndarray:
        """The decoded, resized (and greyscale) image, before the transform."""
        return self._cache[index] if self._cache is not None else self._load(index)

    def __getitem__(self, index: int):
        image = self.image(index)
        if self.transform is not None:
            image = self.transform(image=image)["image"]
        pixels = torch.from_numpy(np.ascontiguousarray(image))
        pixels = pixels[None] if pixels.ndim == 2 else pixels.permute(2, 0, 1)
        item = (to_model_range(pixels), int(self.targets[index]))
        return (*item, torch.tensor(self.aus[index])) if self.with_aus else item

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.targets, minlength=len(self.labels))

    def class_weights(self) -> torch.Tensor:
        """Inverse class frequencies, mean 1 over the classes present (for a weighted loss)."""
        counts = self.class_counts().astype(np.float64)
        inverse = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
        present = counts > 0
        return torch.from_numpy(
            (inverse / max(inverse[present].mean(), 1e-12) if present.any() else inverse).astype(np.float32)
        )

    def is_grey(self) -> bool:
        """Whether every image is grey (R = G = B), read from up to 50 images spread over the rows."""
        picks = np.linspace(0, len(self) - 1, min(50, len(self))).round().astype(int) if len(self) else []
        for i in picks:
            rgb = read_image(self.paths[i]).astype(np.int16)
            if np.abs(rgb[..., 0] - rgb[..., 1]).max() > 2 or np.abs(rgb[..., 1] - rgb[..., 2]).max() > 2:
                return False
        return True
