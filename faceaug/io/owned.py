"""What faceaug may delete: only files it wrote, in folders it marked as its own, never a protected folder.

Every command that writes an output folder marks it first with `OWNER_FILE` (a small JSON naming the tool and
the command). Deleting — `--overwrite`, sweeping orphans, clearing `parts/` — goes through `clear_folder` and
`sweep`, which remove only paths matching the command's own file-name pattern, and refuse (UserError, exit 2)
a folder that holds anything else, that is not marked, or that is a protected folder (the WORK_DIR, the
DATA_DIR, the home folder, the file-system root) or a parent of one. Links are never followed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from glob import escape as glob_escape
from pathlib import Path

from faceaug import __version__
from faceaug.errors import UserError, is_machine_fault
from faceaug.io.atomic import write_json_atomic
from faceaug.io.lock import LOCK_FILE

OWNER_FILE = ".faceaug.json"
#: Temporary files of faceaug.io.atomic.atomic_path (left behind only by a killed process).
TEMP_FILE = re.compile(r"(^|/)\.[^/]+\.tmp$")


def mark_owned(folder: Path, command: str) -> None:
    """Create `folder` if needed and mark it as written by `command` (kept when already there).

    This is the first write of every command into its output folder, so a folder that cannot be made or written
    (under /proc, below a regular file, without permission) is a UserError here, before any work is done. A fault of
    the machine (a full or read-only disk: faceaug.errors.is_machine_fault) is left to the caller's report of those."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / OWNER_FILE).is_file():
            write_json_atomic({"tool": "faceaug", "command": command, "version": __version__}, folder / OWNER_FILE)
    except OSError as exc:
        if is_machine_fault(exc):
            raise
        reason = exc.strerror or type(exc).__name__
        raise UserError(
            f"Cannot create or write the output folder {folder} ({reason}); choose a folder you can write to."
        ) from None


def is_marked(folder: Path, command: str, legacy: Iterable[str] = ()) -> bool:
    """True when `folder` carries faceaug's mark for `command`, or (outputs of older versions) one of the
    `legacy` JSON files faceaug writes there, holding a `faceaug_version` or `fingerprint` key."""
    folder = Path(folder)
    marker = _read_json(folder / OWNER_FILE)
    if marker is not None:
        return marker.get("tool") == "faceaug" and marker.get("command") == command
    return any({"faceaug_version", "fingerprint"} & set(_read_json(folder / name) or {}) for name in legacy)


def _read_json(path: Path) -> dict | None:
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def refuse_protected(folder: Path, protected: Mapping[str, Path | None], what: str) -> None:
    """UserError when `folder` is one of the `protected` folders (name → path), a parent of one, the home folder
    or the file-system root. `what` names the folder in the message (e.g. "--out")."""
    target = Path(os.path.realpath(folder))
    named = {**{k: v for k, v in protected.items() if v is not None}, "your home folder": Path.home()}
    for name, path in named.items():
        real = Path(os.path.realpath(path))
        if target == real or target in real.parents:
            relation = "is" if target == real else "is a parent of"
            raise UserError(
                f"{what} {folder} {relation} {name} ({path}); faceaug never clears or fills it. "
                "Choose a folder of its own."
            )
    if target == Path(target.anchor):
        raise UserError(f"{what} {folder} is the root of the file system; choose a folder of its own.")


def holds_files(folder: Path) -> bool:
    """True when `folder` holds anything besides faceaug's mark (or the temp file of a mark whose writer was
    killed) and writer lock."""
    folder = Path(folder)
    return folder.is_dir() and any(
        p.name not in (OWNER_FILE, LOCK_FILE) and not p.name.startswith(f".{OWNER_FILE}.") for p in folder.iterdir()
    )


def _files(folder: Path) -> list[str]:
    """Every non-folder entry below `folder` (links included, not followed), as POSIX paths relative to it; the
    writer lock of a running command (faceaug.io.lock) is not listed: it is never swept nor counted."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        prefix = Path(root).relative_to(folder).as_posix() + "/"  # one path object a folder, not one a file
        prefix = "" if prefix == "./" else prefix
        found += [prefix + name for name in files]
        found += [prefix + name for name in dirs if os.path.islink(os.path.join(root, name))]
    return sorted(set(found) - {LOCK_FILE})


def _is_ours(rel: str, ours: re.Pattern) -> bool:
    return rel == OWNER_FILE or bool(ours.fullmatch(rel) or TEMP_FILE.search(rel))


def foreign_files(folder: Path, ours: re.Pattern) -> list[str]:
    """Entries below `folder` that faceaug does not write (links count as foreign: never followed or removed)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [rel for rel in _files(folder) if os.path.islink(folder / rel) or not _is_ours(rel, ours)]


def clear_folder(
    folder: Path,
    ours: re.Pattern,
    *,
    command: str,
    what: str,
    protected: Mapping[str, Path | None] = {},
    legacy: Iterable[str] = (),
) -> int:
    """Remove everything `command` wrote into `folder`, after checking that it wrote everything there.

    Refuses (UserError, nothing removed) a protected folder, an unmarked non-empty folder, or one holding files
    that do not match `ours` (a regex over POSIX paths relative to `folder`). Returns the number of files removed.
    """
    folder = Path(folder)
    refuse_protected(folder, protected, what)
    if not folder.exists():
        return 0
    if not folder.is_dir():
        raise UserError(f"{what} {folder} is not a folder.")
    entries = [rel for rel in _files(folder) if rel != OWNER_FILE]
    if not entries:
        return 0
    if not is_marked(folder, command, legacy):
        raise UserError(
            f"{what} {folder} holds files faceaug did not write (it carries no faceaug mark), so it "
            "is not cleared, not even with --overwrite. Choose another folder."
        )
    foreign = foreign_files(folder, ours)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise UserError(
            f"{what} {folder} holds {len(foreign)} file(s) faceaug did not write ({shown}), so it is "
            "not cleared, not even with --overwrite. Move them away or choose another folder."
        )
    removed = sweep(folder, ours)
    _remove_empty_dirs(folder)
    return removed


def sweep(folder: Path, ours: re.Pattern, keep: Iterable[str] = ()) -> int:
    """Remove the files below `folder` that match `ours` (or are faceaug temp files) and are not in `keep`
    (POSIX paths relative to `folder`). Anything else, and every link, is left alone. Returns the count."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    keep = set(keep)
    removed = 0
    for rel in _files(folder):
        if rel in keep or rel == OWNER_FILE:
            continue
        path = folder / rel
        if os.path.islink(path) or not _is_ours(rel, ours):
            continue
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def remove_temp_files(folder: Path, names: Iterable[str]) -> int:
    """Remove the temp files a killed `atomic_path` left for these file names directly in `folder`."""
    removed = 0
    for name in names:
        for path in Path(folder).glob(f".{glob_escape(name)}.*.tmp"):
            if path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def _remove_empty_dirs(folder: Path) -> None:
    for root, _dirs, _files in os.walk(folder, topdown=False, followlinks=False):
        path = Path(root)
        if path != folder and not os.path.islink(root) and not any(path.iterdir()):
            path.rmdir()


def remove_tree_if_ours(folder: Path, ours: re.Pattern) -> None:
    """Remove `folder` (e.g. OUT_DIR/parts) when everything in it matches `ours`; leave what doesn't."""
    sweep(folder, ours)
    _remove_empty_dirs(folder)
    if Path(folder).is_dir() and not any(Path(folder).iterdir()):
        Path(folder).rmdir()
