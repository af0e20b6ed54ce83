"""Files written with `torch.save` (training checkpoints): atomic writes, and reads
with `weights_only=True`, so a file carrying pickled code is refused, never executed."""

from __future__ import annotations

import re
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


#: Terminal colour codes PyTorch puts into its messages.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Sentences of PyTorch's weights_only messages that advise loading the file anyway (`weights_only=False`, or
#: allow-listing the classes it names): that would run whatever code the file carries, so faceaug never repeats them.
_ADVICE = re.compile(r"weights.?only|can still be loaded|trust|safe_globals|arbitrary code|file an issue", re.I)


def load_failure(exc: BaseException) -> str:
    """Why `torch.load` refused a file, as one clause for a message: the unpickler's reason when it gives one
    (e.g. "Unsupported global: GLOBAL posix.system was not an allowed global by default"), never PyTorch's advice
    to load the file unsafely."""
    text = _ANSI.sub("", str(exc))
    unpickler = re.search(r"WeightsUnpickler error:\s*([^\n]*)", text)
    if unpickler:
        text = unpickler.group(1)
    sentences = [s.strip() for s in re.split(r"(?<=\.)\s+|\n", text) if s.strip()]
    if not sentences:
        return type(exc).__name__  # e.g. an EOFError of a truncated file, which has no text
    kept = [s for s in sentences if not _ADVICE.search(s)]
    return kept[0].rstrip(".") if kept else "it holds more than tensors and plain values"


def load_torch_safely(path: Path, what: str) -> dict[str, Any]:
    """A dict saved with `torch.save`, loaded with `weights_only=True`; anything else is a UserError naming `what`."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} {path} does not exist.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 — any unreadable or unsafe file is the user's to fix
        raise UserError(
            f"{path} is not a faceaug {what.lower()} (it cannot be loaded safely: {load_failure(exc)})."
        ) from None
    if not isinstance(payload, dict):
        raise UserError(f"{path} is not a faceaug {what.lower()}.")
    return payload
