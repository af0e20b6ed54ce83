"""An expansion whose images were damaged after `faceaug expand` wrote them (deleted, overwritten with garbage, or
replaced by a link out of the folder): `report` and `fer-eval` stop with one sentence (exit 2) that names the files,
before they train, score or write anything, and an earlier report is never presented as current."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from faceaug.cli import app
from faceaug.commands.expand import ExpandRequest, run_expand
from faceaug.config import GanimationConfig, resolve_config
from tests.ganimation_fixtures import make_work_dir, save_model, split_by_subject

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Edits only (no regenerator is trained) of an untrained tiny editor: seconds on one core.
EDITS_ONLY = {"expand.min_target_probability": 0.0, "expand.samples_per_edit": 0, "expand.shard_size": 4}


@pytest.fixture(scope="module")
def expansion(tmp_path_factory, runner_module) -> tuple[Path, Path]:
    """(work dir, expand out dir) with a report from an earlier run in the out dir."""
    root = tmp_path_factory.mktemp("damaged")
    work = split_by_subject(make_work_dir(root / "work", n=24, size=32), 4)  # fer-eval refuses shared subjects
    torch.manual_seed(0)
    save_model(work / "models" / "ganimation.safetensors", GanimationConfig(image_size=32, conv_dim=8, repeat_num=2))
    out = root / "expanded"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_expand(
            ExpandRequest(work_dir=work, au_preset="happy", per_class=4, out_dir=out, workers=1),
            resolve_config("fast", None, EDITS_ONLY, seed=0, device="cpu"),
        )
    finally:
        torch.set_num_threads(before)
    result = runner_module.invoke(app, ["report", str(out), "--no-metrics"])
    assert result.exit_code == 0, result.output
    return work, out


@pytest.fixture(scope="module")
def runner_module():
    from typer.testing import CliRunner

    return CliRunner()


def _copy(out: Path, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """A copy of the expansion to damage (expand.json still names the same work dir and model)."""
    copy = tmp_path / "expanded"
    shutil.copytree(out, copy, symlinks=True)
    return copy, pd.read_parquet(copy / "manifest.parquet")


def _first_edit(manifest: pd.DataFrame) -> str:
    """The path of an edit the report's contact sheet shows (so even --no-metrics reads it)."""
    return manifest.loc[manifest["stage"] == "ganimation", "path"].iloc[0]


def _files(copy: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()}


def _untouched(copy: Path, before: dict[str, bytes]) -> None:
    assert _files(copy) == before
    assert not (copy / "metrics.parquet").exists()


def test_report_on_an_expansion_with_a_missing_image_names_it_and_exits_2(expansion, tmp_path, runner):
    _, out = expansion
    copy, manifest = _copy(out, tmp_path)
    gone = _first_edit(manifest)
    (copy / gone).unlink()
    before = _files(copy)
    result = runner.invoke(app, ["report", str(copy)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert gone in result.output and "(missing)" in result.output and "1 damaged image" in result.output
    assert "the same `faceaug expand` command" in result.output
    assert "report.html" in result.output and "from an earlier run" in result.output
    _untouched(copy, before)  # the earlier report.html / report.json are left as they were, nothing new written


def test_report_no_metrics_on_a_garbage_image_exits_2(expansion, tmp_path, runner):
    _, out = expansion
    copy, manifest = _copy(out, tmp_path)
    garbage = _first_edit(manifest)
    (copy / garbage).write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8)
    (copy / "report.html").unlink()
    (copy / "report.json").unlink()
    result = runner.invoke(app, ["report", str(copy), "--no-metrics"])
    assert result.exit_code == 2, result.output
    assert garbage in result.output and "corrupt" in result.output
    assert "earlier run" not in result.output  # no earlier report to warn about
    assert not (copy / "report.html").exists() and not (copy / "report.json").exists()


def test_report_names_at_most_five_damaged_images_and_counts_them_all(expansion, tmp_path, runner):
    _, out = expansion
    copy, manifest = _copy(out, tmp_path)
    for rel in manifest["path"].iloc[:7]:
        (copy / rel).unlink()
    result = runner.invoke(app, ["report", str(copy), "--no-metrics"])
    assert result.exit_code == 2, result.output
    assert "7 damaged image(s)" in result.output and "and 2 more" in result.output
    assert sum(rel in result.output for rel in manifest["path"].iloc[:7]) == 5


@pytest.mark.parametrize("target", ["passwd", "image"])
def test_report_refuses_an_image_that_links_outside_the_expansion(expansion, tmp_path, runner, target):
    """A link to /etc/passwd, or to a perfectly good image elsewhere: neither is read nor shown in the report."""
    _, out = expansion
    copy, manifest = _copy(out, tmp_path)
    linked = _first_edit(manifest)
    outside = Path("/etc/passwd") if target == "passwd" else tmp_path / "elsewhere.png"
    if target == "image":
        shutil.copyfile(copy / linked, outside)
    (copy / linked).unlink()
    (copy / linked).symlink_to(outside)
    result = runner.invoke(app, ["report", str(copy), "--no-metrics"])
    assert result.exit_code == 2, result.output
    assert linked in result.output and "leads outside" in result.output


def test_fer_eval_on_an_expansion_with_a_missing_image_exits_2(expansion, tmp_path, runner):
    work, out = expansion
    copy, manifest = _copy(out, tmp_path)
    gone = _first_edit(manifest)
    (copy / gone).unlink()
    result = runner.invoke(
        app,
        [
            "fer-eval",
            str(work),
            "--expanded",
            str(copy),
            "--arms",
            "original,faceaug",
            "--seeds",
            "1",
            "--steps",
            "1",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 2, result.output
    assert gone in result.output and "the same `faceaug expand` command" in result.output
    assert not (copy / "fer-eval.json").exists()
