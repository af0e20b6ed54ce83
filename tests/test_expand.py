"""`faceaug expand` end to end on a tiny work folder: counts, manifest, crash safety, determinism, bad input.

A 32-px blob-face work folder (tests/ganimation_fixtures.py), an untrained small GANimation generator (expand's
mechanics don't depend on edit quality) and a few SinGAN iterations per scale keep each expansion to seconds.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from faceaug.aus import AU_NAMES, PRESETS, preset_vector
from faceaug.cli import app
from faceaug.commands import expand as expand_mod
from faceaug.commands.expand import ExpandRequest, run_expand
from faceaug.config import GanimationConfig, resolve_config
from faceaug.errors import UserError
from faceaug.pipeline import shard as shard_mod
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
    "expand.shard_size": 2,
    "expand.edits_first": False,
    "expand.regenerator": "singan",
}  # these tests exercise SinGAN's N x M; the patch default has its own


def _toml(path: Path, values: dict) -> Path:
    """A --config file holding dotted overrides."""
    sections: dict[str, list[str]] = {}
    for key, value in values.items():
        section, field = key.split(".")
        text = str(value).lower() if isinstance(value, bool) else repr(value).replace("'", '"')
        sections.setdefault(section, []).append(f"{field} = {text}")
    path.write_text("".join(f"[{s}]\n" + "\n".join(lines) + "\n" for s, lines in sections.items()))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = make_work_dir(tmp_path_factory.mktemp("expand") / "work", n=24, size=32)
    torch.manual_seed(0)
    small = GanimationConfig(image_size=32, conv_dim=8, repeat_num=2)
    save_model(root / "models" / "ganimation.safetensors", small)
    return root


def _cfg(**overrides):
    return resolve_config("fast", None, {**TINY, **overrides}, seed=0, device="cpu")


def _expand(work: Path, out: Path, preset: str = "happy", per_class: int = 7, cfg=None, **kw) -> pd.DataFrame:
    kw.setdefault("workers", 1)  # in-process: quick for tiny models; the pool has its own test
    run_expand(ExpandRequest(work_dir=work, au_preset=preset, per_class=per_class, out_dir=out, **kw), cfg or _cfg())
    return pd.read_parquet(out / "manifest.parquet")


def _pixels(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((out / "images").rglob("*.png"))
    }


def _check_invariants(out: Path, manifest: pd.DataFrame) -> None:
    """No duplicate ids, every row has its file, no image outside the manifest, no leftovers."""
    assert not manifest["id"].duplicated().any()
    listed = set(manifest["path"])
    assert all((out / p).is_file() for p in listed)
    on_disk = {str(p.relative_to(out)) for p in (out / "images").rglob("*") if p.is_file()}
    assert on_disk == listed
    assert not (out / "parts").exists()
    assert not list(out.rglob("*.tmp")) and not list(out.rglob(".*.tmp"))


def test_happy_gives_exactly_per_class_rows_plus_the_originals(work, tmp_path):
    out = tmp_path / "out"
    manifest = _expand(work, out, "happy", per_class=7)
    faces = pd.read_parquet(work / "faces.parquet")
    generated = manifest[manifest["is_generated"]]
    assert len(generated) == 7 and set(generated["label"]) == {"happy"}
    # 7 images = 2 edit jobs with M=3: 2 GANimation edits + 5 SinGAN samples, every row says which
    assert generated["stage"].value_counts().to_dict() == {"variant": 5, "ganimation": 2}
    originals = manifest[~manifest["is_generated"]]
    assert len(originals) == len(faces) and set(originals["stage"]) == {"original"}
    # sources come from the train split only, and generated rows inherit the source's split and subject
    train = faces[faces["split"] == "train"].set_index("face_id")
    assert set(generated["source_id"]) <= set(train.index) and set(generated["split"]) == {"train"}
    assert (generated["subject"].to_numpy() == train.loc[generated["source_id"], "subject"].to_numpy()).all()
    # target AUs are the preset's, as float32 columns; SinGAN rows carry their regenerator, start scale and mode
    assert all(manifest[au].dtype == np.float32 for au in AU_NAMES)
    np.testing.assert_allclose(generated[list(AU_NAMES)].to_numpy()[0], preset_vector("happy"), atol=1e-6)
    singan = generated[generated["stage"] == "variant"]
    assert set(singan["gen_start_scale"]) == {2} and set(singan["singan_mode"]) == {"inject"}
    assert set(singan["regenerator"]) == {"singan"} and singan["singan_model_id"].notna().all()
    assert manifest.loc[manifest["stage"] != "variant", "regenerator"].isna().all()
    _check_invariants(out, manifest)
    # the manifest is readable by pyarrow with our schema metadata, images at the model size
    meta = pq.read_schema(out / "manifest.parquet").metadata
    assert meta[b"faceaug_version"] and meta[b"faceaug_schema"] == b"manifest/2"
    from faceaug.io.images import read_image

    assert read_image(out / singan["path"].iloc[0]).shape == (32, 32, 3)


def test_patch_regenerator_writes_a_complete_manifest_and_trains_no_singan(work, tmp_path, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("the patch regenerator must not train a SinGAN")

    monkeypatch.setattr(shard_mod, "train_singan_batch", no_training)
    out = tmp_path / "patch"
    manifest = _expand(work, out, "happy", per_class=7, cfg=_cfg(**{"expand.regenerator": "patch"}))
    generated = manifest[manifest["is_generated"]]
    assert generated["stage"].value_counts().to_dict() == {"variant": 5, "ganimation": 2}
    variants = generated[generated["stage"] == "variant"]
    assert set(variants["regenerator"]) == {"patch"} and variants["gen_start_scale"].isna().all()
    assert variants["singan_mode"].isna().all()  # a SinGAN setting: the patch regenerator has none
    assert variants["singan_model_id"].isna().all() and sorted(set(variants["sample_index"])) == [0, 1, 2]
    _check_invariants(out, manifest)
    from faceaug.io.images import read_image

    assert read_image(out / variants["path"].iloc[0]).shape == (32, 32, 3)  # variety: tests/test_variety.py
    # another regenerator is another expansion: its fingerprint differs, so the folder is not silently reused
    with pytest.raises(UserError, match="different expansion"):
        _expand(work, out, "happy", per_class=7)


def test_fast_edits_every_source_before_drawing_variants(work, tmp_path, capsys):
    assert resolve_config("fast", None, {}).expand.edits_first
    assert not resolve_config("paper", None, {}).expand.edits_first
    cfg = _cfg(**{"expand.regenerator": "patch", "expand.edits_first": True})
    few = _expand(work, tmp_path / "few", "happy", per_class=7, cfg=cfg)
    generated = few[few["is_generated"]]
    assert set(generated["stage"]) == {"ganimation"} and generated["source_id"].nunique() == 7
    assert "Each target edited 7 of the 20 source faces; --per-class 20" in " ".join(capsys.readouterr().err.split())
    many = _expand(work, tmp_path / "many", "happy", per_class=26, cfg=cfg)  # 20 train faces: 20 edits + 6 variants
    generated = many[many["is_generated"]]
    assert generated["stage"].value_counts().to_dict() == {"ganimation": 20, "variant": 6}
    assert generated.loc[generated["stage"] == "ganimation", "source_id"].nunique() == 20
    _check_invariants(tmp_path / "many", many)
    capsys.readouterr()
    one = _cfg(**{"expand.regenerator": "patch", "expand.edits_first": True, "expand.samples_per_edit": 1})
    beyond = _expand(work, tmp_path / "beyond", "happy", per_class=45, cfg=one)  # more than 20 sources x (1 + M)
    edits = beyond[beyond["stage"] == "ganimation"]
    assert len(edits) == edits["source_id"].nunique() == 20  # no edit twice: 25 variants over 20 edits
    assert (
        "happy: 20 source faces gave usable edits, so each edit takes up to 2 variants (--samples-per-edit 1)"
        in " ".join(capsys.readouterr().err.split())
    )
    _check_invariants(tmp_path / "beyond", beyond)


def test_variants_that_lost_the_face_are_replaced_by_spare_draws(work, tmp_path, monkeypatch):
    """expand.face_redraws: the variants written are keep_faces' choice, from draws of the job's regenerator (here
    a fake detector that finds a face in the edit and in the variants darker than the first variant)."""
    from faceaug.io.images import read_image
    from faceaug.pipeline import variants as variants_mod

    chosen, spare_draws = [], []

    def choose(draw, edit, n, redraws):
        first = draw(n, 0)

        def counted(k, offset):
            spare_draws.append(k)
            return first if offset == 0 else draw(k, offset)

        cut = float(first[0].mean())
        kept = variants_mod.keep_faces(
            counted, edit, n, redraws, lambda image: image is edit or float(image.mean()) < cut
        )
        chosen.append(kept)
        return kept

    monkeypatch.setattr(shard_mod, "keep_faces", choose)
    cfg = _cfg(**{"expand.regenerator": "patch", "expand.face_redraws": 2})
    manifest = _expand(work, tmp_path / "out", "happy", per_class=4, cfg=cfg)
    variants = manifest.query("stage == 'variant'").sort_values("sample_index")
    assert len(variants) == 3 and spare_draws[-1] == 6  # the first variant is a miss: 3 × 2 spares were drawn
    written = np.stack([read_image(tmp_path / "out" / p) for p in variants["path"]])
    assert np.array_equal(written, chosen[0])


def test_relative_model_edits_each_face_from_its_own_aus(work, tmp_path):
    """With a relative-conditioned model, expand hands the editor each source's AUs from faces.parquet: the
    written edit is exactly the editor's result for (face, preset, source AUs)."""
    import shutil

    from faceaug.inference.editor import GanimationEditor
    from faceaug.io.images import read_image

    rel = tmp_path / "work"
    shutil.copytree(work, rel)
    small = GanimationConfig(image_size=32, conv_dim=8, repeat_num=2, condition="relative")
    torch.manual_seed(1)
    save_model(rel / "models" / "ganimation.safetensors", small)
    manifest = _expand(rel, tmp_path / "out", "happy", per_class=4)
    edits = manifest[manifest["stage"] == "ganimation"]
    faces = pd.read_parquet(rel / "faces.parquet").set_index("face_id").loc[edits["source_id"]]
    editor = GanimationEditor.load(rel / "models" / "ganimation.safetensors", torch.device("cpu"))
    images = np.stack([read_image(rel / p) for p in faces["image_path"]])
    target = edits[list(AU_NAMES)].to_numpy(np.float32)
    expected, _ = editor.edit(images, target, faces[list(AU_NAMES)].to_numpy(np.float32))
    written = np.stack([read_image(tmp_path / "out" / p) for p in edits["path"]])
    assert np.array_equal(written, expected)
    # and not what the same model makes when told the face had no AUs
    assert not np.array_equal(written, editor.edit(images, target, np.zeros_like(target))[0])


def test_all_classes_get_per_class_each(work, tmp_path):
    manifest = _expand(work, tmp_path / "out", "all", per_class=3)
    counts = manifest[manifest["is_generated"]]["label"].value_counts().to_dict()
    assert counts == {name: 3 for name in PRESETS}


def test_single_au_and_continuous_modes(work, tmp_path):
    sweep = _expand(work, tmp_path / "a", "all", per_class=1, mode="single-au", aus="AU12,AU25")
    gen = sweep[sweep["is_generated"]]
    assert len(gen) == 8 and gen.groupby("target").size().eq(1).all()  # 2 AUs × 4 levels × 1
    row = gen[gen["target"] == "AU12=0.66"].iloc[0]
    assert row["AU12"] == pytest.approx(0.66)
    cont = _expand(
        work, tmp_path / "c", "surprise", per_class=1, mode="continuous", cfg=_cfg(**{"expand.continuous_steps": 4})
    )
    gen = cont[cont["is_generated"]]
    assert sorted(gen["alpha"]) == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert set(gen.loc[gen["alpha"] >= 0.5, "label"]) == {"surprise"}


def test_same_command_and_seed_give_the_same_manifest_and_pixels(work, tmp_path):
    a = _expand(work, tmp_path / "a", "happy,sad", per_class=5)
    b = _expand(work, tmp_path / "b", "happy,sad", per_class=5)
    pd.testing.assert_frame_equal(a, b)
    assert _pixels(tmp_path / "a") == _pixels(tmp_path / "b")
    _expand(
        work, tmp_path / "c", "happy,sad", per_class=5, cfg=resolve_config("fast", None, TINY, seed=1, device="cpu")
    )
    assert _pixels(tmp_path / "c") != _pixels(tmp_path / "a")


def test_process_pool_gives_the_same_result_as_in_process(work, tmp_path):
    a = _expand(work, tmp_path / "a", "happy", per_class=8)
    b = _expand(work, tmp_path / "b", "happy", per_class=8, workers=2)
    pd.testing.assert_frame_equal(a, b)
    assert _pixels(tmp_path / "a") == _pixels(tmp_path / "b")


class _Crash(Exception):
    pass


def _crash_on_call(monkeypatch, module, name: str, n: int) -> None:
    """Make module.name raise on its n-th call (a simulated power cut at that point)."""
    real = getattr(module, name)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise _Crash(f"{name} call {n}")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


@pytest.mark.parametrize(
    "where",
    [
        ("write_png_atomic", 3),  # inside the first shard, between images
        ("write_png_atomic", 11),  # inside a later shard, after earlier shards finished
        ("write_table_atomic", 2),  # all images of shard 2 written, its part file not yet
        ("write_resolved_config", 1),  # manifest written, expand.json not yet
    ],
)
def test_interrupted_run_resumes_to_exactly_the_uninterrupted_result(work, tmp_path, monkeypatch, where):
    reference = _expand(work, tmp_path / "ref", "happy,sad", per_class=9)
    out = tmp_path / "out"
    module = expand_mod if where[0] == "write_resolved_config" else shard_mod
    with monkeypatch.context() as m:
        _crash_on_call(m, module, *where)
        with pytest.raises(_Crash):
            _expand(work, out, "happy,sad", per_class=9)
    manifest = _expand(work, out, "happy,sad", per_class=9)
    pd.testing.assert_frame_equal(manifest, reference)
    assert _pixels(out) == _pixels(tmp_path / "ref")
    _check_invariants(out, manifest)


def test_a_run_interrupted_by_an_older_faceaug_resumes_from_its_format_1_parts(work, tmp_path, monkeypatch, capsys):
    """Finished part files of manifest format 1 (variants with stage "singan") count as finished and merge into the
    same manifest as an uninterrupted run."""
    from tests.report_fixtures import as_manifest_format_1

    reference = _expand(work, tmp_path / "ref", "happy,sad", per_class=9)
    out = tmp_path / "out"
    with monkeypatch.context() as m:
        _crash_on_call(m, shard_mod, "write_table_atomic", 2)
        with pytest.raises(_Crash):
            _expand(work, out, "happy,sad", per_class=9)
    finished = shard_mod.part_path(out, 0)
    as_manifest_format_1(finished)
    assert "singan" in set(pd.read_parquet(finished)["stage"])
    capsys.readouterr()
    manifest = _expand(work, out, "happy,sad", per_class=9)
    assert "damaged" not in capsys.readouterr().err  # the older part file was kept, not redone
    pd.testing.assert_frame_equal(manifest, reference)
    assert pq.read_schema(out / "manifest.parquet").metadata[b"faceaug_schema"] == b"manifest/2"


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_kill_9_at_several_points_then_rerun(work, tmp_path):
    """A real `kill -9` of the CLI process: once images exist, once after the first finished shard."""
    out = tmp_path / "out"
    args = [
        sys.executable,
        "-m",
        "faceaug",
        "expand",
        str(work),
        "--au-preset",
        "happy,sad,fear",
        "--per-class",
        "12",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--workers",
        "1",
    ]
    args += ["--config", str(_toml(tmp_path / "tiny.toml", TINY))]
    stages = [lambda: any((out / "images").rglob("*_edit.png")), lambda: any((out / "parts").glob("shard_*"))]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny models: one thread is fastest on shared cores
    for stage in stages:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        reached = _wait_for(stage, 120)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert reached
        assert not (out / "manifest.parquet").exists()
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert manifest[manifest["is_generated"]]["label"].value_counts().to_dict() == {"happy": 12, "sad": 12, "fear": 12}
    _check_invariants(out, manifest)


def test_a_different_command_into_the_same_folder_is_refused(work, tmp_path):
    out = tmp_path / "out"
    _expand(work, out, "happy", per_class=4)
    before = _pixels(out)
    with pytest.raises(UserError, match="--overwrite"):
        _expand(work, out, "sad", per_class=4)
    assert _pixels(out) == before
    _expand(work, out, "happy", per_class=4)  # the same command again: nothing to do, still fine
    manifest = _expand(work, out, "sad", per_class=4, overwrite=True)
    assert set(manifest.loc[manifest["is_generated"], "label"]) == {"sad"}
    _check_invariants(out, manifest)


def test_zero_samples_per_edit_gives_only_edits(work, tmp_path, runner):
    """`--samples-per-edit 0`: every image is a GANimation edit; SinGAN is not trained, so its size limits don't
    apply (min_size 40 is too large for these 32-px faces)."""
    out = tmp_path / "out"
    config = _toml(tmp_path / "tiny.toml", {**TINY, "singan.min_size": 40})
    result = runner.invoke(
        app,
        [
            "expand",
            str(work),
            "--au-preset",
            "happy,sad",
            "--per-class",
            "3",
            "--out",
            str(out),
            "--samples-per-edit",
            "0",
            "--device",
            "cpu",
            "--workers",
            "1",
            "--config",
            str(config),
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = pd.read_parquet(out / "manifest.parquet")
    generated = manifest[manifest["is_generated"]]
    assert generated.groupby(["label", "stage"]).size().to_dict() == {
        ("happy", "ganimation"): 3,
        ("sad", "ganimation"): 3,
    }
    assert generated["source_id"].nunique() == 6  # one edit per job, each job its own source face
    _check_invariants(out, manifest)


@pytest.mark.parametrize("trained, warned", [({"dlib": 20}, True), ({"none": 20}, False), (None, False)])
def test_warns_when_the_model_was_trained_on_faces_aligned_another_way(work, tmp_path, capsys, trained, warned):
    """The fixture's faces are `landmark_method` none (taken whole); a model file records its training faces' mix
    (one from before that record: no warning, nothing to compare)."""
    from faceaug.models.ganimation_file import GanimationModel

    model = GanimationModel.load(work / "models" / "ganimation.safetensors")
    if trained is not None:
        model.provenance = {"training": {"faces": 20, "landmark_methods": trained}}
    path = model.save(tmp_path / "model.safetensors")
    _expand(work, tmp_path / "out", per_class=2, model=path, cfg=_cfg(**{"expand.samples_per_edit": 0}))
    err = " ".join(capsys.readouterr().err.split())
    warning = (
        "was trained on faces aligned by 20 dlib (landmark_method), but 20 of the 20 source faces were "
        "aligned by 20 none"
    )
    assert (warning in err) is warned
    assert ("source faces were aligned by" in err) is warned


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_model", "No GANimation model"),
        ("other_aus", "another AU list"),
        ("empty_label", "No train faces with label"),
        ("zero", "--per-class must be positive"),
        ("too_small", "too small for SinGAN"),
        ("negative_samples", "--samples-per-edit must be 0 or more, got -1"),
        ("negative_samples_in_config", "samples_per_edit must be 0 or more, got -1"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(work, tmp_path, runner, case, message):
    out = tmp_path / "out"
    args = ["expand", str(work), "--au-preset", "happy", "--per-class", "4", "--out", str(out), "--device", "cpu"]
    values = dict(TINY)
    if case == "missing_model":
        args += ["--model", str(tmp_path / "nope.pt")]
    elif case == "other_aus":
        small = GanimationConfig(image_size=32, conv_dim=8, repeat_num=2)
        other = save_model(tmp_path / "other.safetensors", small, au_names=("AU01", "AU02", "AU04"))
        args += ["--model", str(other)]
    elif case == "empty_label":
        args += ["--sources-label", "angry"]
    elif case == "zero":
        args[args.index("4")] = "0"
    elif case == "too_small":
        values["singan.min_size"] = 40
    elif case == "negative_samples":
        args += ["--samples-per-edit", "-1"]
    elif case == "negative_samples_in_config":
        values["expand.samples_per_edit"] = -1
    args += ["--config", str(_toml(tmp_path / "tiny.toml", values))]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not out.exists()


@pytest.mark.slow
def test_ray_executor_on_a_local_ray_gives_the_same_manifest_as_local(work, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'faceaug[ray]')")
    local = _expand(work, tmp_path / "local", "happy,sad", per_class=6)
    ray_run = _expand(work, tmp_path / "ray", "happy,sad", per_class=6, executor="ray", workers=2)
    pd.testing.assert_frame_equal(local, ray_run)
    assert _pixels(tmp_path / "local") == _pixels(tmp_path / "ray")
    _check_invariants(tmp_path / "ray", ray_run)
