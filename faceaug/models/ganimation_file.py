"""GANimation model files: the generator owns its file, as diffusers models do.

`models/ganimation.safetensors` holds the generator's weights (safetensors: tensors only, nothing to unpickle) and,
in the file's header metadata under "faceaug", a JSON object: format and version, the architecture
(`GeneratorConfig`: all that rebuilds the network), the AU list, the image size, the crop template the faces were
framed with, where the model came from (trained / imported) and provenance (faceaug version, training summary).
Loading needs nothing else, no training settings. Model files of earlier faceaug versions (`ganimation.pt`, a
weights-only `torch.save` dict, format 1) still load.

    model = GanimationModel.load(path)       # .generator, .au_names, .crop_template, .model_id
    model.save(path)
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from faceaug import __version__
from faceaug.config import section_from_dict
from faceaug.errors import UserError
from faceaug.io.safetensors_files import (
    MAX_IMAGE_SIDE,
    NotSafetensors,
    check_architecture,
    read_with_header,
    refuse_non_finite,
    save_with_header,
    weights_id,
)
from faceaug.io.torch_files import load_torch_safely
from faceaug.io.versions import check_format_version
from faceaug.models.ganimation import Generator, GeneratorConfig
from faceaug.models.ganimation_config import DOWNSAMPLINGS
from faceaug.models.tensors import IMAGE_CHANNELS

FORMAT = "faceaug-ganimation"
VERSION = 2  # 1 = the torch.save dict of faceaug ≤ 0.x (read by `_load_legacy`)
MODEL_FILE = "ganimation.safetensors"
LEGACY_MODEL_FILE = "ganimation.pt"
_REQUIRED = ("architecture", "au_names", "image_size", "crop_template")
WHAT = "GANimation model"
#: The residual blocks' weights in a generator's state dict (`body.<layer>.body.0.weight`, one per block).
_BLOCK = re.compile(r"^body\.(\d+)\.body\.0\.weight$")


def default_model_path(work_dir: Path) -> Path:
    """WORK_DIR/models/ganimation.safetensors, or the legacy ganimation.pt when only that one exists."""
    models = Path(work_dir) / "models"
    if not (models / MODEL_FILE).is_file() and (models / LEGACY_MODEL_FILE).is_file():
        return models / LEGACY_MODEL_FILE
    return models / MODEL_FILE


@dataclass
class GanimationModel:
    """A generator with what `expand` must check before using it."""

    generator: Generator
    au_names: tuple[str, ...]
    crop_template: str  # id of the face framing it was trained on (faceaug.preprocess.align.crop_template_id)
    origin: str = "trained"  # trained | imported
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> GeneratorConfig:
        return self.generator.config

    @property
    def model_id(self) -> str:
        return weights_id(self.generator.state_dict())

    def header(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "architecture": dataclasses.asdict(self.config),
            "au_names": list(self.au_names),
            "image_size": self.config.image_size,
            "crop_template": self.crop_template,
            "origin": self.origin,
            "provenance": {"faceaug_version": __version__, **self.provenance},
        }

    def save(self, path: Path) -> Path:
        """Write the model file atomically (weights in safetensors, the header as JSON metadata)."""
        state = {k: v.detach().cpu().contiguous() for k, v in self.generator.state_dict().items()}
        return save_with_header(state, self.header(), Path(path))

    @classmethod
    def load(cls, path: Path) -> GanimationModel:
        """Read a model file (this format or the legacy one); anything else is one sentence (UserError)."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"GANimation model {path} does not exist.")
        header, state = _read_safetensors(path) or _load_legacy(path)
        check_format_version(
            path,
            "GANimation model",
            header.get("version", 0),
            VERSION,
            (header.get("provenance") or {}).get("faceaug_version") or header.get("faceaug_version"),
        )
        missing = [key for key in _REQUIRED if key not in header]
        if missing:
            raise UserError(f"{path} is an incomplete faceaug GANimation model (no {', '.join(missing)}).")
        arch = section_from_dict(GeneratorConfig, "architecture", header["architecture"], f"the architecture in {path}")
        au_names = tuple(str(name) for name in header["au_names"])
        _check_sizes(path, arch, state)
        if arch.n_aus != len(au_names) or arch.image_size != int(header["image_size"]) or arch.problem():
            raise UserError(
                f"{path} is a damaged faceaug GANimation model: its architecture does not fit its "
                f"AU list and image size ({arch.problem() or 'sizes differ'})."
            )
        generator = Generator(arch)
        try:
            generator.load_state_dict(state)
        except RuntimeError as exc:
            raise UserError(f"{path} holds generator weights that don't match its own settings ({exc}).") from None
        return cls(
            generator=generator.eval().requires_grad_(False),
            au_names=au_names,
            crop_template=str(header["crop_template"]),
            origin=str(header.get("origin", "trained")),
            provenance=dict(header.get("provenance") or {}),
        )


def _check_sizes(path: Path, arch: GeneratorConfig, state: dict[str, torch.Tensor]) -> None:
    """The architecture the header claims against the weights stored with it (and sane bounds), before a generator
    of that size is built: a damaged or hostile header must not make faceaug allocate what it claims."""
    first = state.get("body.0.weight")
    if not isinstance(first, torch.Tensor) or first.dim() != 4:
        raise UserError(
            f"{path} is a damaged faceaug GANimation model: it holds no first generator layer (body.0.weight)."
        )
    blocks = sum(1 for name in state if _BLOCK.match(name))
    check_architecture(
        path,
        WHAT,
        {
            "conv_dim": (arch.conv_dim, int(first.shape[0]), 1, 4096),
            "n_aus": (arch.n_aus, int(first.shape[1]) - IMAGE_CHANNELS, 1, 1024),
            "repeat_num": (arch.repeat_num, blocks, 0, 256),
            "image_size": (arch.image_size, None, 2**DOWNSAMPLINGS, MAX_IMAGE_SIDE),
        },
    )


def _read_safetensors(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
    """(header, weights) of a faceaug safetensors model file; None when the file is not safetensors at all."""
    try:
        header, state = read_with_header(path, WHAT)
    except NotSafetensors:
        return None
    if header is None:
        raise UserError(f"{path} is a safetensors file but not a faceaug GANimation model (it has no faceaug header).")
    if header.get("format") != FORMAT:
        raise UserError(f"{path} is not a faceaug GANimation model.")
    return header, state


def _load_legacy(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A format-1 model file (faceaug ≤ 0.x: `torch.save` of generator weights plus the whole training config)
    as (header, weights): the architecture is picked from the stored training settings."""
    payload = load_torch_safely(path, "GANimation model")
    if payload.get("format") != FORMAT:
        raise UserError(
            f"{path} is not a faceaug GANimation model (train one with `faceaug train` or convert "
            "published weights with `faceaug import-ganimation`)."
        )
    missing = [
        key for key in ("generator", "ganimation", "au_names", "image_size", "crop_template") if key not in payload
    ]
    if missing:
        raise UserError(f"{path} is an incomplete faceaug GANimation model (no {', '.join(missing)}).")
    stored = payload["ganimation"] if isinstance(payload["ganimation"], dict) else {}
    fields = {f.name for f in dataclasses.fields(GeneratorConfig)}
    arch = {k: v for k, v in stored.items() if k in fields}  # the rest are training settings, not needed
    arch["n_aus"] = len(payload["au_names"])
    header = {**{k: v for k, v in payload.items() if k not in ("generator", "ganimation")}, "architecture": arch}
    header.setdefault("version", 1)
    state = payload["generator"]
    if not isinstance(state, dict):
        raise UserError(
            f"{path} is a damaged faceaug GANimation model (its generator weights are not a table of tensors)."
        )
    refuse_non_finite(path, WHAT, state)
    return header, state
