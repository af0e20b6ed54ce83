"""Configuration: named profiles (`fast`, `paper`), TOML overrides, flags, and the resolved-config JSON.

Precedence, lowest first: the profile's values < the TOML file given with `--config` < command-line flags.
A TOML file has one table per section, e.g.::

    [ganimation]
    image_size = 64
    lambda_au = 160.0

    [singan]
    iters_per_scale = 500

One home per concern: `sections` (the settings, each with its allowed values beside it, and the names users choose
from), `profiles`, `rules` (settings that follow from other settings), `validation` (the one check of the limits),
`loading` (TOML files, the resolver, stored configs, the resolved-config JSON).
"""

from faceaug.config.loading import (
    check_known_keys,
    config_from_dict,
    dumps,
    load_toml,
    resolve_config,
    section_from_dict,
    write_resolved_config,
)
from faceaug.config.profiles import DEFAULT_PROFILE, PROFILE_NAMES, PROFILES
from faceaug.config.rules import FINE_TUNE_STEPS, RULES, Implied, train_steps_flag, with_implied
from faceaug.config.sections import (
    AU_JUDGES,
    DIFFAUGMENT_POLICIES,
    EXECUTORS,
    EXPAND_MODES,
    GREYSCALE_CHOICES,
    LANDMARK_METHODS,
    REGENERATORS,
    SECTIONS,
    SINGAN_MODES,
    SPLIT_BY,
    Config,
    ExpandConfig,
    GanimationConfig,
    PatchConfig,
    PreprocessConfig,
    SinganConfig,
)
from faceaug.config.validation import Given, check_section, limit, validate

__all__ = [
    "AU_JUDGES",
    "DEFAULT_PROFILE",
    "DIFFAUGMENT_POLICIES",
    "EXECUTORS",
    "EXPAND_MODES",
    "FINE_TUNE_STEPS",
    "GREYSCALE_CHOICES",
    "LANDMARK_METHODS",
    "PROFILES",
    "PROFILE_NAMES",
    "REGENERATORS",
    "RULES",
    "SECTIONS",
    "SINGAN_MODES",
    "SPLIT_BY",
    "Config",
    "ExpandConfig",
    "GanimationConfig",
    "Given",
    "Implied",
    "PatchConfig",
    "PreprocessConfig",
    "SinganConfig",
    "check_known_keys",
    "check_section",
    "config_from_dict",
    "dumps",
    "limit",
    "load_toml",
    "resolve_config",
    "section_from_dict",
    "train_steps_flag",
    "validate",
    "with_implied",
    "write_resolved_config",
]
