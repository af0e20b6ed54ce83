import re

import pytest

from faceaug import __version__
from faceaug.cli import app


def _command_names() -> list[str]:
    """Every command of the Typer app, read from the app itself (a new command is covered without a list to edit)."""
    import typer.main

    return sorted(typer.main.get_command(app).commands)


COMMANDS = _command_names()


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_version(runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.stdout


def test_the_app_has_the_commands_the_readme_documents():
    assert {
        "synth",
        "preprocess",
        "train",
        "train-au",
        "import-ganimation",
        "singan",
        "expand",
        "report",
        "fer-eval",
    } <= set(COMMANDS)


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
    result = runner.invoke(
        app, ["singan", str(tmp_path / "img.png"), "--out", str(tmp_path / "o"), "--config", str(bad)]
    )
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


def _flat(text: str) -> str:
    """Help or error text with colour codes removed and every run of whitespace (line wrapping) made one space."""
    return " ".join(_plain(text).split())


@pytest.mark.parametrize(
    "flags, level", [([], 0), (["-q"], -1), (["--quiet"], -1), (["-v"], 1), (["--verbose"], 1), (["-v", "-q"], -1)]
)
@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_and_verbose_work_before_and_after_the_command(runner, monkeypatch, tmp_path, flags, level, where):
    from faceaug.console import verbosity

    seen = []
    monkeypatch.setattr("faceaug.commands.preprocess.run_preprocess", lambda *a, **k: seen.append(verbosity()))
    command = ["preprocess", str(tmp_path), "--out", str(tmp_path / "work")]
    args = flags + command if where == "before" else command[:1] + flags + command[1:]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert seen == [level]


@pytest.mark.parametrize(
    "args, level",
    [(["expand", "W", "-v"], 1), (["-v", "expand", "W", "-q"], -1), (["-q", "expand", "W", "--verbose"], -1)],
)
def test_verbosity_flags_after_the_arguments_and_on_both_sides(runner, monkeypatch, tmp_path, args, level):
    from faceaug.console import verbosity

    monkeypatch.chdir(tmp_path)
    (tmp_path / "W").mkdir()
    seen = []
    monkeypatch.setattr("faceaug.commands.expand.run_expand", lambda *a, **k: seen.append(verbosity()))
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert seen == [level]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_lists_quiet_and_verbose(runner, name):
    result = runner.invoke(app, [name, "-q", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "--quiet" in result.stdout and "--verbose" in result.stdout


def test_expand_help_keeps_bracketed_text(runner):
    text = _flat(runner.invoke(app, ["expand", "--help"], terminal_width=200).stdout)
    assert "local, or ray (pip install 'faceaug[ray]')." in text
    assert "[default: WORK_DIR/models/ganimation.safetensors when it exists, else bundled]." in text


def _help_texts():
    """(command, help text) for the app, every command and every parameter, as written in faceaug/cli.py."""
    import typer.main

    group = typer.main.get_command(app)
    yield None, group.help
    for name, command in group.commands.items():
        yield name, command.help
        for param in command.params:
            if getattr(param, "help", None):
                yield name, param.help


@pytest.mark.parametrize("name", [None, *COMMANDS])
def test_every_help_text_renders_literally(runner, name):
    # wide enough that no help text wraps (a wrap at a hyphen would read "self- contained")
    text = _flat(runner.invoke(app, [name, "--help"] if name else ["--help"], terminal_width=1000).stdout)
    for command, help_text in _help_texts():
        if command == name:
            assert _flat(help_text) in text
    # what text swallowed as markup leaves behind (" ..." is an ellipsis)
    assert not re.findall(r"\( | \)| \.(?!\.)| ,|\[\]", text), f"the help of {name}: {text}"


def test_user_error_messages_print_brackets_literally(runner, monkeypatch, tmp_path):
    from faceaug.errors import UserError

    def fail(*args, **kwargs):
        raise UserError("The Ray executor needs Ray: pip install 'faceaug[ray]'. Splits [bold]x[/bold] in [0, 1).")

    monkeypatch.setattr("faceaug.commands.preprocess.run_preprocess", fail)
    result = runner.invoke(app, ["preprocess", str(tmp_path), "--out", str(tmp_path / "work")])
    assert result.exit_code == 2
    assert "error: The Ray executor needs Ray: pip install 'faceaug[ray]'. Splits [bold]x[/bold] in [0, 1)." in _flat(
        result.output
    )


def test_verbose_shows_the_resolved_config_and_the_time_taken_and_normal_output_does_not(runner, tmp_path):
    args = ["synth", str(tmp_path / "s"), "--subjects", "1", "--per-class", "1", "--classes", "happy"]
    assert runner.invoke(app, args).exit_code == 0
    preprocess = ["preprocess", str(tmp_path / "s"), "--out", str(tmp_path / "w"), "--size", "48"]
    quiet_enough = _plain(runner.invoke(app, preprocess).output)
    verbose = _plain(runner.invoke(app, ["-v", *preprocess, "--overwrite"]).output)
    assert "[preprocess] size=48" in _flat(verbose) and "preprocess finished in" in verbose
    assert "config: profile fast" in verbose and "config: profile" not in quiet_enough


def test_singan_takes_the_start_scale_of_a_config_file_unless_the_flag_is_given(runner, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(
        "faceaug.commands.singan.run_singan_command",
        lambda image, out, cfg, samples: seen.append(cfg.expand.start_scale),
    )
    toml = tmp_path / "c.toml"
    toml.write_text("[expand]\nstart_scale = 1\n")
    base = ["singan", str(tmp_path / "face.png"), "--out", str(tmp_path / "o"), "--config", str(toml)]
    assert runner.invoke(app, base).exit_code == 0
    assert runner.invoke(app, [*base, "--start-scale", "3"]).exit_code == 0
    assert runner.invoke(app, base[:4]).exit_code == 0  # no file: the profile's
    assert seen == [1, 3, 2]
