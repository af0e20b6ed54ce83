"""The second real domain: does faceaug help a classifier on LFW news-photo faces it was never trained on?

    python -m benchmarks.lfw_fewshot --repo /work/.mirror/muxspace+facial_expressions/repo --out lfw-run

Takes a git copy of the public repository muxspace/facial_expressions (Apache-2.0: images/*.jpg, grey tight face
crops of 350 px, most of them LFW photos named <First_Last>_<NNNN>.jpg, and data/legend.csv: user.id, image,
emotion) and reads the images straight from git at COMMIT. The classes with at least 200 images (anger, disgust,
happiness, neutral, sadness, surprise; faceaug's angry, disgust, happy, neutral, sad, surprise) are kept. The
subject is the file name without its number; people are split, not images: K images per class from training
people, T per class from other people for testing. The images go to a scratch folder only (never commit them).
Then the same chain as benchmarks.fer2013_fewshot (preprocess with labels only → expand with the bundled editor by
default → train-au → report → fer-eval) and a JSON of the protocol and the result.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

from benchmarks.fer2013_fewshot import _git, editor_argument, protocol_arguments, run_chain

COMMIT = "5fb9c13a"
#: legend.csv's emotion (lower-cased) → faceaug's preset name
CLASSES = {
    "anger": "angry",
    "disgust": "disgust",
    "happiness": "happy",
    "neutral": "neutral",
    "sadness": "sad",
    "surprise": "surprise",
}
_NUMBERED = re.compile(r"^(.+)_\d{4}\.jpg$")


def subject_of(name: str) -> str:
    """A person's id from an LFW-style file name (Chris_Rock_0001.jpg → Chris_Rock); other names are their own."""
    match = _NUMBERED.match(name)
    return match.group(1) if match else Path(name).stem


def read_legend(repo: Path) -> list[tuple[str, str, str]]:
    """(image name, faceaug label, subject) of every kept image, sorted by name, duplicates dropped."""
    rows, seen = [], set()
    for line in _git(repo, "show", f"{COMMIT}:data/legend.csv").splitlines()[1:]:
        parts = line.strip().split(",")
        if len(parts) != 3:
            continue
        name, emotion = parts[1], parts[2].strip().lower()
        if emotion in CLASSES and name not in seen:
            seen.add(name)
            rows.append((name, CLASSES[emotion], subject_of(name)))
    return sorted(rows)


def draw(rows, k: int, t: int, seed: int) -> list[tuple[str, str, str, str]]:
    """(name, label, subject, split): per class K training images, then T test images of people who have no
    training image in any class."""
    rng = np.random.default_rng(seed)
    by_class = {label: [r for r in rows if r[1] == label] for label in CLASSES.values()}
    train, train_people = [], set()
    for label, mine in by_class.items():
        for i in rng.permutation(len(mine)):
            if len([r for r in train if r[1] == label]) >= k:
                break
            train.append(mine[i])
            train_people.add(mine[i][2])
    test = []
    for mine in by_class.values():
        others = [r for r in mine if r[2] not in train_people]
        picks = rng.choice(len(others), size=min(t, len(others)), replace=False)
        test += [others[i] for i in sorted(picks)]
    return [(*r, "train") for r in train] + [(*r, "test") for r in test]


def extract(repo: Path, data: Path, drawn) -> dict:
    """Write the drawn images into data/images/ and data/labels.csv (path,label,subject,split)."""
    (data / "images").mkdir(parents=True, exist_ok=True)
    batch = subprocess.run(
        ["git", f"--git-dir={repo}", "cat-file", "--batch"],
        input="".join(f"{COMMIT}:images/{name}\n" for name, *_ in drawn).encode(),
        check=True,
        capture_output=True,
    ).stdout
    lines, counts, pos = ["path,label,subject,split"], {}, 0
    for name, label, subject, split in drawn:
        header_end = batch.index(b"\n", pos)
        size = int(batch[pos:header_end].split()[2])
        (data / "images" / name).write_bytes(batch[header_end + 1 : header_end + 1 + size])
        pos = header_end + 1 + size + 1
        lines.append(f"images/{name},{label},{subject},{split}")
        counts[f"{split}/{label}"] = counts.get(f"{split}/{label}", 0) + 1
    (data / "labels.csv").write_text("\n".join(lines) + "\n")
    return counts


def main() -> None:
    parser = protocol_arguments(__doc__.splitlines()[0], "lfw-run")
    parser.add_argument("--repo", type=Path, required=True, help="git directory of muxspace/facial_expressions")
    parser.add_argument("--k", type=int, default=15, help="training images per class")
    parser.add_argument("--test-per-class", type=int, default=60)
    editor_argument(parser)
    args = parser.parse_args()
    data = args.out / "data"
    counts = extract(args.repo, data, draw(read_legend(args.repo), args.k, args.test_per_class, args.seed))
    protocol = {"name": "lfw_fewshot", "repo_commit": COMMIT, "repo": str(args.repo), "images": counts}
    model = None if args.editor == "train" else args.editor
    run_chain(args, data, tuple(CLASSES.values()), ["--aus-from-labels"], protocol, model)


if __name__ == "__main__":
    main()
