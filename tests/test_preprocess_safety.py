"""`faceaug preprocess` loses nothing: a failure on one file rejects that file, a killed run's faces are reused,
its tables are read as untrusted input, and it never deletes or fills a folder that is not its own."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import faceaug.preprocess.worker as worker_module
from faceaug.commands.preprocess import run_preprocess
from faceaug.errors import UserError
from faceaug.preprocess.cache import JOURNAL_FILE
from tests.test_preprocess import _cfg, _faces, _good_dataset, _rejects


class _Killed(BaseException):
    """Stands for kill -9: not an Exception, so nothing in faceaug catches it."""


def _fail_on(monkeypatch, n: int, error: BaseException) -> None:
    real, calls = worker_module.process_source, {"n": 0}

    def wrapper(task, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise error
        return real(task, **kwargs)

    monkeypatch.setattr(worker_module, "process_source", wrapper)


def _killed_run(monkeypatch, data: Path, work: Path, at: int) -> None:
    """A run killed while it aligns the `at`-th source."""
    with monkeypatch.context() as m:
        _fail_on(m, at, _Killed())
        with pytest.raises(_Killed):
            run_preprocess(data, work, _cfg(size=48))


@pytest.mark.parametrize("error", [MemoryError(), ValueError("decoder bug")])
def test_an_unexpected_failure_on_one_file_rejects_only_that_file(tmp_path, monkeypatch, error):
    data, work = tmp_path / "data", tmp_path / "work"
    _good_dataset(data, subjects=3)
    _fail_on(monkeypatch, 2, error)
    counts = run_preprocess(data, work, _cfg(size=48))
    assert (counts["faces"], counts["rejected"]) == (5, 1)
    assert list(_rejects(work).values()) == ["internal_error"]


def test_a_killed_run_keeps_its_finished_faces_for_the_rerun(tmp_path, monkeypatch):
    data, work = tmp_path / "data", tmp_path / "work"
    _good_dataset(data, subjects=4)
    _killed_run(monkeypatch, data, work, at=6)
    assert not (work / "faces.parquet").exists() and (work / JOURNAL_FILE).is_file()
    counts = run_preprocess(data, work, _cfg(size=48))
    assert (counts["reused"], counts["new"], counts["faces"]) == (5, 3, 8)
    assert not (work / JOURNAL_FILE).exists()
    reference = tmp_path / "ref"
    run_preprocess(data, reference, _cfg(size=48))
    pd.testing.assert_frame_equal(_faces(work), _faces(reference))
    assert sorted(p.name for p in (work / "faces").iterdir()) == sorted(p.name for p in (reference / "faces").iterdir())


def test_a_torn_or_damaged_journal_only_costs_its_faces(tmp_path, monkeypatch):
    data, work = tmp_path / "data", tmp_path / "work"
    _good_dataset(data, subjects=2)
    _killed_run(monkeypatch, data, work, at=4)
    journal = work / JOURNAL_FILE
    journal.write_text(journal.read_text() + '{"entry": {"source_path": "happy/s0')  # a torn last line
    assert run_preprocess(data, work, _cfg(size=48))["reused"] == 3
    shutil.rmtree(work)
    _killed_run(monkeypatch, data, work, at=4)
    lines = journal.read_text().splitlines()
    record = json.loads(lines[0])
    record["row"]["AU01"] = "high"
    journal.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    counts = run_preprocess(data, work, _cfg(size=48))
    assert (counts["reused"], counts["faces"]) == (0, 4)


def test_the_machine_is_never_synced_as_a_whole(tmp_path, monkeypatch):
    def forbidden():
        raise AssertionError("os.sync() flushes every file system of the machine")

    monkeypatch.setattr(os, "sync", forbidden)
    _good_dataset(tmp_path / "data", subjects=2)
    assert run_preprocess(tmp_path / "data", tmp_path / "work", _cfg(size=48))["faces"] == 4


def test_no_temp_files_or_orphans_survive_the_rerun_after_a_kill(tmp_path, monkeypatch):
    data, work = tmp_path / "data", tmp_path / "work"
    _good_dataset(data, subjects=2)
    _killed_run(monkeypatch, data, work, at=3)
    (work / "faces" / ".s00_happy-0123456789.png.abcd1234.tmp").write_bytes(b"half a png")  # what kill -9 leaves
    (work / "faces" / "gone-0123456789.png").write_bytes(b"a face of a source that was removed")
    (work / ".faces.parquet.k9x2.tmp").write_bytes(b"half a table")  # killed while writing faces.parquet
    (work / ".my_notes.tmp").write_text("mine")
    run_preprocess(data, work, _cfg(size=48))
    listed = {Path(p).name for p in _faces(work).image_path}
    assert {p.name for p in (work / "faces").iterdir()} == listed
    assert sorted(p.name for p in work.glob(".*.tmp")) == [".my_notes.tmp"]


def _crafted_previous_table(work: Path, **row) -> None:
    faces = pq.read_table(work / "faces.parquet").to_pandas()
    extra = faces.iloc[[0]].assign(**row)
    table = pa.Table.from_pandas(pd.concat([faces, extra], ignore_index=True), preserve_index=False)
    pq.write_table(table, work / "faces.parquet")


@pytest.mark.parametrize(
    "row",
    [
        {"face_id": "../../victim", "source_path": "gone.png"},
        {"image_path": "../victim.png"},
        {"image_path": "/tmp/victim.png"},
    ],
)
def test_a_crafted_previous_faces_table_reads_writes_and_deletes_nothing_outside(tmp_path, row):
    data, work = tmp_path / "data", tmp_path / "work"
    _good_dataset(data, subjects=2)
    run_preprocess(data, work, _cfg(size=48))
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"precious")
    if row.get("image_path", "").startswith("/tmp"):
        row = {"image_path": str(victim)}
    _crafted_previous_table(work, **row)
    counts = run_preprocess(data, work, _cfg(size=48))
    assert victim.read_bytes() == b"precious"
    assert counts["faces"] == 4 and all(p.startswith("faces/") for p in _faces(work).image_path)


def test_work_dir_may_not_be_data_dir_or_hold_the_data_in_faces(tmp_path):
    data = tmp_path / "data"
    _good_dataset(data, subjects=2)
    before = sorted(data.rglob("*"))
    with pytest.raises(UserError, match="DATA_DIR itself"):
        run_preprocess(data, data, _cfg(size=48), overwrite=True)
    faces_is_data = tmp_path / "w" / "faces"
    shutil.copytree(data, faces_is_data)
    with pytest.raises(UserError, match="DATA_DIR"):
        run_preprocess(faces_is_data, tmp_path / "w", _cfg(size=48), overwrite=True)
    assert sorted(data.rglob("*")) == before
    assert len(list(faces_is_data.rglob("*.png"))) == 4


def test_overwrite_never_removes_files_it_did_not_write(tmp_path):
    data, work = tmp_path / "data", tmp_path / "work"
    _good_dataset(data, subjects=2)
    (work / "faces").mkdir(parents=True)
    (work / "faces" / "my_portrait.png").write_bytes(b"mine")
    with pytest.raises(UserError, match="did not write"):
        run_preprocess(data, work, _cfg(size=48), overwrite=True)
    assert (work / "faces" / "my_portrait.png").read_bytes() == b"mine"
    shutil.rmtree(work)
    run_preprocess(data, work, _cfg(size=48))
    (work / "faces" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="did not write"):
        run_preprocess(data, work, _cfg(size=48), overwrite=True)
    assert (work / "faces" / "notes.txt").read_text() == "mine" and len(list((work / "faces").glob("*.png"))) == 4
