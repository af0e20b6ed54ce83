import pyarrow.parquet as pq
import pytest

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
