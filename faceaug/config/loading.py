"""Reading settings: TOML files, the resolver (profile < file < flags), stored configs and sections, and the
resolved-config JSON. Every way in ends in the same validation pass (faceaug.config.validation)."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from faceaug import __version__
from faceaug.config.profiles import DEFAULT_PROFILE, PROFILE_NAMES, PROFILES
from faceaug.config.rules import with_implied
from faceaug.config.sections import SECTIONS, Config
from faceaug.config.validation import Given, check_section, validate
from faceaug.errors import UserError

T = TypeVar("T")

#: where the resolver's third layer comes from, in messages
COMMAND_LINE = "the command line"


def check_known_keys(known: Iterable[str], section: str, values: Any, origin: str) -> None:
    """The rule for stored settings: a table whose keys are all known; otherwise a UserError naming the rest."""
    if not isinstance(values, dict):
        raise UserError(f"'{section}' in {origin} must be a table of settings, got {type(values).__name__}.")
    known = sorted(known)
    unknown = sorted(set(values) - set(known))
    if unknown:
        names = ", ".join(f"'{section}.{key}'" for key in unknown)
        raise UserError(
            f"Unknown setting{'s' if len(unknown) > 1 else ''} {names} in {origin}. Known: {', '.join(known)}."
        )


def _coerce(value: Any, kind: type, name: str, origin: str) -> Any:
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise UserError(f"Setting '{name}' in {origin} must be {kind.__name__}, got {value!r}.")


def _checked_values(target: Any, section: str, values: Any, origin: str) -> dict[str, Any]:
    """`values` checked against the dataclass `target`: the one rule for every config read from a file (TOML, model
    files, checkpoints): unknown keys are a UserError naming them, values must have the field's type."""
    check_known_keys([f.name for f in dataclasses.fields(target)], section, values, origin)
    return {
        key: _coerce(value, type(getattr(target, key)), f"{section}.{key}", origin) for key, value in values.items()
    }


def _said(section: str, key: str, origin: str, flag_names: Mapping[str, str]) -> Given:
    """How a message names a setting: the flag the user typed, else the setting and where it came from."""
    dotted = f"{section}.{key}"
    if origin == COMMAND_LINE and dotted in flag_names:
        return Given(flag_names[dotted])
    return Given(f"Setting {dotted}", f"from {origin}")


def _apply(
    cfg: Config,
    section: str,
    values: Any,
    origin: str,
    given: dict[str, Given],
    flag_names: Mapping[str, str] | None = None,
) -> None:
    """Set one section of one layer on `cfg` (types checked; range checks come once, at the end) and note how each
    value was given, for the messages of the validation pass."""
    target = getattr(cfg, section)
    for key, value in _checked_values(target, section, values, origin).items():
        setattr(target, key, value)
        given[f"{section}.{key}"] = _said(section, key, origin, flag_names or {})


def section_from_dict(kind: type[T], section: str, values: Any, origin: str) -> T:
    """A config section or architecture (e.g. GanimationConfig, GeneratorConfig) from stored values: defaults for
    missing keys, the TOML rule for the rest and the section's limits (`origin` names the file in the message)."""
    default = kind()
    result = dataclasses.replace(default, **_checked_values(default, section, values, origin))
    check_section(
        result, section, {f"{section}.{key}": Given(f"Setting {section}.{key}", f"from {origin}") for key in values}
    )
    return result


def load_toml(path: Path) -> dict[str, Any]:
    """Read a TOML config file; unreadable or malformed files are a UserError."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UserError(f"Config file {path} does not exist.") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"Config file {path} could not be read: {exc}.") from None


def resolve_config(
    profile: str | None = None,
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    seed: int | None = None,
    device: str | None = None,
    flag_names: Mapping[str, str] | None = None,
) -> Config:
    """Build the effective config: profile < TOML file < flags, each layer with the rules of faceaug.config.rules,
    then the validation pass.

    `overrides` maps "section.field" to a value; None values (flags not given) are ignored. `flag_names` maps
    "section.field" to the flag that sets it, so that a message about a value given there names the flag.
    """
    file_values = load_toml(config_file) if config_file is not None else {}
    file_profile = file_values.pop("profile", None)
    profile = profile or file_profile or DEFAULT_PROFILE
    if profile not in PROFILES:
        raise UserError(f"Unknown profile {profile!r}. Valid profiles: {', '.join(PROFILE_NAMES)}.")
    cfg = Config(profile=profile)
    given: dict[str, Given] = {}
    for section, values in PROFILES[profile].items():
        _apply(cfg, section, with_implied(section, values), f"profile '{profile}'", given)
    origin = str(config_file)
    for key, value in file_values.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise UserError(f"'{key}' in {origin} must be a table ([{key}]).")
            _apply(cfg, key, with_implied(key, value), origin, given)
        elif key in ("seed", "device"):
            setattr(cfg, key, _coerce(value, type(getattr(cfg, key)), key, origin))
        elif key != "profile":
            raise UserError(f"Unknown top-level key '{key}' in {origin}. Known: seed, device, {', '.join(SECTIONS)}.")
    flags: dict[str, dict[str, Any]] = {}
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        if section not in SECTIONS:
            raise UserError(f"Unknown setting '{dotted}'. Sections: {', '.join(SECTIONS)}.")
        if value is not None:
            flags.setdefault(section, {})[key] = value
    for section, values in flags.items():
        _apply(cfg, section, with_implied(section, values), COMMAND_LINE, given, flag_names)
    if seed is not None:
        cfg.seed = seed
    if device is not None:
        cfg.device = device
    validate(cfg, given)
    return cfg


def config_from_dict(data: dict[str, Any]) -> Config:
    """Rebuild a Config from `Config.to_dict()` output (e.g. a resolved-config JSON), with the TOML rule and the
    validation pass. A stored config is complete, so no rule of faceaug.config.rules applies."""
    cfg = Config(profile=data.get("profile", "fast"), seed=data.get("seed", 0), device=data.get("device", "auto"))
    given: dict[str, Given] = {}
    for section in SECTIONS:
        if section in data:
            _apply(cfg, section, data[section], "a stored config", given)
    validate(cfg, given)
    return cfg


def write_resolved_config(cfg: Config, path: Path, **extra: Any) -> Path:
    """Write the resolved config (plus e.g. counts, timings) as JSON, atomically."""
    from faceaug.io.atomic import write_json_atomic

    payload = {"faceaug_version": __version__, "config": cfg.to_dict(), **extra}
    write_json_atomic(payload, path)
    return path


def dumps(cfg: Config) -> str:
    return json.dumps(cfg.to_dict(), indent=2)
