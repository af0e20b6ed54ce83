"""The WORK_DIR of `faceaug preprocess`: the files it writes there, the check before it writes, and the DATA_DIR
it was made from (which later commands keep apart from their own outputs)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from faceaug.errors import UserError
from faceaug.io.owned import foreign_files, is_marked, refuse_protected
from faceaug.preprocess.cache import CACHE_FILE, JOURNAL_FILE
from faceaug.preprocess.worker import FACES_SUBDIR

#: The file names `faceaug preprocess` writes into WORK_DIR/faces (what the orphan sweep and --overwrite remove).
FACE_FILES = re.compile(r"[A-Za-z0-9_-]+\.png")
#: The files `faceaug preprocess` writes directly into WORK_DIR.
WORK_FILES = ("faces.parquet", "rejects.parquet", CACHE_FILE, JOURNAL_FILE, "preprocess.json")
_LEGACY_MARKS = ("preprocess.json",)  # work folders written before WORK_DIR carried the faceaug mark


def check_work_dir(data_dir: Path, work_dir: Path) -> None:
    """WORK_DIR is never DATA_DIR, its faces/ never holds the data, and faceaug only fills a faces/ of its own."""
    if work_dir.exists() and not work_dir.is_dir():
        raise UserError(f"--out {work_dir} exists and is not a folder.")
    if os.path.realpath(work_dir) == os.path.realpath(data_dir):
        raise UserError(f"--out {work_dir} is DATA_DIR itself; choose a work folder of its own.")
    faces_dir = work_dir / FACES_SUBDIR
    refuse_protected(faces_dir, {"the DATA_DIR": data_dir}, "--out's faces folder")
    if any(foreign_files(faces_dir, FACE_FILES)) or (
        faces_dir.is_dir() and any(faces_dir.iterdir()) and not is_marked(work_dir, "preprocess", _LEGACY_MARKS)
    ):
        raise UserError(
            f"{faces_dir} holds files faceaug did not write; choose another --out (faceaug writes its "
            "aligned faces there and removes the ones it no longer lists)."
        )


def face_path(face_id: str) -> str:
    """A face's image path relative to WORK_DIR (the faces table's `image_path`)."""
    return f"{FACES_SUBDIR}/{face_id}.png"


def data_dir_of(work_dir: Path) -> Path | None:
    """The DATA_DIR that `faceaug preprocess` read (from WORK_DIR/preprocess.json), if known."""
    try:
        data_dir = json.loads((work_dir / "preprocess.json").read_text())["options"]["data_dir"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Path(data_dir) if isinstance(data_dir, str) else None
