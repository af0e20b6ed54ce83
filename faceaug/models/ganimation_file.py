"""GANimation model files: the generator owns its file, as diffusers models do.

`models/ganimation.safetensors` holds the generator's weights (safetensors: tensors only, nothing to unpickle) and,
in the file's header metadata under "faceaug", a JSON object: format and version, the architecture
(`GeneratorConfig`: all that rebuilds the network), the AU list, the image size, the crop template the faces were
framed with, where the model came from (trained / imported) and provenance (faceaug version, training summary).
Loading needs nothing else, no training settings. Reading and writing are `faceaug.io.model_file`'s.

    model = GanimationModel.load(path)       # .generator, .au_names, .crop_template, .model_id
    model.save(path)
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from faceaug import __version__
from faceaug.config import section_from_dict
from faceaug.errors import UserError
from faceaug.io.model_file import FileKind, ModelFile, layer_weight, load_weights
from faceaug.io.safetensors_files import MAX_IMAGE_SIDE, check_architecture, weights_id
from faceaug.models.ganimation import Generator, GeneratorConfig
from faceaug.models.ganimation_config import DOWNSAMPLINGS
from faceaug.models.tensors import IMAGE_CHANNELS

FORMAT = "faceaug-ganimation"
VERSION = 2
MODEL_FILE = "ganimation.safetensors"
WHAT = "GANimation model"
KIND = FileKind(
    FORMAT,
    WHAT,
    version=VERSION,
    required=("architecture", "au_names", "image_size", "crop_template"),
    advice="train one with `faceaug train`, or convert published weights with `faceaug import-ganimation`",
)
#: The residual blocks' weights in a generator's state dict (`body.<layer>.body.0.weight`, one per block).
_BLOCK = re.compile(r"^body\.(\d+)\.body\.0\.weight$")


def default_model_path(work_dir: Path) -> Path:
    """WORK_DIR/models/ganimation.safetensors."""
    return Path(work_dir) / "models" / MODEL_FILE


@dataclass
class GanimationModel(ModelFile):
    """A generator with what `expand` must check before using it."""

    file_kind: ClassVar[FileKind] = KIND

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

    def file_header(self) -> dict[str, Any]:
        return {
            "architecture": dataclasses.asdict(self.config),
            "au_names": list(self.au_names),
            "image_size": self.config.image_size,
            "crop_template": self.crop_template,
            "origin": self.origin,
            "provenance": {"faceaug_version": __version__, **self.provenance},
        }

    def file_tensors(self) -> dict[str, torch.Tensor]:
        return self.generator.state_dict()

    @classmethod
    def from_file(cls, path: Path, header: dict[str, Any], tensors: dict) -> GanimationModel:
        arch = section_from_dict(GeneratorConfig, "architecture", header["architecture"], f"the architecture in {path}")
        au_names = tuple(str(name) for name in header["au_names"])
        _check_sizes(path, arch, tensors)
        if arch.n_aus != len(au_names) or arch.image_size != int(header["image_size"]) or arch.problem():
            raise UserError(
                f"{path} is a damaged faceaug GANimation model: its architecture does not fit its "
                f"AU list and image size ({arch.problem() or 'sizes differ'})."
            )
        generator = load_weights(Generator(arch), tensors, path, WHAT)
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
    first = layer_weight(path, WHAT, state, "body.0.weight", 4)
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
