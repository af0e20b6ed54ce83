"""Run the editor on a batch of edit jobs: the one call expand's gate and its shards share."""

from __future__ import annotations

import numpy as np

from faceaug.pipeline.plan import EditJob


def edit_jobs(editor, faces: np.ndarray, jobs: list[EditJob]) -> tuple[np.ndarray, np.ndarray]:
    """Edit `faces` (the jobs' stored source crops, (B, S, S[, 3]) uint8) to the jobs' targets: (edits,
    attention). An editor that places its edits by the faces' landmarks (`uses_landmarks`, the geometric warp) gets
    each source's landmarks in its crop."""
    targets = np.asarray([job.aus for job in jobs], np.float32)
    source_aus = np.asarray([job.source_aus for job in jobs], np.float32)
    if getattr(editor, "uses_landmarks", False):
        return editor.edit(faces, targets, source_aus, landmarks=[job.landmarks() for job in jobs])
    return editor.edit(faces, targets, source_aus)
