import re

import pytest

from faceaug import __version__
from faceaug.cli import app

COMMANDS = ["synth", "preprocess", "train", "import-ganimation", "singan", "expand"]


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_version(runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.stdout


def test_top_level_help_lists_every_command(runner):
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in _plain(result.stdout)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_for_every_command(runner, name):
    result = runner.invoke(app, [name, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Usage" in _plain(result.stdout)


def test_unknown_preset_is_a_clear_error_without_traceback(runner, tmp_path):
    result = runner.invoke(app, ["synth", str(tmp_path / "x"), "--classes", "joyful"])
    assert result.exit_code == 2
    assert "Unknown expression preset 'joyful'" in _plain(result.output)
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_bad_flag_values_exit_2(runner, tmp_path):
    assert runner.invoke(app, ["synth", str(tmp_path / "x"), "--subjects", "0"]).exit_code == 2
    assert runner.invoke(app, ["synth", str(tmp_path / "x"), "--subjects", "many"]).exit_code == 2
    assert runner.invoke(app, ["train", str(tmp_path), "--profile", "huge"]).exit_code == 2


def test_unreadable_config_exit_2(runner, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[singan\n")
    result = runner.invoke(app, ["singan", str(tmp_path / "img.png"), "--out", str(tmp_path / "o"),
                                 "--config", str(bad)])
    assert result.exit_code == 2
    assert "could not be read" in _plain(result.output)
    assert "Traceback" not in result.output


def test_cuda_without_gpu_is_a_user_error():
    import torch

    from faceaug.device import resolve_device
    from faceaug.errors import UserError

    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(UserError):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU"):
            resolve_device("cuda:0")
