"""`faceaug synth`: layout, OpenFace CSVs that the preprocess reader round-trips, determinism, CLI, overwrite."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faceaug.aus import AU_NAMES, PRESETS, parse_au_spec, preset_vector
from faceaug.cli import app
from faceaug.commands.synth import run_synth
from faceaug.errors import UserError
from faceaug.io.images import read_image
from faceaug.io.openface import read_openface_csv
from faceaug.io.openface_writer import openface_2x_columns
from faceaug.synth.identity import Identity
from faceaug.synth.render import render_face
from faceaug.synth.world import vary_class_aus

FIXTURES = Path(__file__).resolve().parent / "data"

CLASSES = parse_au_spec("neutral,happy,surprise")


def _synth(out: Path, seed: int = 0, **kw) -> dict:
    args = dict(subjects=2, per_class=2, size=64, classes=CLASSES, seed=seed, overwrite=False, workers=1)
    args.update(kw)
    return run_synth(out, **args)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "data"
    _synth(out)
    return out


def test_layout_labels_and_identities(dataset):
    pngs = sorted(p.relative_to(dataset).as_posix() for p in dataset.rglob("*.png"))
    assert len(pngs) == 2 * 3 * 2
    assert "happy/s000_0.png" in pngs and "surprise/s001_1.png" in pngs
    assert all((dataset / p).with_suffix(".csv").exists() for p in pngs)
    labels = pd.read_csv(dataset / "labels.csv")
    assert list(labels.columns) == ["path", "label", "subject"]
    assert sorted(labels["path"]) == pngs
    assert set(labels["label"]) == {"neutral", "happy", "surprise"} and set(labels["subject"]) == {"s000", "s001"}
    ids = pd.read_parquet(dataset / "identities.parquet")
    assert list(ids["subject"]) == ["s000", "s001"]
    meta = json.loads((dataset / "synth.json").read_text())
    assert meta["images"] == 12 and set(meta["classes"]) == {"neutral", "happy", "surprise"}


def test_csv_parses_with_the_preprocess_reader_and_round_trips(dataset):
    images = pd.read_parquet(dataset / "images.parquet")
    for _, row in images.iterrows():
        faces = read_openface_csv(dataset / Path(row["path"]).with_suffix(".csv"))
        assert len(faces) == 1
        face = faces[0]
        assert face.success and face.confidence > 0.9 and face.landmarks is not None
        np.testing.assert_allclose(face.aus, row[list(AU_NAMES)].to_numpy(np.float32), atol=1e-4)
        np.testing.assert_array_equal(face.presence, face.aus >= 0.2)


def test_csv_landmarks_are_the_rendered_ones(dataset):
    images = pd.read_parquet(dataset / "images.parquet")
    ids = pd.read_parquet(dataset / "identities.parquet").set_index("subject")
    row = images.iloc[5]
    from faceaug.synth.identity import Pose

    identity = Identity.from_record(ids.loc[row["subject"]].to_dict())
    pose = Pose(*(row[k] for k in ("roll", "skew", "scale", "dx", "dy")))
    _, landmarks = render_face(identity, row[list(AU_NAMES)].to_numpy(np.float32), 64, pose)
    face = read_openface_csv(dataset / Path(row["path"]).with_suffix(".csv"))[0]
    np.testing.assert_allclose(face.landmarks, landmarks, atol=2e-3)
    assert read_image(dataset / row["path"]).shape == (64, 64, 3)


def test_csv_header_uses_real_openface_2x_names_in_order():
    """Our header is an ordered subset of the full OpenFace 2.x FeatureExtraction header."""
    header_2x = [
        c.strip()
        for c in (FIXTURES / "openface/openface2x_featureextraction_header.csv").read_text().splitlines()[0].split(",")
    ]
    legacy = [
        c.strip()
        for c in (FIXTURES / "openface/openface_featureextraction_legacy.csv").read_text().splitlines()[0].split(",")
    ]
    shape_block = legacy[legacy.index("x_0") : legacy.index("AU01_r")]  # 2D, 3D landmarks, shape parameters
    full = header_2x[: header_2x.index("AU01_r")] + shape_block + header_2x[header_2x.index("AU01_r") :]
    ours = openface_2x_columns()
    assert set(ours) <= set(full)
    assert [full.index(c) for c in ours] == sorted(full.index(c) for c in ours)
    assert ours[:5] == ["frame", "face_id", "timestamp", "confidence", "success"]
    assert ours[-1] == "AU45_c" and "AU28_c" in ours and "AU28_r" not in ours


def test_same_seed_gives_identical_files_other_seed_differs(tmp_path, dataset):
    again = tmp_path / "again"
    _synth(again, workers=2)  # the process pool must not change the result
    files = sorted(p.relative_to(dataset) for p in dataset.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        if rel.name == "synth.json":
            a, b = json.loads((dataset / rel).read_text()), json.loads((again / rel).read_text())
            a.pop("out_dir"), b.pop("out_dir")
            assert a == b
        else:
            assert (dataset / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = tmp_path / "other"
    _synth(other, seed=1)
    assert (other / "happy/s000_0.png").read_bytes() != (dataset / "happy/s000_0.png").read_bytes()


def test_class_vectors_vary_around_the_presets():
    rng = np.random.default_rng(0)
    for name in PRESETS:
        target = preset_vector(name)
        draws = np.stack([vary_class_aus(target, rng, neutral=name == "neutral") for _ in range(400)])
        assert draws.min() >= 0 and draws.max() <= 1
        coupled = AU_NAMES.index("AU25")
        if target[AU_NAMES.index("AU26")] > 0:  # a dropped jaw parts the lips
            assert draws[:, coupled].mean() > 0.3
            draws[:, coupled] = target[coupled]
        assert np.abs(draws.mean(0) - target).max() < 0.12, name  # centred on the preset …
        assert draws.std(0).max() > 0.05, name  # … with per-image variation
        if name == "neutral":
            assert draws.mean() < 0.04


def test_refuses_a_non_empty_folder_and_overwrites_its_own(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        _synth(out, subjects=1, per_class=1)
    with pytest.raises(UserError, match="not cleared"):
        _synth(out, subjects=1, per_class=1, overwrite=True)
    assert (out / "notes.txt").exists()
    fresh = tmp_path / "fresh"
    _synth(fresh, subjects=1, per_class=1)
    _synth(fresh, subjects=1, per_class=1, overwrite=True, classes=parse_au_spec("sad"))
    assert sorted(p.name for p in fresh.iterdir() if p.is_dir()) == ["sad"]


def test_overwrite_keeps_files_synth_did_not_write(tmp_path):
    """A user's file inside a synth dataset, or a synth.json naming folders outside it, is never deleted."""
    out, outside = tmp_path / "data", tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    _synth(out, subjects=1, per_class=1)
    pngs = sorted(out.rglob("*.png"))
    meta = json.loads((out / "synth.json").read_text())
    meta["classes"]["../precious"] = {}
    (out / "synth.json").write_text(json.dumps(meta))
    (out / "happy" / "my_notes.txt").write_text("mine")
    with pytest.raises(UserError, match="happy/my_notes.txt"):
        _synth(out, subjects=1, per_class=1, overwrite=True)
    assert (out / "happy" / "my_notes.txt").exists() and sorted(out.rglob("*.png")) == pngs
    (out / "happy" / "my_notes.txt").unlink()
    _synth(out, subjects=1, per_class=1, overwrite=True, classes=parse_au_spec("sad"))
    assert (outside / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["sad"]


def test_cli_synth_writes_a_dataset(runner, tmp_path):
    out = tmp_path / "cli"
    result = runner.invoke(
        app, ["synth", str(out), "--subjects", "2", "--per-class", "1", "--size", "64", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert len(list(out.rglob("*.png"))) == 2 * len(PRESETS) * 1
    assert str(out) in result.output.replace("\n", "")
    again = runner.invoke(app, ["synth", str(out), "--subjects", "1", "--per-class", "1", "--size", "64"])
    assert again.exit_code == 2 and "not empty" in again.output
