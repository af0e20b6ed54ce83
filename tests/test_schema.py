import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from faceaug.aus import AU_NAMES
from faceaug.errors import UserError
from faceaug.io.atomic import atomic_path
from faceaug.schema import read_table, write_table_atomic


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
