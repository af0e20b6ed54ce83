import json

import pytest

from faceaug.config import Config, config_from_dict, resolve_config, write_resolved_config
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
    ],
)
def test_bad_config_files_are_user_errors(tmp_path, text, fragment):
    toml = tmp_path / "c.toml"
    toml.write_text(text)
    with pytest.raises(UserError, match=fragment):
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
