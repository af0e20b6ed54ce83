"""Train big, expand small: a relative-conditioned model is given source AUs of the kind it was trained on, or
expand refuses (exit 2, nothing written). faceaug.inference.au_coherence and its use in `faceaug expand`."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from faceaug.aus import AU_NAMES, preset_vector
from faceaug.cli import app
from faceaug.config import GanimationConfig
from faceaug.errors import UserError
from faceaug.inference.au_coherence import coherent_sources
from faceaug.models.ganimation import Generator
from faceaug.models.ganimation_file import GanimationModel
from faceaug.preprocess.align import crop_template_id
from faceaug.schema import read_table, write_table_atomic
from tests.test_expand import TINY, _cfg, _expand, _toml, work  # noqa: F401 — `work` is a module fixture

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sources(kinds: list[str], labels: list[str]) -> pd.DataFrame:
    rows = [
        {"face_id": f"f{i}", "label": label, "au_source": kind, **{au: 0.1 for au in AU_NAMES}}
        for i, (kind, label) in enumerate(zip(kinds, labels))
    ]
    return pd.DataFrame(rows)


def _trained(sources: dict[str, int]) -> dict:
    return {"training": {"faces": sum(sources.values()), "au_sources": sources}}


def test_an_absolute_model_does_not_read_source_aus_so_anything_goes():
    sources = _sources(["label_prototype"], ["happy"])
    result = coherent_sources(sources, "absolute", _trained({"openface": 10}))
    assert result.decision == "not_used" and result.sources is sources


def test_a_prototype_trained_model_gets_each_measured_source_s_label_prototype():
    sources = _sources(["openface", "label_prototype", "openface"], ["happy", "sad", "Surprise"])
    result = coherent_sources(sources, "relative", _trained({"label_prototype": 9000}))
    assert result.decision == "adapted_to_prototypes" and result.adapted == 2
    got = result.sources[list(AU_NAMES)].to_numpy(np.float32)
    assert np.allclose(got[0], preset_vector("happy")) and np.allclose(got[2], preset_vector("surprise"))
    assert np.allclose(got[1], 0.1)  # already a prototype (the table's): left as it is
    assert np.allclose(sources[list(AU_NAMES)].to_numpy(), 0.1)  # the caller's table is not modified
    assert "2 source faces" in result.note()


def test_a_prototype_trained_model_refuses_a_label_without_prototype():
    with pytest.raises(UserError, match="source labels pain have no prototype"):
        coherent_sources(_sources(["openface"], ["pain"]), "relative", _trained({"label_prototype": 5}))


def test_a_measured_aus_model_refuses_prototype_sources():
    sources = _sources(["openface", "label_prototype"], ["happy", "sad"])
    with pytest.raises(UserError, match="1 of the 2 source faces have label-prototype AUs"):
        coherent_sources(sources, "relative", _trained({"openface": 50}), "m.safetensors")
    # measured with measured (the pickle's values are OpenFace output too), and a model that saw both: as they are
    ok = _sources(["openface", "ganimation_pickle"], ["happy", "sad"])
    assert coherent_sources(ok, "relative", _trained({"ganimation_pickle": 3})).decision == "as_is"
    assert coherent_sources(sources, "relative", _trained({"openface": 5, "label_prototype": 5})).decision == "as_is"


def test_a_model_file_without_the_record_is_used_as_is_with_a_note():
    result = coherent_sources(_sources(["label_prototype"], ["sad"]), "relative", {"training": {"faces": 3}})
    assert result.decision == "unrecorded" and "does not record" in result.note()


def _relative_model(tmp_path, au_sources: dict[str, int]):
    """An untrained relative-conditioned model file recording its training faces' AU sources."""
    torch.manual_seed(1)
    small = GanimationConfig(image_size=32, conv_dim=8, repeat_num=2, condition="relative")
    generator = Generator(small.generator_config(len(AU_NAMES)))
    return GanimationModel(
        generator=generator, au_names=AU_NAMES, crop_template=crop_template_id(), provenance=_trained(au_sources)
    ).save(tmp_path / "relative.safetensors")


def test_expand_refuses_prototype_sources_for_a_measured_aus_model_and_writes_nothing(work, tmp_path, runner):
    small = tmp_path / "small"
    shutil.copytree(work, small)
    faces = read_table(small / "faces.parquet", "faces")
    faces["au_source"] = "label_prototype"  # a small set preprocessed with --aus-from-labels
    write_table_atomic(faces, small / "faces.parquet", "faces")
    model = _relative_model(tmp_path, {"openface": 9000})
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "expand",
            str(small),
            "--au-preset",
            "happy",
            "--per-class",
            "2",
            "--out",
            str(out),
            "--model",
            str(model),
            "--device",
            "cpu",
            "--config",
            str(_toml(tmp_path / "tiny.toml", TINY)),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "have label-prototype AUs" in " ".join(result.output.split())
    assert not out.exists()


def test_expand_gives_a_prototype_trained_model_the_sources_label_prototypes(work, tmp_path):
    """The fixture's faces have measured (openface) AUs; a model trained big with --aus-from-labels edits them
    from their label's prototype: the written edit is the editor's result for exactly those AUs."""
    from faceaug.inference.editor import GanimationEditor
    from faceaug.io.images import read_image

    model = _relative_model(tmp_path, {"label_prototype": 9000})
    out = tmp_path / "out"
    manifest = _expand(work, out, "happy", per_class=3, model=model, cfg=_cfg(**{"expand.samples_per_edit": 0}))
    edits = manifest[manifest["stage"] == "ganimation"]
    faces = pd.read_parquet(work / "faces.parquet").set_index("face_id").loc[edits["source_id"]]
    editor = GanimationEditor.load(model, torch.device("cpu"))
    images = np.stack([read_image(work / p) for p in faces["image_path"]])
    target = edits[list(AU_NAMES)].to_numpy(np.float32)
    prototypes = np.stack([preset_vector(label) for label in faces["label"]])
    written = np.stack([read_image(out / p) for p in edits["path"]])
    assert np.array_equal(written, editor.edit(images, target, prototypes)[0])
    assert not np.array_equal(written, editor.edit(images, target, faces[list(AU_NAMES)].to_numpy(np.float32))[0])
    summary = json.loads((out / "expand.json").read_text())["source_aus"]
    assert summary["decision"] == "adapted_to_prototypes" and summary["adapted"] == len(
        read_table(work / "faces.parquet", "faces").query("split == 'train'")
    )
    # the originals keep their own (measured) AUs in the manifest
    originals = manifest[~manifest["is_generated"]].set_index("source_id")
    table = pd.read_parquet(work / "faces.parquet").set_index("face_id")
    assert np.allclose(
        originals[list(AU_NAMES)].to_numpy(np.float32), table.loc[originals.index, list(AU_NAMES)].to_numpy(np.float32)
    )
