"""GANimation files: the model file expand reads (models/ganimation.pt) and the resumable training checkpoints.

Both are written atomically with `torch.save` and hold only tensors, numbers, strings, lists and dicts, so they
load with `torch.load(weights_only=True)` — a file carrying pickled code is refused, never executed.

Model file: {"format": MODEL_FORMAT, "version", "generator": state dict (the weight average when training kept
one, `ema_decay`), "ganimation": GanimationConfig as a dict, "au_names": [...], "image_size": int,
"crop_template": id of the crop framing, "origin": "trained" | "imported"}.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from faceaug import __version__
from faceaug.aus import AU_NAMES
from faceaug.config import GanimationConfig, section_from_dict
from faceaug.errors import UserError
from faceaug.io.atomic import save_torch_atomic
from faceaug.io.versions import check_format_version

MODEL_FORMAT = "faceaug-ganimation"
MODEL_VERSION = 1
CHECKPOINT_FORMAT = "faceaug-ganimation-checkpoint"
CHECKPOINT_VERSION = 1
_MODEL_KEYS = ("generator", "ganimation", "au_names", "image_size", "crop_template")


def crop_template_id() -> str:
    """A short id of the face framing (faceaug.preprocess.align.CROP_TEMPLATE) models are trained on."""
    from faceaug.preprocess.align import CROP_TEMPLATE

    blob = json.dumps(dataclasses.asdict(CROP_TEMPLATE), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _load(path: Path, what: str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} {path} does not exist.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 — any unreadable or unsafe file is the user's to fix
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path} is not a faceaug {what.lower()} (it cannot be loaded safely: {first}).") from None
    if not isinstance(payload, dict):
        raise UserError(f"{path} is not a faceaug {what.lower()}.")
    return payload


def save_model_file(path: Path, generator_state: dict[str, torch.Tensor], cfg: GanimationConfig, *,
                    origin: str = "trained", au_names: tuple[str, ...] = AU_NAMES) -> Path:
    """Write the inference model (generator weights + what expand must check), atomically."""
    payload = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "generator": {k: v.detach().cpu().clone() for k, v in generator_state.items()},
        "ganimation": dataclasses.asdict(cfg),
        "au_names": list(au_names),
        "image_size": int(cfg.image_size),
        "crop_template": crop_template_id(),
        "origin": origin,
        "faceaug_version": __version__,
    }
    return save_torch_atomic(payload, path)


def load_model_file(path: Path) -> dict[str, Any]:
    """Read a model file written by `save_model_file`; anything else is a UserError."""
    payload = _load(path, "GANimation model")
    if payload.get("format") != MODEL_FORMAT:
        raise UserError(f"{path} is not a faceaug GANimation model (train one with `faceaug train` or convert "
                        "published weights with `faceaug import-ganimation`).")
    check_format_version(path, "GANimation model", payload.get("version", 0), MODEL_VERSION,
                         payload.get("faceaug_version"))
    missing = [key for key in _MODEL_KEYS if key not in payload]
    if missing:
        raise UserError(f"{path} is an incomplete faceaug GANimation model (no {', '.join(missing)}).")
    return payload


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    return save_torch_atomic({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
                              "faceaug_version": __version__, **payload}, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    payload = _load(path, "Checkpoint")
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path} is not a faceaug GANimation training checkpoint.")
    check_format_version(path, "GANimation training checkpoint", payload.get("version", 1), CHECKPOINT_VERSION,
                         payload.get("faceaug_version"))
    if "ganimation" not in payload:
        raise UserError(f"{path} is an incomplete faceaug GANimation training checkpoint (no ganimation settings).")
    return payload


def config_from_model(payload: dict[str, Any], path: Path | str = "a stored model") -> GanimationConfig:
    """The GanimationConfig stored in a model file or checkpoint: missing keys (older files) take the defaults,
    unknown keys (another version) are a UserError naming them, as in a --config file."""
    return section_from_dict(GanimationConfig, "ganimation", payload.get("ganimation"),
                             f"the settings stored in {path}")
