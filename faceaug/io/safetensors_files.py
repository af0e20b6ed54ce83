"""The safetensors layer under faceaug's model files: tensors in safetensors, string metadata in its header.

Writes are atomic; reads hand back the metadata as stored and the tensors, or raise `NotSafetensors`, and refuse
weights that are not finite numbers (`refuse_non_finite`). What a model file's header holds and how it is checked
is `faceaug.io.model_file`'s; loaders check the architecture a header claims against the tensors stored with it
(`check_architecture`) before they build a network of that size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from faceaug.errors import UserError
from faceaug.io.atomic import atomic_path


class NotSafetensors(ValueError):
    """The file is not a readable safetensors file (another format, or damaged)."""


def write_tensors(tensors: dict, metadata: dict[str, str], path: Path) -> Path:
    """Write `tensors` with `metadata` in the safetensors header, atomically."""
    from safetensors.torch import save_file  # here, so that importing faceaug.io stays light

    with atomic_path(Path(path)) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
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
