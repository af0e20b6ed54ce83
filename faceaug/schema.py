"""Arrow schemas of the tables faceaug writes, and their atomic writer and checked reader.

Files are written with faceaug.io.atomic (temp file + fsync + rename): a table is complete or absent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from string import ascii_letters
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from faceaug import __version__
from faceaug.aus import AU_NAMES, AU_PRESENT_NAMES
from faceaug.errors import UserError
from faceaug.io.atomic import atomic_path
from faceaug.io.versions import check_format_version
from faceaug.labels import label_problem

if TYPE_CHECKING:  # pandas (0.2 s to import) only where a DataFrame is read or given: see `to_table`
    import pandas as pd

#: Each table's format version, written into its Parquet metadata as `faceaug_schema = "<table>/<version>"`; a
#: reader refuses a newer one and reads every older one (`read_table` maps what changed). manifest and metrics 2:
#: a variant of an edit has stage "variant" and the manifest names its `regenerator` (1: stage "singan", and
#: singan_mode "patch" for the patch regenerator's variants).
TABLE_VERSIONS = {"faces": 1, "rejects": 1, "manifest": 2, "metrics": 2}

#: The manifest's (and metrics') stages: the real faces, GANimation's edits, the variants of an edit.
ORIGINAL, EDIT, VARIANT = "original", "ganimation", "variant"
STAGES = (ORIGINAL, EDIT, VARIANT)
#: What made a variant (the manifest's `regenerator`, the setting `expand.regenerator`: faceaug.config.REGENERATORS).
SINGAN, PATCH = "singan", "patch"

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
        # where the crop's anchor points came from: openface | dlib | haar | none (faceaug.preprocess.align)
        pa.field("landmark_method", pa.string(), nullable=False),
        pa.field("grey", pa.bool_(), nullable=True),  # the source image is greyscale (R = G = B); null = not recorded
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
        pa.field("stage", pa.string(), nullable=False),  # original | ganimation | variant (STAGES)
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("source_label", pa.string(), nullable=False),
        pa.field("subject", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),  # target class / AU sweep step ("original" for originals)
        *_AU_FIELDS,  # target AU intensities (the source's own AUs for originals)
        pa.field("alpha", pa.float32(), nullable=True),
        pa.field("gen_start_scale", pa.int32(), nullable=True),
        pa.field("singan_mode", pa.string(), nullable=True),  # reconstruct | inject (SinGAN's variants only)
        pa.field("sample_index", pa.int32(), nullable=True),
        pa.field("seed", pa.int64(), nullable=True),
        pa.field("ganimation_model_id", pa.string(), nullable=True),
        pa.field("editor", pa.string(), nullable=True),  # the editor's name (the bundled one's, else its model file)
        pa.field("singan_model_id", pa.string(), nullable=True),
        pa.field("edit_score", pa.float32(), nullable=True),  # the quality gate's AU gain of the edit (None = off)
        # the gate's dlib face-descriptor distance from the source (None = not measured; > 0.6: another person)
        pa.field("identity_distance", pa.float32(), nullable=True),
        # the gate's expression judge: the probability it gives the edit's target class (None = not judged)
        pa.field("target_probability", pa.float32(), nullable=True),
        # an edit's mean attention over the template face region (1 = kept from the source; None: not an edit)
        pa.field("face_attention", pa.float32(), nullable=True),
        # what made a variant: singan | patch (None: not a variant)
        pa.field("regenerator", pa.string(), nullable=True),
    ]
)


def _nullable(names, type_) -> list[pa.Field]:
    return [pa.field(name, type_, nullable=True) for name in names]


#: OUT_DIR/metrics.parquet — one row per manifest row, written by `faceaug report` (faceaug.report.scoring).
METRICS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),  # the manifest row's
        pa.field("target", pa.string(), nullable=False),
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("face_detected", pa.bool_(), nullable=False),
        pa.field("colour_spread", pa.int32(), nullable=False),  # largest channel difference, grey levels
        pa.field("grey", pa.bool_(), nullable=False),
        *_nullable([f"achieved_{au}" for au in AU_NAMES], pa.float32()),
        pa.field("au_error", pa.float32(), nullable=True),  # mean |target − achieved| over the 17 AUs
        pa.field("au_measured_by", pa.string(), nullable=True),  # faceaug-au-estimator | openface
        *_nullable(
            [
                "unedited_au_error",
                "ssim_to_source",
                "ssim_to_edit",
                "sifid",
                "diversity",
                "pairwise_ssim",
                "face_attention",
                "colour_shift_outside_face",
            ],
            pa.float32(),
        ),
    ]
)

#: WORK_DIR/preprocess_cache.parquet — which settings made each face of faces.parquet (faceaug.preprocess.cache).
PREPROCESS_CACHE_SCHEMA = pa.schema(
    [
        ("source_path", pa.string()),
        ("face_id", pa.string()),
        ("source_sha256", pa.string()),
        ("au_key", pa.string()),
        ("settings_key", pa.string()),
        ("method", pa.string()),
        ("upscaled", pa.bool_()),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "faces": FACES_SCHEMA,
    "rejects": REJECTS_SCHEMA,
    "manifest": MANIFEST_SCHEMA,
    "metrics": METRICS_SCHEMA,
}


def _legacy_landmark_method(table: pa.Table) -> pa.Array:
    """faces.parquet before `landmark_method`: landmarks were the CSV's whenever a row has them."""
    has_landmarks = pc.is_valid(table.column("landmarks"))
    return pc.if_else(has_landmarks, "openface", "unknown")


def _not_recorded(table: pa.Table) -> pa.Array:
    return pa.nulls(table.num_rows, pa.bool_())


#: The stage of a variant in manifest and metrics tables of format 1.
_V1_VARIANT_STAGE = "singan"


def _v1_regenerator(table: pa.Table) -> pa.Array:
    """A manifest of format 1 names no regenerator: its variants have stage "singan", and singan_mode "patch" when
    the patch regenerator made them."""
    try:
        stage, mode = table.column("stage").cast(pa.string()), table.column("singan_mode").cast(pa.string())
    except (pa.ArrowException, ValueError):
        return pa.nulls(table.num_rows, pa.string())  # the type check of read_table names the bad column
    patch = pc.fill_null(pc.equal(mode, PATCH), False)
    made_by = pc.if_else(patch, PATCH, SINGAN)
    return pc.if_else(pc.equal(stage, _V1_VARIANT_STAGE), made_by, pa.scalar(None, pa.string()))


#: Columns added after a table's first release, and how a reader fills them in an older file.
ADDED_COLUMNS = {
    "faces": {"landmark_method": _legacy_landmark_method, "grey": _not_recorded},
    "manifest": {
        "edit_score": lambda table: pa.nulls(table.num_rows, pa.float32()),
        "identity_distance": lambda table: pa.nulls(table.num_rows, pa.float32()),
        "editor": lambda table: pa.nulls(table.num_rows, pa.string()),
        "target_probability": lambda table: pa.nulls(table.num_rows, pa.float32()),
        "face_attention": lambda table: pa.nulls(table.num_rows, pa.float32()),
        "regenerator": _v1_regenerator,
    },
}

#: Values renamed after a table's first release (column → {old: new}): every reader sees only the new ones, so an
#: older expansion reads like a new one. Applied after ADDED_COLUMNS, which may still read the old values.
RENAMED_VALUES = {
    "manifest": {"stage": {_V1_VARIANT_STAGE: VARIANT}, "singan_mode": {PATCH: None}},
    "metrics": {"stage": {_V1_VARIANT_STAGE: VARIANT}},
}


#: What the rows of each table must satisfy beyond their types (checked on every read and write).
PATH_COLUMNS = {"faces": ("image_path", "source_path"), "manifest": ("path",)}  # relative, never outside
# columns whose values become file names, and folder names
ID_COLUMNS = {"faces": ("face_id",), "manifest": ("id", "source_id"), "metrics": ("id", "source_id")}
LABEL_COLUMNS = {"faces": ("label",), "manifest": ("label", "source_label"), "metrics": ("label",)}
SPLIT_COLUMNS = {"faces": ("split",), "manifest": ("split",)}
SPLITS = ("train", "test")
STAGE_COLUMNS = {"manifest": ("stage",), "metrics": ("stage",)}
_ID = re.compile(r"[A-Za-z0-9_-]+")


def _has_drive(rel: str) -> bool:
    """Whether `rel` starts with a Windows drive ("C:"): what PureWindowsPath(rel).drive finds in a string that
    starts with no slash, without building a path object for each of a table's rows."""
    return rel[1:2] == ":" and rel[:1] in ascii_letters


def path_problem(rel: str) -> str | None:
    """Why `rel` can't be a path inside a table's folder (absolute, '..', backslashes, empty), or None."""
    if not rel:
        return "is empty"
    if rel.startswith("/") or _has_drive(rel) or "\\" in rel:
        return "is not a relative POSIX path"
    if any(part in ("..", "") for part in rel.split("/")):
        return "leaves its folder (or has empty parts)"
    return None


def _row_problems(column_values: Callable[[str], Iterable[Any]], name: str) -> str | None:
    """The first row that breaks a rule of the named table, said as "row i: column value problem"; None when every
    row is fine. `column_values(column)`: that column's values, in row order."""
    checks = [
        (PATH_COLUMNS, path_problem),
        (ID_COLUMNS, lambda v: None if _ID.fullmatch(v) else "may use only ASCII letters, digits, '_', '-'"),
        (LABEL_COLUMNS, label_problem),
        (SPLIT_COLUMNS, lambda v: None if v in SPLITS else f"is not one of {', '.join(SPLITS)}"),
        (STAGE_COLUMNS, lambda v: None if v in STAGES else f"is not one of {', '.join(STAGES)}"),
    ]
    for columns, problem_of in checks:
        for column in columns.get(name, ()):
            for i, value in enumerate(column_values(column)):
                problem = problem_of(value) if isinstance(value, str) else "is not a string"
                if problem:
                    return f"row {i}: {column} {value!r} {problem}"
    return None


def to_table(rows: pd.DataFrame | list[dict[str, Any]], name: str) -> pa.Table:
    """Validate rows against the named schema (column set, types, row rules) and return an Arrow table. A list of
    dicts (a row's missing keys are nulls, extra keys are dropped) becomes the table directly, not through a
    DataFrame: 7,636 faces rows in 0.06 s rather than 0.19 s."""
    schema = SCHEMAS[name]
    from_rows = isinstance(rows, list)
    missing = [] if from_rows else [c for c in schema.names if c not in rows.columns]
    if missing:
        raise ValueError(f"{name} table is missing columns {missing}")
    problem = _row_problems((lambda column: (row.get(column) for row in rows)) if from_rows else rows.__getitem__, name)
    if problem:
        raise ValueError(f"{name} table {problem}")
    if from_rows:
        table = _nan_as_null(pa.Table.from_pylist(rows, schema=schema))
    else:
        table = pa.Table.from_pandas(rows[schema.names], schema=schema, preserve_index=False)
    meta = {b"faceaug_version": __version__.encode(), b"faceaug_schema": f"{name}/{TABLE_VERSIONS[name]}".encode()}
    return table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})


def _nan_as_null(table: pa.Table) -> pa.Table:
    """NaN in a nullable float column as null, as a table made from pandas has it (pandas' missing value is NaN)."""
    for index, field in enumerate(table.schema):
        if pa.types.is_floating(field.type) and field.nullable:
            column = table.column(index)
            if pc.any(pc.is_nan(column)).as_py():
                table = table.set_column(index, field, pc.if_else(pc.is_nan(column), None, column))
    return table


def write_table_atomic(rows: pd.DataFrame | list[dict[str, Any]] | pa.Table, path: Path, name: str) -> Path:
    """Write a table of the named schema to Parquet atomically."""
    table = rows if isinstance(rows, pa.Table) else to_table(rows, name)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def _check_version(table: pa.Table, path: Path, name: str) -> None:
    """A table of a newer format than this faceaug reads is refused (files without faceaug's mark: format 1)."""
    meta = table.schema.metadata or {}
    tag = meta.get(b"faceaug_schema", b"").decode(errors="replace")
    if tag.startswith(f"{name}/"):
        written_by = meta.get(b"faceaug_version", b"").decode(errors="replace") or None
        check_format_version(path, f"{name} table", tag.split("/", 1)[1], TABLE_VERSIONS[name], written_by)


def _rename_values(df: pd.DataFrame, name: str) -> pd.DataFrame:
    for column, renamed in RENAMED_VALUES.get(name, {}).items():
        for old, new in renamed.items():
            df.loc[df[column] == old, column] = new
    return df


def read_table(path: Path, name: str) -> pd.DataFrame:
    """Read a faceaug Parquet table and validate it like any input: a format this faceaug reads, the columns of
    its schema (older files: added columns filled in, renamed values mapped), cast to their types, no nulls where
    the schema allows none, and the row rules (relative paths that stay inside the folder, file-name-safe ids,
    labels that follow the label rule, known splits and stages). Any violation is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist.")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise UserError(f"{path} is not a readable Parquet file: {exc}.") from None
    _check_version(table, path, name)
    schema = SCHEMAS[name]
    added = ADDED_COLUMNS.get(name, {})
    if all(c in table.column_names for c in schema.names if c not in added):  # an older file of this table
        for column, fill in added.items():
            if column not in table.column_names:
                table = table.append_column(column, fill(table))
    missing = [c for c in schema.names if c not in table.column_names]
    if missing:
        raise UserError(f"{path} is not a faceaug {name} table (missing columns: {', '.join(missing[:5])}).")
    columns = []
    for field in schema:
        column = table.column(field.name)
        if not field.nullable and column.null_count:
            raise UserError(
                f"{path} is not a valid faceaug {name} table: column {field.name!r} has "
                f"{column.null_count} empty value(s)."
            )
        try:
            columns.append(column.cast(field.type))
        except (pa.ArrowException, ValueError) as exc:
            raise UserError(
                f"{path} is not a valid faceaug {name} table: column {field.name!r} is "
                f"{column.type}, expected {field.type} ({exc})."
            ) from None
    df = _rename_values(pa.Table.from_arrays(columns, schema=schema).to_pandas(), name)
    problem = _row_problems(df.__getitem__, name)
    if problem:
        raise UserError(
            f"{path} is not a valid faceaug {name} table: {problem}. Tables are checked like any "
            "input; was it edited by hand or written by another tool?"
        )
    return df
