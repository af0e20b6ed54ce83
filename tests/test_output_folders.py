"""An output folder that cannot be made (under /proc, below a regular file) is one sentence naming it (exit 2),
never an OSError traceback: from the CLI and from the shared folder preparation the commands' functions call."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceaug.aus import parse_au_spec
from faceaug.cli import app
from faceaug.commands.synth import run_synth
from faceaug.errors import UserError
from faceaug.io.owned import mark_owned


def _unmakeable(tmp_path: Path, where: str) -> Path:
    if where == "proc":
        if not Path("/proc/self").is_dir():
            pytest.skip("no /proc on this system")
        return Path("/proc/faceaug-out")
    (tmp_path / "a_file").write_text("not a folder")
    return tmp_path / "a_file" / "sub"


@pytest.mark.parametrize("where", ["proc", "below_a_file"])
def test_synth_into_a_folder_that_cannot_be_made_exits_2(tmp_path, runner, where):
    out = _unmakeable(tmp_path, where)
    result = runner.invoke(app, ["synth", str(out), "--subjects", "1", "--per-class", "1", "--size", "32"])
    assert result.exit_code == 2, result.output
    assert str(out) in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, OSError)


@pytest.mark.parametrize("where", ["proc", "below_a_file"])
def test_preprocess_into_a_folder_that_cannot_be_made_exits_2(tmp_path, runner, where):
    from tests.test_preprocess import _good_dataset

    data = tmp_path / "data"
    _good_dataset(data, subjects=1)
    out = _unmakeable(tmp_path, where)
    result = runner.invoke(app, ["preprocess", str(data), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 2, result.output
    assert str(out) in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, OSError)


@pytest.mark.parametrize("where", ["proc", "below_a_file"])
def test_the_shared_output_folder_preparation_turns_os_errors_into_one_sentence(tmp_path, where):
    """What every command's function (synth, preprocess, expand) calls first, also when not run from the CLI."""
    out = _unmakeable(tmp_path, where)
    with pytest.raises(UserError, match=rf"output folder {out} \("):
        mark_owned(out, "synth")
    with pytest.raises(UserError, match=str(out)):
        run_synth(out, subjects=1, per_class=1, size=32, classes=parse_au_spec("happy"), seed=0, overwrite=False)
