"""The small synthetic protocol: the FER2013 chain on a synthetic world cut to a real few-shot set's size.

    python -m benchmarks.synth_fewshot --out synth-small            # 14 people x 8 expressions to train on

Issue 20 measures every quality claim twice: on real faces (benchmarks.fer2013_fewshot) and on a synthetic world of
the size users have (~100 training faces of ~14 people), where the AUs are the renderer's truth. `faceaug synth`
draws `--train-subjects` + `--test-subjects` people; the training split keeps `--train-per-class` image(s) per
person and expression (14 x 8 x 1 = 112 faces), the test split every image of the other people, so the test faces
are people the classifier and the editor never saw. Then the same chain as the FER2013 protocol, with the world's
OpenFace-format AU CSVs instead of label prototypes: preprocess → train → expand → train-au → report → fer-eval.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from benchmarks.fer2013_fewshot import faceaug, protocol_arguments, run_chain


def cut_world(world: Path, data: Path, train_subjects: int, train_per_class: int) -> dict:
    """Copy the world's images (and their AU CSVs) into DATA with labels.csv (path,label,subject,split): the first
    `train_subjects` people in the train split with their first `train_per_class` images per class, the others in
    the test split with all of theirs."""
    labels = pd.read_csv(world / "labels.csv")
    subjects = sorted(labels["subject"].unique())
    train = set(subjects[:train_subjects])
    index = labels["path"].str.extract(r"_(\d+)\.png$")[0].astype(int)
    keep = ~labels["subject"].isin(train) | (index < train_per_class)
    rows = labels[keep].assign(split=lambda t: ["train" if s in train else "test" for s in t["subject"]])
    for rel in rows["path"]:
        for src in (world / rel, (world / rel).with_suffix(".csv")):
            dst = data / src.relative_to(world)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    rows.to_csv(data / "labels.csv", index=False)
    return {f"{split}/{label}": int(n) for (split, label), n in rows.groupby(["split", "label"]).size().items()}


def main() -> None:
    parser = protocol_arguments(__doc__.splitlines()[0], "synth-small")
    parser.add_argument("--train-subjects", type=int, default=14)
    parser.add_argument("--test-subjects", type=int, default=8)
    parser.add_argument("--train-per-class", type=int, default=1)
    parser.add_argument("--test-per-class", type=int, default=3, help="images per test person and expression")
    parser.add_argument("--world-size", type=int, default=128, help="synth image side (preprocess crops --size)")
    args = parser.parse_args()
    world, data = args.out / "world", args.out / "data"
    faceaug(
        "synth",
        str(world),
        "--subjects",
        str(args.train_subjects + args.test_subjects),
        "--per-class",
        str(max(args.train_per_class, args.test_per_class)),
        "--size",
        str(args.world_size),
        "--seed",
        str(args.seed),
        "--overwrite",
    )
    counts = cut_world(world, data, args.train_subjects, args.train_per_class)
    classes = sorted(pd.read_csv(data / "labels.csv")["label"].unique())
    run_chain(args, data, classes, [], {"name": "synth_fewshot", "images": counts})


if __name__ == "__main__":
    main()
