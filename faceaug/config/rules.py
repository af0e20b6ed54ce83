"""Settings that follow from other settings: the only places where giving one value changes another.

`RULES` apply within each layer the resolver reads (a profile, a `--config` file, the command line): when a layer
gives one of a rule's settings and not the one it implies, the implied value is added to that layer, so a later
layer still overrides it and an earlier layer's value is replaced. Stored configs are complete and need none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Implied:
    """Within one layer, giving any of `given` in `section` without `then` sets `then` to `value` (`why`: the
    reason, for readers and messages)."""

    section: str
    given: tuple[str, ...]
    then: str
    value: Any
    why: str


RULES: tuple[Implied, ...] = (
    Implied(
        "ganimation",
        ("epochs", "epochs_decay"),
        "steps",
        0,
        "asking for epochs means counting epochs, not a profile's step budget",
    ),
    Implied(
        "ganimation",
        ("lambda_au",),
        "lambda_au_prototypes",
        0.0,
        "an AU weight asked for is the weight, whatever the training faces' AUs",
    ),
)


def with_implied(section: str, values: Any) -> Any:
    """One section of one layer with what `RULES` imply added (anything but a table is returned as it is, for the
    loader to refuse)."""
    if not isinstance(values, Mapping):
        return values
    implied = dict(values)
    for rule in RULES:
        if rule.section == section and set(rule.given) & values.keys() and rule.then not in values:
            implied[rule.then] = rule.value
    return implied


#: `faceaug train --init` without --steps or --epochs: the fine-tuning budget that measured best
#: (docs/bundled-editor.md)
FINE_TUNE_STEPS = 3000


def train_steps_flag(steps: int | None, epochs: int | None, fine_tuning: bool) -> int | None:
    """The `ganimation.steps` that `faceaug train`'s flags ask for: --steps when given; when fine-tuning (--init)
    with neither --steps nor --epochs, `FINE_TUNE_STEPS`, which like a typed flag overrides the config file's
    schedule; else None (not given)."""
    if fine_tuning and steps is None and epochs is None:
        return FINE_TUNE_STEPS
    return steps
