"""The files of a dataset, whatever its layout: the input images found (`SourceItem`), the inputs that cannot be
used (`Discovery`'s reject rows), and the walk that finds the image files below a folder: links followed, loops
refused, names that are not UTF-8 text and image formats faceaug does not read rejected."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceaug.io.images import IMAGE_EXTENSIONS


@dataclass
class SourceItem:
    """One input image and where its AUs come from."""

    rel: str  # path relative to DATA_DIR, POSIX separators (the `source_path` column)
    path: Path  # the file on disk
    label: str
    subject: str | None = None  # from the labels file; None = decided later (regex or one per image)
    split: str | None = None  # an explicit split from the labels file / GANimation ids; None = assigned later
    csv_path: Path | None = None  # the OpenFace CSV, if one was found
    aus: np.ndarray | None = None  # (17,) 0–1 AUs given by the layout itself (GANimation pickle)


@dataclass
class Discovery:
    layout: str  # "class_folders" | "labels_csv" | "ganimation"
    items: list[SourceItem] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)  # rows of REJECTS_SCHEMA

    def reject(self, rel: str, reason: str, message: str) -> None:
        self.rejects.append({"source_path": rel, "reason": reason, "message": message})


#: Image formats a class folder may hold that faceaug does not read: each becomes a reject row, never a silent skip.
OTHER_IMAGE_EXTENSIONS = (".gif", ".webp", ".heic", ".heif", ".avif", ".jxl", ".jp2", ".svg", ".ppm", ".pgm")


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def undecodable_name(rel: str) -> str | None:
    """For a path whose bytes are not valid UTF-8 (Python keeps them as surrogate escapes, e.g. a name copied from
    an old archive): a printable form with the bad bytes written as \\xNN, for the reject row; else None."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(rel).decode("utf-8", "backslashreplace")
    return None


def name_rejected(found: Discovery, rel: str) -> bool:
    """Reject (and return True for) a path whose name is not UTF-8 text: it could be neither a face id nor a row."""
    printable = undecodable_name(rel)
    if printable is not None:
        found.reject(
            printable,
            "undecodable_file_name",
            "the file name is not valid UTF-8 text (bytes from another encoding); rename the file.",
        )
    return printable is not None


def dir_id(path: Path | str) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


def entry_kind(entry: os.DirEntry, found: Discovery, rel: str) -> str | None:
    """'file' / 'dir' following links; broken links and link loops become rejects (→ None)."""
    try:
        if entry.is_dir(follow_symlinks=True):
            return "dir"
        if entry.is_file(follow_symlinks=True):
            return "file"
        os.stat(entry.path)  # raises for loops / dangling links (is_dir/is_file just say False)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            found.reject(rel, "symlink_loop", "the path is a symbolic link loop; skipped.")
        elif not is_image_name(entry.name):
            pass  # a dangling link to some side file: not an input
        elif entry.is_symlink():
            found.reject(rel, "broken_link", "the symbolic link points to nothing; skipped.")
        else:
            found.reject(rel, "unreadable", f"could not be read: {exc.strerror or exc}.")
    return None


def _may_be_folder(entry: os.DirEntry) -> bool:
    """A folder, or a link (to anything, even to itself): what walk_images' `skip` holds are folders (the work
    folder, --au-dir), so plain files need no realpath (8 system calls each)."""
    return entry.is_symlink() or entry.is_dir(follow_symlinks=False)


def walk_images(folder: Path, rel: str, ancestors: set[tuple[int, int]], found: Discovery, skip: set[str]):
    """Image files below `folder` (sorted, links followed, loops refused)."""
    ident = dir_id(folder)
    if ident in ancestors:
        found.reject(rel, "symlink_loop", "the folder links back to a folder above it (a loop); skipped.")
        return
    ancestors = ancestors | {ident}
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        found.reject(rel, "unreadable", f"the folder could not be listed: {exc.strerror or exc}.")
        return
    for entry in entries:
        if entry.name.startswith(".") or (skip and _may_be_folder(entry) and os.path.realpath(entry.path) in skip):
            continue
        child = f"{rel}/{entry.name}" if rel else entry.name
        if name_rejected(found, child):
            continue
        if entry.name.lower().endswith(OTHER_IMAGE_EXTENSIONS):
            found.reject(
                child,
                "unsupported_format",
                f"faceaug reads {', '.join(IMAGE_EXTENSIONS)} images; convert this one (e.g. to PNG) to use it.",
            )
            continue
        if not is_image_name(entry.name) and not entry.is_dir(follow_symlinks=False) and not entry.is_symlink():
            continue  # CSVs, notes, OpenFace side files
        kind = entry_kind(entry, found, child)
        if kind == "dir" and not entry.name.endswith("_aligned"):
            yield from walk_images(Path(entry.path), child, ancestors, found, skip)
        elif kind == "file" and is_image_name(entry.name):
            yield child, Path(entry.path)
