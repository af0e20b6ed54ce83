"""What a re-run of `faceaug preprocess` reuses: faces whose source bytes, AU source and settings are unchanged.

Two records say which faces were made with which settings: WORK_DIR/preprocess_cache.parquet, written with the
tables by a finished run, and WORK_DIR/preprocess_journal.jsonl, one JSON line per face appended as a run makes it
(so a killed run's work is reused too; a finished run removes its journal).

pyarrow (with faceaug.schema) is imported where a table is read or written, not with this module: a first run has
none to read, and its pool imports pyarrow while the workers align (faceaug.preprocess.pool).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from faceaug.console import warn
from faceaug.errors import UserError
from faceaug.io.atomic import atomic_path
from faceaug.preprocess.worker import SourceTask

CACHE_FILE = "preprocess_cache.parquet"
#: Faces finished by a run that has not written its tables yet, one JSON line each (a killed run's work is reused).
JOURNAL_FILE = "preprocess_journal.jsonl"


def load_previous(work_dir: Path, settings_key: str) -> tuple[dict[str, dict], dict[str, dict]]:
    """Rows and cache entries made with the same settings, by source_path: from the last finished run's tables,
    then from the journal of a run that was stopped before writing them."""
    faces_path, cache_path = work_dir / "faces.parquet", work_dir / CACHE_FILE
    old_rows, entries = {}, {}
    if faces_path.is_file() and cache_path.is_file():
        import pyarrow as pa
        import pyarrow.parquet as pq

        from faceaug.schema import PREPROCESS_CACHE_SCHEMA, read_table

        try:
            faces = read_table(faces_path, "faces")
            cache = pq.read_table(cache_path, schema=PREPROCESS_CACHE_SCHEMA).to_pandas()
        except UserError as exc:
            warn(f"The previous run's table is not usable ({exc}); every face is made again.")
        except (OSError, pa.ArrowException):
            pass  # unreadable cache: everything is redone
        else:
            old_rows = {r["source_path"]: r for r in faces.to_dict("records")}
            entries = {r["source_path"]: r for r in cache.to_dict("records")}
    journal_rows, journal_entries = _read_journal(work_dir)
    old_rows.update(journal_rows)
    entries.update(journal_entries)
    return old_rows, {k: e for k, e in entries.items() if e["settings_key"] == settings_key and k in old_rows}


def _read_journal(work_dir: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    """The journal's rows and cache entries; a torn last line is skipped, a journal that fails the faces schema
    is ignored as a whole (its faces are made again)."""
    try:
        lines = (work_dir / JOURNAL_FILE).read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return {}, {}
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("row"), dict) and isinstance(record.get("entry"), dict):
            records.append(record)
    if not records:
        return {}, {}
    import pyarrow as pa

    from faceaug.schema import PREPROCESS_CACHE_SCHEMA, to_table

    rows = [{**r["row"], "subject": "x", "split": "train"} for r in records]  # assigned later, as for any face
    try:
        to_table(rows, "faces")
        pa.Table.from_pylist([r["entry"] for r in records], schema=PREPROCESS_CACHE_SCHEMA)
    except (ValueError, TypeError, KeyError, pa.ArrowException):
        warn(f"{work_dir / JOURNAL_FILE} is damaged; the faces it lists are made again.")
        return {}, {}
    return (
        {r["entry"]["source_path"]: r["row"] for r in records},
        {r["entry"]["source_path"]: r["entry"] for r in records},
    )


def journal_face(log: TextIO, task: SourceTask, res: dict, settings_key: str) -> None:
    """Append a new face (its cache entry and its faces row) to the open journal, flushed at once."""
    entry = {
        "source_path": task.item.rel,
        "face_id": task.face_id,
        "source_sha256": res["sha"],
        "au_key": res["au_key"],
        "settings_key": settings_key,
        "method": res["method"],
        "upscaled": bool(res["upscaled"]),
    }
    # the row arrives JSON-encoded from the worker process, which spares this process the work
    log.write(f'{{"entry": {json.dumps(entry)}, "row": {res["row_json"]}}}\n')
    log.flush()


def write_cache(work_dir: Path, cache_rows: list[dict]) -> None:
    """WORK_DIR/preprocess_cache.parquet: one entry per face of the tables just written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from faceaug.schema import PREPROCESS_CACHE_SCHEMA

    with atomic_path(work_dir / CACHE_FILE) as tmp:
        pq.write_table(pa.Table.from_pylist(cache_rows, schema=PREPROCESS_CACHE_SCHEMA), tmp)
