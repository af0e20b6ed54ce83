"""Files written with `torch.save` (training checkpoints, model files of faceaug ≤ 0.x): atomic writes, and reads
with `weights_only=True`, so a file carrying pickled code is refused, never executed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faceaug.errors import UserError
from faceaug.io.atomic import atomic_path


def save_torch_atomic(payload: Any, path: Path) -> Path:
    """`torch.save` through `atomic_path`: a crash never leaves half a file."""
    import torch  # here, so that importing faceaug.io stays light

    with atomic_path(Path(path)) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_torch_safely(path: Path, what: str) -> dict[str, Any]:
    """A dict saved with `torch.save`, loaded with `weights_only=True`; anything else is a UserError naming `what`."""
    import torch

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
