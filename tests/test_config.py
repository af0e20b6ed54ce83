import dataclasses
import json
import re

import pytest

from faceaug.config import (
    RULES,
    SECTIONS,
    Config,
    GanimationConfig,
    SinganConfig,
    config_from_dict,
    resolve_config,
    section_from_dict,
    validate,
    write_resolved_config,
)
from faceaug.config.validation import LIMITS
from faceaug.errors import UserError


def test_profiles_differ_where_cpu_needs_it():
    paper, fast = resolve_config("paper"), resolve_config("fast")
    assert paper.ganimation.image_size == 128 and paper.ganimation.batch_size == 25
    assert paper.singan.iters_per_scale == 2000 and paper.singan.lambda_gp == pytest.approx(0.1)
    assert fast.ganimation.image_size < paper.ganimation.image_size
    assert fast.singan.iters_per_scale < paper.singan.iters_per_scale
    assert paper.ganimation.n_critic == 5 and paper.ganimation.lambda_au == 160  # the published setup
    assert paper.ganimation.ema_decay == 0 and paper.ganimation.au_pretrain_steps == 0  # fast-only additions
    assert 0 < fast.ganimation.ema_decay < 1
    assert resolve_config().profile == "fast"
    # variants: the paper's SinGAN per edit; on a CPU the training-free patch regenerator (same FER gain, 70x cheaper)
    assert paper.expand.regenerator == "singan" and fast.expand.regenerator == "patch"
    assert paper.ganimation.au_judge == "critic"


def test_precedence_profile_then_file_then_flags(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('profile = "paper"\nseed = 7\n[ganimation]\nbatch_size = 6\nepochs = 3\n[singan]\nlr = 0.001\n')
    cfg = resolve_config(None, toml, {"ganimation.epochs": 5, "ganimation.image_size": None})
    assert cfg.profile == "paper"  # from the file
    assert cfg.ganimation.batch_size == 6  # file beats profile
    assert cfg.ganimation.epochs == 5  # flag beats file
    assert cfg.ganimation.image_size == 128  # unset flag leaves the profile value
    assert cfg.singan.lr == pytest.approx(0.001) and cfg.seed == 7
    # An explicit --profile beats the file's profile key, the file's sections still apply on top.
    cfg = resolve_config("fast", toml)
    assert cfg.profile == "fast" and cfg.ganimation.batch_size == 6


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[ganimation]\nnot_a_setting = 1\n", "Unknown setting 'ganimation.not_a_setting'"),
        ("[ganimation]\nbatch_size = 'big'\n", "must be int"),
        ("[ganimation\n", "could not be read"),
        ("colour = 'blue'\n", "Unknown top-level key"),
        ("profile = 'huge'\n", "Unknown profile"),
        ("[preprocess]\nsize = 4\n", "Setting preprocess.size must be 8 or more, got 4 (from "),
        ("[preprocess]\ntest_fraction = 1.0\n", "Setting preprocess.test_fraction must be in [0, 1), got 1.0"),
        ("[ganimation]\nlr = 0\n", "Setting ganimation.lr must be more than 0, got 0.0"),
        ("[ganimation]\nmax_minutes = -1\n", "max_minutes must be 0 (no limit) or more, got -1.0"),
        ("[expand]\nregenerator = 'gan'\n", "Setting expand.regenerator must be one of singan, patch, got 'gan'"),
        ("[singan]\nmin_size = 30\nmax_size = 20\n", "singan.max_size must not be below singan.min_size (30)"),
    ],
)
def test_bad_config_files_are_user_errors(tmp_path, text, fragment):
    toml = tmp_path / "c.toml"
    toml.write_text(text)
    with pytest.raises(UserError, match=re.escape(fragment)):
        resolve_config(None, toml)


def test_missing_config_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        resolve_config("fast", tmp_path / "nope.toml")


def test_resolved_config_json_round_trips(tmp_path):
    cfg = resolve_config("fast", overrides={"singan.iters_per_scale": 17}, seed=3)
    path = write_resolved_config(cfg, tmp_path / "run.json", counts={"a": 1})
    data = json.loads(path.read_text())
    assert data["counts"] == {"a": 1} and "faceaug_version" in data
    again = config_from_dict(data["config"])
    assert again == cfg and isinstance(again, Config)


def test_the_example_configs_load_on_the_fast_profile():
    from pathlib import Path

    examples = Path(__file__).resolve().parents[1] / "examples"
    wild = resolve_config(None, examples / "in_the_wild.toml")
    assert wild.profile == "fast" and wild.ganimation.lambda_au == 50 and wild.ganimation.problem() is None
    assert resolve_config().ganimation.lambda_au == 300  # the file changes the AU weight, nothing else
    assert wild.ganimation.lambda_au_prototypes == 0 and resolve_config().ganimation.lambda_au_prototypes == 50
    fast = resolve_config().ganimation  # 50 when most faces' AUs are label prototypes (--aus-from-labels)
    assert fast.au_weight_for({"label_prototype": 90, "openface": 10}) == 50
    assert fast.au_weight_for({"label_prototype": 50, "openface": 50}) == 300
    assert fast.au_weight_for({"openface": 100}) == 300 and wild.ganimation.au_weight_for({"label_prototype": 9}) == 50
    assert resolve_config("paper").ganimation.au_weight_for({"label_prototype": 9}) == 160
    assert wild.ganimation.steps == resolve_config().ganimation.steps
    demo = resolve_config(None, examples / "demo.toml")
    assert demo.ganimation.steps == 1500


def _field(section: str, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(getattr(Config(), section)) if f.name == name)


#: settings whose values are free: on/off switches and free text (checked where they are used)
FREE = {"diffaugment", "au_estimator"}


@pytest.mark.parametrize("section", SECTIONS)
def test_every_setting_has_its_limits_beside_it(section):
    for f in dataclasses.fields(getattr(Config(), section)):
        if f.type in ("bool", bool) or f.name in FREE:
            assert LIMITS not in f.metadata, f.name
        else:
            assert f.metadata.get(LIMITS), f"{section}.{f.name} has no limits"
    names = [f for f in dataclasses.fields(getattr(Config(), section)) if "one_of" in f.metadata.get(LIMITS, {})]
    assert all(getattr(getattr(Config(), section), f.name) in f.metadata[LIMITS]["one_of"] for f in names)


def test_the_defaults_and_both_profiles_are_within_the_limits():
    validate(Config())
    for profile in ("fast", "paper"):
        validate(resolve_config(profile))


def test_a_bad_flag_is_named_as_typed_and_a_bad_file_value_by_its_key_and_file(tmp_path):
    with pytest.raises(UserError, match="^--epochs must be 0 or more, got -1.$"):
        resolve_config(None, None, {"ganimation.epochs": -1}, flag_names={"ganimation.epochs": "--epochs"})
    with pytest.raises(
        UserError, match=r"^Setting ganimation.epochs must be 0 or more, got -1 \(from the command line\).$"
    ):
        resolve_config(None, None, {"ganimation.epochs": -1})
    toml = tmp_path / "c.toml"
    toml.write_text("[ganimation]\nepochs = -1\n")
    with pytest.raises(
        UserError, match=f"^{re.escape(f'Setting ganimation.epochs must be 0 or more, got -1 (from {toml}).')}$"
    ):
        resolve_config(None, toml, {"ganimation.steps": 3}, flag_names={"ganimation.epochs": "--epochs"})
    # the limits hold for the resolved value: a flag may mend a file's bad value
    assert resolve_config(None, toml, {"ganimation.epochs": 2}).ganimation.epochs == 2


def test_configs_and_sections_read_back_from_files_are_validated():
    stored = resolve_config("fast").to_dict()
    stored["ganimation"]["beta1"] = 1.0
    with pytest.raises(
        UserError, match=r"Setting ganimation.beta1 must be in \[0, 1\), got 1.0 \(from a stored config\)"
    ):
        config_from_dict(stored)
    with pytest.raises(UserError, match=r"Setting ganimation.lr must be more than 0, got -1.0 \(from the file X\)"):
        section_from_dict(GanimationConfig, "ganimation", {"lr": -1.0}, "the file X")
    with pytest.raises(UserError, match="must not be below singan.nfc"):
        section_from_dict(SinganConfig, "singan", {"nfc": 64, "max_nfc": 32}, "the file X")
    assert section_from_dict(SinganConfig, "singan", {"nfc": 8}, "the file X") == SinganConfig(nfc=8)


def test_the_rules_are_the_documented_ones():
    assert {(r.section, r.given, r.then, r.value) for r in RULES} == {
        ("ganimation", ("epochs", "epochs_decay"), "steps", 0),
        ("ganimation", ("lambda_au",), "lambda_au_prototypes", 0.0),
    }
    assert all(r.why for r in RULES)


@pytest.mark.parametrize(
    "file, flags, steps",
    [
        ("", {}, 9000),  # the fast profile's step budget
        ("epochs = 3", {}, 0),  # epochs asked for: count epochs
        ("epochs_decay = 3", {}, 0),
        ("epochs = 3\nsteps = 50", {}, 50),  # both given: both kept
        ("steps = 50", {"ganimation.epochs": 4}, 0),  # a later layer's epochs replace the file's steps
        ("epochs = 3", {"ganimation.steps": 70}, 70),
        ("", {"ganimation.epochs": 4, "ganimation.steps": 70}, 70),  # in one layer the order does not matter
        ("", {"ganimation.steps": 70, "ganimation.epochs": 4}, 70),
    ],
)
def test_epochs_given_means_steps_unused(tmp_path, file, flags, steps):
    toml = tmp_path / "c.toml"
    toml.write_text("[ganimation]\n" + file + "\n")
    cfg = resolve_config("fast", toml, flags)
    assert cfg.ganimation.steps == steps
    assert cfg.ganimation.schedule(10)[0] == (steps or 10 * (cfg.ganimation.epochs + cfg.ganimation.epochs_decay))


@pytest.mark.parametrize(
    "file, flags, prototypes",
    [
        ("", {}, 50.0),  # the fast profile's weight on label prototypes
        ("lambda_au = 80.0", {}, 0.0),  # an AU weight asked for is the weight, whatever the AUs
        ("lambda_au = 80.0\nlambda_au_prototypes = 20.0", {}, 20.0),
        ("lambda_au_prototypes = 20.0", {"ganimation.lambda_au": 90.0}, 0.0),
        ("lambda_au = 80.0", {"ganimation.lambda_au_prototypes": 20.0}, 20.0),
    ],
)
def test_lambda_au_given_means_no_prototype_weight(tmp_path, file, flags, prototypes):
    toml = tmp_path / "c.toml"
    toml.write_text("[ganimation]\n" + file + "\n")
    assert resolve_config("fast", toml, flags).ganimation.lambda_au_prototypes == prototypes


def test_a_stored_config_takes_no_rule():
    stored = resolve_config("fast").to_dict()
    again = config_from_dict(stored)
    assert again.ganimation.steps == 9000 and again.ganimation.lambda_au_prototypes == 50
