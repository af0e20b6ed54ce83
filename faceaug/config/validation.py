"""Allowed values of the settings, written beside each field (`limit`), and the one pass that checks them
(`validate` for a whole Config, `check_section` for one section read from a stored file)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple

from faceaug.errors import UserError

#: the key of a field's metadata that holds its limits
LIMITS = "limits"


def limit(
    default: Any,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    one_of: tuple[str, ...] | None = None,
    not_below: str | None = None,
    zero_means: str | None = None,
) -> Any:
    """A dataclass field whose allowed values sit beside it: bounds (`ge`/`gt` below, `le`/`lt` above; inclusive
    and exclusive), a tuple of allowed names (`one_of`), another field of the same section it may not be below
    (`not_below`), and what 0 means when 0 is the lowest value (`zero_means`, said in the message)."""
    given = {"ge": ge, "gt": gt, "le": le, "lt": lt, "one_of": one_of, "not_below": not_below}
    limits = {key: value for key, value in given.items() if value is not None}
    if zero_means is not None:
        limits["zero_means"] = zero_means
    return dataclasses.field(default=default, metadata={LIMITS: limits})


def _bound_problem(value: float, limits: Mapping[str, Any]) -> str | None:
    """Why `value` is outside the field's bounds (a phrase such as "must be in [0, 1)"), or None."""
    low, low_in = (limits["ge"], True) if "ge" in limits else (limits.get("gt"), False)
    high, high_in = (limits["le"], True) if "le" in limits else (limits.get("lt"), False)
    low_ok = low is None or (value >= low if low_in else value > low)
    high_ok = high is None or (value <= high if high_in else value < high)
    if low_ok and high_ok:
        return None
    if high is None:
        zero = f" ({limits['zero_means']})" if low == 0 and "zero_means" in limits else ""
        return f"must be {low:g}{zero} or more" if low_in else f"must be more than {low:g}"
    if low is None:
        return f"must be {high:g} or less" if high_in else f"must be less than {high:g}"
    return f"must be in {'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"


def field_problem(section: object, name: str, section_name: str) -> str | None:
    """Why the value of field `name` of the section dataclass `section` is not allowed (a phrase), or None."""
    limits = next(f for f in dataclasses.fields(section) if f.name == name).metadata.get(LIMITS, {})
    value = getattr(section, name)
    if "one_of" in limits:
        return None if value in limits["one_of"] else f"must be one of {', '.join(limits['one_of'])}"
    problem = _bound_problem(value, limits)
    other = limits.get("not_below")
    if problem is None and other is not None and value < getattr(section, other):
        return f"must not be below {section_name}.{other} ({getattr(section, other)!r})"
    return problem


class Given(NamedTuple):
    """How the user gave a setting, for messages: `name` says it ("--epochs", "Setting ganimation.epochs"),
    `where` where it came from ("" or e.g. "from c.toml")."""

    name: str
    where: str = ""


def check_section(section: object, section_name: str, given: Mapping[str, Given] | None = None) -> None:
    """Check every limited field of one section; the first problem is a UserError naming the setting as the user
    gave it (`given`, keyed by "section.field"; "Setting section.field" when absent)."""
    for f in dataclasses.fields(section):
        problem = field_problem(section, f.name, section_name) if LIMITS in f.metadata else None
        if problem:
            dotted = f"{section_name}.{f.name}"
            said = (given or {}).get(dotted, Given(f"Setting {dotted}"))
            where = f" ({said.where})" if said.where else ""
            raise UserError(f"{said.name} {problem}, got {getattr(section, f.name)!r}{where}.")


def validate(cfg: object, given: Mapping[str, Given] | None = None) -> None:
    """The one validation pass of a whole Config: every section's limits (`check_section`)."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            check_section(value, f.name, given)
