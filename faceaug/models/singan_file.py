"""SinGAN model files (`singan.safetensors`): the tensors in safetensors, everything else as JSON in its header.

Tensors: `image` (the training image, uint8 H×W×3), `z_rec` (reconstruction noise, reconstruct mode only) and
`generators.<scale>.<name>` (each trained scale's generator state). Header metadata: one key, "faceaug", holding
{"format": "faceaug-singan", "version", "faceaug_version" (the writer), "architecture" (SinganArchitecture: all
that loading needs), "provenance" (seed, training faceaug version, settings, losses: never needed to load)}.
Reading and writing are `faceaug.io.model_file`'s; sampling is `faceaug.inference.singan.SinganModel`'s, which
saves and loads through `SinganFile`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from faceaug import __version__
from faceaug.config import check_known_keys
from faceaug.errors import UserError
from faceaug.io.model_file import FileKind, ModelFile, layer_weight, load_weights
from faceaug.io.safetensors_files import MAX_IMAGE_SIDE, check_architecture
from faceaug.models.singan import MODES, ScaleGenerator, SinganArchitecture

FORMAT_NAME = "faceaug-singan"
FORMAT_VERSION = 1
WHAT = "SinGAN model file"
KIND = FileKind(FORMAT_NAME, WHAT, version=FORMAT_VERSION, required=("architecture", "provenance"))
#: One conv per block of a scale's generator (`body.<block>.0.weight`).
_BLOCK = re.compile(r"body\.\d+\.0\.weight")


@dataclass
class SinganFile(ModelFile):
    """A SinGAN model file's contents: the frozen generators of scales first_scale … S-1, on the CPU."""

    file_kind: ClassVar[FileKind] = KIND

    arch: SinganArchitecture
    image: np.ndarray  # the training image, RGB uint8
    generators: list[ScaleGenerator]  # per trained scale, coarse → fine
    z_rec: torch.Tensor | None  # fixed reconstruction noise at scale 0; None if scale 0 untrained
    provenance: dict[str, Any]

    def file_header(self) -> dict[str, Any]:
        return {
            "faceaug_version": __version__,
            "architecture": dataclasses.asdict(self.arch),
            "provenance": self.provenance,
        }

    def file_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {"image": torch.from_numpy(np.ascontiguousarray(self.image))}
        if self.z_rec is not None:
            tensors["z_rec"] = self.z_rec
        for scale, generator in enumerate(self.generators, start=self.arch.first_scale):
            tensors.update({f"generators.{scale}.{name}": t for name, t in generator.state_dict().items()})
        return tensors

    @classmethod
    def from_file(cls, path: Path, header: dict[str, Any], tensors: dict) -> SinganFile:
        arch = architecture_from_dict(header["architecture"], f"the SinGAN architecture stored in {path}")
        if "image" not in tensors:
            raise UserError(f"{path} is an incomplete faceaug {WHAT} (no image).")
        states = [_state(tensors, f"generators.{scale}.") for scale in range(arch.first_scale, len(arch.sizes))]
        _check_sizes(path, arch, states)
        generators = [
            load_weights(ScaleGenerator(arch.spec(scale)), state, path, WHAT).eval().requires_grad_(False)
            for scale, state in enumerate(states, start=arch.first_scale)
        ]
        return cls(arch, tensors["image"].numpy(), generators, tensors.get("z_rec"), header["provenance"])


def _check_sizes(path: Path, arch: SinganArchitecture, states: list[dict[str, torch.Tensor]]) -> None:
    """What the architecture claims against the stored networks (and sane bounds), before networks of that size
    are built."""
    for number, state in enumerate(states):
        tail = layer_weight(path, WHAT, state, "tail.0.weight", 4)
        blocks = sum(1 for name in state if _BLOCK.fullmatch(name))
        check_architecture(
            path,
            WHAT,
            {
                f"channels[{number}]": (arch.channels[number], int(tail.shape[1]), 1, 4096),
                "num_layers": (arch.num_layers, blocks + 1, 2, 64),
            },
        )
    for level, (height, width) in enumerate(arch.sizes):
        check_architecture(path, WHAT, {f"sizes[{level}]": (max(height, width), None, 1, MAX_IMAGE_SIDE)})


def _state(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {name[len(prefix) :]: t for name, t in tensors.items() if name.startswith(prefix)}


def architecture_from_dict(values: Any, origin: str) -> SinganArchitecture:
    """Every field required; unknown ones named (the rule of stored settings); values checked for consistency."""
    known = [f.name for f in dataclasses.fields(SinganArchitecture)]
    check_known_keys(known, "architecture", values, origin)
    missing = [key for key in known if key not in values]
    if missing:
        raise UserError(f"Incomplete SinGAN architecture in {origin} (no {', '.join(missing)}).")
    try:
        arch = SinganArchitecture(
            sizes=tuple((int(h), int(w)) for h, w in values["sizes"]),
            scale_factor=float(values["scale_factor"]),
            first_scale=int(values["first_scale"]),
            channels=tuple(int(c) for c in values["channels"]),
            num_layers=int(values["num_layers"]),
            noise_amps=tuple(float(a) for a in values["noise_amps"]),
            mode=str(values["mode"]),
        )
    except (TypeError, ValueError) as exc:
        raise UserError(f"Damaged SinGAN architecture in {origin} ({exc}).") from None
    trained = len(arch.sizes) - arch.first_scale
    if arch.mode not in MODES or not 0 < trained == len(arch.channels) == len(arch.noise_amps):
        raise UserError(
            f"Damaged SinGAN architecture in {origin} (mode {arch.mode!r}, {len(arch.sizes)} scales "
            f"from {arch.first_scale}, {len(arch.channels)} networks, {len(arch.noise_amps)} noise "
            f"amplitudes)."
        )
    return arch
