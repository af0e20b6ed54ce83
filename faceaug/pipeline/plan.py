"""Planning an expansion: which source face is edited to which AU target, how many SinGAN samples each edit
yields, and how the jobs are cut into deterministic shards. Pure functions of the inputs — no I/O, no torch.

Counting rule (`discrete`, `single-au`, `continuous` alike): every target gets exactly `per_class` new images.
One edit job produces 1 GANimation edit + up to M SinGAN samples, so a target needs at least ceil(P / (M + 1))
jobs. By default the last one draws only the samples still missing; with `edits_first` a target takes one edit
of as many different source faces as P allows (up to every source once) and spreads the missing samples evenly
over those edits, so variants only fill in where the sources run out (on FER2013, 30 distinct edits per class
helped a classifier 3.4 points more than 6 edits × 5 variants: docs/results.md).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from faceaug.aus import AU_INDEX, AU_NAMES, TargetClass
from faceaug.errors import UserError
from faceaug.preprocess.align import flat_landmarks, landmark_points, transform_points

#: Intensities of a single-AU sweep (seed thesis §5.4.1).
SINGLE_AU_LEVELS: tuple[float, ...] = (0.0, 0.33, 0.66, 1.0)


@dataclass(frozen=True)
class Target:
    """One expansion target: a name, how its AU vector is formed, and how its rows are labelled."""

    name: str  # e.g. "happy", "AU12=0.66", "happy@0.40"
    aus: tuple[float, ...]  # target AUs (discrete/continuous) or the single AU level (single-au)
    kind: str  # discrete | single-au | continuous
    au: str | None = None  # single-au: which AU is set
    alpha: float | None = None  # continuous: interpolation weight of the target
    class_name: str | None = None  # continuous: the class the target belongs to


@dataclass(frozen=True)
class EditJob:
    """One GANimation edit of one source face, followed by `n_samples` SinGAN samples."""

    index: int  # global, stable job number
    source_id: str
    source_image: str  # relative to WORK_DIR
    source_label: str
    source_split: str
    subject: str
    target: str
    label: str  # the FER label of every image this job produces
    aus: tuple[float, ...]  # the 17 target AU intensities
    alpha: float | None
    n_samples: int
    seed: int
    source_aus: tuple[float, ...] = ()  # the source face's 17 AU intensities (from faces.parquet)
    edit_score: float | None = None  # the quality gate's score of this edit (None = no gate)
    identity_distance: float | None = None  # the gate's face-descriptor distance edit ↔ source (None = not measured)
    target_probability: float | None = None  # the gate's expression judge: P(target) of the edit (None = not judged)
    # the source's 68 landmarks in its stored crop (faces.parquet's landmarks mapped by its crop_transform), in
    # faces.parquet's flat layout x_0..x_67, y_0..y_67; () = none
    crop_landmarks: tuple[float, ...] = ()

    def landmarks(self) -> np.ndarray | None:
        """The source's landmarks (68, 2) in the pixels of its stored crop, or None when it has none."""
        return landmark_points(self.crop_landmarks or None)

    @property
    def stem(self) -> str:
        """Stable id stem of this job's images: <target-slug>_<job index>."""
        slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in self.target)
        return f"{slug}_{self.index:05d}"

    def edit_id(self) -> str:
        return f"{self.stem}_edit"

    def sample_id(self, k: int) -> str:
        return f"{self.stem}_s{k:02d}"


def discrete_targets(classes: list[TargetClass]) -> list[Target]:
    return [Target(c.name, c.aus, "discrete") for c in classes]


def single_au_targets(aus: list[str]) -> list[Target]:
    return [Target(f"{au}={level:.2f}", tuple([level]), "single-au", au=au) for au in aus for level in SINGLE_AU_LEVELS]


def continuous_targets(classes: list[TargetClass], steps: int) -> list[Target]:
    if steps < 1:
        raise UserError(f"continuous mode needs at least 1 step, got {steps}.")
    alphas = [round((k + 1) / steps, 4) for k in range(steps)]
    return [
        Target(f"{c.name}@{a:.2f}", c.aus, "continuous", alpha=a, class_name=c.name) for c in classes for a in alphas
    ]


def parse_au_list(spec: str | None) -> list[str]:
    """`--aus` for single-au mode: comma list (AU12, au6, 12) → catalogue names; default all 17."""
    if not spec:
        return list(AU_NAMES)
    names = []
    for raw in spec.split(","):
        raw = raw.strip().upper()
        digits = raw[2:] if raw.startswith("AU") else raw
        name = f"AU{int(digits):02d}" if digits.isdigit() else raw
        if name not in AU_INDEX:
            raise UserError(f"Unknown action unit {raw!r} in --aus. Valid AUs: {', '.join(AU_NAMES)}.")
        names.append(name)
    return names


def _target_vector(target: Target, source_aus: np.ndarray) -> tuple[float, ...]:
    if target.kind == "single-au":
        vec = source_aus.copy()
        vec[AU_INDEX[target.au]] = target.aus[0]
    elif target.kind == "continuous":
        vec = target.alpha * np.asarray(target.aus, np.float32) + (1.0 - target.alpha) * source_aus
    else:
        vec = np.asarray(target.aus, np.float32)
    return tuple(float(v) for v in np.clip(vec, 0.0, 1.0).astype(np.float32))


def _label(target: Target, source_label: str, threshold: float) -> str:
    if target.kind == "discrete":
        return target.name
    if target.kind == "continuous":
        return target.class_name if target.alpha >= threshold else source_label
    return source_label  # single-AU edits keep the source's expression label


def round_robin_sources(sources: pd.DataFrame) -> list[int]:
    """Row positions of `sources` in round-robin order over subjects (subject order and faces within a subject
    sorted by id), so consecutive jobs use different people."""
    order = sources.sort_values(["subject", "face_id"], kind="stable")
    queues = [list(group.index) for _, group in order.groupby("subject", sort=True)]
    rotation: list[int] = []
    depth = 0
    while len(rotation) < len(order):
        for queue in queues:
            if depth < len(queue):
                rotation.append(queue[depth])
        depth += 1
    return [sources.index.get_loc(i) for i in rotation]


#: Fewest candidate edits a batching gate is asked to judge at once (it is asked for twice the edits still
#: missing when that is more).
PREPARE_AHEAD = 8


def check_per_class(per_class: int) -> None:
    if per_class <= 0:
        raise UserError(f"--per-class must be positive, got {per_class}.")


def plan_jobs(
    sources: pd.DataFrame,
    targets: list[Target],
    *,
    per_class: int,
    samples_per_edit: int,
    seed: int,
    label_threshold: float = 0.5,
    accept: Callable[[EditJob], Any] | None = None,
    edits_first: bool = False,
    max_variants: int = 0,
) -> list[EditJob]:
    """Every target gets exactly `per_class` images (edits + SinGAN samples), sources spread over subjects.

    `accept(job)` (the quality gate, faceaug.pipeline.gate) judges each candidate edit: one it fails is not planned
    and the target takes the next source in the rotation instead; a target no source passes gets no images (expand
    says so), and when that is every target it is a UserError.
    A target edits each source at most once (a repeated edit would be the same image under another id): when
    fewer sources (or fewer passing edits) are left than the edits it needs, its images are spread evenly over the
    edits it has, each then taking more than M variants (expand says so) — at most `max_variants` when that is > 0,
    the target then getting fewer than `per_class` images."""
    check_per_class(per_class)
    if sources.empty:
        raise UserError("There are no source faces to expand.")
    order = round_robin_sources(sources)
    au_matrix = sources[list(AU_NAMES)].to_numpy(np.float32)
    seeds = np.random.SeedSequence(seed).generate_state(1)[0]
    jobs: list[EditJob] = []
    empty: list[str] = []
    cursor = 0
    prepare = getattr(accept, "prepare", None)  # a gate that judges candidates in batches
    for target in targets:
        counts = samples_per_job(per_class, samples_per_edit, len(order) if edits_first else 0)
        chosen: list[EditJob] = []
        prepared_until = cursor
        for attempt in range(len(order)):  # each source at most once per target: no edit image twice
            if len(chosen) == len(counts):
                break
            if prepare is not None and cursor >= prepared_until:  # judge the next few candidates together
                ahead = min(len(order) - attempt, max(PREPARE_AHEAD, 2 * (len(counts) - len(chosen))))
                prepare(
                    [
                        _job(sources.iloc[p], au_matrix[p], target, 0, 0, seeds, label_threshold)
                        for p in (order[(cursor + k) % len(order)] for k in range(ahead))
                    ]
                )
                prepared_until = cursor + ahead
            pos = order[cursor % len(order)]
            cursor += 1
            job = _job(sources.iloc[pos], au_matrix[pos], target, len(jobs) + len(chosen), 0, seeds, label_threshold)
            if accept is not None:
                verdict = accept(job)
                if not verdict.passed:
                    continue
                job = dataclasses.replace(
                    job,
                    edit_score=verdict.score,
                    identity_distance=verdict.identity_distance,
                    target_probability=verdict.target_probability,
                )
            chosen.append(job)
        fill = max_variants > 0 and target.kind == "discrete"  # a short class is filled by its own faces
        if not chosen and not fill:  # the gate passed no edit to this target: it gets no images (expand says so)
            empty.append(target.name)
            continue
        if 0 < len(chosen) < len(counts) and samples_per_edit == 0:
            passing = " whose edit passes the quality gate" if accept is not None else ""
            raise UserError(
                f"{target.name}: --per-class {per_class} with --samples-per-edit 0 needs {per_class} "
                f"different source faces{passing}, and there are {len(chosen)}. Lower --per-class, or "
                "let each edit have variants (--samples-per-edit M)."
            )
        if len(chosen) < len(counts):  # fewer usable sources than edits wanted: their edits take more variants
            counts = spread_samples(per_class, len(chosen)) if chosen else []
            if max_variants > 0:
                counts = [min(n, max_variants) for n in counts]
        jobs.extend(dataclasses.replace(job, n_samples=n) for job, n in zip(chosen, counts))
        short = per_class - sum(n + 1 for n in counts[: len(chosen)])
        own = []
        if fill and short > 0:
            own = _own_class_jobs(sources, order, au_matrix, target, chosen, short, max_variants, len(jobs), seeds)
            jobs.extend(own)
        if not chosen and not own:
            empty.append(target.name)
    if empty and not jobs:
        raise UserError(
            f"No source face's edit to {', '.join(repr(name) for name in empty)} passes the quality "
            "gate (--min-target-probability, --min-edit-score); lower them, or give the editor other "
            "sources (neutral or mild faces edit most clearly)."
        )
    return jobs


def _own_class_jobs(
    sources: pd.DataFrame,
    order: list[int],
    au_matrix: np.ndarray,
    target: Target,
    chosen: list[EditJob],
    short: int,
    max_variants: int,
    first_index: int,
    seeds: int,
) -> list[EditJob]:
    """Fill a class left `short` of images by its own source faces: each edited to its own class (an edit that keeps
    its label, so no gate judges it) with up to `max_variants` variants, until the class is full or they run out."""
    used = {job.source_id for job in chosen}
    jobs: list[EditJob] = []
    for pos in order:
        if short <= 0:
            break
        row = sources.iloc[pos]
        if str(row["label"]).lower() != target.name.lower() or str(row["face_id"]) in used:
            continue
        n = min(max_variants, short - 1)
        # a discrete target labels its images with its own name: the label threshold plays no part
        jobs.append(_job(row, au_matrix[pos], target, first_index + len(jobs), n, seeds, label_threshold=0.5))
        short -= n + 1
    return jobs


def spread_samples(per_class: int, jobs: int) -> list[int]:
    """Samples of each of `jobs` edit jobs (one edit each) making `per_class` images, spread evenly."""
    base, extra = divmod(per_class - jobs, jobs)
    return [base + (k < extra) for k in range(jobs)]


def samples_per_job(per_class: int, samples_per_edit: int, spread_over: int = 0) -> list[int]:
    """How many samples each of one target's edit jobs draws (sum + one edit each = `per_class`, each ≤ M).

    spread_over = 0: as few jobs as M allows, the last one short. spread_over = S > 0 (edits first, S sources):
    max(that many, min(P, S)) jobs, the samples spread evenly over them."""
    fewest = math.ceil(per_class / (samples_per_edit + 1))
    if spread_over <= 0:
        return [min(samples_per_edit, per_class - k * (samples_per_edit + 1) - 1) for k in range(fewest)]
    return spread_samples(per_class, max(fewest, min(per_class, spread_over)))


def _job(
    row: pd.Series,
    source_aus: np.ndarray,
    target: Target,
    index: int,
    n_samples: int,
    seeds: int,
    label_threshold: float,
) -> EditJob:
    return EditJob(
        index=index,
        source_id=str(row["face_id"]),
        source_image=str(row["image_path"]),
        source_label=str(row["label"]),
        source_split=str(row["split"]),
        subject=str(row["subject"]),
        target=target.name,
        label=_label(target, str(row["label"]), label_threshold),
        aus=_target_vector(target, source_aus),
        alpha=target.alpha,
        n_samples=n_samples,
        seed=int((int(seeds) + 1_000_003 * index) % (2**31 - 1)),
        source_aus=tuple(float(v) for v in source_aus),
        crop_landmarks=_crop_landmarks(row),
    )


def _crop_landmarks(row: pd.Series) -> tuple[float, ...]:
    points = landmark_points(row.get("landmarks"))
    if points is None or row.get("crop_transform") is None:
        return ()
    return tuple(flat_landmarks(transform_points(points, row["crop_transform"])))


def cut_shards(jobs: list[EditJob], shard_size: int) -> list[list[EditJob]]:
    """Deterministic shards of consecutive jobs."""
    shard_size = max(1, int(shard_size))
    return [jobs[i : i + shard_size] for i in range(0, len(jobs), shard_size)]
