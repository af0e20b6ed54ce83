"""The label rule: what a class name may be. Labels become folder names (`images/<label>/`), so the rule is
strict and lives here only; the dataset reader, the AU-spec parser and the table readers all use it."""

from __future__ import annotations

import re

LABEL_PATTERN = re.compile(r"^[A-Za-z0-9_\-]+$")


def label_problem(label: str) -> str | None:
    """Why `label` can't be a class name, or None."""
    if not label:
        return "the label is empty"
    if not LABEL_PATTERN.match(label):
        return f"label {label!r} may use only ASCII letters, digits, '_' and '-'"
    return None
