"""Planning an expansion: exact counts, source choice, labels — pure functions, no models."""

import numpy as np
import pandas as pd
import pytest

from faceaug.aus import AU_INDEX, AU_NAMES, parse_au_spec, preset_vector
from faceaug.errors import UserError
from faceaug.pipeline.plan import (
    SINGLE_AU_LEVELS,
    continuous_targets,
    cut_shards,
    discrete_targets,
    parse_au_list,
    plan_jobs,
    single_au_targets,
)
from faceaug.pipeline.sources import select_sources


def _faces(n_subjects=4, per_subject=3, test_subjects=1):
    rows = []
    rng = np.random.default_rng(0)
    for s in range(n_subjects):
        for k in range(per_subject):
            row = {
                "face_id": f"s{s}_{k}",
                "image_path": f"faces/s{s}_{k}.png",
                "label": ["sad", "neutral"][k % 2],
                "subject": f"s{s}",
                "split": "test" if s < test_subjects else "train",
            }
            row.update(zip(AU_NAMES, rng.uniform(0, 0.3, len(AU_NAMES)).astype(np.float32)))
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("edits_first", [False, True])
@pytest.mark.parametrize("per_class, m", [(50, 4), (10, 4), (7, 4), (3, 0), (1, 9)])
def test_every_class_gets_exactly_per_class_images(per_class, m, edits_first):
    sources = select_sources(_faces(), "train", None)
    jobs = plan_jobs(
        sources,
        discrete_targets(parse_au_spec("happy,angry")),
        per_class=per_class,
        samples_per_edit=m,
        seed=0,
        edits_first=edits_first,
    )
    for label in ("happy", "angry"):
        mine = [j for j in jobs if j.label == label]
        assert sum(j.n_samples + 1 for j in mine) == per_class
        assert len({j.source_id for j in mine}) == len(mine)  # no edit image twice
        # at most M variants an edit, unless every source is edited and there are still images to make
        assert all(0 <= j.n_samples <= m for j in mine) or len(mine) == len(sources)
        np.testing.assert_allclose(mine[0].aus, preset_vector(label))


def test_no_variants_and_more_images_than_sources_is_a_clear_error():
    sources = select_sources(_faces(), "train", None)  # 9 source faces
    with pytest.raises(UserError, match="--per-class 10 with --samples-per-edit 0 needs 10 different source faces"):
        plan_jobs(sources, discrete_targets(parse_au_spec("happy")), per_class=10, samples_per_edit=0, seed=0)


def test_edits_first_uses_every_source_before_any_variant():
    sources = select_sources(_faces(), "train", None)  # 9 source faces
    targets = discrete_targets(parse_au_spec("happy,angry"))
    few = plan_jobs(sources, targets, per_class=7, samples_per_edit=4, seed=0, edits_first=True)
    for label in ("happy", "angry"):
        mine = [j for j in few if j.label == label]
        assert len({j.source_id for j in mine}) == 7 and all(j.n_samples == 0 for j in mine)
    many = plan_jobs(sources, targets, per_class=20, samples_per_edit=4, seed=0, edits_first=True)
    happy = [j for j in many if j.label == "happy"]
    assert len({j.source_id for j in happy}) == len(happy) == 9  # every source once, 11 variants spread over them
    assert sorted(j.n_samples for j in happy) == [1] * 7 + [2] * 2
    # without it the same 7 images per class come from 2 edits (4 + 2 variants): the paper's N x M
    paper = [j for j in plan_jobs(sources, targets, per_class=7, samples_per_edit=4, seed=0) if j.label == "happy"]
    assert [j.n_samples for j in paper] == [4, 1]


def test_sources_rotate_over_subjects_and_never_come_from_test():
    faces = _faces()
    sources = select_sources(faces, "train", None)
    jobs = plan_jobs(sources, discrete_targets(parse_au_spec("happy")), per_class=6, samples_per_edit=0, seed=0)
    subjects = [j.subject for j in jobs]
    assert subjects[:3] == ["s1", "s2", "s3"]  # one face per person before anyone repeats
    assert all(j.source_split == "train" for j in jobs)
    assert len({j.edit_id() for j in jobs}) == len(jobs)


def test_plan_is_deterministic_and_seed_dependent():
    sources = select_sources(_faces(), "train", None)
    targets = discrete_targets(parse_au_spec("all"))
    a = plan_jobs(sources, targets, per_class=5, samples_per_edit=2, seed=1)
    b = plan_jobs(sources, targets, per_class=5, samples_per_edit=2, seed=1)
    c = plan_jobs(sources, targets, per_class=5, samples_per_edit=2, seed=2)
    assert a == b
    assert [j.seed for j in a] != [j.seed for j in c]


def test_empty_or_unknown_sources_are_user_errors():
    faces = _faces()
    with pytest.raises(UserError, match="label 'happy'"):
        select_sources(faces, "train", "happy")
    with pytest.raises(UserError, match="No faces in split 'validation'"):
        select_sources(faces, "validation", None)
    with pytest.raises(UserError, match="per-class must be positive"):
        plan_jobs(
            select_sources(faces, "train", None),
            discrete_targets(parse_au_spec("happy")),
            per_class=0,
            samples_per_edit=1,
            seed=0,
        )


def test_single_au_sweeps_set_one_au_on_top_of_the_source():
    sources = select_sources(_faces(), "train", None)
    targets = single_au_targets(parse_au_list("AU12, 45"))
    assert [t.name for t in targets][:4] == [f"AU12={v:.2f}" for v in SINGLE_AU_LEVELS]
    jobs = plan_jobs(sources, targets, per_class=1, samples_per_edit=0, seed=0)
    assert len(jobs) == 8
    for job in jobs:
        src = sources[sources.face_id == job.source_id].iloc[0]
        changed = [au for au in AU_NAMES if abs(job.aus[AU_INDEX[au]] - src[au]) > 1e-6]
        assert set(changed) <= {job.target.split("=")[0]}
        assert job.label == job.source_label
    with pytest.raises(UserError, match="Unknown action unit"):
        parse_au_list("AU99")


def test_continuous_interpolates_and_labels_by_threshold():
    sources = select_sources(_faces(), "train", None)
    targets = continuous_targets(parse_au_spec("happy"), steps=4)
    assert [t.alpha for t in targets] == [0.25, 0.5, 0.75, 1.0]
    jobs = plan_jobs(sources, targets, per_class=1, samples_per_edit=0, seed=0, label_threshold=0.6)
    for job in jobs:
        src = sources[sources.face_id == job.source_id].iloc[0][list(AU_NAMES)].to_numpy(np.float32)
        np.testing.assert_allclose(job.aus, job.alpha * preset_vector("happy") + (1 - job.alpha) * src, atol=1e-6)
        assert job.label == ("happy" if job.alpha >= 0.6 else job.source_label)


def test_shards_cover_jobs_in_order():
    sources = select_sources(_faces(), "train", None)
    jobs = plan_jobs(sources, discrete_targets(parse_au_spec("all")), per_class=3, samples_per_edit=0, seed=0)
    shards = cut_shards(jobs, 5)
    assert [j for s in shards for j in s] == jobs
    assert all(len(s) <= 5 for s in shards)


def test_a_job_carries_its_sources_landmarks_into_the_stored_crop():
    """The warp places its motion by each source's landmarks: faces.parquet's (source pixels) mapped by the row's
    crop_transform; a source without landmarks gives None."""
    faces = _faces()
    xs, ys = np.linspace(10, 60, 68), np.linspace(20, 70, 68)
    shift_half = [0.5, 0.0, 3.0, 0.0, 0.5, -2.0]  # x/2 + 3, y/2 - 2
    first = int(np.flatnonzero(faces["split"] == "train")[0])
    faces["landmarks"] = [list(xs) + list(ys) if i == first else None for i in range(len(faces))]
    faces["crop_transform"] = [shift_half] * len(faces)
    sources = select_sources(faces, "train", None)
    target = discrete_targets(parse_au_spec("happy"))
    jobs = plan_jobs(sources, target, per_class=len(sources), samples_per_edit=0, seed=0)
    mine = [j for j in jobs if j.source_id == faces.loc[first, "face_id"]]
    others = [j for j in jobs if j.source_id != faces.loc[first, "face_id"]]
    assert len(mine) == 1 and others
    np.testing.assert_allclose(mine[0].landmarks(), np.stack([xs / 2 + 3, ys / 2 - 2], 1), atol=1e-4)
    assert all(j.landmarks() is None for j in others)
