"""The Action-Unit catalogue, expression presets and AU-spec parsing — the single source of truth.

Every module that needs the AU list, the OpenFace column names, the 0–5 ↔ 0–1 normalisation or a preset imports
it from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from faceaug.errors import UserError
from faceaug.labels import label_problem

#: The 17 OpenFace intensity AUs, in GANimation order (the order of every AU vector in faceaug).
AU_CATALOGUE: tuple[tuple[str, str], ...] = (
    ("AU01", "inner brow raiser"),
    ("AU02", "outer brow raiser"),
    ("AU04", "brow lowerer"),
    ("AU05", "upper lid raiser"),
    ("AU06", "cheek raiser"),
    ("AU07", "lid tightener"),
    ("AU09", "nose wrinkler"),
    ("AU10", "upper lip raiser"),
    ("AU12", "lip corner puller"),
    ("AU14", "dimpler"),
    ("AU15", "lip corner depressor"),
    ("AU17", "chin raiser"),
    ("AU20", "lip stretcher"),
    ("AU23", "lip tightener"),
    ("AU25", "lips part"),
    ("AU26", "jaw drop"),
    ("AU45", "blink"),
)
AU_NAMES: tuple[str, ...] = tuple(name for name, _ in AU_CATALOGUE)
AU_FACS_NAMES: dict[str, str] = dict(AU_CATALOGUE)
N_AUS = len(AU_NAMES)
AU_INDEX: dict[str, int] = {name: i for i, name in enumerate(AU_NAMES)}

#: OpenFace CSV column names: `AUxx_r` intensity (0–5) and `AUxx_c` presence (0/1).
AU_INTENSITY_COLUMNS: tuple[str, ...] = tuple(f"{name}_r" for name in AU_NAMES)
AU_PRESENCE_COLUMNS: tuple[str, ...] = tuple(f"{name}_c" for name in AU_NAMES)
#: Column names of the 17 presence flags in faceaug's own tables.
AU_PRESENT_NAMES: tuple[str, ...] = tuple(f"{name}_present" for name in AU_NAMES)

OPENFACE_MAX_INTENSITY = 5.0

#: faces.parquet `au_source` of a face whose AUs are its label's prototype (`preprocess --aus-from-labels`).
LABEL_PROTOTYPE = "label_prototype"

#: Expression prototypes (EMFACS-style) on the model's 0–1 scale. The AUs follow REFERENCE.md; the intensities
#: are a design choice. Data, not code: add a class by adding a line.
PRESETS: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"AU06": 0.7, "AU12": 1.0},
    "sad": {"AU01": 0.7, "AU04": 0.6, "AU15": 0.8, "AU17": 0.4},
    "surprise": {"AU01": 0.8, "AU02": 0.8, "AU05": 0.7, "AU26": 0.8},
    "fear": {"AU01": 0.7, "AU02": 0.5, "AU04": 0.5, "AU05": 0.7, "AU07": 0.4, "AU20": 0.7, "AU26": 0.5},
    "angry": {"AU04": 0.9, "AU05": 0.5, "AU07": 0.7, "AU23": 0.7},
    "disgust": {"AU09": 0.9, "AU10": 0.5, "AU15": 0.5, "AU17": 0.4},
    "contempt": {"AU12": 0.5, "AU14": 0.8},
}
PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)


def openface_to_unit(intensity: np.ndarray | float) -> np.ndarray:
    """OpenFace intensity (0–5) → model scale (0–1), clipped; float32."""
    return np.clip(np.asarray(intensity, dtype=np.float32) / OPENFACE_MAX_INTENSITY, 0.0, 1.0)


def unit_to_openface(value: np.ndarray | float) -> np.ndarray:
    """Model scale (0–1) → OpenFace intensity (0–5), clipped; float32."""
    return np.clip(np.asarray(value, dtype=np.float32), 0.0, 1.0) * np.float32(OPENFACE_MAX_INTENSITY)


def au_vector(values: dict[str, float]) -> np.ndarray:
    """A dict {AU name: 0–1 intensity} → the 17-vector in catalogue order (missing AUs are 0)."""
    vec = np.zeros(N_AUS, dtype=np.float32)
    for name, value in values.items():
        vec[AU_INDEX[name]] = value
    return vec


def preset_vector(name: str) -> np.ndarray:
    """The AU vector of a preset expression (raises UserError for unknown names)."""
    if name not in PRESETS:
        raise UserError(f"Unknown expression preset {name!r}. Valid presets: {', '.join(PRESET_NAMES)}.")
    return au_vector(PRESETS[name])


@dataclass(frozen=True)
class TargetClass:
    """A target expression: a class label and its AU vector (0–1, catalogue order)."""

    name: str
    aus: tuple[float, ...]

    @property
    def vector(self) -> np.ndarray:
        return np.asarray(self.aus, dtype=np.float32)


_AU_TERM = re.compile(r"^\s*(AU\d{1,2})\s*=\s*([-+0-9.eE]+)\s*$", re.IGNORECASE)


def _normalise_au_name(raw: str) -> str:
    digits = raw.upper()[2:]
    name = f"AU{int(digits):02d}"
    if name not in AU_INDEX:
        raise UserError(f"Unknown action unit {raw!r}. Valid AUs: {', '.join(AU_NAMES)}.")
    return name


def _parse_custom(spec: str, name: str | None) -> TargetClass:
    values: dict[str, float] = {}
    for term in spec.split(","):
        match = _AU_TERM.match(term)
        if not match:
            raise UserError(
                f"Malformed AU term {term.strip()!r} in {spec!r}: expected AUxx=value, e.g. 'AU06=0.8,AU12=1.0'."
            )
        au = _normalise_au_name(match.group(1))
        try:
            value = float(match.group(2))
        except ValueError:
            raise UserError(f"AU intensity {match.group(2)!r} in {spec!r} is not a number.") from None
        if not 0.0 <= value <= 1.0:
            raise UserError(f"AU intensity {au}={value} is outside 0–1 (faceaug uses OpenFace intensity / 5).")
        if au in values:
            raise UserError(f"{au} is given twice in {spec!r}.")
        values[au] = value
    label = name or "custom_" + "_".join(f"{au}-{values[au]:g}" for au in sorted(values))
    return TargetClass(label, tuple(float(v) for v in au_vector(values)))


def parse_au_spec(spec: str) -> list[TargetClass]:
    """Parse an `--au-preset` value into target classes.

    Accepted: a preset name (``happy``), a comma list of names (``happy,sad``), ``all``, a custom AU spec
    (``AU06=0.8,AU12=1.0``) or a named custom class (``smile:AU06=0.8,AU12=1``). Several items are separated by
    ``;`` when one of them is a custom spec (``happy;smile:AU12=0.6``).
    """
    spec = (spec or "").strip()
    if not spec:
        raise UserError(f"Empty AU spec. Use a preset ({', '.join(PRESET_NAMES)}), 'all' or e.g. 'AU06=0.8,AU12=1.0'.")
    items = [part.strip() for part in spec.split(";")] if ("=" in spec) else [p.strip() for p in spec.split(",")]
    classes: list[TargetClass] = []
    for item in items:
        if not item:
            continue
        if "=" in item:
            name = None
            if ":" in item:
                name, item = (s.strip() for s in item.split(":", 1))
                problem = label_problem(name)
                if problem:
                    raise UserError(f"Class name {name!r} is not usable: {problem}.")
            classes.append(_parse_custom(item, name))
        elif item.lower() == "all":
            classes.extend(TargetClass(n, tuple(float(v) for v in preset_vector(n))) for n in PRESET_NAMES)
        else:
            key = item.lower()
            if key not in PRESETS:
                raise UserError(
                    f"Unknown expression preset {item!r}. Valid: {', '.join(PRESET_NAMES)}, 'all', "
                    "or a custom spec like 'AU06=0.8,AU12=1.0' (named: 'smile:AU06=0.8,AU12=1')."
                )
            classes.append(TargetClass(key, tuple(float(v) for v in preset_vector(key))))
    names = [c.name for c in classes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserError(f"Target class(es) given more than once: {', '.join(duplicates)}.")
    if not classes:
        raise UserError(f"No target classes in {spec!r}.")
    return classes
