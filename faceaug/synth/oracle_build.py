"""Build, measure and save the two oracles (AU regressor, emotion classifier) on aligned synthetic faces.

Flow: a `faceaug synth` dataset → aligned crops (the preprocess crop function `align_face`, or the crops of a
`faceaug preprocess` work folder) → split by subject → train on the training subjects (plus, for the AU regressor,
extra renders of the *training* subjects with random sparse AU vectors, so it does not learn the presets'
co-occurrences) → measure on the held-out subjects → save safetensors + a JSON report. Both oracles are trained
multi-task (AUs + class, see faceaug.synth.oracle). The report also scores the held-out subjects' faces cropped
directly at 64 px (what `faceaug preprocess --size 64` gives GANimation) next to the 128 px crops.

    python -m faceaug.synth.oracle_build --out /work/oracles            # synth 32 subjects × 8 classes × 8 first
    python -m faceaug.synth.oracle_build --synth DATA --out DIR         # an existing synth dataset
    python -m faceaug.synth.oracle_build --work WORK_DIR --out DIR      # crops from `faceaug preprocess`
    python -m faceaug.synth.oracle_build --synth DATA --out DIR --emotion-epochs 0   # re-train the AU oracle only

On 2 shared cores with --threads 2 the default build (45 AU + 30 emotion epochs, 800 random-AU renders) takes
about 30 min.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from faceaug.aus import AU_NAMES, N_AUS, parse_au_spec
from faceaug.console import info, progress
from faceaug.errors import UserError
from faceaug.io.atomic import write_json_atomic
from faceaug.io.images import read_image
from faceaug.io.openface import read_openface_csv
from faceaug.preprocess.align import align_face
from faceaug.splits import held_out_subjects
from faceaug.synth.dataset import write_dataset
from faceaug.synth.identity import Identity
from faceaug.synth.oracle import AuOracle, EmotionOracle, train_au_oracle, train_emotion_oracle
from faceaug.synth.render import render_face
from faceaug.synth.world import sample_pose

CROP_SIZE = 128  # the preprocess default crop; the oracles resize to 64 px themselves


@dataclass
class FaceSet:
    images: np.ndarray  # (N, S, S, 3) uint8 aligned crops
    aus: np.ndarray  # (N, 17) float32
    labels: np.ndarray  # (N,) str
    subjects: np.ndarray  # (N,) str

    def take(self, mask: np.ndarray) -> FaceSet:
        return FaceSet(self.images[mask], self.aus[mask], self.labels[mask], self.subjects[mask])


def load_synth_crops(synth_dir: Path, crop_size: int = CROP_SIZE) -> FaceSet:
    """Align every image of a synth dataset with its CSV landmarks (exactly as preprocess does)."""
    synth_dir = Path(synth_dir)
    table = synth_dir / "images.parquet"
    if not table.exists():
        raise UserError(f"{synth_dir} has no images.parquet: is it a `faceaug synth` dataset?")
    df = pd.read_parquet(table)
    crops = np.empty((len(df), crop_size, crop_size, 3), np.uint8)
    with progress() as bar:
        task = bar.add_task("aligning faces", total=len(df))
        for i, rel in enumerate(df["path"]):
            face = read_openface_csv(synth_dir / Path(rel).with_suffix(".csv"))[0]
            crops[i] = align_face(read_image(synth_dir / rel), face.landmarks, crop_size).crop
            bar.advance(task)
    return FaceSet(
        crops, df[list(AU_NAMES)].to_numpy(np.float32), df["label"].to_numpy(str), df["subject"].to_numpy(str)
    )


def load_work_faces(work_dir: Path) -> FaceSet:
    """The aligned crops and AUs of a `faceaug preprocess` work folder (faces.parquet)."""
    work_dir = Path(work_dir)
    table = work_dir / "faces.parquet"
    if not table.exists():
        raise UserError(f"{work_dir} has no faces.parquet: run `faceaug preprocess` first.")
    df = pd.read_parquet(table)
    images = np.stack([read_image(work_dir / p) for p in df["image_path"]])
    return FaceSet(
        images, df[list(AU_NAMES)].to_numpy(np.float32), df["label"].to_numpy(str), df["subject"].to_numpy(str)
    )


def random_au_vectors(rng: np.random.Generator, n: int, active_prob: float = 0.3) -> np.ndarray:
    """Sparse random AU vectors: each AU on with `active_prob`, at U(0, 1)."""
    on = rng.random((n, N_AUS)) < active_prob
    return np.where(on, rng.uniform(0, 1, (n, N_AUS)), 0.0).astype(np.float32)


def render_random_au_crops(
    identities: list[Identity], n: int, seed: int, *, render_size: int = 128, crop_size: int = CROP_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """`n` renders of the given identities with random AUs and poses, aligned like preprocess does."""
    rng = np.random.default_rng([seed, 7])
    aus = random_au_vectors(rng, n)
    crops = np.empty((n, crop_size, crop_size, 3), np.uint8)
    with progress() as bar:
        task = bar.add_task("rendering random-AU faces", total=n)
        for i in range(n):
            idn = identities[int(rng.integers(len(identities)))]
            rgb, lm = render_face(idn, aus[i], render_size, sample_pose(rng), rng=rng)
            crops[i] = align_face(rgb, lm, crop_size).crop
            bar.advance(task)
    return crops, aus


def au_scores(pred: np.ndarray, truth: np.ndarray, train_mean: np.ndarray) -> dict:
    err = np.abs(pred - truth)
    return {
        "mae": float(err.mean()),
        "baseline_mae_train_mean": float(np.abs(train_mean - truth).mean()),
        "per_au_mae": {au: round(float(e), 4) for au, e in zip(AU_NAMES, err.mean(0))},
    }


def emotion_scores(pred: np.ndarray, truth: np.ndarray) -> dict:
    classes = sorted(set(truth))
    per_class = {c: round(float((pred[truth == c] == c).mean()), 4) for c in classes}
    return {"accuracy": float((pred == truth).mean()), "per_class_accuracy": per_class}


def build_oracles(
    data: FaceSet,
    out_dir: Path,
    *,
    identities: list[Identity] | None = None,
    extra_random: int = 0,
    test_fraction: float = 0.25,
    epochs: int = 30,
    emotion_epochs: int = 30,
    seed: int = 0,
    device: str = "cpu",
    test_64: np.ndarray | None = None,
) -> dict:
    """Train both oracles on the training subjects of `data`, measure them on the held-out ones, save them.

    `test_64`: optional (N, 64, 64, 3) crops of all of `data` aligned directly at 64 px (scored separately).
    `emotion_epochs=0` re-trains the AU oracle only (an emotion oracle and its report section in `out_dir` stay).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    test = held_out_subjects(data.subjects, test_fraction, seed)
    train_set, test_set = data.take(~test), data.take(test)
    report = {
        "images": len(data.aus),
        "train_images": int((~test).sum()),
        "test_images": int(test.sum()),
        "train_subjects": sorted(map(str, set(train_set.subjects))),
        "test_subjects": sorted(map(str, set(test_set.subjects))),
        "epochs": epochs,
        "emotion_epochs": emotion_epochs,
        "seed": seed,
        "threads": torch.get_num_threads(),
    }
    if emotion_epochs > 0:
        started = time.time()
        emotion = train_emotion_oracle(
            train_set.images, list(train_set.labels), aus=train_set.aus, seed=seed, epochs=emotion_epochs, device=device
        )
        report["emotion_oracle"] = {
            "train_seconds": round(time.time() - started, 1),
            "held_out_dataset": emotion_scores(emotion.predict(test_set.images), test_set.labels),
        }
        if test_64 is not None:
            report["emotion_oracle"]["held_out_dataset_64px_crops"] = emotion_scores(
                emotion.predict(test_64[test]), test_set.labels
            )
        emotion.meta.update(test_accuracy=report["emotion_oracle"]["held_out_dataset"]["accuracy"])
        emotion.save(out_dir / "emotion_oracle.safetensors")
        write_json_atomic(report, out_dir / "oracle_report.json")  # partial: the AU oracle follows
        info(f"Emotion oracle: held-out accuracy {report['emotion_oracle']['held_out_dataset']['accuracy']:.4f}")
    elif (out_dir / "oracle_report.json").exists():
        previous = json.loads((out_dir / "oracle_report.json").read_text())
        report["emotion_oracle"] = previous.get("emotion_oracle")
        report["emotion_epochs"] = previous.get("emotion_epochs")

    au_images, au_targets, au_labels = train_set.images, train_set.aus, list(train_set.labels)
    random_test = None
    if extra_random and identities:
        train_ids = [identities[int(s[1:])] for s in sorted(set(train_set.subjects))]
        test_ids = [identities[int(s[1:])] for s in sorted(set(test_set.subjects))]
        extra_x, extra_y = render_random_au_crops(train_ids, extra_random, seed)
        au_images, au_targets = np.concatenate([au_images, extra_x]), np.concatenate([au_targets, extra_y])
        au_labels += [None] * len(extra_y)  # random AU vectors belong to no class
        random_test = render_random_au_crops(test_ids, max(200, extra_random // 5), seed + 1)
    report["extra_random_au_images"] = int(len(au_targets) - len(train_set.aus))
    started = time.time()
    au = train_au_oracle(au_images, au_targets, labels=au_labels, seed=seed, epochs=epochs, device=device)
    train_mean = au_targets.mean(0)
    report["au_oracle"] = {
        "train_seconds": round(time.time() - started, 1),
        "held_out_dataset": au_scores(au.predict(test_set.images), test_set.aus, train_mean),
    }
    if test_64 is not None:
        report["au_oracle"]["held_out_dataset_64px_crops"] = au_scores(
            au.predict(test_64[test]), test_set.aus, train_mean
        )
    if random_test is not None:
        report["au_oracle"]["held_out_random_aus"] = au_scores(au.predict(random_test[0]), random_test[1], train_mean)
    au.meta.update(test_mae=report["au_oracle"]["held_out_dataset"]["mae"])
    au.save(out_dir / "au_oracle.safetensors")
    write_json_atomic(report, out_dir / "oracle_report.json")
    return report


def load_oracles(out_dir: Path, device: str = "cpu") -> tuple[AuOracle, EmotionOracle]:
    out_dir = Path(out_dir)
    return (
        AuOracle.load(out_dir / "au_oracle.safetensors", device=device),
        EmotionOracle.load(out_dir / "emotion_oracle.safetensors", device=device),
    )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m faceaug.synth.oracle_build", description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--synth", type=Path, help="an existing `faceaug synth` dataset")
    src.add_argument("--work", type=Path, help="a `faceaug preprocess` work folder made from a synth dataset")
    ap.add_argument("--out", type=Path, required=True, help="where the oracle weights and report go")
    ap.add_argument("--subjects", type=int, default=32, help="without --synth/--work: subjects to synthesise")
    ap.add_argument("--per-class", type=int, default=8, help="without --synth/--work: images per subject and class")
    ap.add_argument("--extra-random", type=int, default=800, help="random-AU renders added to the AU training set")
    ap.add_argument("--epochs", type=int, default=45, help="AU-regressor epochs")
    ap.add_argument(
        "--emotion-epochs", type=int, default=30, help="emotion-classifier epochs (0: re-train the AU oracle only)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    synth_dir = args.synth
    if args.work is None and synth_dir is None:
        synth_dir = args.out / "synth"
        if not (synth_dir / "synth.json").exists():
            write_dataset(
                synth_dir,
                subjects=args.subjects,
                per_class=args.per_class,
                size=128,
                classes=parse_au_spec("all"),
                seed=args.seed,
                overwrite=True,
            )
    identities, test_64 = None, None
    if args.work is not None:
        data = load_work_faces(args.work)
    else:
        data = load_synth_crops(synth_dir)
        test_64 = load_synth_crops(synth_dir, 64).images
        ids = pd.read_parquet(synth_dir / "identities.parquet").sort_values("subject")
        identities = [Identity.from_record(r) for r in ids.to_dict("records")]
    report = build_oracles(
        data,
        args.out,
        identities=identities,
        extra_random=args.extra_random,
        epochs=args.epochs,
        emotion_epochs=args.emotion_epochs,
        seed=args.seed,
        test_64=test_64,
    )
    au, emo = report["au_oracle"], report.get("emotion_oracle")
    if emo:
        info(f"Emotion oracle: held-out accuracy {emo['held_out_dataset']['accuracy']:.4f}")
    info(
        f"AU oracle: held-out MAE {au['held_out_dataset']['mae']:.4f} "
        f"(baseline {au['held_out_dataset']['baseline_mae_train_mean']:.4f})"
        + (f", random AUs {au['held_out_random_aus']['mae']:.4f}" if "held_out_random_aus" in au else "")
    )
    info(
        f"Saved {args.out / 'au_oracle.safetensors'}, {args.out / 'emotion_oracle.safetensors'}, "
        f"{args.out / 'oracle_report.json'}"
    )
    return report


if __name__ == "__main__":
    main()
