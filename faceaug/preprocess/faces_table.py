"""The rows of faces.parquet once every source is processed: new and reused faces with their cache entries,
byte-identical duplicates dropped, and the counts preprocess.json records."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from faceaug.io.dataset_files import Discovery
from faceaug.preprocess.work_dir import face_path
from faceaug.preprocess.worker import SourceTask


def gather_faces(
    tasks: list[SourceTask],
    results: list[dict],
    old_rows: dict[str, dict],
    cache: dict[str, dict],
    settings_key: str,
    rejects: list[dict],
) -> tuple[list[tuple[SourceTask, dict]], list[dict], Counter]:
    """(task, faces row) pairs and their cache entries, in task order, and how many faces were new or reused; a
    rejected source's row is appended to `rejects`. A reused face's row is the previous run's."""
    faces, cache_rows, stats = [], [], Counter()
    for task, res in zip(tasks, results):
        if res["status"] == "reject":
            rejects.append(res["reject"])
            continue
        if res["status"] == "reused":
            row, entry = dict(old_rows[task.item.rel]), cache[task.item.rel]
            method, upscaled = entry["method"], bool(entry["upscaled"])
            row["image_path"] = face_path(task.face_id)  # from this run's id, never from the old table
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
                "settings_key": settings_key,
                "method": method,
                "upscaled": upscaled,
            }
        )
    return faces, cache_rows, stats


def drop_duplicates(faces: list, cache_rows: list[dict], rejects: list[dict], work_dir: Path):
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


def summary_counts(
    found: Discovery, rows: list[dict], rejects: list[dict], cache_rows: list[dict], stats: Counter
) -> dict:
    """The summary counts of a run (preprocess.json's `counts`, less `subject_source`)."""
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
    import pandas as pd  # not at the top: preprocess imports pandas while its workers run

    return None if value is None or pd.isna(value) else bool(value)
