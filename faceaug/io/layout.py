"""Find the labelled images of a dataset, and their OpenFace CSVs, in one of three layouts.

- class subfolders: ``DATA_DIR/<label>/**/<name>.<ext>``, the OpenFace CSV ``<name>.csv`` beside the image or in
  ``--au-dir`` (mirroring the class folders, or flat like OpenFace's ``processed/``; ``*_aligned/`` folders and
  hidden files are ignored);
- a flat folder plus ``--labels FILE.csv`` with columns ``path,label[,subject][,split]`` (paths relative to
  DATA_DIR); ``DATA_DIR/labels.csv`` with those columns is used without the flag (`faceaug synth` writes one);
- the GANimation layout: ``imgs/`` + ``aus_openface.pkl`` (name → 17 raw OpenFace intensities) +
  ``train_ids.csv`` / ``test_ids.csv``; the pickle is loaded with an unpickler that only rebuilds numpy arrays.

Inputs that cannot be used (symlink loops, paths outside DATA_DIR, bad labels, ...) become reject rows here or in
the folder walk (faceaug.io.dataset_files); only whole-dataset problems (missing folder, unreadable labels file,
unsafe pickle) raise UserError.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import pickle
from pathlib import Path

import numpy as np

from faceaug.aus import N_AUS, openface_to_unit
from faceaug.errors import UserError
from faceaug.io.dataset_files import (
    OTHER_IMAGE_EXTENSIONS,
    Discovery,
    SourceItem,
    dir_id,
    entry_kind,
    is_image_name,
    name_rejected,
    walk_images,
)
from faceaug.labels import label_problem

GANIMATION_PICKLE = "aus_openface.pkl"
LABELS_FILE = "labels.csv"  # DATA_DIR/labels.csv with path,label[,subject][,split] is picked up without --labels
GANIMATION_LABEL = "unlabelled"  # the GANimation layout carries no expression labels
SPLITS = ("train", "test")


def discover_dataset(
    data_dir: Path, *, labels: Path | None = None, au_dir: Path | None = None, exclude: tuple[Path, ...] = ()
) -> Discovery:
    """Find every input of DATA_DIR (layout auto-detected; `labels` selects the labels-file layout)."""
    data_dir = Path(data_dir)
    if not data_dir.exists():
        raise UserError(f"DATA_DIR {data_dir} does not exist.")
    if not data_dir.is_dir():
        raise UserError(f"DATA_DIR {data_dir} is not a folder.")
    if au_dir is not None and not Path(au_dir).is_dir():
        raise UserError(f"--au-dir {au_dir} is not a folder.")
    if labels is None and _looks_like_labels_file(data_dir / LABELS_FILE):
        labels = data_dir / LABELS_FILE  # e.g. written by `faceaug synth`: it carries the subject ids
    skip = {os.path.realpath(p) for p in (*exclude, *([au_dir] if au_dir else []))}
    if labels is not None:
        found = _from_labels_file(data_dir, Path(labels), skip)
    elif (data_dir / GANIMATION_PICKLE).is_file() and (data_dir / "imgs").is_dir():
        found = _from_ganimation(data_dir)
    else:
        found = _from_class_folders(data_dir, skip)
    if found.layout != "ganimation":
        _attach_csvs(found, data_dir, Path(au_dir) if au_dir else None)
    return found


# --- class subfolders ----------------------------------------------------------------------------------------


def _from_class_folders(data_dir: Path, skip: set[str]) -> Discovery:
    found = Discovery("class_folders")
    root_id = dir_id(data_dir)
    for entry in sorted(os.scandir(data_dir), key=lambda e: e.name):
        if entry.name.startswith(".") or os.path.realpath(entry.path) in skip or name_rejected(found, entry.name):
            continue
        kind = entry_kind(entry, found, entry.name)
        if kind == "file" and is_image_name(entry.name):
            found.reject(entry.name, "no_label", "the image is not inside a class folder (DATA_DIR/<label>/...).")
        elif kind == "dir" and not entry.name.endswith("_aligned"):
            problem = label_problem(entry.name)
            for rel, path in walk_images(Path(entry.path), entry.name, {root_id}, found, skip):
                if problem:
                    found.reject(rel, "invalid_label", f"{problem} (class folder name).")
                else:
                    found.items.append(SourceItem(rel=rel, path=path, label=entry.name))
    return found


# --- labels file -----------------------------------------------------------------------------------------------


def _looks_like_labels_file(path: Path) -> bool:
    """DATA_DIR/labels.csv is used automatically when its header has `path` and `label` columns."""
    if not path.is_file():
        return False
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            header = {name.strip().lower() for name in fh.readline().split(",")}
    except OSError:
        return False
    return {"path", "label"} <= header


class _RealPaths:
    """os.path.realpath of normalised absolute paths, resolving each folder once: a labels file lists thousands of
    files in a few folders, and realpath checks every component of every path (8 system calls a file)."""

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        if os.path.islink(path):
            return os.path.realpath(path)
        folder, name = os.path.split(path)
        real = self._folders.get(folder)
        if real is None:
            real = self._folders[folder] = os.path.realpath(folder)
        return os.path.join(real, name)


def _from_labels_file(data_dir: Path, labels: Path, skip: set[str]) -> Discovery:
    try:
        text = labels.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"Labels file {labels} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"Labels file {labels} could not be read as UTF-8 text: {exc}.") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = {(name or "").strip().lower(): name for name in (reader.fieldnames or [])}
    if "path" not in columns or "label" not in columns:
        raise UserError(
            f"Labels file {labels} needs columns 'path' and 'label' (optional: subject, split); "
            f"it has {', '.join(n for n in columns if n) or 'none'}."
        )
    found = Discovery("labels_csv")
    root = os.path.normpath(os.path.abspath(data_dir))
    real_root = os.path.realpath(data_dir)
    real_path = _RealPaths()
    seen: set[str] = set()
    for line_no, row in enumerate(reader, start=2):

        def get(key: str) -> str:
            return (row.get(columns[key]) or "").strip() if key in columns else ""  # noqa: B023 (called at once)

        raw = get("path")
        if not raw:
            found.reject(f"{labels.name}:{line_no}", "missing_path", f"line {line_no} of the labels file has no path.")
            continue
        full = os.path.normpath(os.path.join(root, raw))
        if os.path.isabs(raw) or os.path.commonpath([root, full]) != root:
            found.reject(raw, "outside_data_dir", f"the labels file points outside DATA_DIR ({raw}); refused.")
            continue
        if os.path.commonpath([real_root, real_path(full)]) != real_root:
            found.reject(raw, "outside_data_dir", f"{raw} leads outside DATA_DIR through a symbolic link; refused.")
            continue
        rel = Path(os.path.relpath(full, root)).as_posix()
        if rel in seen:
            found.reject(rel, "duplicate_entry", f"listed more than once in the labels file (line {line_no}).")
            continue
        seen.add(rel)
        label, split = get("label"), get("split").lower()
        problem = label_problem(label)
        if problem:
            found.reject(rel, "invalid_label", f"{problem} (labels file line {line_no}).")
            continue
        if split and split not in SPLITS:
            found.reject(rel, "invalid_split", f"split {split!r} on line {line_no} is not 'train' or 'test'.")
            continue
        if rel.lower().endswith(OTHER_IMAGE_EXTENSIONS) and os.path.isfile(full):
            continue  # rejected as unsupported_format by the walk below, once
        path = Path(full)
        try:
            os.stat(path)
        except OSError as exc:
            reason = "symlink_loop" if exc.errno == errno.ELOOP else "missing_file"
            found.reject(rel, reason, f"the labels file lists {raw}, which does not exist or cannot be read.")
            continue
        if path.is_dir():
            found.reject(rel, "missing_file", f"the labels file lists {raw}, which is a folder, not an image.")
            continue
        found.items.append(
            SourceItem(rel=rel, path=path, label=label, subject=get("subject") or None, split=split or None)
        )
    listed = seen | {r["source_path"] for r in found.rejects}
    for rel, _ in walk_images(data_dir, "", set(), found, skip):
        if rel not in listed:  # nothing is dropped silently: unlisted images are reported
            found.reject(rel, "not_in_labels", "the image is in DATA_DIR but not in the labels file; skipped.")
    return found


# --- OpenFace CSVs ---------------------------------------------------------------------------------------------


def _attach_csvs(found: Discovery, data_dir: Path, au_dir: Path | None) -> None:
    """Beside the image, else AU_DIR/<same relative folder>/<name>.csv, else AU_DIR/<name>.csv (if unambiguous)."""
    flat_wanted: dict[str, list[SourceItem]] = {}
    csvs_in: dict[str, set[str]] = {}
    for item in found.items:
        folder, name = os.path.split(item.path)
        if folder not in csvs_in:
            csvs_in[folder] = _csv_files(folder)
        csv_name = os.path.splitext(name)[0] + ".csv"
        if csv_name in csvs_in[folder]:
            item.csv_path = item.path.with_name(csv_name)
            continue
        stem = Path(item.rel).stem
        if au_dir is not None:
            mirrored = au_dir / Path(item.rel).with_suffix(".csv")
            if mirrored.is_file():
                item.csv_path = mirrored
                continue
            flat_wanted.setdefault(stem, []).append(item)
    for stem, items in flat_wanted.items():
        flat = au_dir / f"{stem}.csv"  # type: ignore[operator]
        if not flat.is_file():
            continue
        if len(items) > 1:
            for item in items:  # several images share the name: the flat CSV can't be told apart
                item.csv_path = None
                found.reject(
                    item.rel,
                    "ambiguous_csv",
                    f"{len(items)} images are named {stem}.*: --au-dir's {stem}.csv can't be matched; "
                    "put the CSVs beside the images or mirror the class folders in --au-dir.",
                )
        else:
            items[0].csv_path = flat
    ambiguous = {r["source_path"] for r in found.rejects if r["reason"] == "ambiguous_csv"}
    found.items = [i for i in found.items if i.rel not in ambiguous]


def _csv_files(folder: str) -> set[str]:
    """The names of the CSV files in `folder` (links to files included): one listing a folder rather than a stat
    for each of its images (the folder's entries are cached by the walk that found the images)."""
    try:
        with os.scandir(folder or ".") as entries:
            return {e.name for e in entries if e.name.endswith(".csv") and _is_file(e)}
    except OSError:
        return set()


def _is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


# --- GANimation ------------------------------------------------------------------------------------------------


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Rebuilds only plain containers and numpy arrays/scalars; any other global is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_ganimation_aus(path: Path) -> dict[str, np.ndarray]:
    """Load GANimation's aus_openface.pkl safely: a dict of names → 17 raw intensities (returned as float32)."""
    try:
        with open(path, "rb") as fh:
            data = _ArrayOnlyUnpickler(fh, encoding="latin1").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        IndexError,
        OSError,
    ) as exc:
        raise UserError(f"{path} is not a plain dict of names to AU arrays ({exc}); refusing to load it.") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} holds a {type(data).__name__}, not a dict of names to AU arrays; refusing it.")
    out: dict[str, np.ndarray] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise UserError(f"{path} has a non-text key {key!r}; expected image names.")
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError):
            arr = np.asarray(None)
        if arr.dtype.kind not in "fiu":  # text, objects, booleans, complex numbers: not AU intensities
            raise UserError(f"{path}: the value of {key!r} is not an array of numbers.")
        arr = arr.astype(np.float32).reshape(-1)
        if arr.shape != (N_AUS,):
            raise UserError(f"{path}: {key!r} has {arr.size} values, expected {N_AUS} AU intensities.")
        out[Path(key).stem if is_image_name(key) else key] = arr
    return out


def _read_ids(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    names = set()
    for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        name = line.strip().strip(",").strip()
        if name:
            names.add(Path(name).stem if is_image_name(name) else name)
    return names


def _from_ganimation(data_dir: Path) -> Discovery:
    found = Discovery("ganimation")
    aus = load_ganimation_aus(data_dir / GANIMATION_PICKLE)
    train_ids, test_ids = _read_ids(data_dir / "train_ids.csv"), _read_ids(data_dir / "test_ids.csv")
    for rel, path in walk_images(data_dir / "imgs", "imgs", {dir_id(data_dir)}, found, set()):
        stem = Path(rel).stem
        if stem not in aus:
            found.reject(rel, "missing_aus", f"{stem} has no entry in {GANIMATION_PICKLE}.")
            continue
        raw = aus[stem]
        if not np.isfinite(raw).all() or (raw < 0).any():
            found.reject(rel, "invalid_au_values", f"{stem}'s AUs in {GANIMATION_PICKLE} are NaN, inf or negative.")
            continue
        split = "test" if stem in test_ids else ("train" if stem in train_ids else None)
        found.items.append(
            SourceItem(rel=rel, path=path, label=GANIMATION_LABEL, split=split, aus=openface_to_unit(raw))
        )
    return found
