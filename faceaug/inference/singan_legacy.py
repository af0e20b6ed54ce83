"""SinGAN model files of format faceaug-singan-1 (`singan.pt`, faceaug 0.1): a `torch.save` dict of tensors and
plain values, read with `weights_only=True` (no pickled code). faceaug now writes singan.safetensors
(singan_file.py); this reads the old files into the same StoredSingan."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from faceaug.config import SinganConfig, section_from_dict
from faceaug.errors import UserError
from faceaug.inference.singan_file import WHAT, StoredSingan
from faceaug.io.torch_files import load_failure
from faceaug.io.versions import check_format_version
from faceaug.models.singan import SinganArchitecture

FORMAT_NAME = "faceaug-singan"
FORMAT_VERSION = 1
#: Settings that files of format 1 hold but faceaug no longer has (ConSinGAN's, never implemented): ignored.
_RETIRED_SETTINGS = ("architecture", "train_stages", "lr_scale", "num_stages")
_KEYS = (
    "config",
    "image",
    "sizes",
    "scale_factor",
    "first_scale",
    "channels",
    "generators",
    "noise_amps",
    "z_rec",
    "seed",
    "mode",
    "losses",
)


def is_torch_file(path: Path) -> bool:
    """Whether `path` starts like a `torch.save` file (a zip archive, or the pickle of torch < 1.6). A safetensors
    file (8-byte header length, then the JSON header's "{") is not one, whatever its length's first byte is (a
    header of 0x..80 bytes starts with the pickle opcode 0x80)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError:
        return False
    if head[8:9] == b"{":
        return False
    return head[:2] == b"PK" or head[:1] == b"\x80"


def read_legacy_singan(path: Path) -> StoredSingan:
    data = _read(Path(path))
    cfg = _settings(path, data["config"])
    arch = SinganArchitecture(
        sizes=tuple(tuple(s) for s in data["sizes"]),
        scale_factor=data["scale_factor"],
        first_scale=data["first_scale"],
        channels=tuple(data["channels"]),
        num_layers=cfg.num_layers,
        noise_amps=tuple(data["noise_amps"]),
        mode=data["mode"],
    )
    provenance = {
        "seed": data["seed"],
        "faceaug_version": data.get("faceaug_version"),
        "settings": asdict(cfg),
        "losses": json.loads(data["losses"]),
    }
    return StoredSingan(
        arch=arch,
        image=data["image"].numpy(),
        generator_states=list(data["generators"]),
        z_rec=data["z_rec"],
        provenance=provenance,
    )


def _read(path: Path) -> dict:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{WHAT} {path} does not exist.") from None
    except Exception as exc:  # corrupt or foreign file
        raise UserError(f"{WHAT} {path} could not be read: {load_failure(exc)}.") from None
    name, _, version = str(data.get("format", "") if isinstance(data, dict) else "").rpartition("-")
    if name != FORMAT_NAME:
        raise UserError(f"{path} is not a faceaug {WHAT}.")
    check_format_version(path, WHAT, version, FORMAT_VERSION, data.get("faceaug_version"))
    missing = [key for key in _KEYS if key not in data]
    if missing:
        raise UserError(f"{path} is an incomplete faceaug {WHAT} (no {', '.join(missing)}).")
    return data


def _settings(path: Path, config: str) -> SinganConfig:
    """The stored training settings (the --config rule: unknown ones named, missing ones default)."""
    try:
        stored = json.loads(config)
    except (TypeError, ValueError):
        raise UserError(f"{path} is a damaged faceaug {WHAT} (its settings are not JSON).") from None
    if isinstance(stored, dict):
        stored = {key: value for key, value in stored.items() if key not in _RETIRED_SETTINGS}
    return section_from_dict(SinganConfig, "singan", stored, f"the settings stored in {path}")
