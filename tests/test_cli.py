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
    """(command, help text) for the app, every command and every parameter, as written in faceaug/cli/."""
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


#: the fewest arguments each command parses (a missing input fails right after the -v output, writing nothing)
MINIMAL_ARGS = {
    "synth": ["S", "--subjects", "0"],
    "preprocess": ["D", "--out", "W"],
    "train": ["W"],
    "import-ganimation": ["g.pth", "--out", "m.safetensors"],
    "singan": ["face.png", "--out", "O"],
    "expand": ["W"],
    "fer-eval": ["W"],
    "train-au": ["W"],
    "report": ["W"],
}
#: the commands with a config (--profile, --config): -v also prints it, resolved
CONFIG_COMMANDS = {"preprocess", "train", "singan", "expand"}


@pytest.mark.parametrize("name", COMMANDS)
def test_verbose_prints_what_every_command_was_given(runner, monkeypatch, tmp_path, name):
    monkeypatch.chdir(tmp_path)
    args = [name, *MINIMAL_ARGS[name]]
    verbose = _flat(runner.invoke(app, [*args, "-v"]).output)
    normal = _flat(runner.invoke(app, args).output)
    assert f"{name}: " in verbose and f"{name}: " not in normal  # its arguments, as the parser resolved them
    assert f"={MINIMAL_ARGS[name][0]}," in verbose.split(f"{name}: ", 1)[1]
    assert ("config: profile fast" in verbose) == (name in CONFIG_COMMANDS), verbose
    assert "config: profile" not in normal


def test_fer_eval_takes_greyscale_and_the_american_spelling_unlisted(runner, monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr("faceaug.commands.fer_eval.run_fer_eval", lambda request: seen.append(request.greyscale))
    for flags in ([], ["--greyscale", "on"], ["--grayscale", "off"]):
        assert runner.invoke(app, ["fer-eval", str(tmp_path), *flags]).exit_code == 0
    assert seen == ["auto", "on", "off"]
    text = _flat(runner.invoke(app, ["fer-eval", "--help"], terminal_width=200).stdout)
    assert "--greyscale" in text and "--grayscale" not in text


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


#: a config file that sets every setting a flag maps to, each to a value neither profile has
EVERY_FLAGGED_SETTING = """seed = 5
device = "cpu"
[preprocess]
size = 96
test_fraction = 0.3
split_by = "image"
min_confidence = 0.5
workers = 1
[ganimation]
epochs = 3
epochs_decay = 2
steps = 7
batch_size = 3
image_size = 32
max_minutes = 1.5
au_judge = "frozen"
au_estimator = "judge.safetensors"
[singan]
iters_per_scale = 11
[expand]
samples_per_edit = 2
edits_first = false
start_scale = 1
singan_mode = "reconstruct"
regenerator = "singan"
min_edit_score = 0.1
max_identity_distance = 0.5
min_target_probability = 0.2
"""

#: the commands with a config: (arguments before --config, what runs, where its config is in the call)
CONFIG_COMMANDS = {
    "preprocess": (["preprocess", "D", "--out", "W"], "faceaug.commands.preprocess.run_preprocess", 2),
    "train": (["train", "W"], "faceaug.commands.train.run_train", 1),
    "singan": (["singan", "face.png", "--out", "O"], "faceaug.commands.singan.run_singan_command", 2),
    "expand": (["expand", "W"], "faceaug.commands.expand.run_expand", 1),
}


def _config_seen(runner, monkeypatch, tmp_path, name: str, extra: list[str]):
    """The Config the command `name` hands to its command function, or the failed result."""
    args, target, position = CONFIG_COMMANDS[name]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "W").mkdir(exist_ok=True)
    seen = []
    monkeypatch.setattr(target, lambda *a, **k: seen.append(a[position]))
    result = runner.invoke(app, [*args, *extra])
    return seen[0] if seen else result


@pytest.mark.parametrize("name", sorted(CONFIG_COMMANDS))
def test_flags_not_given_leave_every_value_of_the_config_file(runner, monkeypatch, tmp_path, name):
    from faceaug.config import resolve_config

    toml = tmp_path / "c.toml"
    toml.write_text(EVERY_FLAGGED_SETTING)
    cfg = _config_seen(runner, monkeypatch, tmp_path, name, ["--config", str(toml)])
    assert not hasattr(cfg, "exit_code"), cfg.output
    assert cfg.to_dict() == resolve_config(None, toml).to_dict()
    assert cfg.device == "cpu" and cfg.seed == 5 and cfg.expand.edits_first is False


@pytest.mark.parametrize(
    "name, flags, message",
    [
        ("train", ["--epochs", "-1"], "--epochs must be 0 or more, got -1."),
        ("train", ["--batch-size", "0"], "--batch-size must be 1 or more, got 0."),
        ("train", ["--max-minutes", "-2"], "--max-minutes must be 0 (no limit) or more, got -2.0."),
        ("preprocess", ["--size", "4"], "--size must be 8 or more, got 4."),
        ("preprocess", ["--test-fraction", "1"], "--test-fraction must be in [0, 1), got 1.0."),
        ("singan", ["--iters", "0"], "--iters must be 1 or more, got 0."),
        ("singan", ["--start-scale", "-1"], "--start-scale must be 0 or more, got -1."),
        ("expand", ["--min-target-probability", "2"], "--min-target-probability must be in [0, 1], got 2.0."),
    ],
)
def test_a_bad_flag_value_is_checked_by_the_config_and_named_as_typed(
    runner, monkeypatch, tmp_path, name, flags, message
):
    result = _config_seen(runner, monkeypatch, tmp_path, name, flags)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"error: {message}" in _flat(result.output)


def test_the_cli_allows_what_the_config_allows(runner, monkeypatch, tmp_path):
    cfg = _config_seen(runner, monkeypatch, tmp_path, "train", ["--epochs", "0", "--epochs-decay", "4"])
    assert cfg.ganimation.epochs == 0 and cfg.ganimation.steps == 0  # epochs asked for: the step budget is unused
    assert cfg.ganimation.schedule(10) == (40, 0)


@pytest.mark.parametrize(
    "flags, steps, epochs",
    [
        (["--init", "bundled"], 3000, 32),  # fine-tuning: its own step budget
        (["--init", "bundled", "--steps", "20"], 20, 32),
        (["--init", "bundled", "--epochs", "2"], 0, 2),  # epochs asked for: counted
        ([], 9000, 32),  # from scratch: the profile's
    ],
)
def test_fine_tuning_steps(runner, monkeypatch, tmp_path, flags, steps, epochs):
    cfg = _config_seen(runner, monkeypatch, tmp_path, "train", flags)
    assert (cfg.ganimation.steps, cfg.ganimation.epochs) == (steps, epochs)


def test_python_m_faceaug_and_the_console_script_run_the_same_app():
    import subprocess
    import sys
    import tomllib
    from importlib import import_module
    from pathlib import Path

    import faceaug.__main__

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    module, name = pyproject["project"]["scripts"]["faceaug"].split(":")
    assert getattr(import_module(module), name) is faceaug.__main__.main  # what `python -m faceaug` runs
    done = subprocess.run([sys.executable, "-m", "faceaug", "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"faceaug {__version__}"
    script = Path(sys.executable).with_name("faceaug")
    if script.is_file():
        done = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
        assert done.stdout.strip() == f"faceaug {__version__}"
