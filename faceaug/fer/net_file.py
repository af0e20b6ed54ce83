"""What faceaug's FerNet-based models share: grey face crops as input, and a model file (safetensors weights + a JSON
header with a `kind`, the network config and the model's own fields; read and written by `faceaug.io.model_file`,
unversioned: such files read as format 1). The AU estimator and the expression judge use it."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from faceaug.errors import UserError
from faceaug.fer.model import FerNet, FerNetConfig
from faceaug.io.images import resize_face
from faceaug.io.model_file import FileKind, layer_weight, load_weights, read_model_file, write_model_file
from faceaug.io.safetensors_files import check_architecture
from faceaug.models.tensors import to_model_range


def grey_input(images: np.ndarray, size: int) -> torch.Tensor:
    """uint8 faces (N, H, W[, 3]) → the network's input (N, 1, size, size) in [−1, 1]."""
    grey = [
        cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) if f.ndim == 3 and f.shape[-1] == 3 else np.squeeze(f)
        for f in (resize_face(np.ascontiguousarray(im, np.uint8), size) for im in images)
    ]
    if not grey:
        return torch.zeros((0, 1, size, size))
    return to_model_range(torch.from_numpy(np.stack(grey))[:, None])


def net_header(net: FerNet, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The JSON header of a FerNet model file: {kind, the net config, **fields}."""
    return {"kind": kind, "net": asdict(net.config), **fields}


def _file_kind(kind: str, what: str) -> FileKind:
    """A FerNet model file of `kind`: the kind under "kind", no version, the network config and image side needed."""
    return FileKind(kind, what, key="kind", versioned=False, required=("net", "image_size"))


def save_net(net: FerNet, header: dict[str, Any], path: Path) -> Path:
    """Write `net` with `header` (net_header) atomically."""
    return write_model_file(net.state_dict(), header, Path(path), _file_kind(header["kind"], "FerNet model"))


def _checked_config(path: Path, what: str, values: Any, tensors: dict[str, torch.Tensor]) -> FerNetConfig:
    """The network config of the header, checked against the stored weights before a network of its size is built."""
    known = set(FerNetConfig.__dataclass_fields__)
    if not isinstance(values, dict) or "n_classes" not in values or set(values) - known:
        raise UserError(f"{path} is a damaged faceaug {what}: its network settings are incomplete or unknown.")
    cfg = FerNetConfig(**values)
    stem = layer_weight(path, what, tensors, "body.0.0.weight", 4)
    head = layer_weight(path, what, tensors, "head.3.weight", 2)
    stages = sum(1 for name in tensors if re.fullmatch(r"body\.\d+\.0\.weight", name)) - 1  # stem + stages
    check_architecture(
        path,
        what,
        {
            "width": (cfg.width, int(stem.shape[0]), 1, 4096),
            "in_channels": (cfg.in_channels, int(stem.shape[1]), 1, 4),
            "stages": (cfg.stages, stages, 0, 16),
            "n_classes": (cfg.n_classes, int(head.shape[0]), 1, 100_000),
        },
    )
    return cfg


def load_net(path: Path, kind: str, what: str, missing: str | None = None) -> tuple[FerNet, dict[str, Any]]:
    """(the network in eval mode, the header) of a file written by `save_net` with this `kind`; anything else is a
    UserError naming `what` it should have been (`missing`: the message for a missing file)."""
    path = Path(path)
    header, tensors = read_model_file(path, _file_kind(kind, what), missing)
    net = load_weights(FerNet(_checked_config(path, what, header["net"], tensors)), tensors, path, what)
    return net.eval(), header
