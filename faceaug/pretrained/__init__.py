"""The expression editor bundled with faceaug, and which editor a command uses.

The package ships one GANimation model file, trained by the project on FER2013's train/ faces
(`python -m benchmarks.train_bundled`; its card: docs/bundled-editor.md). `expand` uses it when the work folder has
no model of its own (or with `--model bundled`); `train --init bundled` fine-tunes from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from faceaug.errors import UserError

BUNDLED = "bundled"  # what --model / --init take to name the bundled editor
BUNDLED_FILE = "ganimation-fer2013.safetensors"
BUNDLED_NAME = "faceaug-fer2013"  # how outputs name it
JUDGE_FILE = "expression-judge-fer2013.safetensors"  # the expression judge of expand's gate (faceaug.fer)


@dataclass(frozen=True)
class EditorChoice:
    """Which model file an editing command uses, how outputs name it, and whether it is the bundled one."""

    path: Path
    name: str
    bundled: bool


def _packaged(file: str, what: str, instead: str) -> Path:
    """A file shipped inside this package; a missing one (a broken installation) is a UserError."""
    path = Path(str(resources.files(__name__).joinpath(file)))
    if not path.is_file():
        raise UserError(
            f"This faceaug installation has no bundled {what} ({path} is missing); reinstall faceaug, or {instead}."
        )
    return path


def bundled_editor_path() -> Path:
    """The bundled editor's model file inside the installed package."""
    return _packaged(BUNDLED_FILE, "editor", "pass --model PATH")


def bundled_judge_path() -> Path:
    """The bundled expression judge inside the installed package."""
    return _packaged(JUDGE_FILE, "expression judge", "turn the gate off with --min-target-probability 0")


def bundled_choice() -> EditorChoice:
    return EditorChoice(bundled_editor_path(), BUNDLED_NAME, True)


def choose_editor(model: str | Path | None, own_model: Path | None = None) -> EditorChoice:
    """`--model` / `--init` as given (a path, or "bundled"), else the work folder's own model `own_model` when it
    exists, else the bundled editor."""
    if model is not None and str(model) == BUNDLED:
        return bundled_choice()
    if model is not None:
        return EditorChoice(Path(model), str(model), False)
    if own_model is not None and own_model.is_file():
        return EditorChoice(own_model, str(own_model), False)
    return bundled_choice()
