"""Rebuild the expression editor bundled in faceaug from the public FER2013 mirror.

    python -m benchmarks.train_bundled --repo /work/.mirror/RecepTahirGunlu+Duygu-Tanima/repo --out bundled-run

Reads every image of train/ at the protocol's commit straight from git (`git archive`, nothing is committed), then
the chain a user would run: `faceaug preprocess --aus-from-labels --assume-cropped --size 64`, `faceaug train
--config benchmarks/bundled_editor.toml` (resumable: run the same command again to continue), and with `--install`
writes the model file into the package (faceaug/pretrained/) with its data provenance in the header. test/ is never
read: the protocols that judge the editor draw their faces from there.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from benchmarks.fer2013_fewshot import CLASSES, COMMIT

RECIPE = Path(__file__).with_name("bundled_editor.toml")
PACKAGE_DIR = Path(__file__).resolve().parent.parent / "faceaug" / "pretrained"
REPO_URL = "https://github.com/RecepTahirGunlu/Duygu-Tanima"


def preprocess_fer(data: Path, work: Path, seed: int) -> None:
    """`faceaug preprocess` of extracted FER2013 faces (labels only, pre-cropped) at 64 px, from scratch."""
    faceaug(
        "preprocess", str(data), "--out", str(work), "--labels", str(data / "labels.csv"), "--aus-from-labels",
        "--assume-cropped", "--size", "64", "--seed", str(seed), "--overwrite",
    )  # fmt: skip


def extract_train(repo: Path, data: Path) -> int:
    """Write train/<class>/*.png of COMMIT into `data` and data/labels.csv (path,label,split); the image count."""
    archive = subprocess.run(
        ["git", f"--git-dir={repo}", "archive", "--format=tar", COMMIT, "train"], check=True, capture_output=True
    ).stdout
    lines = ["path,label,split"]
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) != 3 or parts[1] not in CLASSES:
                continue
            target = data / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())
            lines.append(f"{member.name},{parts[1]},train")
    (data / "labels.csv").write_text("\n".join(lines) + "\n")
    return len(lines) - 1


def faceaug(*args: str) -> None:
    print("$ faceaug " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "faceaug", *args], check=True)


def train_judge(args, work: Path) -> Path:
    """Train the expression judge on the editor's training faces (WORK's train split, grey 48 px, classic
    augmentation, class-balanced batches) and score it on FER2013 test/ faces (a seeded draw of --judge-test per
    class, preprocessed like the training faces); writes it into the package."""
    import numpy as np
    import torch

    from faceaug.fer.augment import classic_pipeline
    from faceaug.fer.dataset import ManifestDataset
    from faceaug.fer.expression_judge import ExpressionJudge
    from faceaug.fer.train import FerTrainSettings, predict, scores, train_classifier
    from faceaug.pretrained import JUDGE_FILE

    test_data, test_work = args.out / "judge-test-data", args.out / "judge-test-work"
    if not (test_work / "faces.parquet").is_file():
        from benchmarks.fer2013_fewshot import extract

        extract(args.repo, test_data, {"test": args.judge_test}, args.seed + 100)
        preprocess_fer(test_data, test_work, args.seed)
    labels = CLASSES
    settings = FerTrainSettings(steps=args.judge_steps, batch_size=64, width=args.judge_width)
    train = ManifestDataset(
        work / "faces.parquet",
        split="train",
        labels=labels,
        image_size=48,
        greyscale=True,
        transform=classic_pipeline(seed=args.seed),
        preload=True,
    )
    started = time.time()
    net = train_classifier([train], len(labels), settings, seed=args.seed, device=torch.device("cpu"))
    test = ManifestDataset(
        test_work / "faces.parquet", split="test", labels=labels, image_size=48, greyscale=True, preload=True
    )
    heldout = scores(test.targets, predict(net, test, torch.device("cpu")), len(labels))
    judge = ExpressionJudge(
        net=net,
        image_size=48,
        labels=labels,
        heldout={
            "faces": len(test),
            "source": f"{REPO_URL} test/ at {COMMIT}",
            **{k: v for k, v in heldout.items() if k != "confusion"},
            "confusion": np.asarray(heldout["confusion"]).tolist(),
        },
        training={
            "faces": len(train),
            "source": f"{REPO_URL} train/ at {COMMIT}",
            "steps": settings.steps,
            "batch_size": settings.batch_size,
            "width": settings.width,
            "seed": args.seed,
            "minutes": round((time.time() - started) / 60, 1),
        },
    )
    path = judge.save(PACKAGE_DIR / JUDGE_FILE)
    print(
        f"expression judge: accuracy {heldout['accuracy']:.3f}, macro-F1 {heldout['macro_f1']:.3f} on "
        f"{len(test)} FER2013 test/ faces; {path}"
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="git directory of RecepTahirGunlu/Duygu-Tanima")
    parser.add_argument("--out", type=Path, default=Path("bundled-run"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--install", action="store_true", help="write the trained model into faceaug/pretrained/ (the bundled editor)"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="with --install: a JSON of measured results to record in the model file's card",
    )
    parser.add_argument(
        "--cycles",
        type=int,
        default=2,
        help="training cycles of the recipe's steps, each resumed from the last with its learning rate restarted "
        "(the bundled editor: 2)",
    )
    parser.add_argument(
        "--judge", action="store_true", help="train the expression judge (on the same faces) instead of the editor"
    )
    parser.add_argument("--judge-steps", type=int, default=4000)
    parser.add_argument("--judge-width", type=int, default=16)
    parser.add_argument("--judge-test", type=int, default=200, help="FER2013 test/ faces per class to score it on")
    args = parser.parse_args()
    data, work = args.out / "data", args.out / "work"
    if not (work / "faces.parquet").is_file():
        count = extract_train(args.repo, data)
        print(f"{count} FER2013 train/ images at {COMMIT}", flush=True)
        preprocess_fer(data, work, args.seed)
    if args.judge:
        train_judge(args, work)
        return
    train_cycles(work, args.cycles, args.seed)
    if args.install:
        path = install_bundled(
            work / "models" / "ganimation.safetensors",
            {
                "data": {
                    "source": REPO_URL,
                    "commit": COMMIT,
                    "folder": "train/",
                    "classes": list(CLASSES),
                    "licence": "FER2013 is distributed for research use; its images are not redistributed here",
                },
                "recipe": {
                    "command": f"python -m benchmarks.train_bundled --repo REPO --seed {args.seed} --install",
                    "config": RECIPE.read_text(),
                    "cycles": args.cycles,
                },
            },
            args.results,
        )
        print(f"installed {path}")


def train_cycles(work: Path, cycles: int, seed: int) -> None:
    """`faceaug train` of the recipe, then `cycles - 1` more cycles of its steps: cycle k resumes the run to k × the
    recipe's steps, so its learning rate is back at the recipe's until the last 30 % of the run so far, where it decays
    to 0 again (a warm restart). Resumable: cycles whose steps the work folder's model already has are skipped."""
    from faceaug.config import resolve_config
    from faceaug.models.ganimation_file import GanimationModel

    steps = resolve_config(config_file=RECIPE).ganimation.steps  # the recipe as `faceaug train --config` reads it
    model, checkpoint = work / "models" / "ganimation.safetensors", work / "models" / "checkpoints" / "last.pt"
    for cycle in range(1, cycles + 1):
        if model.is_file() and GanimationModel.load(model).provenance["training"]["steps"] >= cycle * steps:
            continue
        resume = ["--resume"] if checkpoint.is_file() else []
        more = ["--steps", str(cycle * steps), "--max-minutes", "0"] if cycle > 1 else []
        faceaug("train", str(work), "--config", str(RECIPE), "--seed", str(seed), *more, *resume)


def install_bundled(model_file: Path, card: dict, results: Path | None = None) -> Path:
    """Copy a trained model file into the package as the bundled editor, its card (data, recipe, and the measured
    results of `results`, a JSON file, when given) in the header's provenance."""
    from faceaug.models.ganimation_file import GanimationModel
    from faceaug.pretrained import BUNDLED_FILE, BUNDLED_NAME

    model = GanimationModel.load(model_file)
    card = {"name": BUNDLED_NAME, **card}
    if results is not None:
        card["results"] = json.loads(results.read_text())
    model.provenance = {**model.provenance, "card": card}
    return model.save(PACKAGE_DIR / BUNDLED_FILE)


if __name__ == "__main__":
    main()
