"""The FER2013 few-shot protocol: does faceaug help a classifier on real, grey, 48-px faces?

    python -m benchmarks.fer2013_fewshot --repo /work/.mirror/RecepTahirGunlu+Duygu-Tanima/repo --out fer2013-run

Takes a git copy of the public repository RecepTahirGunlu/Duygu-Tanima (FER2013 as train/<class>/ and test/<class>/
48×48 grey images) and reads the images of commit 8041c66ab straight from git (ls-tree + cat-file): K per class
from train/ for training, T per class from test/ for evaluation, drawn with a seeded generator. The images are
written to a scratch folder only (their licence does not allow redistribution: never commit them). Then the chain
a user would run: preprocess (--aus-from-labels --assume-cropped) → train (a step budget, not epochs: ~100 faces
would otherwise get a few hundred steps) → expand → train-au → report → fer-eval, and a JSON of the protocol and
the result.
FER2013 has no subject ids, so every image counts as its own person (preprocess says so).

Train big, expand small (`--big-per-class N`): the editor is trained on N other train/ images per class (never one
of the K, OUT/big-data → OUT/big-work), and the K-per-class set is expanded with `expand --model` that file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

COMMIT = "8041c66ab"
CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def _git(repo: Path, *args: str, binary: bool = False):
    out = subprocess.run(["git", f"--git-dir={repo}", *args], check=True, capture_output=True)
    return out.stdout if binary else out.stdout.decode()


def list_images(repo: Path, split: str, label: str) -> list[tuple[str, str]]:
    """(blob sha, file name) of every image in <split>/<label>/ at COMMIT, sorted by name."""
    rows = [line.split(maxsplit=3) for line in _git(repo, "ls-tree", f"{COMMIT}:{split}/{label}").splitlines()]
    return sorted((sha, name) for _, kind, sha, name in rows if kind == "blob")


def extract(repo: Path, data: Path, per_class: dict[str, int], seed: int, exclude: set[str] = frozenset()) -> dict:
    """Write the drawn images into data/<split>/<label>/ and data/labels.csv (path,label,split); images whose
    <split>/<label>/<name> is in `exclude` are never drawn (the big set of --big-per-class skips the small one)."""
    rng = np.random.default_rng(seed)
    lines, counts = ["path,label,split"], {}
    for split, k in per_class.items():
        for label in CLASSES:
            blobs = [b for b in list_images(repo, split, label) if f"{split}/{label}/{b[1]}" not in exclude]
            picks = rng.choice(len(blobs), size=min(k, len(blobs)), replace=False)
            for i in sorted(picks):
                sha, name = blobs[i]
                rel = f"{split}/{label}/{name}"
                (data / rel).parent.mkdir(parents=True, exist_ok=True)
                (data / rel).write_bytes(_git(repo, "cat-file", "blob", sha, binary=True))
                lines.append(f"{rel},{label},{split}")
            counts[f"{split}/{label}"] = int(len(picks))
    (data / "labels.csv").write_text("\n".join(lines) + "\n")
    return counts


def split_first_k(data: Path, k: int, seed: int) -> dict:
    """Rewrite data/labels.csv so that K random images per class are the training split, the rest test (a
    small set drawn from the same folder as the test faces, none of them in both)."""
    rows = [line.split(",") for line in (data / "labels.csv").read_text().splitlines()[1:]]
    rng = np.random.default_rng(seed + 7)
    lines, counts = ["path,label,split"], {}
    for label in CLASSES:
        mine = [row for row in rows if row[1] == label]
        train = set(rng.choice(len(mine), size=min(k, len(mine)), replace=False).tolist())
        for i, (path, _, _) in enumerate(mine):
            split = "train" if i in train else "test"
            lines.append(f"{path},{label},{split}")
            counts[f"{split}/{label}"] = counts.get(f"{split}/{label}", 0) + 1
    (data / "labels.csv").write_text("\n".join(lines) + "\n")
    return counts


def faceaug(*args: str) -> None:
    print("$ faceaug " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "faceaug", *args], check=True)


def protocol_arguments(description: str, out: str) -> argparse.ArgumentParser:
    """The arguments of the chain both few-shot protocols run (this one and benchmarks.synth_fewshot)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--size", type=int, default=64, help="preprocess crop size")
    parser.add_argument("--gan-steps", type=int, default=9000, help="GANimation step budget (fast profile: 9000)")
    parser.add_argument("--gan-minutes", type=float, default=14.0, help="GANimation time budget (fast: 14; 0 = none)")
    parser.add_argument(
        "--per-class",
        type=int,
        default=100,
        help="generated images per class (100: about one edit of every training face; the fast "
        "profile edits distinct faces first)",
    )
    parser.add_argument("--config", type=Path, default=None, help="a faceaug --config TOML for train and expand")
    parser.add_argument("--regenerator", default="patch", help="expand --regenerator (patch | singan)")
    parser.add_argument(
        "--au-judge",
        default=None,
        help="faceaug train --au-judge; estimator: one trained first (seed + 1, "
        "WORK/models/au_judge.safetensors), the report's is another (seed)",
    )
    parser.add_argument("--fer-steps", type=int, default=600)
    parser.add_argument("--arms", default="original,classic,faceaug,faceaug+classic", help="fer-eval --arms")
    parser.add_argument(
        "--expand-args",
        default="",
        help="more `faceaug expand` arguments, space-separated (e.g. '--min-target-probability 0')",
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def config_args(args) -> list[str]:
    """--config FILE for train and expand, when the protocol was given one."""
    return ["--config", str(args.config)] if args.config else []


def train_editor(args, work: Path, config: list[str]) -> Path:
    """faceaug train on WORK with the protocol's budget and judge; the model file."""
    judge = ["--au-judge", args.au_judge] if args.au_judge else []
    if args.au_judge == "estimator":
        judge_file = work / "models" / "au_judge.safetensors"
        faceaug("train-au", str(work), "--seed", str(args.seed + 1), "--out", str(judge_file))
        judge += ["--au-estimator", str(judge_file)]
    faceaug(
        "train",
        str(work),
        "--steps",
        str(args.gan_steps),
        "--max-minutes",
        str(args.gan_minutes),
        "--seed",
        str(args.seed),
        *judge,
        *config,
    )
    return work / "models" / "ganimation.safetensors"


def _steps_done(model) -> int | None:
    """Training steps of a model trained by the protocol (its metrics.jsonl), None for the bundled editor."""
    metrics = Path(model).parent / "metrics.jsonl"
    return len(metrics.read_text().splitlines()) if str(model) != "bundled" and metrics.is_file() else None


def editor_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--editor",
        default="bundled",
        help="bundled (the editor that ships with faceaug, no train step: the default flow), "
        "finetune:N (the bundled one fine-tuned N steps on the training faces), train (train "
        "one on the protocol's training faces), or a model file",
    )


def run_chain(
    args, data: Path, classes, preprocess_extra: list[str], protocol: dict, model: Path | None = None
) -> dict:
    """preprocess → train → expand → train-au → report → fer-eval on DATA (labels.csv with a split column), then
    OUT/<name>.json with the protocol and the result; returns that summary. With `model` (an editor trained
    elsewhere: train big, expand small; or "bundled") the train step is skipped and expand gets `--model`."""
    started = time.time()
    work, expanded = args.out / "work", args.out / "expanded"
    faceaug(
        "preprocess",
        str(data),
        "--out",
        str(work),
        "--labels",
        str(data / "labels.csv"),
        *preprocess_extra,
        "--size",
        str(args.size),
        "--seed",
        str(args.seed),
    )
    config = config_args(args)
    if model is None:
        model = train_editor(args, work, config)
    elif str(model).startswith("finetune:"):  # fine-tune the bundled editor on the small set for N steps
        faceaug(
            "train",
            str(work),
            "--init",
            "bundled",
            "--steps",
            str(model).split(":")[1],
            "--max-minutes",
            "0",
            "--seed",
            str(args.seed),
        )
        model = work / "models" / "ganimation.safetensors"
    faceaug(
        "expand",
        str(work),
        "--au-preset",
        ",".join(classes),
        "--per-class",
        str(args.per_class),
        "--out",
        str(expanded),
        "--seed",
        str(args.seed),
        "--overwrite",
        "--regenerator",
        args.regenerator,
        "--model",
        str(model),
        *config,
        *args.expand_args.split(),
    )
    faceaug("train-au", str(work), "--seed", str(args.seed))
    faceaug("report", str(expanded))
    faceaug(
        "fer-eval",
        str(work),
        "--expanded",
        str(expanded),
        "--seeds",
        str(args.seeds),
        "--steps",
        str(args.fer_steps),
        "--arms",
        args.arms,
    )
    result = json.loads((expanded / "fer-eval.json").read_text())
    summary = {
        "protocol": {
            **protocol,
            **vars(args),
            "out": str(args.out),
            "config": str(args.config) if args.config else None,
            "config_text": args.config.read_text() if args.config else None,
            "model": str(model),
            "gan_steps_done": _steps_done(model),
        },
        "report": json.loads((expanded / "report.json").read_text())["verdict"],
        "accuracy": {arm: v["accuracy"] for arm, v in result["arms"].items()},
        "macro_f1": {arm: v["macro_f1"] for arm, v in result["arms"].items()},
        "gains": result["gains"]["accuracy"],
        "seconds": round(time.time() - started),
    }
    name = protocol["name"]
    (args.out / f"{name}.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(json.dumps(summary["accuracy"], indent=2))
    return summary


def main() -> None:
    parser = protocol_arguments(__doc__.splitlines()[0], "fer2013-run")
    parser.add_argument("--repo", type=Path, required=True, help="git directory of RecepTahirGunlu/Duygu-Tanima")
    parser.add_argument("--k", type=int, default=15, help="training images per class")
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument(
        "--small-from",
        choices=("train", "test"),
        default="test",
        help="where the K-per-class set comes from: test (beside the test faces, never seen by the "
        "bundled editor, which was trained on all of train/) or train",
    )
    editor_argument(parser)
    parser.add_argument(
        "--big-per-class",
        type=int,
        default=0,
        help="train big, expand small: train the editor on this many other train/ images per "
        "class (OUT/big-work), then expand the K-per-class set with --model (0 = off)",
    )
    args = parser.parse_args()
    data, extra = args.out / "data", ["--aus-from-labels", "--assume-cropped"]
    if args.small_from == "test":
        counts = extract(args.repo, data, {"test": args.k + args.test_per_class}, args.seed)
        counts = split_first_k(data, args.k, args.seed)
    else:
        counts = extract(args.repo, data, {"train": args.k, "test": args.test_per_class}, args.seed)
    protocol = {"name": "fer2013_fewshot", "repo_commit": COMMIT, "repo": str(args.repo), "images": counts}
    model = None if args.editor == "train" else args.editor
    if args.big_per_class:
        big_data, big_work = args.out / "big-data", args.out / "big-work"
        small = {line.split(",")[0] for line in (data / "labels.csv").read_text().splitlines()[1:]}
        protocol["big_images"] = extract(args.repo, big_data, {"train": args.big_per_class}, args.seed + 1, small)
        faceaug(
            "preprocess",
            str(big_data),
            "--out",
            str(big_work),
            "--labels",
            str(big_data / "labels.csv"),
            *extra,
            "--size",
            str(args.size),
            "--seed",
            str(args.seed),
        )
        model = train_editor(args, big_work, config_args(args))
    run_chain(args, data, CLASSES, extra, protocol, model)


if __name__ == "__main__":
    main()
