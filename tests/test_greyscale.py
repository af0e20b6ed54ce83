"""Greyscale in ⇒ greyscale out: preprocess records grey sources, and every image faceaug generates from a grey
source — GANimation edit, SinGAN and patch variants — is grey (max channel difference 0), whatever tint the model
learned; colour sources keep their colours."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from faceaug.aus import parse_au_spec
from faceaug.commands.expand import ExpandRequest, run_expand
from faceaug.commands.preprocess import run_preprocess
from faceaug.commands.synth import run_synth
from faceaug.config import GanimationConfig, resolve_config
from faceaug.inference.editor import GanimationEditor
from faceaug.io.images import colour_spread, read_image, to_grey_rgb, write_png_atomic
from faceaug.schema import read_table
from tests.ganimation_fixtures import make_work_dir, save_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# untrained tiny editors: the expression gate (on in `fast`) would drop their edits; tests that want it say so
TINY = {
    "expand.min_target_probability": 0.0,
    "singan.iters_per_scale": 2,
    "singan.nfc": 8,
    "singan.max_nfc": 8,
    "singan.min_size": 12,
    "expand.samples_per_edit": 3,
    "expand.shard_size": 4,
    "expand.edits_first": False,
}  # variants too


def _grey_work(root: Path) -> Path:
    work = make_work_dir(root / "work", n=24, size=32)
    for rel in read_table(work / "faces.parquet", "faces")["image_path"]:
        write_png_atomic(work / rel, to_grey_rgb(read_image(work / rel)))
    torch.manual_seed(0)
    save_model(work / "models" / "ganimation.safetensors", GanimationConfig(image_size=32, conv_dim=8, repeat_num=2))
    return work


def test_an_untrained_editor_gives_grey_edits_of_grey_faces_and_colour_edits_of_colour_ones(tmp_path):
    work = _grey_work(tmp_path)
    editor = GanimationEditor.load(work / "models" / "ganimation.safetensors", torch.device("cpu"))
    colour = make_work_dir(tmp_path / "colour", n=4, size=32)
    faces = np.stack([read_image(work / "faces/f0000.png"), read_image(colour / "faces/f0001.png")])
    targets = np.full((2, 17), 0.5, np.float32)
    edited, _ = editor.edit(faces, targets, np.zeros((2, 17), np.float32))
    assert colour_spread(edited[0]) == 0
    assert colour_spread(edited[1]) > 10  # a colour source is left in colour


@pytest.mark.parametrize("regenerator", ["singan", "patch"])
def test_every_generated_image_of_a_grey_dataset_is_grey(tmp_path, regenerator):
    work = _grey_work(tmp_path)
    out = tmp_path / "expanded"
    cfg = resolve_config("fast", None, {**TINY, "expand.regenerator": regenerator}, seed=0, device="cpu")
    run_expand(ExpandRequest(work_dir=work, au_preset="happy,surprise", per_class=6, out_dir=out, workers=1), cfg)
    manifest = read_table(out / "manifest.parquet", "manifest")
    generated = manifest[manifest["is_generated"]]
    assert set(generated["stage"]) == {"ganimation", "variant"}
    spreads = [colour_spread(read_image(out / p)) for p in generated["path"]]
    assert max(spreads) == 0, spreads


def test_preprocess_records_greyscale_sources(tmp_path):
    data = tmp_path / "data"
    run_synth(
        data, subjects=2, per_class=1, size=64, classes=parse_au_spec("happy,sad"), seed=0, overwrite=False, workers=1
    )
    for png in data.rglob("*.png"):
        write_png_atomic(png, to_grey_rgb(read_image(png)))
    counts = run_preprocess(data, tmp_path / "work", resolve_config("fast", None, {}, device="cpu"))
    faces = read_table(tmp_path / "work" / "faces.parquet", "faces")
    assert faces["grey"].tolist() == [True] * len(faces) and len(faces) == 4
    assert counts["greyscale"] == {"grey": 4}
    assert json.loads((tmp_path / "work" / "preprocess.json").read_text())["counts"]["greyscale"] == {"grey": 4}
