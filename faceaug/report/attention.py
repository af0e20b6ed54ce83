"""The attention masks of the contact sheets: recomputed with the expansion's GANimation editor, as expand made
them, each once (per-image scoring uses them first, then the sheets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from faceaug.aus import AU_NAMES
from faceaug.errors import UserError
from faceaug.inference.au_coherence import coherent_sources
from faceaug.report.inputs import ReportInputs


def expansion_editor(inputs: ReportInputs, device: str):
    """The expansion's GANimation editor, for the attention masks of the contact sheets (None if unavailable)."""
    model = inputs.settings.get("expand", {}).get("ganimation_model", {}).get("path")
    if not model or not Path(model).is_file():
        return None
    from faceaug.inference.editor import GanimationEditor

    try:
        return GanimationEditor.load(Path(model), device)
    except (UserError, OSError, ValueError, RuntimeError):
        return None


class Attention:
    """Attention masks of edit rows from the expansion's editor, each computed once (scoring, then the sheets)."""

    def __init__(self, editor, faces: pd.DataFrame):
        self.editor, self.own, self.masks = editor, faces.set_index("face_id")[list(AU_NAMES)], {}

    def __call__(self, sources: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
        source_aus = self.own.reindex(rows["source_id"]).fillna(0.0).to_numpy(np.float32)
        masks = self.editor.edit(sources, rows[list(AU_NAMES)].to_numpy(np.float32), source_aus)[1]
        self.masks.update(zip(rows["id"], masks))
        return masks

    def of(self, edit: pd.Series, source: np.ndarray) -> np.ndarray:
        if edit["id"] not in self.masks:
            self(source[None], edit.to_frame().T)
        return self.masks[edit["id"]]


def attention_of(editor, inputs: ReportInputs) -> Attention | None:
    """The masks as expand made them: with the source AUs it gave the editor (inference.au_coherence)."""
    if editor is None or inputs.faces is None:
        return None
    try:
        faces = coherent_sources(inputs.faces, editor.condition, editor.provenance).sources
    except UserError:  # expand would have refused these sources: its masks cannot be recomputed faithfully
        return None
    return Attention(editor, faces)
