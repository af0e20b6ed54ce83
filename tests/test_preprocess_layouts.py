"""Input layouts (labels file, GANimation importer, --au-dir) and subject-wise splits."""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faceaug.commands.preprocess import run_preprocess
from faceaug.config import resolve_config
from faceaug.errors import UserError
from faceaug.io.layout import discover_dataset, load_ganimation_aus
from faceaug.preprocess.drawn_faces import write_drawn_face
from faceaug.splits import assign_splits


def _cfg(seed=0, **preprocess):
    return resolve_config(overrides={f"preprocess.{k}": v for k, v in preprocess.items()}, seed=seed)


def _read(work: Path):
    faces = pd.read_parquet(work / "faces.parquet").set_index("source_path")
    rej = pd.read_parquet(work / "rejects.parquet")
    return faces, dict(zip(rej.source_path, rej.reason))


def test_labels_file_layout(tmp_path):
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c", "d", "e"):
        write_drawn_face(data / "flat", name, rng)
    (tmp_path / "secret.png").write_bytes(b"\x89PNG outside")
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "path,label,subject,split\n"
        "flat/a.png,happy,p1,\n"
        "flat/b.png,sad,p1,\n"
        "flat/c.png,happy,p2,test\n"
        "flat/d.png,happy face,p3,\n"  # not a usable class name
        "flat/e.png,sad,p4,validation\n"  # unknown split
        "flat/missing.png,sad,p5,\n"
        "../secret.png,happy,p6,\n"
        "flat/./a.png,happy,p1,\n"  # the same file again
    )
    work = tmp_path / "work"
    counts = run_preprocess(data, work, _cfg(), labels=labels)
    faces, rejects = _read(work)
    assert counts["layout"] == "labels_csv"
    assert sorted(faces.index) == ["flat/a.png", "flat/b.png", "flat/c.png"]
    assert faces.loc["flat/b.png", "label"] == "sad" and faces.loc["flat/a.png", "subject"] == "p1"
    assert faces.loc["flat/c.png", "split"] == "test"
    assert faces.loc["flat/a.png", "split"] == faces.loc["flat/b.png", "split"]  # one subject, one split
    assert rejects == {
        "flat/d.png": "invalid_label",
        "flat/e.png": "invalid_split",
        "flat/missing.png": "missing_file",
        "../secret.png": "outside_data_dir",
        "flat/a.png": "duplicate_entry",
    }
    # An image the labels file doesn't list is reported, not silently dropped; DATA_DIR/labels.csv is found
    # without --labels.
    write_drawn_face(data / "flat", "unlisted", rng)
    labels.rename(data / "labels.csv")
    counts = run_preprocess(data, tmp_path / "w2", _cfg())
    faces, rejects = _read(tmp_path / "w2")
    assert counts["layout"] == "labels_csv" and len(faces) == 3
    assert rejects["flat/unlisted.png"] == "not_in_labels"


def test_labels_file_with_unknown_label_for_prototypes(tmp_path):
    data = tmp_path / "data"
    rng = np.random.default_rng(1)
    write_drawn_face(data, "x", rng, csv=False)
    write_drawn_face(data, "y", rng, csv=False)
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\nx.png,happy\ny.png,elated\n")
    work = tmp_path / "work"
    run_preprocess(data, work, _cfg(), labels=labels, aus_from_labels=True, assume_cropped=True)
    faces, rejects = _read(work)
    assert list(faces.index) == ["x.png"] and faces.loc["x.png", "au_source"] == "label_prototype"
    assert rejects == {"y.png": "unknown_label"}


@pytest.mark.parametrize(
    "content, match", [("file,class\nx.png,happy\n", "needs columns 'path' and 'label'"), ("", "needs columns")]
)
def test_bad_labels_file_is_a_user_error(tmp_path, content, match):
    (tmp_path / "data").mkdir()
    labels = tmp_path / "labels.csv"
    labels.write_text(content)
    with pytest.raises(UserError, match=match):
        run_preprocess(tmp_path / "data", tmp_path / "w", _cfg(), labels=labels)
    with pytest.raises(UserError, match="does not exist"):
        run_preprocess(tmp_path / "data", tmp_path / "w", _cfg(), labels=tmp_path / "nope.csv")


def test_au_dir_mirrored_and_flat(tmp_path):
    data, au_dir = tmp_path / "data", tmp_path / "processed"
    rng = np.random.default_rng(2)
    for label, name in (("happy", "one"), ("sad", "two"), ("sad", "dup"), ("happy", "dup")):
        write_drawn_face(data / label, name, rng)
    au_dir.mkdir()
    (data / "happy" / "one.csv").rename(au_dir / "one.csv")  # flat, like OpenFace's processed/
    (au_dir / "sad").mkdir()
    (data / "sad" / "two.csv").rename(au_dir / "sad" / "two.csv")  # mirrored class folders
    (au_dir / "dup.csv").write_text((data / "sad" / "dup.csv").read_text())
    (data / "sad" / "dup.csv").unlink()
    (data / "happy" / "dup.csv").unlink()
    (au_dir / "one_aligned").mkdir()  # OpenFace's aligned faces: ignored
    work = tmp_path / "work"
    run_preprocess(data, work, _cfg(), au_dir=au_dir)
    faces, rejects = _read(work)
    assert sorted(faces.index) == ["happy/one.png", "sad/two.png"]
    assert rejects == {"happy/dup.png": "ambiguous_csv", "sad/dup.png": "ambiguous_csv"}


def _ganimation_dataset(root: Path, n=4):
    rng = np.random.default_rng(3)
    aus = {}
    for i in range(n):
        name = f"N_{i:07d}_00001"
        write_drawn_face(root / "imgs", name, rng, ext=".jpg", csv=False)
        aus[name] = rng.uniform(0, 5, 17)
    with open(root / "aus_openface.pkl", "wb") as fh:
        pickle.dump(aus, fh)
    (root / "train_ids.csv").write_text("N_0000000_00001.jpg\nN_0000001_00001.jpg\nN_0000002_00001.jpg\n")
    (root / "test_ids.csv").write_text("N_0000003_00001.jpg\n")
    return aus


def test_ganimation_importer(tmp_path):
    data = tmp_path / "ganimation"
    aus = _ganimation_dataset(data)
    write_drawn_face(data / "imgs", "orphan", np.random.default_rng(4), ext=".jpg", csv=False)
    for name, bad in (("nan", np.nan), ("negative", -0.5)):
        write_drawn_face(data / "imgs", name, np.random.default_rng(5), ext=".jpg", csv=False)
        aus[name] = np.where(np.arange(17) == 4, bad, 1.0)
    with open(data / "aus_openface.pkl", "wb") as fh:
        pickle.dump(aus, fh)
    work = tmp_path / "work"
    counts = run_preprocess(data, work, _cfg(), assume_cropped=True)
    faces, rejects = _read(work)
    assert counts["layout"] == "ganimation" and counts["au_source"] == {"ganimation_pickle": 4}
    row = faces.loc["imgs/N_0000003_00001.jpg"]
    assert row.split == "test" and row.label == "unlabelled"
    assert row.AU01 == pytest.approx(aus["N_0000003_00001"][0] / 5, abs=1e-6)
    assert set(faces.drop("imgs/N_0000003_00001.jpg").split) == {"train"}
    assert rejects == {
        "imgs/orphan.jpg": "missing_aus",
        "imgs/nan.jpg": "invalid_au_values",
        "imgs/negative.jpg": "invalid_au_values",
    }


class _Boom:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize(
    "payload, match",
    [
        ({"x": _Boom()}, "refusing"),
        ([1, 2, 3], "not a dict"),
        ({"x": np.zeros(5)}, "expected 17"),
        ({3: np.zeros(17)}, "non-text key"),
        ({"x": ["1.0"] * 17}, "not an array of numbers"),
        ({"x": {"AU01": 1.0}}, "not an array of numbers"),
        ({"x": np.zeros(17, complex)}, "not an array of numbers"),
        ({"x": [np.zeros(17), "a"]}, "not an array of numbers"),
    ],
)
def test_unsafe_or_wrong_pickles_are_refused(tmp_path, capsys, payload, match):
    path = tmp_path / "aus_openface.pkl"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(UserError, match=match):
        load_ganimation_aus(path)
    assert "must never run" not in capsys.readouterr().out


def test_symlink_to_a_sibling_folder_is_followed_but_loops_are_not(tmp_path):
    data = tmp_path / "data"
    rng = np.random.default_rng(5)
    write_drawn_face(tmp_path / "elsewhere", "x", rng)
    (data / "happy").mkdir(parents=True)
    (data / "happy" / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (data / "happy" / "up").symlink_to(data, target_is_directory=True)
    found = discover_dataset(data)
    assert [i.rel for i in found.items] == ["happy/more/x.png"]
    assert found.items[0].csv_path is not None
    assert [(r["source_path"], r["reason"]) for r in found.rejects] == [("happy/up", "symlink_loop")]


def test_splits_by_subject_are_disjoint_and_seeded():
    subjects = [f"p{i // 3}" for i in range(60)]  # 20 subjects × 3 images
    a = assign_splits(subjects, [None] * 60, 0.25, seed=0)
    assert a == assign_splits(subjects, [None] * 60, 0.25, seed=0)
    assert a != assign_splits(subjects, [None] * 60, 0.25, seed=1)
    per_subject = {}
    for s, split in zip(subjects, a):
        per_subject.setdefault(s, set()).add(split)
    assert all(len(v) == 1 for v in per_subject.values())
    assert sum(v == {"test"} for v in per_subject.values()) == 5
    # Explicit splits win and pull the rest of their subject along.
    explicit = ["test"] + [None] * 59
    b = assign_splits(subjects, explicit, 0.25, seed=0)
    assert b[0:3] == ["test"] * 3
    # Few subjects still give a non-empty train and test.
    assert sorted(assign_splits(["a", "b"], [None, None], 0.1, seed=0)) == ["test", "train"]
    assert assign_splits(["a", "b"], [None, None], 0.0, seed=0) == ["train", "train"]


def test_split_by_image_and_subject_regex_rejects(tmp_path):
    data = tmp_path / "data"
    rng = np.random.default_rng(6)
    for s in range(5):
        for k in range(2):
            write_drawn_face(data / "happy", f"subj{s}_{k}", rng, size=64)
    write_drawn_face(data / "happy", "nosubject", rng, size=64)
    work = tmp_path / "work"
    run_preprocess(data, work, _cfg(size=32, split_by="image", test_fraction=0.5), subject_regex=r"subj(\d+)_")
    faces, rejects = _read(work)
    assert rejects == {"happy/nosubject.png": "no_subject_match"}
    assert (faces.split == "test").sum() == 5
    assert faces.groupby("subject").split.nunique().max() == 2  # by image: a subject may straddle
    with pytest.raises(UserError, match="not a valid regular expression"):
        run_preprocess(data, work, _cfg(), subject_regex="(unclosed")


def test_labels_file_path_through_a_symlink_out_of_data_dir_is_refused(tmp_path):
    data, outside = tmp_path / "data", tmp_path / "outside"
    rng = np.random.default_rng(3)
    write_drawn_face(data / "flat", "a", rng)
    write_drawn_face(outside, "secret", rng)
    (data / "link").symlink_to(outside, target_is_directory=True)
    (data / "labels.csv").write_text("path,label\nflat/a.png,happy\nlink/secret.png,happy\n")
    run_preprocess(data, tmp_path / "work", _cfg())
    faces, rejects = _read(tmp_path / "work")
    assert list(faces.index) == ["flat/a.png"]
    assert rejects["link/secret.png"] == "outside_data_dir"
