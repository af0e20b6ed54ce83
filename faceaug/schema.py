"""Arrow schemas of the tables faceaug writes, and their atomic writer and checked reader.

Files are written with faceaug.io.atomic (temp file + fsync + rename): a table is complete or absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from faceaug import __version__
from faceaug.aus import AU_NAMES, AU_PRESENT_NAMES
from faceaug.errors import UserError
from faceaug.io.atomic import atomic_path

SCHEMA_VERSION = "1"

_AU_FIELDS = [pa.field(name, pa.float32(), nullable=False) for name in AU_NAMES]

#: WORK_DIR/faces.parquet — one row per aligned face (written by `faceaug preprocess`).
FACES_SCHEMA = pa.schema(
    [
        pa.field("face_id", pa.string(), nullable=False),
        pa.field("image_path", pa.string(), nullable=False),  # relative to WORK_DIR, e.g. faces/<face_id>.png
        pa.field("source_path", pa.string(), nullable=False),  # relative to DATA_DIR
        pa.field("source_sha256", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("subject", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),  # train | test
        pa.field("au_source", pa.string(), nullable=False),  # openface | label_prototype | ganimation_pickle
        *_AU_FIELDS,
        *[pa.field(name, pa.bool_(), nullable=False) for name in AU_PRESENT_NAMES],
        pa.field("confidence", pa.float32(), nullable=True),
        pa.field("landmarks", pa.list_(pa.float32()), nullable=True),  # 136 values x_0..x_67, y_0..y_67 (source px)
        pa.field("crop_transform", pa.list_(pa.float32(), 6), nullable=False),  # 2×3 source → crop, row-major
        pa.field("source_width", pa.int32(), nullable=False),
        pa.field("source_height", pa.int32(), nullable=False),
    ]
)

#: WORK_DIR/rejects.parquet — one row for every input that did not become a face.
REJECTS_SCHEMA = pa.schema(
    [
        pa.field("source_path", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),  # a stable reason code, e.g. "corrupt_image"
        pa.field("message", pa.string(), nullable=False),  # a sentence for a person
    ]
)

#: OUT_DIR/manifest.parquet — the full FER training set (originals + generated), written by `faceaug expand`.
MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),  # relative to the manifest's folder
        pa.field("label", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("is_generated", pa.bool_(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),  # original | ganimation | singan
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("source_label", pa.string(), nullable=False),
        pa.field("subject", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),  # target class / AU sweep step ("original" for originals)
        *_AU_FIELDS,  # target AU intensities (the source's own AUs for originals)
        pa.field("alpha", pa.float32(), nullable=True),
        pa.field("gen_start_scale", pa.int32(), nullable=True),
        pa.field("singan_mode", pa.string(), nullable=True),
        pa.field("sample_index", pa.int32(), nullable=True),
        pa.field("seed", pa.int64(), nullable=True),
        pa.field("ganimation_model_id", pa.string(), nullable=True),
        pa.field("singan_model_id", pa.string(), nullable=True),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {"faces": FACES_SCHEMA, "rejects": REJECTS_SCHEMA, "manifest": MANIFEST_SCHEMA}


def to_table(rows: pd.DataFrame | list[dict[str, Any]], name: str) -> pa.Table:
    """Validate rows against the named schema (column set, types) and return an Arrow table with metadata."""
    schema = SCHEMAS[name]
    df = pd.DataFrame(rows, columns=schema.names) if isinstance(rows, list) else rows
    missing = [c for c in schema.names if c not in df.columns]
    if missing:
        raise ValueError(f"{name} table is missing columns {missing}")
    table = pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    meta = {b"faceaug_version": __version__.encode(), b"faceaug_schema": f"{name}/{SCHEMA_VERSION}".encode()}
    return table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})


def write_table_atomic(rows: pd.DataFrame | list[dict[str, Any]] | pa.Table, path: Path, name: str) -> Path:
    """Write a table of the named schema to Parquet atomically."""
    table = rows if isinstance(rows, pa.Table) else to_table(rows, name)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_table(path: Path, name: str) -> pd.DataFrame:
    """Read a faceaug Parquet table; a missing file or missing columns are a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist.")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise UserError(f"{path} is not a readable Parquet file: {exc}.") from None
    missing = [c for c in SCHEMAS[name].names if c not in table.column_names]
    if missing:
        raise UserError(f"{path} is not a faceaug {name} table (missing columns: {', '.join(missing[:5])}).")
    return table.to_pandas()
