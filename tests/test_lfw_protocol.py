"""The second development domain's protocol (benchmarks/lfw_fewshot.py) splits by person: no test face belongs to
a person with a training image, whatever the seed; subjects come from LFW-style file names."""

from __future__ import annotations

import pytest

from benchmarks.lfw_fewshot import CLASSES, draw, subject_of


def test_subjects_come_from_lfw_file_names():
    assert subject_of("Chris_Rock_0001.jpg") == "Chris_Rock"
    assert subject_of("AJ_Cook_0012.jpg") == "AJ_Cook"
    assert subject_of("facial-expressions_2868588k.jpg") == "facial-expressions_2868588k"  # its own person


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_draw_splits_people_not_images(seed):
    labels = sorted(CLASSES.values())
    # 40 people with images in several classes, some with several images of one class
    rows = sorted(
        {(f"P{p}_{k:04d}.jpg", labels[(p + k) % len(labels)], f"P{p}") for p in range(40) for k in range(1, 5)}
    )
    drawn = draw(rows, k=3, t=5, seed=seed)
    train = [r for r in drawn if r[3] == "train"]
    test = [r for r in drawn if r[3] == "test"]
    assert {label: sum(r[1] == label for r in train) for label in labels} == {label: 3 for label in labels}
    assert not {r[2] for r in train} & {r[2] for r in test}
    assert len({r[0] for r in drawn}) == len(drawn) and test
