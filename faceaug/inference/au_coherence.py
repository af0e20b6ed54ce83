"""Does a GANimation model's conditioning mean the same thing on these source faces?

A relative-conditioned generator (`condition = "relative"`, the `fast` profile's) is given target − the source
face's own AUs. What "the face's own AUs" are depends on where they came from at training time: measured ones
(OpenFace, or the OpenFace values of GANimation's published AU pickle) or the preset prototype of the face's label
(`preprocess --aus-from-labels`). A model trained on one kind and given the other is told a change that means
something else (a prototype-trained model has only ever seen changes between prototypes).

The model file records its training faces' AU sources (provenance["training"]["au_sources"], by `faceaug train`),
and `coherent_sources` decides, before any edit is planned:

* absolute-conditioned model: the source AUs are not used, nothing to check;
* model trained on both kinds, or a model file that does not record them (imported, older faceaug): used as is;
* trained on label prototypes, sources with measured AUs: adapted, each source is given its label's prototype,
  which is what the model learned to read (a source whose label has no prototype is refused);
* trained on measured AUs, sources with label prototypes: refused (UserError, exit 2): a prototype is not the
  face's measured AUs, and nothing here can measure them.

`faceaug expand` plans with the adapted table (so the edits, the quality gate and the manifest's continuous targets
agree) and records the decision in expand.json; `faceaug report` recomputes attention with the same table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from faceaug.aus import AU_NAMES, LABEL_PROTOTYPE, PRESETS, preset_vector
from faceaug.errors import UserError


def au_kind(au_source: str) -> str:
    """ "prototype" or "measured" for a faces.parquet au_source value (openface, and the OpenFace values of
    GANimation's published pickle, are measured)."""
    return "prototype" if au_source == LABEL_PROTOTYPE else "measured"


def trained_au_sources(provenance: Mapping[str, Any]) -> dict[str, int] | None:
    """{au_source: faces} of the model's training faces, or None when the model file does not record it."""
    recorded = (provenance.get("training") or {}).get("au_sources")
    return {str(k): int(v) for k, v in recorded.items()} if isinstance(recorded, Mapping) else None


@dataclass(frozen=True)
class SourceAus:
    """The source table with the AU columns a relative-conditioned editor is to be given, and what was decided."""

    sources: pd.DataFrame
    decision: str  # not_used | as_is | unrecorded | adapted_to_prototypes
    adapted: int = 0  # sources whose AUs were replaced
    trained_on: dict[str, int] | None = None

    def summary(self) -> dict[str, Any]:
        return {"decision": self.decision, "adapted": self.adapted, "trained_on": self.trained_on}

    def note(self) -> str | None:
        """One sentence for the user when something was adapted or could not be checked."""
        if self.decision == "adapted_to_prototypes":
            return (
                f"The model was trained on label-prototype AUs (--aus-from-labels): {self.adapted} source faces "
                "with measured AUs are given their label's prototype instead, which is what the model learned "
                "to read."
            )
        if self.decision == "unrecorded":
            return (
                "The model file does not record its training faces' AU source; the source faces' own AUs are "
                "used as they are."
            )
        return None


def coherent_sources(
    sources: pd.DataFrame, condition: str, provenance: Mapping[str, Any], model_name: str = "the model"
) -> SourceAus:
    """Adapt `sources` (faces.parquet rows) to the model's conditioning, or raise UserError (see module doc)."""
    trained = trained_au_sources(provenance)
    if condition == "absolute":
        return SourceAus(sources, "not_used", trained_on=trained)
    if trained is None:
        return SourceAus(sources, "unrecorded")
    trained_kinds = {au_kind(source) for source, n in trained.items() if n > 0}
    kinds = sources["au_source"].map(au_kind)
    if len(trained_kinds) != 1:  # trained on both kinds (or on nothing recorded): either means what it learned
        return SourceAus(sources, "as_is", trained_on=trained)
    if trained_kinds == {"measured"}:
        if (kinds == "prototype").any():
            n = int((kinds == "prototype").sum())
            raise UserError(
                f"{model_name} edits relative to the source face's own AUs and was trained on measured AUs "
                f"({_describe(trained)}), but {n} of the {len(sources)} source faces have label-prototype AUs "
                "(--aus-from-labels): the change it would be given means something else. Give these faces OpenFace "
                'AUs (`faceaug preprocess --au-dir`), or use a model trained with condition = "absolute" '
                "([ganimation] of a --config file), which does not read the source's AUs."
            )
        return SourceAus(sources, "as_is", trained_on=trained)
    measured = kinds == "measured"
    if not measured.any():
        return SourceAus(sources, "as_is", trained_on=trained)
    labels = sources.loc[measured, "label"].str.lower()
    unknown = sorted(set(labels[~labels.isin(list(PRESETS))]))
    if unknown:
        raise UserError(
            f"{model_name} was trained on label-prototype AUs (--aus-from-labels) and edits relative to them, but "
            f"source labels {', '.join(unknown)} have no prototype to give it (known: {', '.join(PRESETS)}). Use "
            "sources with these labels only, or a model trained on measured AUs."
        )
    adapted = sources.copy()
    adapted.loc[measured, list(AU_NAMES)] = [preset_vector(label) for label in labels]
    return SourceAus(adapted, "adapted_to_prototypes", adapted=int(measured.sum()), trained_on=trained)


def _describe(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {source}" for source, n in Counter(counts).most_common())
