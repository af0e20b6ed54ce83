"""The editor bundled with faceaug: `preprocess → expand → report` runs with no train step, on faces of any size and
in colour; `--model bundled` and `train --init bundled` use it; outputs name the editor used."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from skimage import data as skdata

import faceaug
from faceaug.aus import preset_vector
from faceaug.cli import app
from faceaug.inference.editor import GanimationEditor
from faceaug.io.images import colour_spread, is_grey, read_image, resize_face, to_grey_rgb
from faceaug.models.ganimation_file import GanimationModel
from faceaug.pretrained import BUNDLED_NAME, bundled_editor_path, bundled_judge_path

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _invoke(runner, *args: str):
    result = runner.invoke(app, [*args])
    assert result.exit_code == 0, result.output + str(result.exception)
    return result


def test_the_bundled_files_ship_inside_the_installed_package():
    package = Path(faceaug.__file__).parent
    for path in (bundled_editor_path(), bundled_judge_path()):
        assert path.parent == package / "pretrained" and path.stat().st_size < 20 * 2**20
    model = GanimationModel.load(bundled_editor_path())
    card = model.provenance["card"]
    assert card["name"] == BUNDLED_NAME and "FER2013" in card["data"]["licence"]
    assert card["data"]["commit"] and card["recipe"]["command"].startswith("python -m benchmarks.train_bundled")


def test_pyproject_installs_the_bundled_files_as_package_data():
    import fnmatch
    import tomllib

    root = Path(faceaug.__file__).parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for path in (bundled_editor_path(), bundled_judge_path()):
        assert any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns["faceaug.pretrained"])


@pytest.fixture(scope="module")
def user_flow(tmp_path_factory):
    """A new user's flow on a tiny synthetic dataset at 128 px: preprocess, then expand and report, no train."""
    from typer.testing import CliRunner

    runner, root = CliRunner(), tmp_path_factory.mktemp("bundled")
    _invoke(runner, "synth", str(root / "data"), "--subjects", "3", "--per-class", "1", "--seed", "3")
    _invoke(runner, "preprocess", str(root / "data"), "--out", str(root / "work"), "--size", "128", "--workers", "1")
    expanded = _invoke(
        runner,
        "expand",
        str(root / "work"),
        "--au-preset",
        "happy,surprise",
        "--per-class",
        "3",
        "--workers",
        "1",
        "--device",
        "cpu",
    )
    report = _invoke(runner, "report", str(root / "work" / "expanded"), "--device", "cpu")
    return root, " ".join(expanded.output.split()), report.output


def test_expand_with_no_model_in_work_uses_the_bundled_editor_and_says_so_once(user_flow):
    root, output, _ = user_flow
    assert not (root / "work" / "models" / "ganimation.safetensors").exists()
    assert output.count(f"bundled editor {BUNDLED_NAME}") == 1
    summary = json.loads((root / "work" / "expanded" / "expand.json").read_text())
    assert summary["ganimation_model"]["name"] == BUNDLED_NAME and summary["ganimation_model"]["bundled"] is True
    assert Path(summary["ganimation_model"]["path"]).resolve() == bundled_editor_path().resolve()


def test_the_manifest_and_the_report_name_the_editor(user_flow):
    root, _, report_output = user_flow
    manifest = pd.read_parquet(root / "work" / "expanded" / "manifest.parquet")
    generated = manifest[manifest["is_generated"]]
    assert len(generated) == 6 and set(generated["editor"]) == {BUNDLED_NAME}
    assert manifest.loc[~manifest["is_generated"], "editor"].isna().all()
    report = json.loads((root / "work" / "expanded" / "report.json").read_text())
    assert report["editor"]["name"] == BUNDLED_NAME and report["editor"]["bundled"] is True
    assert BUNDLED_NAME in " ".join(report_output.split())


def test_colour_128_px_sources_come_out_in_colour_at_128_px(user_flow):
    root, _, _ = user_flow
    manifest = pd.read_parquet(root / "work" / "expanded" / "manifest.parquet")
    for rel in manifest.loc[manifest["is_generated"], "path"]:
        image = read_image(root / "work" / "expanded" / rel)
        assert image.shape == (128, 128, 3) and colour_spread(image) > 20


@pytest.fixture(scope="module")
def astronaut():
    """A real public-domain face in colour, framed roughly like a preprocess crop, at 128 px."""
    return resize_face(skdata.astronaut()[10:250, 110:350], 128)


def _chroma(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)[..., 1:].astype(np.float32)


def test_a_colour_face_keeps_its_chroma_and_its_detail_where_the_editor_keeps_it(astronaut):
    editor = GanimationEditor.load(bundled_editor_path(), "cpu")
    assert editor.edits_luminance and editor.image_size < 128  # a grey 64-px editor, on a colour 128-px face
    targets = np.stack([preset_vector(name) for name in ("happy", "surprise", "angry")])
    edited, attention = editor.edit(
        np.repeat(astronaut[None], 3, axis=0), targets, np.repeat(preset_vector("neutral")[None], 3, axis=0)
    )
    assert edited.shape == (3, 128, 128, 3) and attention.shape == (3, 128, 128)
    for image, mask in zip(edited, attention):
        assert colour_spread(image) > 40  # colour in, colour out
        shift = np.abs(_chroma(image) - _chroma(astronaut)).mean(axis=-1)
        assert shift.mean() < 2.0  # the chroma is the source's (up to YCrCb rounding)
        kept = mask > 0.98  # where the editor keeps the input, the 128-px source is there, not a 64-px copy
        assert kept.mean() > 0.2
        assert np.abs(image.astype(int) - astronaut.astype(int))[kept].mean() < 3.0
    assert np.abs(edited.astype(int) - astronaut.astype(int)).max() > 30  # and it did edit something


def test_a_grey_face_gives_a_grey_edit(astronaut):
    editor = GanimationEditor.load(bundled_editor_path(), "cpu")
    grey = to_grey_rgb(astronaut)
    edited, _ = editor.edit(grey[None], preset_vector("happy")[None], preset_vector("neutral")[None])
    assert is_grey(edited[0]) and colour_spread(edited[0]) == 0


def test_model_bundled_selects_it_even_when_work_has_a_model(tmp_path, runner):
    from faceaug.config import GanimationConfig
    from tests.ganimation_fixtures import make_work_dir, save_model

    work = make_work_dir(tmp_path / "work", n=12, size=64)
    save_model(work / "models" / "ganimation.safetensors", GanimationConfig(image_size=32, conv_dim=8, repeat_num=2))
    _invoke(
        runner,
        "expand",
        str(work),
        "--au-preset",
        "happy",
        "--per-class",
        "2",
        "--workers",
        "1",
        "--samples-per-edit",
        "0",
        "--model",
        "bundled",
        "--min-target-probability",
        "0",
        "--device",
        "cpu",
    )
    summary = json.loads((work / "expanded" / "expand.json").read_text())
    assert summary["ganimation_model"]["bundled"] is True
    _invoke(
        runner,
        "expand",
        str(work),
        "--au-preset",
        "happy",
        "--per-class",
        "2",
        "--workers",
        "1",
        "--samples-per-edit",
        "0",
        "--out",
        str(tmp_path / "own"),
        "--min-target-probability",
        "0",
        "--device",
        "cpu",
    )
    own = json.loads((tmp_path / "own" / "expand.json").read_text())["ganimation_model"]
    assert own["bundled"] is False and own["name"] == str(work / "models" / "ganimation.safetensors")


def test_train_init_bundled_fine_tunes_from_its_weights_with_its_architecture(tmp_path):
    from faceaug.commands.train import run_train
    from faceaug.config import resolve_config
    from tests.ganimation_fixtures import make_work_dir

    work = make_work_dir(tmp_path / "work", n=16, size=64)
    cfg = resolve_config(
        "fast",
        None,
        {"ganimation.au_pretrain_steps": 0, "ganimation.critic_warmup_steps": 0, "ganimation.batch_size": 4},
        seed=0,
        device="cpu",
    )
    path = run_train(work, cfg, resume=False, max_steps=2, init="bundled")
    tuned, bundled = GanimationModel.load(path), GanimationModel.load(bundled_editor_path())
    assert tuned.config == bundled.config  # conv_dim, blocks, size: the bundled editor's, not the profile's
    assert tuned.provenance["training"]["init_from"] == {"name": BUNDLED_NAME, "id": bundled.model_id}
    assert tuned.model_id != bundled.model_id  # it trained
    # fine-tuned on colour faces, it stays a luminance editor as the bundled one is: no colour bands on colour faces
    assert tuned.provenance["training"]["grey"] is True
    start = bundled.generator.state_dict()
    close = [
        float((v.float() - start[k].float()).abs().mean())
        for k, v in tuned.generator.state_dict().items()
        if v.is_floating_point()
    ]
    assert max(close) < 0.05  # two steps from the bundled weights, not a fresh initialisation


def test_init_and_resume_together_is_a_clear_error(tmp_path, runner):
    from tests.ganimation_fixtures import make_work_dir

    work = make_work_dir(tmp_path / "work", n=8, size=64)
    result = runner.invoke(app, ["train", str(work), "--init", "bundled", "--resume"])
    assert result.exit_code == 2 and "--init" in result.output
