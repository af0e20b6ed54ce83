"""faceaug's model files: tensors in safetensors, with one JSON object in the header metadata (key "faceaug").

The one home of that layout for every model (GANimation, SinGAN): writes are atomic, reads hand back the parsed
header (None when the file has no faceaug header) and the tensors, or raise `NotSafetensors`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from faceaug.errors import UserError
from faceaug.io.atomic import atomic_path

HEADER_KEY = "faceaug"


class NotSafetensors(ValueError):
    """The file is not a readable safetensors file (another format, or damaged)."""


def save_with_header(tensors: dict, header: dict[str, Any], path: Path) -> Path:
    from safetensors.torch import save_file  # here, so that importing faceaug.io stays light

    with atomic_path(Path(path)) as tmp:
        save_file(tensors, str(tmp), metadata={HEADER_KEY: json.dumps(header)})
    return Path(path)


def read_with_header(path: Path) -> tuple[dict[str, Any] | None, dict]:
    """(header, tensors); the header is None when the file has none or it is not a JSON object."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise NotSafetensors(str(exc)) from None
    try:
        header = json.loads(metadata[HEADER_KEY])
    except (KeyError, TypeError, ValueError):
        header = None
    return (header if isinstance(header, dict) else None), tensors


def read_model_file(path: Path, what: str, missing: str | None = None) -> tuple[dict[str, Any] | None, dict]:
    """`read_with_header` for a file a user named: a missing (message `missing`, default "WHAT PATH does not
    exist.") or unreadable file is a UserError of one sentence."""
    path = Path(path)
    if not path.is_file():
        raise UserError(missing or f"{what} {path} does not exist.")
    try:
        return read_with_header(path)
    except NotSafetensors as exc:
        raise UserError(f"{what} {path} could not be read: {exc}.") from None


def weights_id(state) -> str:
    """A short hash of the weights themselves (a state dict's names, dtypes, shapes, values): the model id recorded
    in manifests and provenance (GANimation generators, AU estimators), the same whatever file format holds them."""
    import torch  # here, so that importing faceaug.io stays light

    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()[:12]
