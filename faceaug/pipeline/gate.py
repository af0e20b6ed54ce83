"""The edit quality gate of `faceaug expand --min-edit-score S`: an edit that misses its target is dropped at
planning time and the target is drawn from the next source instead, so every target still gets exactly
`--per-class` images and the shards stay a pure function of the plan.

The judge is independent of the generator: the AU estimator of `faceaug train-au` (faceaug.fer.au_estimator) —
unless GANimation was trained against that very estimator (`--au-judge estimator`), which expand warns about and
expand.json records (`judge_independent: false`).
An edit's score is its AU gain, 1 − |target − AUs after| / |target − AUs before| (mean over the 17 AUs, as the
report's verdict measures it): 1 = the target is reached, 0 = no closer than the unedited face, < 0 = further away.
It misses when the score is below S, when GANimation repainted the face instead of editing it (its attention,
1 = kept from the source, averages below `attention_floor` over the face region), or when the edit shows another
person: with the `faceaug[landmarks]` extra installed, dlib's face descriptor of the edit is further than
`max_identity_distance` from its source's (faceaug.metrics.identity; 0.6 = dlib's same-person threshold).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceaug.io.images import read_image
from faceaug.metrics.edit_quality import REPAINT_FLOOR, au_gain, face_attention
from faceaug.metrics.identity import identity_distance
from faceaug.pipeline.plan import EditJob

ATTENTION_FLOOR = REPAINT_FLOOR


@dataclass(frozen=True)
class Judgement:
    passed: bool
    score: float
    reason: str | None = None  # repainted | identity_leak | missed_target
    identity_distance: float | None = None  # None: not measured


@dataclass
class EditGate:
    """Callable used by `plan_jobs(accept=...)`; it remembers every verdict it gave."""

    editor: object  # faceaug.inference.editor.GanimationEditor
    estimator: object  # faceaug.fer.au_estimator.AuEstimator
    work_dir: Path
    min_score: float
    attention_floor: float = ATTENTION_FLOOR
    device: str = "cpu"
    descriptor: object | None = None  # faceaug.metrics.identity.FaceDescriptor; None = identity not checked
    max_identity_distance: float = 0.0
    # set when the estimator is the one the generator was trained against (fer.au_estimator.trained_against)
    judge_problem: str | None = None
    dropped: Counter = field(default_factory=Counter)
    judged: int = 0
    _faces: dict[str, np.ndarray] = field(default_factory=dict)
    _identities: dict[str, np.ndarray] = field(default_factory=dict)

    def _face(self, rel: str) -> np.ndarray:
        if rel not in self._faces:
            self._faces[rel] = read_image(Path(self.work_dir) / rel)
        return self._faces[rel]

    def _distance(self, rel: str, edited: np.ndarray) -> float | None:
        if self.descriptor is None:
            return None
        if rel not in self._identities:
            self._identities[rel] = self.descriptor(self._face(rel)[None])
        return float(identity_distance(self._identities[rel], self.descriptor(edited[None]))[0])

    def __call__(self, job: EditJob) -> Judgement:
        face = self._face(job.source_image)
        target = np.asarray([job.aus], np.float32)
        edited, attention = self.editor.edit(face[None], target, np.asarray([job.source_aus], np.float32))
        before, after = self.estimator.predict(np.stack([face, edited[0]]), self.device)
        score = au_gain(float(np.abs(after - target[0]).mean()), float(np.abs(before - target[0]).mean()))
        distance = self._distance(job.source_image, edited[0])
        self.judged += 1
        if face_attention(attention[0]) < self.attention_floor:
            reason = "repainted"
        elif distance is not None and distance > self.max_identity_distance:
            reason = "identity_leak"
        elif score < self.min_score:
            reason = "missed_target"
        else:
            reason = None
        if reason is not None:
            self.dropped[reason] += 1
        return Judgement(reason is None, score, reason, distance)

    def summary(self) -> dict:
        return {"min_edit_score": self.min_score, "attention_floor": self.attention_floor,
                "max_identity_distance": self.max_identity_distance if self.descriptor is not None else None,
                "judged": self.judged, "judge_independent": self.judge_problem is None,
                "dropped": dict(self.dropped)}
