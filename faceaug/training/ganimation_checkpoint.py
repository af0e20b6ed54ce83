"""GANimation training checkpoints (models/checkpoints/last.pt): the trainer's state, resumable with `--resume`.

Written atomically with `torch.save`; they hold only tensors, numbers, strings, lists and dicts and load with
`torch.load(weights_only=True)` — a file carrying pickled code is refused, never executed. The model file that
`expand` reads is the generator's own (faceaug.models.ganimation_file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faceaug import __version__
from faceaug.config import GanimationConfig, section_from_dict
from faceaug.errors import UserError
from faceaug.io.torch_files import load_torch_safely, save_torch_atomic
from faceaug.io.versions import check_format_version

CHECKPOINT_FORMAT = "faceaug-ganimation-checkpoint"
CHECKPOINT_VERSION = 1


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    return save_torch_atomic(
        {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "faceaug_version": __version__, **payload}, path
    )


def load_checkpoint(path: Path) -> dict[str, Any]:
    payload = load_torch_safely(path, "Checkpoint")
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path} is not a faceaug GANimation training checkpoint.")
    check_format_version(
        path,
        "GANimation training checkpoint",
        payload.get("version", 1),
        CHECKPOINT_VERSION,
        payload.get("faceaug_version"),
    )
    if "ganimation" not in payload:
        raise UserError(f"{path} is an incomplete faceaug GANimation training checkpoint (no ganimation settings).")
    return payload


def config_from_checkpoint(payload: dict[str, Any], path: Path | str = "a stored checkpoint") -> GanimationConfig:
    """The GanimationConfig stored in a checkpoint: missing keys (older files) take the defaults, unknown keys
    (another version) are a UserError naming them, as in a --config file."""
    return section_from_dict(
        GanimationConfig, "ganimation", payload.get("ganimation"), f"the settings stored in {path}"
    )
