"""faceaug's model files: tensors in safetensors, with one JSON object in the header metadata (key "faceaug").

The one home of that layout for every model (GANimation, SinGAN, the FerNet files, the synthetic world's oracles):
writes are atomic, reads hand back the parsed header (None when the file has no faceaug header) and the tensors, or
raise `NotSafetensors`. A model file is input like any other: reads refuse weights that are not finite numbers
(`refuse_non_finite`), and loaders check the architecture a header claims against the tensors stored with it
(`check_architecture`) before they build a network of that size.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
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


def read_tensors(path: Path, what: str = "model file") -> tuple[dict[str, str], dict]:
    """(the file's metadata as stored, its tensors); raises `NotSafetensors`, and a UserError naming `what` for
    weights that are not finite (`refuse_non_finite`)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise NotSafetensors(str(exc)) from None
    refuse_non_finite(path, what, tensors)
    return metadata, tensors


def read_with_header(path: Path, what: str = "model file") -> tuple[dict[str, Any] | None, dict]:
    """(header, tensors); the header is None when the file has none or it is not a JSON object."""
    metadata, tensors = read_tensors(path, what)
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
        return read_with_header(path, what)
    except NotSafetensors as exc:
        raise UserError(f"{what} {path} could not be read: {exc}.") from None


def refuse_non_finite(path: Path, what: str, tensors: Mapping[str, Any]) -> None:
    """UserError when a floating-point tensor holds NaN or infinite values: such a network computes NaN, which
    becomes black or garbage images (or meaningless scores) without any error of its own."""
    import torch  # here, so that importing faceaug.io stays light

    bad = [
        name
        for name, tensor in tensors.items()
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]
    if bad:
        shown = ", ".join(sorted(bad)[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise UserError(
            f"The {what} {path} holds weights that are not finite numbers (NaN or infinite values in "
            f"{shown}), so faceaug refuses it: the file is damaged or the training that wrote it "
            "diverged; train it again or use another file."
        )


#: Largest image side a model file may claim: far above what faceaug trains (32-256 px), far below what would
#: exhaust memory when its network runs at that size.
MAX_IMAGE_SIDE = 4096


def check_architecture(path: Path, what: str, fields: Mapping[str, tuple[Any, int | None, int, int]]) -> None:
    """UserError naming the file and the field unless every architecture field the header claims is a whole number
    within its sane range and equal to the size the stored tensors have. Called before the network is built, so a
    header claiming absurd sizes is refused instead of allocating them.

    `fields`: name → (the header's value, the size the stored tensors give (None when no tensor gives it), the
    smallest and the largest sane value)."""
    for name, (value, stored, low, high) in fields.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(
                f"{path} is a damaged {what}: its architecture field {name} is {value!r}, not a whole number."
            )
        if stored is not None and value != stored:
            raise UserError(
                f"{path} is a damaged {what}: its architecture says {name} = {value}, but its stored "
                f"weights are sized for {stored}."
            )
        if not low <= value <= high:
            raise UserError(
                f"{path} is a damaged {what}: its architecture field {name} = {value} is outside "
                f"the sane range {low}-{high}."
            )


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
