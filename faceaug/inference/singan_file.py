"""SinGAN model files (`singan.safetensors`): the tensors in safetensors, everything else as JSON in its header.

Tensors: `image` (the training image, uint8 H×W×3), `z_rec` (reconstruction noise, reconstruct mode only) and
`generators.<scale>.<name>` (each trained scale's generator state). Header metadata: one key, "faceaug", holding
{"format": "faceaug-singan", "version", "faceaug_version" (the writer), "architecture" (SinganArchitecture: all
that loading needs), "provenance" (seed, training faceaug version, settings, losses: never needed to load)}.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceaug import __version__
from faceaug.config import check_known_keys
from faceaug.errors import UserError
from faceaug.io.safetensors_files import (
    MAX_IMAGE_SIDE,
    check_architecture,
    read_model_file,
    refuse_non_finite,
    save_with_header,
)
from faceaug.io.versions import check_format_version
from faceaug.models.singan import MODES, SinganArchitecture

FORMAT_NAME = "faceaug-singan"
FORMAT_VERSION = 1
WHAT = "SinGAN model file"
_HEADER_KEYS = ("architecture", "provenance")


@dataclass
class StoredSingan:
    """A SinGAN model file's contents, networks as state dicts (SinganModel.load builds the modules)."""

    arch: SinganArchitecture
    image: np.ndarray
    generator_states: list[dict[str, torch.Tensor]]  # per trained scale, coarse → fine
    z_rec: torch.Tensor | None
    provenance: dict[str, Any]


def write_singan_file(stored: StoredSingan, path: Path) -> Path:
    """Write atomically (a crash never leaves half a file)."""
    tensors = {"image": torch.from_numpy(np.ascontiguousarray(stored.image))}
    if stored.z_rec is not None:
        tensors["z_rec"] = stored.z_rec.detach().cpu().contiguous()
    for scale, state in enumerate(stored.generator_states, start=stored.arch.first_scale):
        tensors.update({f"generators.{scale}.{name}": t.detach().cpu().contiguous() for name, t in state.items()})
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "faceaug_version": __version__,
        "architecture": dataclasses.asdict(stored.arch),
        "provenance": stored.provenance,
    }
    return save_with_header(tensors, header, Path(path))


def read_singan_file(path: Path) -> StoredSingan:
    """A UserError of one sentence for a missing, unreadable, foreign, newer, incomplete or damaged file."""
    path = Path(path)
    header, tensors = read_model_file(path, WHAT)
    header = _checked_header(path, header)
    arch = architecture_from_dict(header["architecture"], f"the SinGAN architecture stored in {path}")
    if "image" not in tensors:
        raise UserError(f"{path} is an incomplete faceaug {WHAT} (no image).")
    return StoredSingan(
        arch=arch,
        image=tensors["image"].numpy(),
        z_rec=tensors.get("z_rec"),
        generator_states=[
            _state(tensors, f"generators.{scale}.") for scale in range(arch.first_scale, len(arch.sizes))
        ],
        provenance=header["provenance"],
    )


def check_stored(path: Path, stored: StoredSingan) -> None:
    """What a SinGAN file's architecture claims against its stored networks (and sane bounds), before networks of
    that size are built; and no NaN or infinite weights (files of either format)."""
    for number, state in enumerate(stored.generator_states):
        scale = stored.arch.first_scale + number
        if not isinstance(state, dict):
            raise UserError(f"{path} is a damaged {WHAT}: the network of scale {scale} is not a table of tensors.")
        refuse_non_finite(path, WHAT, state)
        tail = state.get("tail.0.weight")
        if not isinstance(tail, torch.Tensor) or tail.dim() != 4:
            raise UserError(f"{path} is a damaged {WHAT}: scale {scale} has no output layer (tail.0.weight).")
        blocks = sum(1 for name in state if re.fullmatch(r"body\.\d+\.0\.weight", name))  # one conv per block
        check_architecture(
            path,
            WHAT,
            {
                f"channels[{number}]": (stored.arch.channels[number], int(tail.shape[1]), 1, 4096),
                "num_layers": (stored.arch.num_layers, blocks + 1, 2, 64),
            },
        )
    if stored.z_rec is not None:
        refuse_non_finite(path, WHAT, {"z_rec": stored.z_rec})
    for level, (height, width) in enumerate(stored.arch.sizes):
        check_architecture(path, WHAT, {f"sizes[{level}]": (max(height, width), None, 1, MAX_IMAGE_SIDE)})


def _checked_header(path: Path, header: dict[str, Any] | None) -> dict[str, Any]:
    if header is None or header.get("format") != FORMAT_NAME:
        raise UserError(f"{path} is not a faceaug {WHAT}.")
    check_format_version(path, WHAT, header.get("version"), FORMAT_VERSION, header.get("faceaug_version"))
    missing = [key for key in _HEADER_KEYS if key not in header]
    if missing:
        raise UserError(f"{path} is an incomplete faceaug {WHAT} (no {', '.join(missing)}).")
    return header


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
