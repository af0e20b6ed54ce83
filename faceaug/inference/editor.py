"""The inference API `faceaug expand` uses: batched GANimation edits of face crops to target AU vectors.

    editor = GanimationEditor.load(Path("work/models/ganimation.safetensors"), torch.device("cpu"))
    edited, attention = editor.edit(faces_uint8_bhw3, target_aus_b17, source_aus_b17)

The source faces' AUs (from faces.parquet) are needed by models trained with `condition = "relative"`
(`editor.needs_source_aus`); absolute-conditioned ones (the paper's, imported ones) ignore them. Faces must be crops
made by `faceaug preprocess` (the model was trained on that framing), of any size: the generator runs at its own
size and its colour map and attention are resized to the faces' size and composed there, so a 128-px source keeps
its 128-px detail wherever the attention keeps the input. Greyscale images (2-D or single-channel) are expanded
to RGB. A model trained on grey faces (provenance training.grey) edits the luminance of a colour face and keeps its
chroma (colour in ⇒ colour out); a grey face gives a grey edit whatever tint a model learned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from faceaug.device import cpu_has_native_bf16
from faceaug.io.images import grey_like
from faceaug.models.ganimation import Generator, conditioning
from faceaug.models.ganimation_file import GanimationModel
from faceaug.models.tensors import to_model_range

_MAX_BATCH = 64  # faces per forward pass (bounds memory for large shards)


def bf16_edits_pay_off(device: torch.device) -> bool:
    """Whether editing under bf16 autocast pays here: on CUDA, and on CPUs that run bf16 natively (elsewhere it is
    emulated, slower than fp32). Measured with the bundled editor on 64 synthetic faces, 64 px: bf16 edits lie within
    3 grey levels of fp32's (mean 0.02, 99th percentile 1; attention 0.0002), at 3.5× the edits per second on a
    2-core Xeon with AMX (docs/results.md)."""
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())


@dataclass
class GanimationEditor:
    """A loaded GANimation generator. `model_id` is a short hash of its weights; `name` says which editor it is
    (the bundled one's name, else the file's path)."""

    generator: Generator
    device: torch.device
    image_size: int
    au_names: tuple[str, ...]
    model_id: str
    crop_template: str
    condition: str = "absolute"
    provenance: dict[str, Any] = field(default_factory=dict)  # the model file's (training summary, versions)
    name: str = ""
    bf16: bool = False  # the generator under bf16 autocast (`bf16_edits_pay_off`); False: fp32

    @property
    def needs_source_aus(self) -> bool:
        return self.condition != "absolute"

    @property
    def edits_luminance(self) -> bool:
        """Trained on grey faces: colour sources are edited in luminance only."""
        return bool((self.provenance.get("training") or {}).get("grey", False))

    @classmethod
    def load(cls, path: Path, device: torch.device, name: str | None = None) -> GanimationEditor:
        """Load a model file written by `faceaug train` or `faceaug import-ganimation`; it edits in bf16 where that
        pays off (`bf16_edits_pay_off`), so expand, the report and every other user edit alike."""
        model = GanimationModel.load(Path(path))
        arch = model.config
        return cls(
            bf16=bf16_edits_pay_off(torch.device(device)),
            generator=model.generator.to(device),
            device=torch.device(device),
            image_size=arch.image_size,
            au_names=model.au_names,
            model_id=model.model_id,
            crop_template=model.crop_template,
            condition=arch.condition,
            provenance=model.provenance,
            name=name or str(path),
        )

    @staticmethod
    def _prepare(faces: np.ndarray) -> np.ndarray:
        faces = np.asarray(faces)
        if faces.ndim == 3:  # (B, H, W) greyscale
            faces = faces[..., None]
        if faces.ndim != 4 or faces.shape[-1] not in (1, 3) or faces.shape[1] != faces.shape[2]:
            raise ValueError(f"faces must be square uint8 (B, S, S, 3), got shape {faces.shape}")
        if faces.shape[-1] == 1:
            faces = np.repeat(faces, 3, axis=-1)
        return np.ascontiguousarray(faces, dtype=np.uint8)

    @torch.no_grad()
    def edit(
        self, faces: np.ndarray, aus: np.ndarray, source_aus: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Edit B faces to B target AU vectors (0–1); `source_aus` (B, n_aus) are the faces' own AUs, required when
        `needs_source_aus`. Returns edited faces uint8 (B, S, S, 3) and attention masks float32 (B, S, S) in [0, 1]
        (1 = pixel kept from the input), S = the faces' own side."""
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
            s = np.asarray(faces).shape[1] if np.asarray(faces).ndim >= 3 else self.image_size
            return np.zeros((0, s, s, 3), np.uint8), np.zeros((0, s, s), np.float32)
        images = self._prepare(faces)
        luminance = self.edits_luminance
        # what the generator sees: the face (its luma, for a grey-trained model) at the model's size
        inputs = torch.from_numpy(images).permute(0, 3, 1, 2).float()
        if luminance:
            inputs = _luma(inputs).expand(-1, 3, -1, -1)
        edited, masks = [], []
        for start in range(0, len(images), _MAX_BATCH):
            chunk = slice(start, start + _MAX_BATCH)
            full = inputs[chunk]
            small = _resize(full, self.image_size)
            x = to_model_range(small.round().clamp(0, 255)).to(self.device)
            target = torch.from_numpy(aus[chunk]).to(self.device)
            source = None if source_aus is None else torch.from_numpy(source_aus[chunk]).to(self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                color, attention = self.generator(x, conditioning(self.condition, target, source))
            color = (color.float().cpu().clamp(-1, 1) + 1.0) * 127.5
            attention = _resize(attention.float().cpu(), full.shape[-1]).clamp(0, 1)
            color = _resize(color, full.shape[-1])
            if luminance:  # the grey colour map composes with the luma; the source's chroma is kept
                color = _luma(color)
                out = attention * full[:, :1] + (1.0 - attention) * color
            else:
                out = attention * full + (1.0 - attention) * color
            edited.append(out.round().clamp(0, 255).to(torch.uint8))
            masks.append(attention[:, 0].numpy())
        result = torch.cat(edited).permute(0, 2, 3, 1).numpy()
        if luminance:
            result = _with_chroma_of(result[..., 0], images)
        return grey_like(result, images), np.concatenate(masks).astype(np.float32)

    def _au_matrix(self, aus: np.ndarray, name: str) -> np.ndarray:
        aus = np.asarray(aus, dtype=np.float32)
        if aus.ndim != 2 or aus.shape[1] != len(self.au_names):
            raise ValueError(f"{name} must be (B, {len(self.au_names)}), got shape {aus.shape}")
        return np.clip(aus, 0.0, 1.0)


def _luma(images: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma (as OpenCV's RGB→grey) of float (B, 3, H, W) images, (B, 1, H, W)."""
    r, g, b = images[:, 0:1], images[:, 1:2], images[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def _resize(images: torch.Tensor, side: int) -> torch.Tensor:
    """Float (B, C, H, W) at side × side: area when shrinking, bicubic when enlarging (as io.images.resize_face)."""
    if images.shape[-1] == side:
        return images
    if images.shape[-1] > side:
        return F.interpolate(images, size=(side, side), mode="area")
    return F.interpolate(images, size=(side, side), mode="bicubic", align_corners=False)


def _with_chroma_of(luma: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """RGB uint8 (B, S, S, 3) with luminance `luma` (B, S, S) and the chroma (YCrCb) of `sources`."""
    out = np.empty_like(sources)
    for i, (y, src) in enumerate(zip(luma, sources)):
        ycc = cv2.cvtColor(src, cv2.COLOR_RGB2YCrCb)
        ycc[..., 0] = y
        out[i] = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
    return out
