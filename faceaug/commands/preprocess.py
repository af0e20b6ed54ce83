"""`faceaug preprocess`: labelled images + OpenFace AUs → WORK_DIR/faces/*.png, faces.parquet, rejects.parquet.

Order of work: discover the inputs (faceaug.io.layout), decide subjects, process every source in a process pool
(faceaug.preprocess.worker), drop byte-identical duplicates, assign splits by subject, then write the tables
atomically and print a summary. Re-runs reuse faces whose source bytes, AU source and settings are unchanged
(tracked in preprocess_cache.parquet); `overwrite` starts over.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import as_completed
from contextlib import closing
from pathlib import Path

import cv2
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.markup import escape
from rich.table import Table

from faceaug.aus import LABEL_PROTOTYPE
from faceaug.config import LANDMARK_METHODS, Config, write_resolved_config
from faceaug.console import console, info, progress, warn
from faceaug.cpus import cpu_count
from faceaug.errors import UserError, is_machine_fault
from faceaug.interrupts import process_pool, submit_all, worker_init
from faceaug.io.atomic import atomic_path, fsync_files
from faceaug.io.images import IMAGE_EXTENSIONS
from faceaug.io.layout import Discovery, discover_dataset
from faceaug.io.owned import foreign_files, is_marked, mark_owned, refuse_protected, remove_temp_files, sweep
from faceaug.preprocess.landmarks import INSTALL_HINT, dlib_problem
from faceaug.preprocess.worker import FACES_SUBDIR, PreprocessSettings, SourceTask, make_face_id, process_source
from faceaug.schema import read_table, to_table, write_table_atomic
from faceaug.splits import assign_splits

CACHE_FILE = "preprocess_cache.parquet"
#: Faces finished by a run that has not written its tables yet, one JSON line each (a killed run's work is reused).
JOURNAL_FILE = "preprocess_journal.jsonl"
#: The file names `faceaug preprocess` writes into WORK_DIR/faces (what the orphan sweep and --overwrite remove).
FACE_FILES = re.compile(r"[A-Za-z0-9_-]+\.png")
#: The files `faceaug preprocess` writes directly into WORK_DIR.
WORK_FILES = ("faces.parquet", "rejects.parquet", CACHE_FILE, JOURNAL_FILE, "preprocess.json")
_LEGACY_MARKS = ("preprocess.json",)  # work folders written before WORK_DIR carried the faceaug mark
_CACHE_SCHEMA = pa.schema(
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
_SERIAL_BELOW = 24  # fewer sources than this: no process pool (its start-up costs more than it saves)


def _subject_pattern(subject_regex: str | None) -> re.Pattern | None:
    if subject_regex is None:
        return None
    try:
        pattern = re.compile(subject_regex)
    except re.error as exc:
        raise UserError(f"--subject-regex {subject_regex!r} is not a valid regular expression: {exc}.") from None
    if pattern.groups > 1:
        raise UserError(f"--subject-regex {subject_regex!r} must have at most one group (the subject id).")
    return pattern


def _worker_count(requested: int, n_tasks: int) -> int:
    workers = requested if requested > 0 else cpu_count()
    return 1 if n_tasks < _SERIAL_BELOW else max(1, min(workers, n_tasks))


def _init_worker() -> None:
    worker_init()
    cv2.setNumThreads(1)  # one image per process; OpenCV's own threads would only oversubscribe the cores


def _indexed(pair: tuple[int, SourceTask]) -> tuple[int, dict]:
    """Run one task; an unexpected failure (a decoder bug, MemoryError) rejects that file, not the whole run."""
    index, task = pair
    try:
        return index, process_source(task)
    except Exception as exc:  # noqa: BLE001 — one bad file must not cost the user the rest of the run
        if is_machine_fault(exc):  # a full disk is not this file's fault: the run stops (the journal keeps the rest)
            raise
        message = f"faceaug failed on this file ({type(exc).__name__}: {str(exc)[:200]}); please report it."
        return index, {
            "status": "reject",
            "sha": None,
            "reject": {"source_path": task.item.rel, "reason": "internal_error", "message": message},
        }


def _run_tasks(tasks: list[SourceTask], workers: int) -> Iterator[tuple[int, dict]]:
    """(task index, result) pairs in completion order."""
    if workers <= 1:
        yield from map(_indexed, enumerate(tasks))
        return
    # forkserver: workers fork from a fresh server process, never from this one, whose OpenCV / torch thread
    # pools can deadlock a forked child. The server imports the worker module once, so workers start fast.
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        ctx.set_forkserver_preload(["faceaug.preprocess.worker"])
    size = max(1, min(16, len(tasks) // (workers * 8)))
    chunks = [list(enumerate(tasks))[i : i + size] for i in range(0, len(tasks), size)]
    with process_pool(ctx, workers, _init_worker) as pool:
        for done in as_completed(submit_all(pool, _run_chunk, chunks)):
            yield from done.result()


def _run_chunk(pairs: list[tuple[int, SourceTask]]) -> list[tuple[int, dict]]:
    return [_indexed(pair) for pair in pairs]


def _load_previous(work_dir: Path, settings_key: str) -> tuple[dict[str, dict], dict[str, dict]]:
    """Rows and cache entries made with the same settings, by source_path: from the last finished run's tables,
    then from the journal of a run that was stopped before writing them."""
    faces_path, cache_path = work_dir / "faces.parquet", work_dir / CACHE_FILE
    old_rows, entries = {}, {}
    if faces_path.is_file() and cache_path.is_file():
        try:
            faces = read_table(faces_path, "faces")
            cache = pq.read_table(cache_path, schema=_CACHE_SCHEMA).to_pandas()
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
    rows = [{**r["row"], "subject": "x", "split": "train"} for r in records]  # assigned later, as for any face
    try:
        to_table(rows, "faces")
        pa.Table.from_pylist([r["entry"] for r in records], schema=_CACHE_SCHEMA)
    except (ValueError, TypeError, KeyError, pa.ArrowException):
        warn(f"{work_dir / JOURNAL_FILE} is damaged; the faces it lists are made again.")
        return {}, {}
    return (
        {r["entry"]["source_path"]: r["row"] for r in records},
        {r["entry"]["source_path"]: r["entry"] for r in records},
    )


def _landmark_detector(choice: str) -> str:
    """What aligns the faces that have no CSV landmarks (align_face's detector) for a --landmarks choice."""
    if choice not in LANDMARK_METHODS:
        raise UserError(f"--landmarks {choice!r} is not one of {', '.join(LANDMARK_METHODS)}.")
    problem = dlib_problem() if choice in ("auto", "dlib") else None
    if choice == "dlib" and problem:
        raise UserError(
            f"--landmarks dlib needs the optional 68-point landmark detector, but {problem}: install it "
            f"with `{INSTALL_HINT}` (or choose --landmarks haar)."
        )
    if choice == "auto":
        return "haar" if problem else "dlib"
    return {"openface": "none", "dlib": "dlib", "haar": "haar", "none": "none"}[choice]


def _check_work_dir(data_dir: Path, work_dir: Path) -> None:
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


def run_preprocess(
    data_dir: Path,
    work_dir: Path,
    cfg: Config,
    *,
    au_dir: Path | None = None,
    labels: Path | None = None,
    aus_from_labels: bool = False,
    subject_regex: str | None = None,
    face_id: int | None = None,
    landmarks: str = "auto",
    assume_cropped: bool = False,
    overwrite: bool = False,
) -> dict:
    """Preprocess DATA_DIR into WORK_DIR; returns the summary counts (also written to preprocess.json)."""
    pcfg = cfg.preprocess
    pattern = _subject_pattern(subject_regex)
    data_dir, work_dir = Path(data_dir), Path(work_dir)
    detector = _landmark_detector(landmarks)
    _check_work_dir(data_dir, work_dir)
    found = discover_dataset(data_dir, labels=labels, au_dir=au_dir, exclude=(work_dir,))
    if not found.items and not found.rejects:
        raise UserError(
            f"DATA_DIR {data_dir} holds no images ({', '.join(IMAGE_EXTENSIONS)}): expected class folders "
            "DATA_DIR/<label>/<image>, a flat folder with --labels FILE.csv, or GANimation's imgs/ + aus_openface.pkl."
        )
    settings = PreprocessSettings(
        size=pcfg.size,
        min_confidence=pcfg.min_confidence,
        face_id=face_id,
        assume_cropped=assume_cropped,
        aus_from_labels=aus_from_labels,
        min_source_side=pcfg.min_source_side,
        landmarks=landmarks,
        detector=detector,
    )
    mark_owned(work_dir, "preprocess")
    if overwrite:
        sweep(work_dir / FACES_SUBDIR, FACE_FILES)
        (work_dir / JOURNAL_FILE).unlink(missing_ok=True)
        old_rows, cache = {}, {}
    else:
        old_rows, cache = _load_previous(work_dir, settings.key())

    rejects = list(found.rejects)
    tasks, subjects = [], {}
    subject_sources = Counter()
    for item in found.items:
        fid = make_face_id(item.rel)
        subject = item.subject
        if subject is None and pattern is not None:
            match = pattern.search(Path(item.rel).name)
            if not match:
                rejects.append(
                    {
                        "source_path": item.rel,
                        "reason": "no_subject_match",
                        "message": f"--subject-regex {pattern.pattern!r} does not match the file name.",
                    }
                )
                continue
            subject = match.group(1) if pattern.groups else match.group(0)
        subject_sources["labels file" if item.subject else ("--subject-regex" if subject else "none")] += 1
        subjects[item.rel] = subject or fid
        entry = cache.get(item.rel)
        cached = None
        if entry is not None and entry["face_id"] == fid and item.rel in old_rows:
            cached = (entry["source_sha256"], entry["au_key"])
        tasks.append(SourceTask(item=item, face_id=fid, work_dir=work_dir, settings=settings, cached=cached))

    results = _process_all(tasks, _worker_count(pcfg.workers, len(tasks)), work_dir / JOURNAL_FILE, settings.key())
    faces, cache_rows, stats = [], [], Counter()
    for task, res in zip(tasks, results):
        if res["status"] == "reject":
            rejects.append(res["reject"])
            continue
        if res["status"] == "reused":
            row, entry = dict(old_rows[task.item.rel]), cache[task.item.rel]
            method, upscaled = entry["method"], bool(entry["upscaled"])
            row["image_path"] = _face_path(task.face_id)  # from this run's id, never from the old table
            stats["reused"] += 1
        else:
            row, method, upscaled = res["row"], res["method"], res["upscaled"]
            stats["new"] += 1
        row["label"] = task.item.label
        faces.append((task, row))
        cache_rows.append(
            {
                "source_path": task.item.rel,
                "face_id": task.face_id,
                "source_sha256": res["sha"],
                "au_key": res["au_key"],
                "settings_key": settings.key(),
                "method": method,
                "upscaled": upscaled,
            }
        )

    faces, cache_rows = _drop_duplicates(faces, cache_rows, rejects, work_dir)
    units = [subjects[t.item.rel] if pcfg.split_by == "subject" else t.face_id for t, _ in faces]
    splits = assign_splits(units, [t.item.split for t, _ in faces], pcfg.test_fraction, cfg.seed)
    rows = []
    for (task, row), split in zip(faces, splits):
        row.update(subject=subjects[task.item.rel], split=split)
        rows.append(row)

    # the new face PNGs were written without per-file fsync: make them (only them) durable before the tables
    new = {t.face_id for t, res in zip(tasks, results) if res["status"] == "face"}
    fsync_files(work_dir / r["image_path"] for r in rows if r["face_id"] in new)
    write_table_atomic(rows, work_dir / "faces.parquet", "faces")
    write_table_atomic(rejects, work_dir / "rejects.parquet", "rejects")
    with atomic_path(work_dir / CACHE_FILE) as tmp:
        pq.write_table(pa.Table.from_pylist(cache_rows, schema=_CACHE_SCHEMA), tmp)
    sweep(work_dir / FACES_SUBDIR, FACE_FILES, keep={f"{r['face_id']}.png" for r in rows})  # no longer listed
    remove_temp_files(work_dir, WORK_FILES)  # left by a run killed while it wrote a table
    (work_dir / JOURNAL_FILE).unlink(missing_ok=True)
    counts = _counts(found, rows, rejects, cache_rows, stats)
    counts["subject_source"] = dict(subject_sources)
    write_resolved_config(
        cfg,
        work_dir / "preprocess.json",
        counts=counts,
        options={
            "data_dir": str(data_dir),
            "au_dir": str(au_dir) if au_dir else None,
            "labels": str(labels) if labels else None,
            "aus_from_labels": aus_from_labels,
            "subject_regex": subject_regex,
            "face_id": face_id,
            "landmarks": landmarks,
            "landmark_detector": detector,
            "assume_cropped": assume_cropped,
            "overwrite": overwrite,
        },
    )
    _print_summary(counts, rejects, work_dir, warn_no_subject=pcfg.split_by == "subject")
    fallback = sum(counts["alignment"].get(m, 0) for m in ("haar", "none"))
    if landmarks == "auto" and detector == "haar" and fallback:
        warn(
            f"{fallback} faces had no CSV landmarks and were aligned by the Haar detector or taken whole, "
            f"because {dlib_problem()}: for 68-point landmarks on every face, `{escape(INSTALL_HINT)}`."
        )
    if not rows:
        raise UserError(
            f"None of the {counts['inputs']} inputs became a face; the reasons are in {work_dir / 'rejects.parquet'}."
        )
    return counts


def _face_path(face_id: str) -> str:
    return f"{FACES_SUBDIR}/{face_id}.png"


def _process_all(tasks: list[SourceTask], workers: int, journal: Path, settings_key: str) -> list[dict]:
    """Results in task order, with a progress bar; every new face is appended to the journal as it arrives."""
    results: list[dict | None] = [None] * len(tasks)
    # closing(): a stop raised here (Ctrl-C, SIGTERM, a full disk while journalling) closes the generator at once,
    # which stops its worker pool, rather than whenever the generator is garbage collected
    with progress() as bar, open(journal, "a", encoding="utf-8") as log, closing(_run_tasks(tasks, workers)) as done:
        job = bar.add_task(f"Aligning faces ({workers} process{'es' if workers > 1 else ''})", total=len(tasks))
        for index, res in done:
            results[index] = res
            if res["status"] == "face":
                entry = {
                    "source_path": tasks[index].item.rel,
                    "face_id": tasks[index].face_id,
                    "source_sha256": res["sha"],
                    "au_key": res["au_key"],
                    "settings_key": settings_key,
                    "method": res["method"],
                    "upscaled": bool(res["upscaled"]),
                }
                log.write(json.dumps({"entry": entry, "row": res["row"]}, default=float) + "\n")
                log.flush()
            bar.advance(job)
    return results  # type: ignore[return-value]


def _drop_duplicates(faces: list, cache_rows: list[dict], rejects: list[dict], work_dir: Path):
    """Byte-identical sources would leak across splits: keep the first (by path), reject the others."""
    first: dict[str, str] = {}
    keep_faces, keep_cache = [], []
    for (task, row), entry in sorted(zip(faces, cache_rows), key=lambda x: x[0][0].item.rel):
        sha = row["source_sha256"]
        if sha in first:
            rejects.append(
                {
                    "source_path": task.item.rel,
                    "reason": "duplicate_image",
                    "message": f"the file is byte-identical to {first[sha]}; kept only that one.",
                }
            )
            (work_dir / row["image_path"]).unlink(missing_ok=True)
            continue
        first[sha] = task.item.rel
        keep_faces.append((task, row))
        keep_cache.append(entry)
    return keep_faces, keep_cache


def _counts(found: Discovery, rows: list[dict], rejects: list[dict], cache_rows: list[dict], stats: Counter) -> dict:
    by_label_split: dict[str, dict[str, int]] = defaultdict(lambda: {"train": 0, "test": 0})
    subject_splits: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        by_label_split[row["label"]][row["split"]] += 1
        subject_splits[row["subject"]].add(row["split"])
    return {
        "layout": found.layout,
        "inputs": len(rows) + len(rejects),
        "faces": len(rows),
        "new": stats["new"],
        "reused": stats["reused"],
        "rejected": len(rejects),
        "subjects": len(subject_splits),
        "subjects_in_both_splits": sum(len(s) > 1 for s in subject_splits.values()),
        "by_split": dict(Counter(r["split"] for r in rows)),
        "by_label": dict(sorted(Counter(r["label"] for r in rows).items())),
        "by_label_split": {k: by_label_split[k] for k in sorted(by_label_split)},
        "rejects_by_reason": dict(Counter(r["reason"] for r in rejects).most_common()),
        "au_source": dict(Counter(r["au_source"] for r in rows)),
        "alignment": dict(Counter(c["method"] for c in cache_rows)),
        "upscaled": sum(bool(c["upscaled"]) for c in cache_rows),
        "greyscale": dict(Counter({True: "grey", False: "colour"}.get(_flag(r.get("grey")), "unknown") for r in rows)),
    }


def _flag(value) -> bool | None:
    """A nullable bool cell (None, NaN, pd.NA → None)."""
    return None if value is None or pd.isna(value) else bool(value)


#: The summary's words for the alignment methods (preprocess.json counts them under these keys).
_METHOD_WORDS = {
    "openface": "OpenFace CSV",
    "dlib": "dlib",
    "dlib_whole_frame": "dlib on the whole frame",
    "haar": "Haar box",
    "none": "whole image, no landmarks",
}


def _print_summary(counts: dict, rejects: Iterable[dict], work_dir: Path, *, warn_no_subject: bool) -> None:
    info(
        f"[bold]faceaug preprocess[/bold]: {counts['faces']} faces from {counts['inputs']} inputs "
        f"({counts['layout'].replace('_', ' ')} layout), {counts['rejected']} rejected."
    )
    table = Table()
    table.add_column("label")
    table.add_column("train", justify="right")
    table.add_column("test", justify="right")
    for label, split in counts["by_label_split"].items():
        table.add_row(label, str(split["train"]), str(split["test"]))
    console.print(table)
    if counts["rejected"]:
        examples = {}
        for r in rejects:
            examples.setdefault(r["reason"], r)
        rt = Table(title=f"rejected inputs (all listed in {work_dir / 'rejects.parquet'})", title_justify="left")
        rt.add_column("reason")
        rt.add_column("count", justify="right")
        rt.add_column("example")
        for reason, n in counts["rejects_by_reason"].items():
            ex = examples[reason]
            rt.add_row(reason, str(n), f"{ex['source_path']}: {ex['message']}")
        console.print(rt)
    sources = ", ".join(f"{n} {k}" for k, n in counts["au_source"].items()) or "none"
    methods = ", ".join(f"{n} {_METHOD_WORDS.get(k, k)}" for k, n in counts["alignment"].items()) or "none"
    info(
        f"AUs from: {sources}. Landmarks: {methods}. Reused from the last run: {counts['reused']}. "
        f"Subjects: {counts['subjects']}."
    )
    grey = Counter(counts["greyscale"])
    if grey["grey"] and not grey["colour"]:
        info(f"All {grey['grey']} faces are greyscale: every image faceaug generates from them will be greyscale too.")
    elif grey["grey"] and grey["colour"]:
        warn(
            f"{grey['grey']} faces are greyscale and {grey['colour']} in colour: a mixed dataset (grey sources "
            "give grey edits, colour sources colour ones)."
        )
    if counts["au_source"].get(LABEL_PROTOTYPE):
        warn(
            f"{counts['au_source'][LABEL_PROTOTYPE]} faces got their AUs from the label's preset prototype "
            "(au_source = label_prototype), not from OpenFace."
        )
    if counts["upscaled"]:
        warn(
            f"{counts['upscaled']} sources were smaller than preprocess.min_source_side and were upscaled; "
            "expect blurry crops."
        )
    if counts["subjects_in_both_splits"]:
        warn(
            f"{counts['subjects_in_both_splits']} subjects have faces in both splits (explicit splits in the "
            "input said so)."
        )
    if warn_no_subject and counts["subject_source"].get("none"):
        warn(
            f"{counts['subject_source']['none']} images have no subject id (no labels-file subject column, no "
            "--subject-regex): each counts as its own person, so one person's images may land in both splits."
        )
    print(f"wrote {work_dir / FACES_SUBDIR}{os.sep} ({counts['faces']} aligned faces)")
    for name in ("faces.parquet", "rejects.parquet", "preprocess.json"):
        print(f"wrote {work_dir / name}")


def data_dir_of(work_dir: Path) -> Path | None:
    """The DATA_DIR that `faceaug preprocess` read (from WORK_DIR/preprocess.json), if known."""
    try:
        data_dir = json.loads((work_dir / "preprocess.json").read_text())["options"]["data_dir"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Path(data_dir) if isinstance(data_dir, str) else None
