"""`faceaug preprocess`: labelled images + OpenFace AUs → WORK_DIR/faces/*.png, faces.parquet, rejects.parquet.

Order of work: discover the inputs (faceaug.io.layout), decide subjects, process every source in a process pool
(faceaug.preprocess.pool, .worker), drop byte-identical duplicates (faceaug.preprocess.faces_table), assign splits by
subject, then write the tables atomically and print a summary. Re-runs reuse faces whose source bytes, AU source and
settings are unchanged (faceaug.preprocess.cache); `overwrite` starts over.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from faceaug.aus import LABEL_PROTOTYPE
from faceaug.config import LANDMARK_METHODS, Config, write_resolved_config
from faceaug.console import console, info, warn
from faceaug.errors import UserError
from faceaug.heap import fewer_collections
from faceaug.io.atomic import fsync_files
from faceaug.io.images import IMAGE_EXTENSIONS
from faceaug.io.layout import discover_dataset
from faceaug.io.owned import mark_owned, remove_temp_files, sweep
from faceaug.preprocess.cache import JOURNAL_FILE, load_previous, write_cache
from faceaug.preprocess.faces_table import drop_duplicates, gather_faces, summary_counts
from faceaug.preprocess.landmarks import INSTALL_HINT, dlib_problem
from faceaug.preprocess.pool import process_all
from faceaug.preprocess.work_dir import FACE_FILES, WORK_FILES, check_work_dir
from faceaug.preprocess.worker import FACES_SUBDIR, PreprocessSettings, SourceTask, make_face_id
from faceaug.splits import assign_splits


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


@fewer_collections()  # a result per source stays alive until the tables: Python's collector would walk them 300×
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
    check_work_dir(data_dir, work_dir)
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
        old_rows, cache = load_previous(work_dir, settings.key())

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

    results = process_all(tasks, pcfg.workers, work_dir / JOURNAL_FILE, settings.key())
    from faceaug.schema import to_table, write_table_atomic  # pyarrow: imported while the pool ran (see pool.py)

    faces, cache_rows, stats = gather_faces(tasks, results, old_rows, cache, settings.key(), rejects)
    faces, cache_rows = drop_duplicates(faces, cache_rows, rejects, work_dir)
    units = [subjects[t.item.rel] if pcfg.split_by == "subject" else t.face_id for t, _ in faces]
    splits = assign_splits(units, [t.item.split for t, _ in faces], pcfg.test_fraction, cfg.seed)
    rows = []
    for (task, row), split in zip(faces, splits):
        row.update(subject=subjects[task.item.rel], split=split)
        rows.append(row)

    # The new face PNGs were written without per-file fsync: they (only they) are made durable before a table that
    # lists them. The flush mostly waits on the disk, as faces.parquet's write does: this thread runs both, while the
    # command's process builds the tables, then writes the small ones.
    new = {t.face_id for t, res in zip(tasks, results) if res["status"] == "face"}
    with ThreadPoolExecutor(1, thread_name_prefix="write-faces") as writer:
        written = [os.path.join(work_dir, r["image_path"]) for r in rows if r["face_id"] in new]
        flushed = writer.submit(fsync_files, written)
        faces_table = to_table(rows, "faces")
        flushed.result()
        faces_written = writer.submit(write_table_atomic, faces_table, work_dir / "faces.parquet", "faces")
        write_table_atomic(to_table(rejects, "rejects"), work_dir / "rejects.parquet", "rejects")
        write_cache(work_dir, cache_rows)
        counts = summary_counts(found, rows, rejects, cache_rows, stats)
        faces_written.result()
    sweep(work_dir / FACES_SUBDIR, FACE_FILES, keep={f"{r['face_id']}.png" for r in rows})  # no longer listed
    remove_temp_files(work_dir, WORK_FILES)  # left by a run killed while it wrote a table
    (work_dir / JOURNAL_FILE).unlink(missing_ok=True)
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
