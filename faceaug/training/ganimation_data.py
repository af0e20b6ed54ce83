"""GANimation training data: the train split of faces.parquet, decoded once and cached in memory.

Faces are small (64–128 px crops), so the whole split lives in one uint8 tensor (N, 3, S, S); a batch is an index
lookup plus a random horizontal flip (the AU vector is unchanged by a flip — faceaug's AUs are symmetric).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from faceaug.aus import AU_NAMES
from faceaug.errors import UserError
from faceaug.io.images import ImageDecodeError, read_image, resize_face
from faceaug.models.tensors import to_model_range
from faceaug.schema import read_table


@dataclass
class FaceCache:
    """Decoded training faces: images uint8 (N, 3, S, S), AUs float32 (N, 17), ids and subjects, and how many
    were aligned by each landmark method and how many have each AU source (faces.parquet's `landmark_method`,
    `au_source`; the model file records both)."""

    images: torch.Tensor
    aus: torch.Tensor
    face_ids: list[str]
    subjects: list[str]
    landmark_methods: dict[str, int] = field(default_factory=dict)
    au_sources: dict[str, int] = field(default_factory=dict)  # faces.parquet au_source counts (the model records it)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def batch(
        self,
        index: torch.Tensor,
        flip: torch.Tensor,
        photometric: torch.Tensor | None = None,
        geometric: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [−1, 1] (flipped where `flip` is True) and their AU vectors, for row indices `index`;
        `photometric` (B, 2) = per-face (contrast gain, brightness offset) applied about mid-grey, or None;
        `geometric` (B, 2, 3) = per-face affine maps of output to input coordinates (`geometric_draws`), or None."""
        images = to_model_range(self.images[index])
        images = torch.where(flip.view(-1, 1, 1, 1), images.flip(3), images)
        if geometric is not None:
            grid = F.affine_grid(geometric, list(images.shape), align_corners=False)
            images = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if photometric is not None:
            gain, offset = photometric[:, 0].view(-1, 1, 1, 1), photometric[:, 1].view(-1, 1, 1, 1)
            images = (images * gain + offset).clamp(-1.0, 1.0)
        return images, self.aus[index]


def _counts(column) -> dict[str, int]:
    """{value: rows} of a faces.parquet column, in plain types (they go into the model file's JSON header)."""
    return {str(k): int(v) for k, v in Counter(column).items()}


def load_faces(work_dir: Path, image_size: int, split: str = "train") -> FaceCache:
    """Read WORK_DIR/faces.parquet and decode the faces of `split`, resized to `image_size`."""
    work_dir = Path(work_dir)
    faces_path = work_dir / "faces.parquet"
    if not faces_path.is_file():
        raise UserError(f"{faces_path} does not exist. Run `faceaug preprocess DATA --out {work_dir}` first.")
    table = read_table(faces_path, "faces")
    rows = table[table["split"] == split]
    if rows.empty:
        splits = ", ".join(sorted(set(table["split"]))) or "none"
        raise UserError(f"{faces_path} has no faces in the '{split}' split (splits present: {splits}).")
    images = np.empty((len(rows), image_size, image_size, 3), dtype=np.uint8)
    for i, rel in enumerate(rows["image_path"]):
        path = work_dir / rel
        try:
            images[i] = resize_face(read_image(path), image_size)
        except FileNotFoundError:
            raise UserError(f"Face image {path} listed in {faces_path} is missing; re-run preprocess.") from None
        except ImageDecodeError as exc:
            raise UserError(f"Face image {path} cannot be decoded ({exc}); re-run preprocess.") from None
    aus = rows[list(AU_NAMES)].to_numpy(dtype=np.float32).clip(0.0, 1.0)
    return FaceCache(
        images=torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        aus=torch.from_numpy(np.ascontiguousarray(aus)),
        face_ids=list(rows["face_id"]),
        subjects=list(rows["subject"]),
        landmark_methods=_counts(rows["landmark_method"]),
        au_sources=_counts(rows["au_source"]),
    )


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled row order of one epoch — a function of (seed, epoch) only, so a resumed run sees it again."""
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    return torch.randperm(n, generator=gen)


def photometric_draws(batch: int, strength: float, gen: torch.Generator) -> torch.Tensor | None:
    """Per-face (contrast gain 1 ± strength, brightness offset ± strength/2 in the [−1, 1] range), or None when
    strength is 0: faces of other datasets differ from the training set in exposure and contrast first."""
    if strength <= 0:
        return None
    draws = torch.rand(batch, 2, generator=gen) * 2.0 - 1.0
    return torch.stack([1.0 + strength * draws[:, 0], 0.5 * strength * draws[:, 1]], dim=1)


def geometric_draws(batch: int, strength: float, gen: torch.Generator) -> torch.Tensor | None:
    """Per-face affine maps (B, 2, 3) for `FaceCache.batch`: rotation ± 20°·strength, scale ×(1 ± 0.2·strength),
    shift ± 0.1·strength of the side; None when strength is 0. The AUs are unchanged by a small similarity."""
    if strength <= 0:
        return None
    draws = (torch.rand(batch, 4, generator=gen) * 2.0 - 1.0) * strength
    angle, scale = draws[:, 0] * (math.pi / 9.0), 1.0 + 0.2 * draws[:, 1]
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale  # output → input: the inverse zoom
    shift = draws[:, 2:] * 0.2  # affine_grid's coordinates span 2 per side
    return torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], dim=1), torch.stack([sin, cos, shift[:, 1]], dim=1)], dim=1
    )


def random_targets(cache: FaceCache, batch: int, noise: float, gen: torch.Generator) -> torch.Tensor:
    """Training targets: the AUs of random training faces plus U(−noise, noise), clipped to 0–1."""
    pick = torch.randint(len(cache), (batch,), generator=gen)
    jitter = (torch.rand(batch, cache.aus.shape[1], generator=gen) * 2.0 - 1.0) * noise
    return (cache.aus[pick] + jitter).clamp(0.0, 1.0)
