"""The edit quality gate of `faceaug expand`: an edit that does not show its target is dropped at planning time and
the target is drawn from the next source instead, so a target gets exactly `--per-class` images when enough edits
pass (else its images spread over the edits that did, and a target none passes gets none: expand says so). The
shards stay a pure function of the plan.

Its judges are independent of the generator:
* the expression judge shipped with faceaug (faceaug.fer.expression_judge, trained on FER2013, never a training
  loss): an edit to a target class passes only when the judge gives that class at least
  `expand.min_target_probability` (on by default; targets outside the judge's classes, such as contempt or custom
  AU vectors, are not judged by it);
* the AU estimator of `faceaug train-au` (faceaug.fer.au_estimator), with `--min-edit-score S`: an edit's score is
  its AU gain, 1 − |target − AUs after| / |target − AUs before| (mean over the 17 AUs, as the report's verdict
  measures it): 1 = the target is reached, 0 = no closer than the unedited face, < 0 = further away. Unless
  GANimation was trained against that very estimator (`--au-judge estimator`), which expand warns about and
  expand.json records (`judge_independent: false`).
Whichever judges are on, an edit also fails when GANimation repainted the face instead of editing it (its
attention, 1 = kept from the source, averages below `attention_floor` over the face region), or when it shows
another person: with the `faceaug[landmarks]` extra installed, dlib's face descriptor of the edit is further than
`max_identity_distance` from its source's (faceaug.metrics.identity; 0.6 = dlib's same-person threshold). That
check, by far the costliest, runs last, on the edits that passed the others (so a dropped edit records the first
reason found, and an identity distance only when it was measured).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceaug.config import ExpandConfig
from faceaug.console import info, warn
from faceaug.errors import UserError
from faceaug.io.images import read_image
from faceaug.metrics.edit_measures import REPAINT_FLOOR, au_gain, face_attention
from faceaug.metrics.identity import identity_distance
from faceaug.pipeline.editing import edit_jobs
from faceaug.pipeline.plan import EditJob

ATTENTION_FLOOR = REPAINT_FLOOR
#: Below this share of the user's own labelled faces read as their label, the expression judge's verdicts on edits of
#: those faces say little (it reads FER2013's test faces at 59%, LFW news photos at 54%, the synthetic world's
#: renders at 29%; chance is 14%), and expand says so.
JUDGE_READS_SOURCES_FLOOR = 0.4
#: Sources the judge reads to measure that (a random sample of the larger datasets)
JUDGE_SOURCE_SAMPLE = 2000
#: Candidate edits judged together (editor, judges and descriptor in one call each).
GATE_BATCH = 32


@dataclass(frozen=True)
class Judgement:
    passed: bool
    score: float | None  # the AU gain (None: no AU estimator)
    reason: str | None = None  # repainted | identity_leak | not_read_as_target | missed_target
    identity_distance: float | None = None  # None: not measured
    target_probability: float | None = None  # the expression judge's P(target) (None: not judged)


@dataclass
class EditGate:
    """Callable used by `plan_jobs(accept=...)` (which calls `prepare` with the candidates it will look at next, so
    that they are judged in batches); it remembers every verdict it gave."""

    editor: object  # faceaug.inference.editor.GanimationEditor
    estimator: object | None  # faceaug.fer.au_estimator.AuEstimator (None: AU gain not judged)
    work_dir: Path
    min_score: float
    expression_judge: object | None = None  # faceaug.fer.expression_judge.ExpressionJudge (None: not judged)
    min_target_probability: float = 0.0
    attention_floor: float = ATTENTION_FLOOR
    device: str = "cpu"
    descriptor: object | None = None  # faceaug.metrics.identity.FaceDescriptor; None = identity not checked
    max_identity_distance: float = 0.0
    # set when the estimator is the one the generator was trained against (fer.au_estimator.trained_against)
    judge_problem: str | None = None
    batch_size: int = GATE_BATCH
    dropped: Counter = field(default_factory=Counter)
    judged: int = 0
    # the expression judge's reading of the sources' own labels (read_sources): accuracy, faces, per_class
    source_reading: dict | None = None
    _faces: dict[str, np.ndarray] = field(default_factory=dict)
    _identities: dict[str, np.ndarray] = field(default_factory=dict)
    _verdicts: dict[tuple, Judgement] = field(default_factory=dict)

    def _face(self, rel: str) -> np.ndarray:
        if rel not in self._faces:
            self._faces[rel] = read_image(Path(self.work_dir) / rel)
        return self._faces[rel]

    @staticmethod
    def _key(job: EditJob) -> tuple:
        """What a verdict depends on: the source face, the target AUs and label, the source AUs (never the job's
        index or seed), so a verdict judged ahead of planning is the one planning would have got."""
        return job.source_image, tuple(job.aus), job.label, tuple(job.source_aus)

    def prepare(self, jobs: list[EditJob]) -> None:
        """Judge these candidate edits now, in batches (the editor, the judges and the descriptor each run once per
        batch rather than once per edit); `__call__` then answers them from memory."""
        todo = list({self._key(job): job for job in jobs if self._key(job) not in self._verdicts}.values())
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            for job, verdict in zip(chunk, self._judge_batch(chunk)):
                self._verdicts[self._key(job)] = verdict

    def _judge_batch(self, jobs: list[EditJob]) -> list[Judgement]:
        faces = np.stack([self._face(job.source_image) for job in jobs])
        targets = np.asarray([job.aus for job in jobs], np.float32)
        edited, attention = edit_jobs(self.editor, faces, jobs)
        scores: list[float | None] = [None] * len(jobs)
        if self.estimator is not None:
            read = self.estimator.predict(np.concatenate([faces, edited]), self.device)
            before, after = read[: len(jobs)], read[len(jobs) :]
            scores = [
                au_gain(float(np.abs(a - t).mean()), float(np.abs(b - t).mean()))
                for b, a, t in zip(before, after, targets)
            ]
        probabilities: list[float | None] = [None] * len(jobs)
        if self.expression_judge is not None:
            read = self.expression_judge.target_probability(edited, [job.label for job in jobs], self.device)
            probabilities = [None if np.isnan(p) else float(p) for p in read]
        verdicts = []
        for k in range(len(jobs)):
            if face_attention(attention[k]) < self.attention_floor:
                reason = "repainted"
            elif probabilities[k] is not None and probabilities[k] < self.min_target_probability:
                reason = "not_read_as_target"
            elif scores[k] is not None and scores[k] < self.min_score:
                reason = "missed_target"
            else:
                reason = None
            verdicts.append(Judgement(reason is None, scores[k], reason, None, probabilities[k]))
        # the identity check is the costliest (dlib's ResNet, a few ms a face in PyTorch on a CPU): only for edits
        # that passed the others
        passing = [k for k, verdict in enumerate(verdicts) if verdict.passed]
        for k, distance in zip(passing, self._distances([jobs[k].source_image for k in passing], edited[passing])):
            if distance is not None and distance > self.max_identity_distance:
                verdicts[k] = dataclasses.replace(
                    verdicts[k], passed=False, reason="identity_leak", identity_distance=distance
                )
            else:
                verdicts[k] = dataclasses.replace(verdicts[k], identity_distance=distance)
        return verdicts

    def _distances(self, sources: list[str], edited: np.ndarray) -> list[float | None]:
        if self.descriptor is None or not sources:
            return [None] * len(sources)
        new = sorted({rel for rel in sources if rel not in self._identities})
        if new:
            for rel, descriptor in zip(new, self.descriptor(np.stack([self._face(rel) for rel in new]))):
                self._identities[rel] = descriptor
        reference = np.stack([self._identities[rel] for rel in sources])
        return [float(d) for d in identity_distance(reference, self.descriptor(edited))]

    def __call__(self, job: EditJob) -> Judgement:
        """The verdict on one candidate edit (judged now unless `prepare` judged it already); counted as judged,
        and as dropped with its reason, each time planning asks."""
        if self._key(job) not in self._verdicts:
            self.prepare([job])
        verdict = self._verdicts[self._key(job)]
        self.judged += 1
        if verdict.reason is not None:
            self.dropped[verdict.reason] += 1
        return verdict

    def read_sources(self, sources, seed: int = 0) -> dict | None:
        """How well the expression judge reads the sources' own labels (those among its classes; at most
        `JUDGE_SOURCE_SAMPLE` of them, drawn at random): its verdicts on edits of faces it cannot read are not
        evidence. Kept in `source_reading` (and expand.json); None without a judge or a source it can judge."""
        if self.expression_judge is None:
            return None
        known = sources[sources["label"].isin(self.expression_judge.labels)]
        if len(known) > JUDGE_SOURCE_SAMPLE:
            known = known.sample(JUDGE_SOURCE_SAMPLE, random_state=seed)
        if known.empty:
            return None
        judge = self.expression_judge
        labels = known["label"].to_numpy()
        images = np.stack([self._face(rel) for rel in known["image_path"]])
        probabilities = judge.probabilities(images, self.device)
        hits = np.asarray(judge.labels)[probabilities.argmax(1)] == labels
        columns = [judge.labels.index(label) for label in labels]
        self.source_reading = {
            "accuracy": float(hits.mean()),
            "faces": len(labels),
            "mean_label_probability": float(probabilities[np.arange(len(labels)), columns].mean()),
            "per_class": {label: float(hits[labels == label].mean()) for label in sorted(set(labels))},
            "heldout_accuracy": judge.heldout.get("accuracy"),  # on the faces of its own test split
        }
        self.source_reading["enough"] = self.source_reading["accuracy"] >= JUDGE_READS_SOURCES_FLOOR
        return self.source_reading  # the faces read stay in `_faces`: planning edits them next

    def summary(self) -> dict:
        return {
            "min_edit_score": self.min_score if self.estimator is not None else None,
            "min_target_probability": self.min_target_probability if self.expression_judge is not None else None,
            "expression_judge": getattr(self.expression_judge, "model_id", None),
            "attention_floor": self.attention_floor,
            "max_identity_distance": self.max_identity_distance if self.descriptor is not None else None,
            "judged": self.judged,
            "judge_independent": self.judge_problem is None,
            "judge_reads_sources": self.source_reading,
            "dropped": dict(self.dropped),
        }


def make_gate(
    settings: ExpandConfig, work_dir: Path, editor, device: str, au_estimator: Path | None = None
) -> tuple[EditGate | None, list[Path]]:
    """expand's gate and the files of its judges when `min_edit_score` or `min_target_probability` is above 0,
    else (None, []); `au_estimator` is the AU estimator's file [default: WORK_DIR/models/au_estimator.safetensors].
    A missing AU estimator is a UserError."""
    if settings.min_edit_score <= 0 and settings.min_target_probability <= 0:
        return None, []
    estimator, judge, judge_problem, files = None, None, None, []
    if settings.min_edit_score > 0:
        from faceaug.fer.au_estimator import AuEstimator, default_au_estimator_path, trained_against

        path = Path(au_estimator) if au_estimator else default_au_estimator_path(work_dir)
        if not path.is_file():
            raise UserError(
                f"--min-edit-score needs an AU estimator to judge the edits; none at {path}. Train one "
                f"with `faceaug train-au {work_dir}` (or pass --au-estimator FILE, or --min-edit-score "
                "0)."
            )
        estimator = AuEstimator.load(path)
        files.append(path)
        judge_problem = trained_against(editor.provenance, estimator)
        if judge_problem:
            warn(f"Quality gate: {judge_problem}.")
    if settings.min_target_probability > 0:
        from faceaug.fer.expression_judge import ExpressionJudge
        from faceaug.pretrained import bundled_judge_path

        files.append(bundled_judge_path())
        judge = ExpressionJudge.load(files[-1])
    descriptor = None
    if settings.max_identity_distance > 0:
        from faceaug.metrics.identity import FaceDescriptor, identity_problem

        problem = identity_problem()
        if problem:
            info(f"Quality gate: identity leaks are not checked, {problem}.")
        else:
            try:
                descriptor = FaceDescriptor()
            except ValueError as exc:  # an installed model file that is not the one dlib documents
                warn(f"Quality gate: identity leaks are not checked: {exc}.")
    gate = EditGate(
        editor,
        estimator,
        Path(work_dir),
        settings.min_edit_score,
        expression_judge=judge,
        min_target_probability=settings.min_target_probability,
        device=device,
        descriptor=descriptor,
        max_identity_distance=settings.max_identity_distance,
        judge_problem=judge_problem,
    )
    return gate, files


def _heldout(reading: dict) -> str:
    accuracy = reading.get("heldout_accuracy")
    return "its own held-out faces" + (f" {accuracy:.0%}" if accuracy is not None else "")


def report_gate(gate: EditGate, jobs: list[EditJob], targets) -> None:
    """Say what the gate did: what it dropped and why, targets left with no images, and when it dropped most."""
    dropped = sum(gate.dropped.values())
    reasons = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in gate.dropped.items()) or "none"
    rules = [
        f"min edit score {gate.min_score:g}" if gate.estimator is not None else "",
        f"min target probability {gate.min_target_probability:g}" if gate.expression_judge is not None else "",
        f"max identity distance {gate.max_identity_distance:g}" if gate.descriptor is not None else "",
    ]
    info(
        f"Quality gate ({', '.join(r for r in rules if r)}): judged {gate.judged} edits, dropped {dropped} "
        f"({reasons}); their targets were drawn from other sources."
    )
    planned = {job.target for job in jobs}
    empty = [t.name for t in targets if t.name not in planned]
    if empty:
        warn(
            f"No edit to {', '.join(empty)} passed the quality gate: the expansion has no images of "
            f"{'that class' if len(empty) == 1 else 'these classes'}."
        )
    reading = gate.source_reading
    if reading is not None and not reading["enough"]:
        worst = sorted(reading["per_class"].items(), key=lambda item: item[1])[:3]
        warn(
            f"The expression judge reads only {reading['accuracy']:.0%} of your {reading['faces']} labelled source "
            f"faces as their own label ({', '.join(f'{label} {share:.0%}' for label, share in worst)}; "
            f"{_heldout(reading)}): on faces this unlike the ones it learned from, its "
            "verdicts on the edits say little, so the gate cannot promise that an image shows its label. Look at "
            "`faceaug report`'s contact sheets and measure with `faceaug fer-eval` before training on it."
        )
    if gate.judged and dropped > gate.judged / 2:
        warn(
            f"The quality gate dropped {dropped} of the {gate.judged} edits it judged: this editor does not show "
            "most targets on these faces, and the expansion is made of the few edits that do. Check `faceaug "
            "report` and `faceaug fer-eval` before training on it; fine-tuning the editor on your faces (`faceaug "
            "train WORK --init bundled`) may help."
        )
