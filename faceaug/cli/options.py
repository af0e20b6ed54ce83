"""Options shared by several commands (one definition each) and how a command resolves its config from them."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from faceaug.config import PROFILE_NAMES, SECTIONS, SINGAN_MODES, Config, resolve_config
from faceaug.console import debug
from faceaug.errors import UserError


def choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A str Enum of allowed names for typer, built from the tuple that is their one home (faceaug.config)."""
    return Enum(name, {value.replace("-", "_"): value for value in values}, type=str)


Profile = choices("Profile", PROFILE_NAMES)
SinganMode = choices("SinganMode", SINGAN_MODES)

ProfileOpt = Annotated[
    Optional[Profile],
    typer.Option("--profile", help="Hyperparameter profile: 'fast' (CPU-feasible, default) or 'paper' (GPU)."),
]
ConfigOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--config",
        help="TOML file overriding the profile (sections: preprocess, ganimation, singan, "
        "expand, patch). Flags override the file.",
    ),
]
#: --device of the commands without a config
DeviceOpt = Annotated[str, typer.Option("--device", help="auto (CUDA if present), cpu, cuda or cuda:N.")]
#: --device of the commands with a config: not given, the config file's `device` holds
ConfigDeviceOpt = Annotated[
    Optional[str],
    typer.Option(
        "--device", help="auto (CUDA if present), cpu, cuda or cuda:N [default: the config file's `device`, else auto]."
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for every random draw.")]
ConfigSeedOpt = Annotated[
    Optional[int],
    typer.Option("--seed", help="Seed for every random draw [default: the config file's `seed`, else 0]."),
]


def resolve(
    profile: Optional[Enum],
    config: Optional[Path],
    seed: Optional[int],
    device: Optional[str],
    flags: dict[str, tuple[str, Any]],
) -> Config:
    """The command's config: profile < --config file < the flags the user typed, checked by the config's one
    validation pass. `flags` maps each flag to (its setting, its value; None = not given), so that a bad value's
    message names the flag. With -v, prints the resolved config."""
    overrides = {setting: value.value if isinstance(value, Enum) else value for setting, value in flags.values()}
    names = {setting: flag for flag, (setting, _) in flags.items()}
    cfg = resolve_config(
        profile.value if profile else None, config, overrides, seed=seed, device=device, flag_names=names
    )
    given = {k: v for k, v in overrides.items() if v is not None}
    debug(
        escape(
            f"config: profile {cfg.profile}, seed {cfg.seed}, device {cfg.device}"
            + (f", file {config}" if config else "")
            + (f", flags {given}" if given else "")
        )
    )
    for section in SECTIONS:
        debug(escape(f"  [{section}] " + ", ".join(f"{k}={v}" for k, v in getattr(cfg, section).__dict__.items())))
    return cfg


def positive(name: str, value: Optional[float]) -> None:
    """For flags that are no settings of the config (settings are checked by its validation pass)."""
    if value is not None and value <= 0:
        raise UserError(f"{name} must be positive, got {value}.")


def require_work_dir(work_dir: Path) -> None:
    """Checked before a command takes the lock of a folder inside WORK_DIR (which would create WORK_DIR)."""
    if not work_dir.is_dir():
        raise UserError(f"Work folder {work_dir} does not exist. Run `faceaug preprocess DATA --out {work_dir}` first.")
