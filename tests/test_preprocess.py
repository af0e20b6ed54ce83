"""`faceaug preprocess` on class folders: outputs, every bad input as a reject, incremental re-runs, the CLI."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from skimage import data as skdata

from faceaug.aus import AU_NAMES
from faceaug.commands.preprocess import run_preprocess
from faceaug.config import resolve_config
from faceaug.errors import UserError
from faceaug.io.images import encode_png, read_image
from faceaug.preprocess.align import CROP_TEMPLATE, anchor_points
from faceaug.preprocess.drawn_faces import write_drawn_face, write_openface_csv
from faceaug.preprocess.worker import make_face_id


def _cfg(**preprocess):
    return resolve_config(overrides={f"preprocess.{k}": v for k, v in preprocess.items()})


def _good_dataset(root: Path, subjects=4, labels=("happy", "sad"), seed=0) -> dict:
    rng = np.random.default_rng(seed)
    truth = {}
    for label in labels:
        for s in range(subjects):
            path, lm, aus = write_drawn_face(root / label, f"s{s:02d}_{label}", rng, size=96)
            truth[path.relative_to(root).as_posix()] = (lm, aus)
    return truth


def _faces(work: Path) -> pd.DataFrame:
    return pd.read_parquet(work / "faces.parquet")


def _rejects(work: Path) -> dict:
    df = pd.read_parquet(work / "rejects.parquet")
    return dict(zip(df.source_path, df.reason))


def test_class_folders_end_to_end(tmp_path):
    truth = _good_dataset(tmp_path / "data")
    work = tmp_path / "work"
    counts = run_preprocess(tmp_path / "data", work, _cfg(size=64), subject_regex=r"^(s\d+)_")
    assert counts["faces"] == 8 and counts["rejected"] == 0 and counts["layout"] == "class_folders"
    assert counts["subject_source"] == {"--subject-regex": 8}
    faces = _faces(work)
    assert sorted(faces.source_path) == sorted(truth)
    for row in faces.itertuples():
        lm, aus = truth[row.source_path]
        crop = read_image(work / row.image_path)
        assert crop.shape == (64, 64, 3)
        np.testing.assert_allclose([getattr(row, n) for n in AU_NAMES], aus, atol=2e-3)
        assert row.au_source == "openface" and row.confidence == pytest.approx(0.98)
        assert row.label == row.source_path.split("/")[0]
        stored = np.asarray(row.landmarks).reshape(2, 68).T
        np.testing.assert_allclose(stored, lm, atol=0.06)
        m = np.asarray(row.crop_transform, dtype=np.float64).reshape(2, 3)
        mapped = anchor_points(lm) @ m[:, :2].T + m[:, 2]
        np.testing.assert_allclose(mapped, CROP_TEMPLATE.points(64), atol=0.5)
        assert (row.source_width, row.source_height) == (96, 96)
    # Subjects come from the regex and never straddle the splits.
    assert set(faces.subject) == {"s00", "s01", "s02", "s03"}
    assert faces.groupby("subject").split.nunique().max() == 1
    assert set(faces.split) == {"train", "test"}
    written = json.loads((work / "preprocess.json").read_text())
    assert written["config"]["preprocess"]["size"] == 64
    assert written["counts"]["by_label"] == {"happy": 4, "sad": 4}


def test_every_bad_input_is_a_reject_and_good_files_survive(tmp_path):
    data = tmp_path / "data"
    rng = np.random.default_rng(1)
    happy, sad = data / "happy", data / "sad"
    write_drawn_face(happy, "good", rng)
    # The same name in two class folders, different pictures: two distinct faces.
    write_drawn_face(happy, "same", rng)
    write_drawn_face(sad, "same", rng)
    write_drawn_face(sad, "ünïcødé 表情", rng)
    # Several faces: the most confident successful row wins.
    _, lm, _ = write_drawn_face(sad, "several", rng)
    write_openface_csv(
        sad / "several.csv",
        lm,
        np.zeros(17, np.float32),
        rows=[
            {"face_id": 0, "confidence": 0.85, "AU12_r": 1.0},
            {"face_id": 1, "confidence": 0.97, "AU12_r": 4.0},
            {"face_id": 2, "confidence": 0.99, "success": 0},
        ],
    )
    # Broken images.
    jpg_path, _, _ = write_drawn_face(happy, "truncated", rng, ext=".jpg")
    jpg_path.write_bytes(jpg_path.read_bytes()[: len(jpg_path.read_bytes()) // 2])
    write_drawn_face(happy, "corrupt", rng)
    raw = bytearray((happy / "corrupt.png").read_bytes())
    raw[40:] = os.urandom(len(raw) - 40)
    (happy / "corrupt.png").write_bytes(bytes(raw))
    write_drawn_face(happy, "text", rng)
    (happy / "text.png").write_text("this is not an image\n")
    write_drawn_face(happy, "empty", rng)
    (happy / "empty.jpg").write_bytes(b"")
    (happy / "empty.png").unlink()
    # CSV problems.
    write_drawn_face(happy, "nocsv", rng, csv=False)
    write_drawn_face(happy, "noaus", rng)
    (happy / "noaus.csv").write_text("frame, face_id, confidence, success, x_0\n1, 0, 0.9, 1, 3\n")
    write_drawn_face(happy, "nan", rng, csv_rows=[{"AU04_r": "nan"}])
    write_drawn_face(happy, "inf", rng, csv_rows=[{"AU04_r": "inf"}])
    write_drawn_face(happy, "negative", rng, csv_rows=[{"AU04_r": -1.5}])
    write_drawn_face(happy, "failed", rng, csv_rows=[{"success": 0}])
    write_drawn_face(happy, "unsure", rng, csv_rows=[{"confidence": 0.4}])
    write_drawn_face(happy, "headeronly", rng)
    (happy / "headeronly.csv").write_text((happy / "headeronly.csv").read_text().splitlines()[0] + "\n")
    _, lm, aus = write_drawn_face(happy, "outside", rng)
    write_openface_csv(happy / "outside.csv", lm * 4.0, aus)  # landmarks of a 4× larger image
    # Layout problems.
    (happy / "loop").symlink_to(happy, target_is_directory=True)
    (happy / "selfloop.png").symlink_to(happy / "selfloop.png")
    (data / "stray.png").write_bytes(encode_png(np.zeros((8, 8, 3), np.uint8)))
    aligned = happy / "good_aligned"  # OpenFace output folder: ignored
    aligned.mkdir()
    (aligned / "frame_det_00_000001.bmp").write_bytes(b"BM nonsense")

    work = tmp_path / "work"
    counts = run_preprocess(data, work, _cfg(size=64))
    rejects = _rejects(work)
    assert rejects == {
        "happy/truncated.jpg": "corrupt_image",
        "happy/corrupt.png": "corrupt_image",
        "happy/text.png": "not_an_image",
        "happy/empty.jpg": "empty_file",
        "happy/nocsv.png": "missing_csv",
        "happy/noaus.png": "csv_no_au_columns",
        "happy/nan.png": "invalid_au_values",
        "happy/inf.png": "invalid_au_values",
        "happy/negative.png": "invalid_au_values",
        "happy/failed.png": "no_success",
        "happy/unsure.png": "low_confidence",
        "happy/headeronly.png": "csv_no_rows",
        "happy/outside.png": "landmarks_outside_image",
        "happy/loop": "symlink_loop",
        "happy/selfloop.png": "symlink_loop",
        "stray.png": "no_label",
    }
    messages = pd.read_parquet(work / "rejects.parquet").message
    assert messages.str.len().min() > 15  # a sentence for a person, not just a code
    faces = _faces(work).set_index("source_path")
    assert sorted(faces.index) == sorted(
        ["happy/good.png", "happy/same.png", "sad/same.png", "sad/several.png", "sad/ünïcødé 表情.png"]
    )
    assert faces.face_id.is_unique
    assert faces.loc["sad/several.png", "AU12"] == pytest.approx(0.8)  # face 1 (0.97), not face 0 or failed 2
    assert faces.loc["sad/ünïcødé 表情.png", "face_id"].isascii()
    assert counts["faces"] == 5 and counts["rejected"] == len(rejects)
    assert all((work / p).is_file() for p in faces.image_path)
    assert len(list((work / "faces").glob("*.png"))) == 5


def test_face_id_option_and_min_confidence(tmp_path):
    data = tmp_path / "data"
    rng = np.random.default_rng(2)
    write_drawn_face(
        data / "happy",
        "a",
        rng,
        csv_rows=[{"face_id": 0, "confidence": 0.99, "AU12_r": 5.0}, {"face_id": 3, "confidence": 0.7, "AU12_r": 1.0}],
    )
    work = tmp_path / "work"
    run_preprocess(data, work, _cfg(min_confidence=0.6), face_id=3)
    assert _faces(work).AU12.item() == pytest.approx(0.2)
    with pytest.raises(UserError, match="None of the 1 inputs became a face"):  # exit 2, tables still written
        run_preprocess(data, tmp_path / "w2", _cfg(min_confidence=0.6), face_id=5)
    assert _rejects(tmp_path / "w2") == {"happy/a.png": "face_id_missing"}


def test_haar_fallback_and_no_face(tmp_path):
    data = tmp_path / "data" / "happy"
    data.mkdir(parents=True)
    aus = np.full(17, 0.1, np.float32)
    (data / "astronaut.png").write_bytes(encode_png(skdata.astronaut()))
    write_openface_csv(data / "astronaut.csv", None, aus)  # a CSV made with -aus only: no landmarks
    (data / "wall.png").write_bytes(encode_png(np.full((80, 80, 3), 120, np.uint8)))
    write_openface_csv(data / "wall.csv", None, aus)
    work = tmp_path / "work"
    counts = run_preprocess(tmp_path / "data", work, _cfg(size=64), landmarks="haar")
    assert counts["alignment"] == {"haar": 1}
    assert _rejects(work) == {"happy/wall.png": "no_face"}
    counts = run_preprocess(tmp_path / "data", work, _cfg(size=64), landmarks="haar", assume_cropped=True)
    assert counts["alignment"] == {"haar": 1, "none": 1} and counts["rejected"] == 0
    assert counts["reused"] == 0  # --assume-cropped changes the settings: nothing is reused


def test_grayscale_tiny_inputs_with_label_prototypes(tmp_path):
    data = tmp_path / "data"
    rng = np.random.default_rng(3)
    for label in ("happy", "surprise", "bored"):
        (data / label).mkdir(parents=True)
        for i in range(2):
            gray = rng.integers(0, 255, (48, 48), dtype=np.uint8)
            (data / label / f"{i}.png").write_bytes(encode_png(gray))
    write_drawn_face(data / "happy", "with_csv", rng)
    work = tmp_path / "work"
    counts = run_preprocess(data, work, _cfg(size=64), aus_from_labels=True, assume_cropped=True)
    faces = _faces(work).set_index("source_path")
    assert counts["au_source"] == {"label_prototype": 4, "openface": 1}
    assert faces.loc["happy/0.png", "au_source"] == "label_prototype"
    assert faces.loc["happy/0.png", "AU12"] == pytest.approx(1.0) and faces.loc["happy/0.png", "AU12_present"]
    assert faces.loc["surprise/1.png", "AU26"] > 0
    crop = read_image(work / faces.loc["happy/0.png", "image_path"])
    assert crop.shape == (64, 64, 3) and (crop[..., 0] == crop[..., 1]).all()  # gray → 3 equal channels
    assert counts["upscaled"] == 4  # the four 48-px sources
    assert set(_rejects(work).values()) == {"unknown_label"}  # "bored" has no preset prototype


def test_rerun_is_incremental_and_overwrite_starts_over(tmp_path):
    data = tmp_path / "data"
    _good_dataset(data, subjects=3)
    work = tmp_path / "work"
    first = run_preprocess(data, work, _cfg(size=48))
    assert first["new"] == 6 and first["subject_source"] == {"none": 6}  # → the summary warns about splits
    png = work / _faces(work).image_path.iloc[0]
    mtime, table = png.stat().st_mtime_ns, _faces(work)
    again = run_preprocess(data, work, _cfg(size=48))
    assert (again["new"], again["reused"]) == (0, 6) and png.stat().st_mtime_ns == mtime
    pd.testing.assert_frame_equal(_faces(work), table)
    # One changed image, one changed CSV, one removed source: only those are redone / dropped.
    rng = np.random.default_rng(9)
    write_drawn_face(data / "happy", "s00_happy", rng, size=96)
    (data / "sad" / "s01_sad.csv").write_text((data / "sad" / "s01_sad.csv").read_text().replace("0.98", "0.97"))
    removed = _faces(work).set_index("source_path").loc["sad/s02_sad.png", "image_path"]
    (data / "sad" / "s02_sad.png").unlink()
    third = run_preprocess(data, work, _cfg(size=48))
    assert (third["new"], third["reused"], third["faces"]) == (2, 3, 5)
    assert not (work / removed).exists()
    assert _faces(work).set_index("source_path").loc["sad/s01_sad.png", "confidence"] == pytest.approx(0.97)
    assert run_preprocess(data, work, _cfg(size=48), overwrite=True)["new"] == 5
    assert run_preprocess(data, work, _cfg(size=40))["new"] == 5  # another crop size: redone


def test_a_crash_leaves_the_previous_tables_intact(tmp_path, monkeypatch):
    data = tmp_path / "data"
    _good_dataset(data, subjects=2)
    work = tmp_path / "work"
    run_preprocess(data, work, _cfg(size=48))
    before = (work / "faces.parquet").read_bytes()
    import faceaug.schema

    def explode(*args, **kwargs):
        raise RuntimeError("simulated crash while writing")

    monkeypatch.setattr(faceaug.schema, "write_table_atomic", explode)
    with pytest.raises(RuntimeError):
        run_preprocess(data, work, _cfg(size=48), overwrite=True)
    assert (work / "faces.parquet").read_bytes() == before
    assert not [p for p in work.iterdir() if p.name.endswith(".tmp")]


def test_process_pool_gives_the_same_table_and_faces_as_one_process(tmp_path):
    """The pool's workers hand their faces to the command's process, which writes them: the same files as one
    process writes, and no temporary file left."""
    data = tmp_path / "data"
    _good_dataset(data, subjects=15, seed=4)  # 30 sources: above the pool threshold
    serial = run_preprocess(data, tmp_path / "w1", _cfg(size=48, workers=1))
    pooled = run_preprocess(data, tmp_path / "w2", _cfg(size=48, workers=2))
    assert serial == pooled
    a, b = _faces(tmp_path / "w1"), _faces(tmp_path / "w2")
    pd.testing.assert_frame_equal(a, b)
    for face in a.image_path:
        assert (tmp_path / "w1" / face).read_bytes() == (tmp_path / "w2" / face).read_bytes(), face
    assert sorted(p.name for p in (tmp_path / "w2" / "faces").iterdir()) == sorted(Path(f).name for f in a.image_path)


def test_a_face_the_command_cannot_write_rejects_only_that_source(tmp_path, monkeypatch):
    """A pooled face whose file cannot be written (not a fault of the machine) is that source's reject."""
    import faceaug.preprocess.worker as worker_module

    data = tmp_path / "data"
    _good_dataset(data, subjects=15, seed=4)
    real = worker_module.write_bytes_atomic

    def refuse_one(data_bytes, path, **kwargs):
        if path.name.startswith("s03_sad"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(data_bytes, path, **kwargs)

    monkeypatch.setattr(worker_module, "write_bytes_atomic", refuse_one)
    counts = run_preprocess(data, tmp_path / "w", _cfg(size=48, workers=2))
    assert (counts["faces"], counts["rejected"]) == (29, 1)
    assert _rejects(tmp_path / "w") == {"sad/s03_sad.png": "internal_error"}


def test_a_pool_worker_loads_neither_the_cli_nor_pandas_nor_torch_and_the_command_leaves_the_tables_for_later():
    """A worker process imports its parent's main script (the `faceaug` console script) and the module of the
    function it runs: with the CLI or the tables' pandas in that path, every worker spent 0.3-0.5 s importing before
    its first face."""
    probe = (
        "import sys, runpy; runpy.run_path(sys.argv[1], run_name='__mp_main__'); "
        "import faceaug.preprocess.worker as w; "
        "assert callable(w.run_chunk) and callable(w.init_worker_process); "
        "print(sorted(m for m in ('typer', 'pandas', 'torch', 'faceaug.cli', 'faceaug.schema') if m in sys.modules))"
    )
    script = Path(sys.executable).with_name("faceaug")
    if not script.is_file():
        pytest.skip("the faceaug console script is not installed beside this interpreter")
    done = subprocess.run([sys.executable, "-c", probe, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", done.stdout
    # nor does the command import pandas or pyarrow before its pool runs: it imports them while the workers align
    probe = "import sys, faceaug.commands.preprocess; print([m for m in ('pandas', 'pyarrow') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr[-2000:]


def test_empty_and_missing_data_dir_are_user_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no images"):
        run_preprocess(tmp_path / "empty", tmp_path / "w", _cfg())
    with pytest.raises(UserError, match="does not exist"):
        run_preprocess(tmp_path / "nope", tmp_path / "w", _cfg())


def test_duplicate_content_is_kept_once(tmp_path):
    data = tmp_path / "data"
    path, _, _ = write_drawn_face(data / "happy", "a", np.random.default_rng(5))
    (data / "sad").mkdir()
    shutil.copy(path, data / "sad" / "a_copy.png")
    shutil.copy(path.with_suffix(".csv"), data / "sad" / "a_copy.csv")
    work = tmp_path / "work"
    run_preprocess(data, work, _cfg(size=48))
    assert list(_faces(work).source_path) == ["happy/a.png"]
    assert _rejects(work) == {"sad/a_copy.png": "duplicate_image"}


def test_cli_preprocess(tmp_path, runner):
    from faceaug.cli import app

    _good_dataset(tmp_path / "data", subjects=3)
    result = runner.invoke(
        app,
        [
            "preprocess",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "work"),
            "--size",
            "48",
            "--subject-regex",
            r"^(s\d+)_",
            "--seed",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "faces.parquet" in result.output
    assert len(_faces(tmp_path / "work")) == 6
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["preprocess", str(tmp_path / "empty"), "--out", str(tmp_path / "w2")])
    assert result.exit_code == 2 and "holds no images" in result.output


def test_cli_summary_counts_upscaled_sources_and_label_prototypes(tmp_path, runner):
    from faceaug.cli import app

    data = tmp_path / "data"
    rng = np.random.default_rng(7)
    for label in ("happy", "sad"):
        (data / label).mkdir(parents=True)
        for i in range(3):  # FER2013-style: 48×48 grayscale crops, no CSVs
            (data / label / f"{i}.png").write_bytes(encode_png(rng.integers(0, 255, (48, 48), dtype=np.uint8)))
    result = runner.invoke(
        app,
        [
            "preprocess",
            str(data),
            "--out",
            str(tmp_path / "work"),
            "--size",
            "64",
            "--aus-from-labels",
            "--assume-cropped",
        ],
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps long lines
    assert "6 label_prototype" in text and "6 faces got their AUs from the label's preset prototype" in text
    assert "6 sources were smaller than preprocess.min_source_side and were upscaled" in text
    counts = json.loads((tmp_path / "work" / "preprocess.json").read_text())["counts"]
    assert counts["upscaled"] == 6 and counts["au_source"] == {"label_prototype": 6}


@pytest.mark.parametrize(
    "rel, face_id",
    [
        ("happy/s001_12.png", "s001_12-75e8fd0ec5"),
        ("Überraschung/Gesicht 3.jpeg", "Gesicht_3-95e7510ad1"),
        ("a/b.c.png", "b_c-80a971842f"),
        ("x/.hidden.png", "hidden-5573d08aac"),
        ("deep/dir.d/f.JPG", "f-7ab2f3dc08"),
        ("悲しい/顔.png", "face-e4a19dd8fe"),
    ],
)
def test_a_source_keeps_its_face_id_across_versions(rel, face_id):
    """Face ids name the faces' files and key the reuse of a previous run's faces: one that changed would make every
    face again and rename every image of an expansion."""
    assert make_face_id(rel) == face_id


@pytest.mark.parametrize(
    "workers, starts", [([], 1), (["--workers", "2"], 1), (["--workers", "1"], 0), (["--workers=1"], 0)]
)
def test_the_command_starts_the_fork_server_of_its_workers_first_unless_told_to_use_one_process(workers, starts):
    """`faceaug preprocess` starts its workers' fork server before it imports the CLI (0.3 s of another core's time
    the run waits for less), never when the command line asks for one process."""
    probe = (
        "import sys, multiprocessing.forkserver as fs, faceaug.preprocess.server as server\n"
        "calls = []\n"
        "fs.ensure_running = lambda: calls.append(1)\n"
        "server.cpu_count = lambda: 2\n"
        "sys.argv = ['faceaug', 'preprocess', *sys.argv[1:], '--help']\n"
        "from faceaug.__main__ import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('starts', len(calls))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, *workers], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"starts {starts}" in done.stdout.splitlines()[-1], done.stdout[-2000:]
