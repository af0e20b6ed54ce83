"""Format versions of the files faceaug writes: one rule, one message, for every reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faceaug import __version__
from faceaug.errors import UserError


def check_format_version(path: Path, what: str, version: Any, supported: int, written_by: Any) -> None:
    """A file of a newer format says which faceaug wrote it and what this one reads (one message for all files)."""
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise UserError(f"{path} is not a faceaug {what} (its format version {version!r} is not a number).") from None
    if version > supported:
        by = f"faceaug {written_by}" if written_by else "a newer faceaug"
        raise UserError(
            f"{path} is a {what} of format {version}, written by {by}; this faceaug {__version__} reads "
            f"format {supported} at most. Upgrade faceaug (pip install -U faceaug) to read it."
        )
