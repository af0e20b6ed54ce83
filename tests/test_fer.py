"""FER training on faceaug's tables: ManifestDataset, the leakage guard and `faceaug fer-eval` end to end."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from faceaug.cli import app
from faceaug.commands.expand import ExpandRequest, run_expand
from faceaug.commands.fer_eval import FerEvalRequest, run_fer_eval
from faceaug.config import GanimationConfig, resolve_config
from faceaug.errors import UserError
from faceaug.fer import ManifestDataset
from faceaug.fer.augment import classic_pipeline
from tests.ganimation_fixtures import make_work_dir, save_model, split_by_subject
from tests.report_fixtures import as_manifest_format_1
from tests.test_expand import TINY

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, Path]:
    """A blob-face work folder (happy = open mouth, neutral = closed) split by subject — s5 is the test subject —
    and an expansion of it made with an untrained generator."""
    root = tmp_path_factory.mktemp("fer")
    work = split_by_subject(make_work_dir(root / "work", n=72, size=32), 6)
    torch.manual_seed(0)
    save_model(work / "models" / "ganimation.safetensors", GanimationConfig(image_size=32, conv_dim=8, repeat_num=2))
    cfg = resolve_config("fast", None, TINY, seed=0, device="cpu")
    run_expand(
        ExpandRequest(work_dir=work, au_preset="happy,neutral", per_class=8, out_dir=root / "expanded", workers=1), cfg
    )
    return work, root / "expanded"


def test_dataset_over_a_manifest_filters_rows_and_maps_labels(world):
    _, expanded = world
    manifest = expanded / "manifest.parquet"
    generated = ManifestDataset(manifest, split="train", generated=True, image_size=24)
    assert len(generated) == 16 and generated.labels == ["happy", "neutral"]
    image, label = generated[0]
    assert image.shape == (3, 24, 24) and image.dtype == torch.float32 and -1 <= image.min() <= image.max() <= 1
    assert generated.labels[label] == generated.rows["label"].iloc[0]
    edits = ManifestDataset(manifest, generated=True, stages=["ganimation"], labels=["neutral", "happy", "sad"])
    assert set(edits.rows["stage"]) == {"ganimation"} and edits.label_index == {"neutral": 0, "happy": 1, "sad": 2}
    grey = ManifestDataset(manifest, split="test", generated=False, greyscale=True, with_aus=True)
    image, _, aus = grey[0]
    assert image.shape[0] == 1 and aus.shape == (17,) and grey.is_grey() is False


def test_a_manifest_of_format_1_selects_the_same_rows_and_fer_eval_reads_it(world, tmp_path, runner):
    work, expanded = world
    older = tmp_path / "older"
    shutil.copytree(expanded, older)
    as_manifest_format_1(older / "manifest.parquet")
    new = ManifestDataset(expanded / "manifest.parquet", stages=["variant"])
    old = ManifestDataset(older / "manifest.parquet", stages=["variant"])
    assert len(old) == len(new) > 0 and list(old.rows["id"]) == list(new.rows["id"])
    assert set(old.rows["regenerator"]) == {"singan"} and set(old.rows["stage"]) == {"variant"}
    with pytest.raises(UserError, match="'singan': a manifest's stages are original, ganimation, variant"):
        ManifestDataset(older / "manifest.parquet", stages=["singan"])
    assert ManifestDataset(older / "manifest.parquet", grayscale=True).channels == 1  # the American keyword too
    # the American spelling of --greyscale still works, hidden from --help
    args = ["fer-eval", str(work), "--expanded", str(older), "--arms", "faceaug", "--seeds", "1", "--steps", "2"]
    result = runner.invoke(app, [*args, "--image-size", "16", "--grayscale", "on", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    stored = json.loads((older / "fer-eval.json").read_text())
    assert stored["settings"]["greyscale"] is True and stored["counts"]["train_generated"] == 16


def test_class_weights_and_the_classic_transform(world):
    work, _ = world
    faces = ManifestDataset(work / "faces.parquet", split="train", transform=classic_pipeline(seed=0))
    counts = faces.class_counts()
    weights = faces.class_weights().numpy()
    assert weights.mean() == pytest.approx(1.0) and (weights[np.argmin(counts)] > weights[np.argmax(counts)])
    reads = [faces[0][0] for _ in range(8)]
    assert reads[0].shape == (3, 32, 32)
    assert any(not torch.equal(reads[0], other) for other in reads[1:])  # augmented anew on every read


def test_a_path_that_leads_outside_through_a_link_is_refused(world, tmp_path):
    work, _ = world
    copy = tmp_path / "work"
    shutil.copytree(work, copy, ignore=shutil.ignore_patterns("faces"))
    outside = tmp_path / "outside"
    shutil.copytree(work / "faces", outside)
    os.symlink(outside, copy / "faces")
    with pytest.raises(UserError, match="leads outside"):
        ManifestDataset(copy / "faces.parquet")


def _leaky(expanded: Path, tmp_path: Path, column: str, value_from_test: str) -> Path:
    copy = tmp_path / "expanded"
    shutil.copytree(expanded, copy)
    manifest = pq.read_table(copy / "manifest.parquet").to_pandas()
    test = manifest[(manifest["split"] == "test") & ~manifest["is_generated"]].iloc[0]
    index = manifest.index[manifest["is_generated"]][0]
    manifest.loc[index, column] = test[value_from_test]
    pq.write_table(pa.Table.from_pandas(manifest, preserve_index=False), copy / "manifest.parquet")
    return copy


@pytest.mark.parametrize("column, source", [("subject", "subject"), ("source_id", "source_id")])
def test_fer_eval_refuses_training_images_of_test_people(world, tmp_path, runner, column, source):
    work, expanded = world
    leaky = _leaky(expanded, tmp_path, column, source)
    result = runner.invoke(
        app, ["fer-eval", str(work), "--expanded", str(leaky), "--seeds", "1", "--steps", "2", "--device", "cpu"]
    )
    assert result.exit_code == 2, result.output
    assert "come from test-split faces or subjects" in " ".join(result.output.split())
    assert not (leaky / "fer-eval.json").exists()


@pytest.mark.slow
def test_fer_eval_runs_every_arm_and_learns_the_expression(world, tmp_path):
    work, expanded = world
    result = run_fer_eval(
        FerEvalRequest(
            work_dir=work, expanded=expanded, seeds=2, steps=120, image_size=32, device="cpu", out_dir=tmp_path
        )
    )
    assert list(result["arms"]) == ["original", "classic", "faceaug", "faceaug+classic"]
    assert result["underfit"] == {} and result["arms"]["original"]["train_accuracy"]["mean"] >= 0.9
    assert result["counts"] == {**result["counts"], "train_original": 60, "train_generated": 16, "test": 12}
    assert result["arms"]["original"]["accuracy"]["mean"] >= 0.75  # chance is 0.5: the mouth is learnable
    gains = result["gains"]["accuracy"]["faceaug"]
    assert set(gains) == {"vs_original", "vs_classic"} and gains["vs_original"]["seeds"] == 2
    stored = json.loads((tmp_path / "fer-eval.json").read_text())
    assert (
        stored["arms"]["classic"]["runs"][1]["seed"] == 1
        and len(stored["arms"]["classic"]["runs"][0]["confusion"]) == 2
    )
    assert (tmp_path / "fer-eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = run_fer_eval(
        FerEvalRequest(
            work_dir=work,
            expanded=expanded,
            seeds=2,
            steps=120,
            image_size=32,
            device="cpu",
            out_dir=tmp_path / "again",
            arms="original",
        )
    )
    assert again["arms"]["original"]["runs"] == result["arms"]["original"]["runs"]  # seeded: the same numbers


def test_fer_eval_without_an_expansion_runs_the_real_arms_only(world, tmp_path):
    work, _ = world
    with pytest.raises(UserError, match="--expanded"):
        run_fer_eval(FerEvalRequest(work_dir=work, seeds=1, steps=2, device="cpu", out_dir=tmp_path))
    result = run_fer_eval(
        FerEvalRequest(work_dir=work, arms="original,classic", seeds=1, steps=5, device="cpu", out_dir=tmp_path)
    )
    assert set(result["arms"]) == {"original", "classic"} and result["counts"]["train_generated"] == 0


def test_without_steps_each_arm_trains_longer_the_more_images_it_has(world, tmp_path, monkeypatch):
    import faceaug.commands.fer_eval as fer_eval

    assert fer_eval.steps_for(804, 32) == 600 and fer_eval.steps_for(8_000, 32) == 5_000  # 20 passes, ≥ 600
    monkeypatch.setattr(fer_eval, "EPOCHS", 4)  # small numbers: 4 passes, at least 5 steps
    monkeypatch.setattr(fer_eval, "MIN_STEPS", 5)
    work, expanded = world
    result = run_fer_eval(
        FerEvalRequest(
            work_dir=work, expanded=expanded, arms="original,faceaug", seeds=1, image_size=32, device="cpu",
            out_dir=tmp_path,
        )
    )  # fmt: skip
    # 60 real faces → 4 × 60 / 32 → 8 steps; with the 16 generated ones → 10
    assert result["settings"]["steps"] == "auto"
    assert result["arms"]["original"]["steps"] == 8 and result["arms"]["faceaug"]["steps"] == 10
    assert [r["steps"] for r in result["arms"]["faceaug"]["runs"]] == [10]


def test_a_run_that_does_not_fit_its_training_faces_is_refit_then_named(world, tmp_path, capsys):
    work, _ = world
    result = run_fer_eval(
        FerEvalRequest(
            work_dir=work, arms="original", seeds=1, steps=30, lr=50.0, image_size=32, device="cpu", out_dir=tmp_path
        )
    )
    run = result["arms"]["original"]["runs"][0]
    assert run["train_accuracy"] < 0.7 and result["underfit"] == {"original": [0]}
    assert run["refits"] == 2 and run["lr"] == 12.5  # trained twice more, at half the learning rate each time
    err = " ".join(capsys.readouterr().err.split())
    assert "did not fit the real training faces" in err and "2 more tries at half the learning rate" in err


def test_the_example_trains_on_a_manifest(world):
    import subprocess
    import sys

    _, expanded = world
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [
            sys.executable,
            str(root / "examples" / "train_on_manifest.py"),
            str(expanded / "manifest.parquet"),
            "--epochs",
            "1",
            "--size",
            "32",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert "16 generated" in done.stdout and "epoch 1:" in done.stdout
