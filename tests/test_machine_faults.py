"""Faults of the machine and of the process, as a user meets them: a full disk is never a success, an odd file
name never stops a run, two writers never share a folder, a stop signal leaves no worker behind."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import faceaug.preprocess.worker as worker_module
from faceaug.cli import app
from faceaug.io.lock import LOCK_FILE, output_lock
from faceaug.pipeline import shard as shard_mod
from tests.test_expand import TINY, _toml, work  # noqa: F401
from tests.test_preprocess import _good_dataset

ROOT = Path(__file__).resolve().parents[1]


def _disk_full_after(monkeypatch, module, n: int, name: str = "write_png_atomic") -> None:
    """`module.<name>` (an atomic file writer) writes n files, then fails as a full disk does."""
    real, calls = getattr(module, name), {"n": 0}

    def write(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > n:
            path = next(a for a in args if isinstance(a, (str, Path)))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, write)


def _one_line(output: str) -> str:
    return " ".join(output.split())


@pytest.mark.parametrize("workers", [1, 2])
def test_preprocess_on_a_full_disk_stops_with_exit_1_then_the_rerun_finishes(tmp_path, runner, monkeypatch, workers):
    """With a pool too, where the workers hand their faces to the command's process, which writes them."""
    data, work = tmp_path / "data", tmp_path / "work"
    subjects = 4 if workers == 1 else 16  # 32 sources: enough for a pool
    _good_dataset(data, subjects=subjects)
    args = ["preprocess", str(data), "--out", str(work), "--size", "48", "--aus-from-labels", "--workers", str(workers)]
    with monkeypatch.context() as m:
        _disk_full_after(m, worker_module, 3, "write_bytes_atomic")
        result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    said = _one_line(result.output)
    assert "No space left on device" in said and str(work) in said and "rerun" in said
    assert "Traceback" not in result.output and "please report it" not in said
    assert not (work / "faces.parquet").exists() and not (work / "preprocess.json").exists()  # not a success
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    faces = pd.read_parquet(work / "faces.parquet")
    assert len(faces) == 2 * subjects and pd.read_parquet(work / "rejects.parquet").empty


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs is Linux's")
def test_faces_flushed_at_once_and_an_io_error_of_that_flush_is_not_a_success(tmp_path, runner, monkeypatch):
    import ctypes

    import faceaug.io.atomic as atomic

    data, work = tmp_path / "data", tmp_path / "work"
    _good_dataset(data, subjects=40)  # 80 faces: flushed by one syncfs, not 80 fsyncs
    args = ["preprocess", str(data), "--out", str(work), "--size", "48", "--aus-from-labels", "--workers", "1"]
    fsyncs = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd))[1])
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(work / "faces.parquet")) == 80
    assert len(fsyncs) < 10  # the tables' own fsyncs, not one a face

    class FailingLibc:  # the disk reported a write error while the faces were being flushed
        @staticmethod
        def syncfs(fd):
            ctypes.set_errno(errno.EIO)
            return -1

    monkeypatch.setattr(atomic.ctypes, "CDLL", lambda *a, **k: FailingLibc())
    again = tmp_path / "again"
    result = runner.invoke(app, [*args[:3], str(again), *args[4:]])
    assert result.exit_code == 1, result.output
    said = _one_line(result.output)
    assert "Input/output error" in said and str(again) in said and "Traceback" not in result.output
    assert not (again / "faces.parquet").exists() and not (again / "preprocess.json").exists()


def test_expand_on_a_full_disk_stops_naming_its_output_folder_then_the_rerun_finishes(
    work, tmp_path, runner, monkeypatch
):
    out = tmp_path / "out"
    args = [
        "expand",
        str(work),
        "--au-preset",
        "happy",
        "--per-class",
        "4",
        "--out",
        str(out),
        "--workers",
        "1",
        "--device",
        "cpu",
        "--config",
        str(_toml(tmp_path / "tiny.toml", TINY)),
    ]
    with monkeypatch.context() as m:
        _disk_full_after(m, shard_mod, 2)
        result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    said = _one_line(result.output)
    assert "No space left on device" in said and str(out) in said
    assert "faces/" not in said  # the source face is not the problem
    assert not (out / "manifest.parquet").exists()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert int(manifest["is_generated"].sum()) == 4
    assert all((out / p).is_file() for p in manifest["path"])


def test_a_file_name_that_is_not_utf8_and_other_image_formats_become_reject_rows(tmp_path, runner):
    data, work = tmp_path / "data", tmp_path / "work"
    _good_dataset(data, subjects=2)
    label_dir = next(p for p in sorted(data.iterdir()) if p.is_dir())
    source = next(label_dir.glob("*.png"))
    with open(os.fsencode(label_dir) + b"/caf\xe9.png", "wb") as fh:  # bytes as copied from an old archive
        fh.write(source.read_bytes())
    (label_dir / "anim.gif").write_bytes(b"GIF89a\x01\x00\x01\x00")
    (label_dir / "photo.webp").write_bytes(b"RIFF\x00\x00\x00\x00WEBP")
    result = runner.invoke(app, ["preprocess", str(data), "--out", str(work), "--size", "48", "--aus-from-labels"])
    assert result.exit_code == 0, result.output
    assert (work / "preprocess.json").is_file()
    rejects = pd.read_parquet(work / "rejects.parquet").set_index("source_path")["reason"].to_dict()
    assert rejects == {
        f"{label_dir.name}/caf\\xe9.png": "undecodable_file_name",
        f"{label_dir.name}/anim.gif": "unsupported_format",
        f"{label_dir.name}/photo.webp": "unsupported_format",
    }
    assert len(pd.read_parquet(work / "faces.parquet")) == 4


@pytest.mark.parametrize("command", ["preprocess", "expand", "synth"])
def test_a_second_writer_into_the_same_folder_exits_2_naming_the_first(tmp_path, runner, work, command):
    out = tmp_path / "out"
    data = tmp_path / "data"
    _good_dataset(data, subjects=2)
    args = {
        "preprocess": ["preprocess", str(data), "--out", str(out), "--aus-from-labels"],
        "expand": ["expand", str(work), "--au-preset", "happy", "--per-class", "1", "--out", str(out)],
        "synth": ["synth", str(out), "--subjects", "1", "--per-class", "1"],
    }[command]
    with output_lock(out, command):
        holder = json.loads((out / LOCK_FILE).read_text())
        result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    said = _one_line(result.output)
    assert f"faceaug {command} (pid {holder['pid']}) is writing {out}" in said
    assert not out.exists()  # nothing written; the folder the holder's lock made went with it


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, runner):
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps({"tool": "faceaug", "command": "synth", "pid": 999999}))
    result = runner.invoke(app, ["synth", str(out), "--subjects", "1", "--per-class", "1"])
    assert result.exit_code == 0, result.output
    assert not (out / LOCK_FILE).exists()


def test_a_failed_command_leaves_no_folder_its_lock_created(tmp_path, runner):
    work = tmp_path / "missing" / "work"
    result = runner.invoke(app, ["expand", str(work), "--au-preset", "happy", "--per-class", "1"])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(app, ["preprocess", str(tmp_path / "no-data"), "--out", str(tmp_path / "a" / "w")])
    assert result.exit_code == 2
    assert not (tmp_path / "missing").exists() and not (tmp_path / "a").exists()


def test_faces_of_another_size_are_made_again_not_reused(tmp_path, runner):
    data, work = tmp_path / "data", tmp_path / "work"
    _good_dataset(data, subjects=2)
    args = ["preprocess", str(data), "--out", str(work), "--size", "48", "--aus-from-labels"]
    assert runner.invoke(app, args).exit_code == 0
    faces = pd.read_parquet(work / "faces.parquet")
    from faceaug.io.images import read_image, write_png_atomic

    mixed = work / faces["image_path"].iloc[0]
    write_png_atomic(mixed, read_image(mixed)[::2, ::2])  # as a concurrent run at --size 24 would leave it
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert read_image(mixed).shape[:2] == (48, 48)
    assert json.loads((work / "preprocess.json").read_text())["counts"]["reused"] == len(faces) - 1


def _descendants(pid: int) -> list[int]:
    """Processes whose session is `pid`'s (the command and everything it started)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == pid and fields[0] not in ("Z", "X"):  # field 6 of stat: the session id
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
def test_sigterm_stops_the_worker_pool_and_exits_quietly(tmp_path):
    data, work = tmp_path / "data", tmp_path / "work"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "faceaug",
            "-q",
            "synth",
            str(data),
            "--subjects",
            "24",
            "--per-class",
            "4",
            "--size",
            "64",
        ],
        check=True,
        cwd=ROOT,
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "faceaug",
            "preprocess",
            str(data),
            "--out",
            str(work),
            "--workers",
            "2",
            "--size",
            "64",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(_descendants(proc.pid)) < 3 and time.monotonic() < deadline:  # the command and its workers
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    time.sleep(1.0)  # a worker told to stop has had its time
    left = _descendants(proc.pid)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert proc.returncode in (128 + signal.SIGTERM, -signal.SIGTERM), stderr
    assert not left, f"{len(left)} processes outlived the stopped command"
    assert "Traceback" not in stderr and "leaked semaphore" not in stderr
    if proc.returncode > 0:
        assert "rerun the same command to continue" in " ".join(stderr.split())


def test_a_run_killed_while_it_marked_its_folder_does_not_block_the_rerun(work, tmp_path, runner):
    out = tmp_path / "out"
    out.mkdir()
    (out / "..faceaug.json.k1ll3d.tmp").write_text('{"tool": "fac')  # kill -9 during the mark's atomic write
    (out / LOCK_FILE).write_text("{}")  # and the lock its process held
    result = runner.invoke(
        app,
        [
            "expand",
            str(work),
            "--au-preset",
            "happy",
            "--per-class",
            "2",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--config",
            str(_toml(tmp_path / "tiny.toml", TINY)),
        ],
    )
    assert result.exit_code == 0, result.output
    assert not list(out.glob(".*.tmp")) and not (out / LOCK_FILE).exists()


def test_a_stop_while_preprocess_journals_a_face_stops_the_worker_pool_at_once(tmp_path, monkeypatch):
    """The stop signal may land in preprocess's own loop (writing the journal) rather than while it waits for the
    workers: the pool must be stopped then too, not whenever the interrupted generator is garbage collected."""
    import multiprocessing

    import faceaug.preprocess.cache as cache_module
    from faceaug.commands.preprocess import run_preprocess
    from faceaug.interrupts import Stopped
    from tests.test_preprocess import _cfg

    data = tmp_path / "data"
    _good_dataset(data, subjects=12)
    real_dumps = cache_module.json.dumps

    def stop_on_first(*args, **kwargs):
        monkeypatch.setattr(cache_module.json, "dumps", real_dumps)
        raise Stopped(signal.SIGTERM)

    monkeypatch.setattr(cache_module.json, "dumps", stop_on_first)
    cfg = _cfg(size=48)
    cfg.preprocess.workers = 2
    with pytest.raises(Stopped) as stopped:
        run_preprocess(data, tmp_path / "work", cfg, aus_from_labels=True)
    alive = [p for p in multiprocessing.active_children() if p.is_alive()]
    assert stopped.value.signum == signal.SIGTERM and not alive, alive
