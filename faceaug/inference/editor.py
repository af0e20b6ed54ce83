"""The inference API `faceaug expand` uses: batched GANimation edits of face crops to target AU vectors.

    editor = GanimationEditor.load(Path("work/models/ganimation.safetensors"), torch.device("cpu"))
    edited, attention = editor.edit(faces_uint8_bhw3, target_aus_b17, source_aus_b17)

The source faces' AUs (from faces.parquet) are needed by models trained with `condition = "relative"`
(`editor.needs_source_aus`); absolute-conditioned ones (the paper's, imported ones) ignore them. Faces must be crops
made by `faceaug preprocess` (the model was trained on that framing); other sizes are resized to the model size,
grayscale images (2-D or single-channel) are expanded to RGB. A grey face (R = G = B) gives a grey edit: the
generator's output is replaced by its luma, so greyscale in ⇒ greyscale out whatever tint the model learned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceaug.io.images import grey_like, resize_face
from faceaug.models.ganimation import Generator, conditioning
from faceaug.models.ganimation_file import GanimationModel
from faceaug.models.tensors import to_model_range, to_uint8

_MAX_BATCH = 64  # faces per forward pass (bounds memory for large shards)


@dataclass
class GanimationEditor:
    """A loaded GANimation generator. `model_id` is a short hash of its weights."""

    generator: Generator
    device: torch.device
    image_size: int
    au_names: tuple[str, ...]
    model_id: str
    crop_template: str
    condition: str = "absolute"
    provenance: dict[str, Any] = field(default_factory=dict)  # the model file's (training summary, versions)

    @property
    def needs_source_aus(self) -> bool:
        return self.condition != "absolute"

    @classmethod
    def load(cls, path: Path, device: torch.device) -> "GanimationEditor":
        """Load a model file written by `faceaug train` or `faceaug import-ganimation`."""
        model = GanimationModel.load(Path(path))
        arch = model.config
        return cls(generator=model.generator.to(device), device=torch.device(device), image_size=arch.image_size,
                   au_names=model.au_names, model_id=model.model_id, crop_template=model.crop_template,
                   condition=arch.condition, provenance=model.provenance)

    def _prepare(self, faces: np.ndarray) -> torch.Tensor:
        faces = np.asarray(faces)
        if faces.ndim == 3:  # (B, H, W) grayscale
            faces = faces[..., None]
        if faces.ndim != 4 or faces.shape[-1] not in (1, 3):
            raise ValueError(f"faces must be uint8 (B, H, W, 3), got shape {faces.shape}")
        if faces.shape[-1] == 1:
            faces = np.repeat(faces, 3, axis=-1)
        faces = np.stack([resize_face(np.ascontiguousarray(f, dtype=np.uint8), self.image_size) for f in faces])
        return torch.from_numpy(faces).permute(0, 3, 1, 2)

    @torch.no_grad()
    def edit(self, faces: np.ndarray, aus: np.ndarray,
             source_aus: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Edit B faces to B target AU vectors (0–1); `source_aus` (B, n_aus) are the faces' own AUs, required when
        `needs_source_aus`. Returns edited faces uint8 (B, S, S, 3) and attention masks float32 (B, S, S) in [0, 1]
        (1 = pixel kept from the input), S = `image_size`."""
        aus = self._au_matrix(aus, "aus")
        if len(faces) != len(aus):
            raise ValueError(f"{len(faces)} faces but {len(aus)} AU vectors")
        if source_aus is None and self.needs_source_aus:
            raise ValueError("this model edits relative to the faces' own AUs: pass source_aus")
        if source_aus is not None:
            source_aus = self._au_matrix(source_aus, "source_aus")
            if len(source_aus) != len(aus):
                raise ValueError(f"{len(aus)} target AU vectors but {len(source_aus)} source AU vectors")
        if len(aus) == 0:
            s = self.image_size
            return np.zeros((0, s, s, 3), np.uint8), np.zeros((0, s, s), np.float32)
        images = self._prepare(faces)
        edited, masks = [], []
        for start in range(0, len(images), _MAX_BATCH):
            chunk = slice(start, start + _MAX_BATCH)
            x = to_model_range(images[chunk]).to(self.device)
            target = torch.from_numpy(aus[chunk]).to(self.device)
            source = None if source_aus is None else torch.from_numpy(source_aus[chunk]).to(self.device)
            out, attention = self.generator.edit(x, conditioning(self.condition, target, source))
            edited.append(to_uint8(out))
            masks.append(attention[:, 0].float().cpu().numpy())
        inputs = images.permute(0, 2, 3, 1).numpy()
        return grey_like(np.concatenate(edited), inputs), np.concatenate(masks).astype(np.float32)

    def _au_matrix(self, aus: np.ndarray, name: str) -> np.ndarray:
        aus = np.asarray(aus, dtype=np.float32)
        if aus.ndim != 2 or aus.shape[1] != len(self.au_names):
            raise ValueError(f"{name} must be (B, {len(self.au_names)}), got shape {aus.shape}")
        return np.clip(aus, 0.0, 1.0)
