"""Turn one source image (+ its AUs) into an aligned face PNG and a faces.parquet row, or a reject.

`process_source` is what the process pool runs: it reads the file, hashes it, finds its AUs (OpenFace CSV,
GANimation pickle or the label's preset prototype), aligns the face with the shared `align_face`, and writes
`faces/<face_id>.png` atomically (in a pool, the command's process writes it: faceaug.preprocess.pool). Every
user-data problem becomes a reject with a reason code and a sentence.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from faceaug.aus import AU_NAMES, AU_PRESENT_NAMES, LABEL_PROTOTYPE, PRESETS, preset_vector
from faceaug.errors import is_machine_fault
from faceaug.interrupts import worker_init
from faceaug.io.atomic import write_bytes_atomic
from faceaug.io.dataset_files import SourceItem
from faceaug.io.images import ImageDecodeError, decode_image, encode_png, is_grey, png_shape
from faceaug.io.openface import OpenFaceError, parse_openface_csv, select_face
from faceaug.preprocess.align import (
    CROP_TEMPLATE,
    HAAR_BOX_ANCHORS,
    AlignmentError,
    align_face,
    anchor_points,
    flat_landmarks,
)
from faceaug.preprocess.landmarks import (
    CROPPED_DETECT_SIDE,
    DETECT_SIDE,
    DETECT_THRESHOLD,
    PREDICT_SIDE,
    WHOLE_FRAME_BOX,
)

FACES_SUBDIR = "faces"


@dataclass(frozen=True)
class PreprocessSettings:
    """Everything besides the input files that changes a face's crop or AUs (part of the reuse key)."""

    size: int
    min_confidence: float
    face_id: int | None
    assume_cropped: bool
    aus_from_labels: bool
    min_source_side: int
    landmarks: str = "auto"  # the --landmarks choice: auto | openface | dlib | haar | none
    detector: str = "haar"  # what aligns faces without CSV landmarks (align_face's detector), resolved once

    @property
    def csv_landmarks(self) -> bool:
        """Whether a CSV's landmarks are used when it has them."""
        return self.landmarks in ("auto", "openface")

    def key(self) -> str:
        payload = {**asdict(self), "template": asdict(CROP_TEMPLATE), "haar": HAAR_BOX_ANCHORS.tolist(), "v": 2}
        if self.detector == "dlib":
            payload["dlib"] = [DETECT_SIDE, CROPPED_DETECT_SIDE, PREDICT_SIDE, DETECT_THRESHOLD, list(WHOLE_FRAME_BOX)]
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class SourceTask:
    item: SourceItem
    face_id: str
    work_dir: Path
    settings: PreprocessSettings
    cached: tuple[str, str] | None = None  # (source_sha256, au_key) of a previous run's face; None = no reuse

    @property
    def may_detect(self) -> bool:
        """Whether aligning this source may need `settings.detector`: it has no CSV whose landmarks are used."""
        return self.item.csv_path is None or not self.settings.csv_landmarks


def make_face_id(rel: str) -> str:
    """A readable, unique, ASCII id from the source path: `<name slug>-<10 hex of the path's sha256>`."""
    name = rel.rsplit("/", 1)[-1]  # Path(rel).stem without a path object: 7,636 ids in 0.015 s rather than 0.03 s
    dot = name.rfind(".")
    stem = name[:dot] if 0 < dot < len(name) - 1 else name
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:40] or "face"
    return f"{slug}-{hashlib.sha256(rel.encode('utf-8')).hexdigest()[:10]}"


def _reject(task: SourceTask, reason: str, message: str, sha: str | None = None) -> dict:
    return {
        "status": "reject",
        "sha": sha,
        "reject": {"source_path": task.item.rel, "reason": reason, "message": message},
    }


def _landmarks_problem(landmarks: np.ndarray, height: int, width: int) -> str | None:
    """Landmarks that cannot belong to this image (e.g. a CSV made from another resolution)."""
    anchors = anchor_points(landmarks)
    if (anchors < 0).any() or (anchors[:, 0] > width).any() or (anchors[:, 1] > height).any():
        return (
            f"the CSV's eye/mouth landmarks lie outside the {width}×{height} image "
            "(was the CSV made from another resolution or another image?)."
        )
    margin = 0.5 * max(height, width)
    if (
        (landmarks < -margin).any()
        or (landmarks[:, 0] > width + margin).any()
        or (landmarks[:, 1] > height + margin).any()
    ):
        return f"some of the CSV's landmarks lie far outside the {width}×{height} image."
    return None


def _au_source(task: SourceTask) -> tuple[str, str, bytes | None] | dict:
    """(au_source, au_key, CSV bytes or None) — or a reject dict when the image has no usable AU source."""
    item = task.item
    if item.aus is not None:
        return "ganimation_pickle", "pkl:" + hashlib.sha256(item.aus.tobytes()).hexdigest()[:16], None
    if item.csv_path is not None:
        try:
            csv_bytes = item.csv_path.read_bytes()
        except OSError as exc:
            return _reject(task, "csv_unreadable", f"the OpenFace CSV could not be read: {exc.strerror or exc}.")
        return "openface", "csv:" + hashlib.sha256(csv_bytes).hexdigest()[:16], csv_bytes
    if task.settings.aus_from_labels:
        if item.label.lower() not in PRESETS:
            return _reject(
                task,
                "unknown_label",
                f"label {item.label!r} has no AU prototype for --aus-from-labels (known: {', '.join(PRESETS)}).",
            )
        return LABEL_PROTOTYPE, "label:" + item.label.lower(), None
    return _reject(
        task,
        "missing_csv",
        f"no OpenFace CSV {Path(item.rel).stem}.csv beside the image or in --au-dir "
        "(run OpenFace FaceLandmarkImg, or pass --aus-from-labels).",
    )


def _read_source(task: SourceTask) -> tuple[bytes, str, str, str, bytes | None] | dict:
    """(image bytes, their sha256, au_source, au_key, CSV bytes or None) — or a reject dict."""
    try:
        data = task.item.path.read_bytes()
    except OSError as exc:
        if is_machine_fault(exc):
            raise
        return _reject(task, "unreadable", f"the file could not be read: {exc.strerror or exc}.")
    sha = hashlib.sha256(data).hexdigest()
    source = _au_source(task)
    if isinstance(source, dict):
        source["sha"] = sha
        return source
    return (data, sha, *source)


def face_png(task: SourceTask) -> Path:
    """Where the aligned face of a source is written."""
    return task.work_dir / FACES_SUBDIR / f"{task.face_id}.png"


def _reused(task: SourceTask, sha: str, au_key: str) -> dict | None:
    """The result for a source whose face of the last run is still right; None when the face must be made. Reused
    only when the face on disk is what these settings make (a folder mixed by two runs is repaired)."""
    if task.cached == (sha, au_key) and png_shape(face_png(task)) == (task.settings.size, task.settings.size):
        return {"status": "reused", "sha": sha, "au_key": au_key}
    return None


def reused_face(task: SourceTask) -> dict | None:
    """`process_source`'s result when it would reuse the last run's face (reading and hashing only, no decoding),
    else None: what the command checks itself before handing the remaining sources to worker processes."""
    if task.cached is None:
        return None
    read = _read_source(task)
    return None if isinstance(read, dict) else _reused(task, read[1], read[3])


def process_source(task: SourceTask, *, write: bool = True) -> dict:
    """One source → {"status": "face" | "reused" | "reject", ...}; writes faces/<face_id>.png for new faces, or with
    `write=False` hands its PNG bytes back as result["png"] for the caller to write (`write_face`)."""
    item, settings = task.item, task.settings
    read = _read_source(task)
    if isinstance(read, dict):
        return read
    data, sha, au_source, au_key, csv_bytes = read
    reused = _reused(task, sha, au_key)
    if reused is not None:
        return reused
    try:
        image = decode_image(data)
    except ImageDecodeError as exc:
        return _reject(task, exc.reason, f"{exc}.", sha)
    height, width = image.shape[:2]

    landmarks, confidence = None, None
    if au_source == "openface":
        try:
            faces = parse_openface_csv(csv_bytes, item.csv_path.name)
            face = select_face(faces, settings.face_id, settings.min_confidence)
        except OpenFaceError as exc:
            return _reject(task, exc.reason, f"{item.csv_path.name}: {exc.message}", sha)
        aus, presence, confidence, landmarks = face.aus, face.presence, face.confidence, face.landmarks
        if landmarks is not None and settings.csv_landmarks:
            problem = _landmarks_problem(landmarks, height, width)
            if problem:
                return _reject(task, "landmarks_outside_image", problem, sha)
    elif au_source == "ganimation_pickle":
        aus = item.aus.astype(np.float32)
        presence = aus > 0
    else:
        aus = preset_vector(item.label.lower())
        presence = aus > 0

    if landmarks is None and settings.landmarks == "openface":
        return _reject(
            task,
            "no_landmarks",
            "--landmarks openface, but the image has no OpenFace CSV with "
            "landmarks (x_0..y_67); --landmarks auto detects them.",
            sha,
        )
    try:
        aligned = align_face(
            image,
            landmarks if settings.csv_landmarks else None,
            settings.size,
            assume_cropped=settings.assume_cropped,
            detector=settings.detector,
        )
    except AlignmentError as exc:
        return _reject(task, exc.reason, exc.message, sha)
    except cv2.error as exc:
        return _reject(task, "image_error", f"OpenCV could not process the image: {str(exc).strip()[:200]}.", sha)
    png = encode_png(aligned.crop)
    if write:
        write_face(task, png)

    row = {
        "face_id": task.face_id,
        "image_path": f"{FACES_SUBDIR}/{task.face_id}.png",
        "source_path": item.rel,
        "source_sha256": sha,
        "label": item.label,
        "au_source": au_source,
        # numbers as Python floats holding float32 values: what faces.parquet stores, and 3× cheaper than numpy
        # scalars to hand from a pool worker to the command and to encode for the journal
        **dict(zip(AU_NAMES, np.asarray(aus, np.float32).tolist())),
        **{name: bool(v) for name, v in zip(AU_PRESENT_NAMES, presence)},
        "confidence": None if confidence is None else float(np.float32(confidence)),
        "landmarks": flat_landmarks(aligned.landmarks),  # the ones the crop was aligned by (CSV's or dlib's)
        "landmark_method": aligned.method,
        "grey": is_grey(image),
        "crop_transform": aligned.transform.reshape(-1).astype(np.float32).tolist(),
        "source_width": int(width),
        "source_height": int(height),
    }
    method = "dlib_whole_frame" if aligned.whole_frame else aligned.method  # the summary tells these apart
    return {
        "status": "face",
        "sha": sha,
        "au_key": au_key,
        "row": row,
        "row_json": json.dumps(row, default=float),  # the journal's copy, encoded here rather than in the command
        "method": method,
        "upscaled": min(height, width) < settings.min_source_side,
        **({} if write else {"png": png}),
    }


def write_face(task: SourceTask, png: bytes) -> None:
    """A new face's PNG as faces/<face_id>.png, atomically; not flushed: run_preprocess flushes all faces before the
    tables that list them."""
    write_bytes_atomic(png, face_png(task), durable=False)


def init_worker_process() -> None:
    """A pool worker's start: faceaug's signal handling, and OpenCV on one thread (one image per process; its own
    threads would only oversubscribe the cores)."""
    worker_init()
    cv2.setNumThreads(1)


def run_one(pair: tuple[int, SourceTask], write: bool = True) -> tuple[int, dict]:
    """(index, result) of one task; an unexpected failure (a decoder bug, MemoryError) rejects that file, not the
    whole run."""
    index, task = pair
    try:
        return index, process_source(task, write=write)
    except Exception as exc:  # noqa: BLE001 — one bad file must not cost the user the rest of the run
        return index, internal_error(task, exc)


def internal_error(task: SourceTask, exc: Exception) -> dict:
    """The reject of a source whose processing failed unexpectedly; a fault of the machine (a full disk) is not this
    file's fault and is raised again: the run stops (the journal keeps the rest)."""
    if is_machine_fault(exc):
        raise exc
    message = f"faceaug failed on this file ({type(exc).__name__}: {str(exc)[:200]}); please report it."
    return {
        "status": "reject",
        "sha": None,
        "reject": {"source_path": task.item.rel, "reason": "internal_error", "message": message},
    }


def run_chunk(pairs: list[tuple[int, SourceTask]], write: bool = True) -> list[tuple[int, dict]]:
    """What a pool worker runs: a chunk of tasks. It lives here, beside `process_source`, so that a worker (forked
    from the server that pre-imported this module) imports nothing more: not pandas, not the progress bars."""
    return [run_one(pair, write) for pair in pairs]
