"""`faceaug expand` never deletes what it did not write, reads its tables as untrusted input, redoes damaged
shards, and writes files a team can share (the user's umask)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from faceaug.cli import app
from faceaug.errors import UserError
from faceaug.pipeline import shard as shard_mod
from tests.test_expand import TINY, _check_invariants, _Crash, _crash_on_call, _expand, _pixels, _toml, work  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_overwrite_refuses_a_folder_holding_files_faceaug_did_not_write(work, tmp_path, runner):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.txt").write_text("three years of work")
    args = [
        "expand",
        str(work),
        "--au-preset",
        "happy",
        "--per-class",
        "1",
        "--out",
        str(out),
        "--overwrite",
        "--device",
        "cpu",
        "--config",
        str(_toml(tmp_path / "tiny.toml", TINY)),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "did not write" in " ".join(result.output.split())
    assert (out / "thesis.txt").read_text() == "three years of work"
    assert sorted(p.name for p in out.iterdir()) == ["thesis.txt"]


def test_overwrite_of_an_expansion_with_a_foreign_file_inside_keeps_everything(work, tmp_path):
    out = tmp_path / "out"
    _expand(work, out, "happy", per_class=4)
    (out / "images" / "happy" / "my_favourite.png").write_bytes(b"not faceaug's")
    (out / "README.txt").write_text("notes")
    before = _tree(out)
    with pytest.raises(UserError, match="README.txt, images/happy/my_favourite.png"):
        _expand(work, out, "sad", per_class=4, overwrite=True)
    assert _tree(out) == before


@pytest.mark.parametrize("where", ["work", "parent"])
def test_out_may_not_be_the_work_dir_or_a_parent_of_it(work, tmp_path, where):
    copy = tmp_path / "project" / "work"
    shutil.copytree(work, copy)
    out = copy if where == "work" else copy.parent
    before = _tree(tmp_path)
    with pytest.raises(UserError, match="WORK_DIR"):
        _expand(copy, out, "happy", per_class=1, overwrite=True)
    assert _tree(tmp_path) == before


def test_overwrite_replaces_an_expansion_made_by_faceaug(work, tmp_path):
    out = tmp_path / "out"
    _expand(work, out, "happy", per_class=4)
    manifest = _expand(work, out, "sad", per_class=4, overwrite=True)
    assert set(manifest.loc[manifest["is_generated"], "label"]) == {"sad"}
    _check_invariants(out, manifest)


def test_outputs_are_written_with_the_users_umask(work, tmp_path):
    old = os.umask(0o022)
    try:
        _expand(work, tmp_path / "out", "happy", per_class=2)
    finally:
        os.umask(old)
    files = [
        tmp_path / "out" / "manifest.parquet",
        tmp_path / "out" / "expand.json",
        *list((tmp_path / "out" / "images").rglob("*.png"))[:3],
    ]
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o644}


def _crafted_faces(work: Path, tmp_path: Path, column: str, value) -> Path:
    copy = tmp_path / "work"
    shutil.copytree(work, copy)
    faces = pq.read_table(copy / "faces.parquet").to_pandas()
    faces.loc[0, column] = value
    pq.write_table(pa.Table.from_pandas(faces, preserve_index=False), copy / "faces.parquet")
    return copy


@pytest.mark.parametrize(
    "column, value, message",
    [
        ("image_path", "../../outside.png", "image_path '../../outside.png' leaves its folder"),
        ("image_path", "/etc/passwd", "image_path '/etc/passwd' is not a relative"),
        ("label", "../../x", "label '../../x' may use only"),
        ("face_id", "a/../../b", "face_id"),
        ("split", "validation", "split 'validation' is not one of"),
    ],
)
def test_a_crafted_faces_table_is_refused(work, tmp_path, runner, column, value, message):
    copy = _crafted_faces(work, tmp_path, column, value)
    (tmp_path / "outside.png").write_bytes((copy / "faces" / "f0000.png").read_bytes())
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "expand",
            str(copy),
            "--au-preset",
            "happy",
            "--per-class",
            "1",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--config",
            str(_toml(tmp_path / "tiny.toml", TINY)),
        ],
    )
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not out.exists()


def test_a_faces_table_with_nulls_or_wrong_types_is_refused(work, tmp_path):
    copy = tmp_path / "work"
    shutil.copytree(work, copy)
    faces = pq.read_table(copy / "faces.parquet").to_pandas()
    table = pa.Table.from_pandas(faces.assign(subject=None), preserve_index=False)
    pq.write_table(table, copy / "faces.parquet")
    with pytest.raises(UserError, match="'subject' has 24 empty"):
        _expand(copy, tmp_path / "out", "happy", per_class=1)
    pq.write_table(pa.Table.from_pandas(faces.assign(AU01="high"), preserve_index=False), copy / "faces.parquet")
    with pytest.raises(UserError, match="'AU01' is .*string, expected float"):
        _expand(copy, tmp_path / "out", "happy", per_class=1)


def _interrupted(work: Path, out: Path, monkeypatch) -> None:
    """Shards 0 and 1 finished (part files written), the run stopped in shard 2."""
    with monkeypatch.context() as m:
        _crash_on_call(m, shard_mod, "write_table_atomic", 3)
        with pytest.raises(_Crash):
            _expand(work, out, "happy,sad", per_class=9)
    assert len(list((out / "parts").glob("shard_*.parquet"))) == 2


@pytest.mark.parametrize("damage", ["part_file_garbage", "part_file_truncated", "image_missing", "image_corrupt"])
def test_a_damaged_finished_shard_is_redone(work, tmp_path, monkeypatch, damage):
    reference = _expand(work, tmp_path / "ref", "happy,sad", per_class=9)
    out = tmp_path / "out"
    _interrupted(work, out, monkeypatch)
    part = out / "parts" / "shard_00000.parquet"
    image = out / pq.read_table(out / "parts" / "shard_00001.parquet").column("path")[0].as_py()
    if damage == "part_file_garbage":
        part.write_bytes(b"garbage")
    elif damage == "part_file_truncated":
        part.write_bytes(part.read_bytes()[:100])
    elif damage == "image_missing":
        image.unlink()
    else:
        image.write_bytes(image.read_bytes()[:40])
    manifest = _expand(work, out, "happy,sad", per_class=9)
    pd.testing.assert_frame_equal(manifest, reference)
    assert _pixels(out) == _pixels(tmp_path / "ref")
    _check_invariants(out, manifest)


def test_a_finished_expansion_with_a_lost_image_is_made_again(work, tmp_path):
    out = tmp_path / "out"
    reference = _expand(work, out, "happy", per_class=5)
    pixels = _pixels(out)
    generated = reference[reference["is_generated"]]
    (out / generated["path"].iloc[-1]).unlink()
    (out / reference["path"].iloc[0]).write_bytes(b"")  # an original's copy, emptied
    manifest = _expand(work, out, "happy", per_class=5)
    pd.testing.assert_frame_equal(manifest, reference)
    assert _pixels(out) == pixels
