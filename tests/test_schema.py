import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from faceaug.aus import AU_NAMES, AU_PRESENT_NAMES
from faceaug.errors import UserError
from faceaug.io.atomic import atomic_path
from faceaug.schema import SCHEMAS, read_table, to_table, write_table_atomic


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "t.parquet"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_rejects_table_round_trip_with_metadata(tmp_path):
    rows = [{"source_path": "a.png", "reason": "corrupt_image", "message": "a.png could not be decoded."}]
    path = write_table_atomic(rows, tmp_path / "rejects.parquet", "rejects")
    meta = pq.read_schema(path).metadata
    assert meta[b"faceaug_schema"] == b"rejects/1"
    assert read_table(path, "rejects").to_dict("records") == rows


def test_read_table_refuses_foreign_parquet(tmp_path):
    write_table_atomic([], tmp_path / "r.parquet", "rejects")
    with pytest.raises(UserError, match="not a faceaug faces table"):
        read_table(tmp_path / "r.parquet", "faces")
    with pytest.raises(UserError, match="does not exist"):
        read_table(tmp_path / "missing.parquet", "faces")


def _manifest_rows() -> list[dict]:
    """An original, its edit and two variants of the edit, one per regenerator."""
    base = {"label": "happy", "split": "train", "source_id": "f0", "source_label": "happy", "subject": "s0"}
    base.update({au: 0.0 for au in AU_NAMES})
    rows = [
        {**base, "id": "orig_f0", "stage": "original", "is_generated": False, "target": "original"},
        {**base, "id": "f0_edit", "stage": "ganimation", "is_generated": True, "target": "happy"},
        {**base, "id": "f0_s00", "stage": "variant", "regenerator": "singan", "singan_mode": "inject"},
        {**base, "id": "f0_s01", "stage": "variant", "regenerator": "patch"},
    ]
    for row in rows[2:]:
        row.update(is_generated=True, target="happy")
    return [{**row, "path": f"images/happy/{row['id']}.png"} for row in rows]


def test_a_manifest_of_format_1_reads_as_format_2(tmp_path):
    """Format 1 named a variant's stage "singan" and marked the patch regenerator's in singan_mode; a reader sees
    stage "variant", the `regenerator` column, and singan_mode only for SinGAN's variants."""
    path = write_table_atomic(_manifest_rows(), tmp_path / "manifest.parquet", "manifest")
    assert pq.read_schema(path).metadata[b"faceaug_schema"] == b"manifest/2"
    table = pq.read_table(path)
    old = table.drop_columns(["regenerator"]).to_pandas()
    old["stage"] = old["stage"].replace("variant", "singan")
    old.loc[old["id"] == "f0_s01", "singan_mode"] = "patch"
    meta = {**table.schema.metadata, b"faceaug_schema": b"manifest/1"}
    pq.write_table(pa.Table.from_pandas(old, preserve_index=False).replace_schema_metadata(meta), path)
    rows = read_table(path, "manifest").set_index("id")
    assert list(rows["stage"]) == ["original", "ganimation", "variant", "variant"]
    assert list(rows["regenerator"].fillna("-")) == ["-", "-", "singan", "patch"]
    assert list(rows["singan_mode"].fillna("-")) == ["-", "-", "inject", "-"]


def test_a_table_of_a_newer_format_or_an_unknown_stage_is_refused(tmp_path):
    path = write_table_atomic(_manifest_rows(), tmp_path / "manifest.parquet", "manifest")
    table = pq.read_table(path)
    newer = table.replace_schema_metadata({**table.schema.metadata, b"faceaug_schema": b"manifest/99"})
    pq.write_table(newer, path)
    with pytest.raises(UserError, match="manifest table of format 99, written by faceaug .* reads format 2 at most"):
        read_table(path, "manifest")
    with pytest.raises(ValueError, match="stage 'gan' is not one of original, ganimation, variant"):
        write_table_atomic([{**_manifest_rows()[1], "stage": "gan"}], path, "manifest")


def test_the_manifest_names_the_regenerators_the_setting_allows():
    from faceaug.config import REGENERATORS
    from faceaug.schema import PATCH, SINGAN

    assert (SINGAN, PATCH) == REGENERATORS


def _faces_row(i: int, **changes) -> dict:
    """A faces row as preprocess's workers make it: numpy float32 AUs, a float or None confidence."""
    row = {
        "face_id": f"f{i}",
        "image_path": f"faces/f{i}.png",
        "source_path": f"happy/s{i}.png",
        "source_sha256": "0" * 64,
        "label": "happy",
        "subject": "s1",
        "split": "train",
        "au_source": "openface",
        **{name: np.float32(0.25 * i) for name in AU_NAMES},
        **{name: bool(i % 2) for name in AU_PRESENT_NAMES},
        "confidence": np.float32(0.9),
        "landmarks": [float(v) for v in range(136)],
        "landmark_method": "openface",
        "grey": True,
        "crop_transform": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        "source_width": 48,
        "source_height": 48,
        "not_a_column": "dropped",
    }
    return {**row, **changes}


def test_a_faces_table_from_rows_reads_back_like_one_from_a_dataframe(tmp_path):
    """Rows become the table directly, a DataFrame through pandas: a reader sees the same table, a NaN confidence
    as a missing one either way."""
    rows = [_faces_row(0), _faces_row(1, confidence=float("nan")), _faces_row(2, confidence=None, grey=None)]
    from_rows = write_table_atomic(rows, tmp_path / "rows.parquet", "faces")
    frame = pd.DataFrame(rows, columns=SCHEMAS["faces"].names)
    from_frame = write_table_atomic(frame, tmp_path / "frame.parquet", "faces")
    read_rows, read_frame = read_table(from_rows, "faces"), read_table(from_frame, "faces")
    pd.testing.assert_frame_equal(read_rows, read_frame)
    assert read_rows.confidence.isna().tolist() == [False, True, True]
    assert pq.read_table(from_rows).column("confidence").null_count == 2  # also for readers other than pandas
    assert "not_a_column" not in read_rows.columns


@pytest.mark.parametrize(
    "path, problem",
    [
        ("C:/Windows/x.png", "is not a relative POSIX path"),
        ("c:x.png", "is not a relative POSIX path"),
        ("faces\\x.png", "is not a relative POSIX path"),
        ("/faces/x.png", "is not a relative POSIX path"),
        ("faces/../../x.png", "leaves its folder"),
        ("faces//x.png", "leaves its folder"),
    ],
)
def test_a_faces_row_whose_path_leaves_the_work_folder_is_refused(path, problem):
    with pytest.raises(ValueError, match=f"row 1: image_path {re.escape(repr(path))} {problem}"):
        to_table([_faces_row(0), _faces_row(1, image_path=path)], "faces")
    assert to_table([_faces_row(0, image_path="faces/ab:c.png")], "faces").num_rows == 1
