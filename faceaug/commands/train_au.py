"""`faceaug train-au WORK_DIR`: the AU estimator `faceaug report` judges edits with (faceaug.fer.au_estimator).

Writes WORK_DIR/models/au_estimator.safetensors (weights + what it learned from + held-out errors) and
au_estimator.json beside it (the same facts for people and scripts), then prints the held-out error per AU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.table import Table

from faceaug.aus import AU_NAMES, LABEL_PROTOTYPE
from faceaug.console import console, info, progress, warn
from faceaug.device import resolve_device
from faceaug.errors import UserError
from faceaug.fer.au_estimator import default_au_estimator_path
from faceaug.fer.au_train import AuTrainSettings, heldout_report, split_heldout, train_au_estimator
from faceaug.io.atomic import write_json_atomic
from faceaug.io.images import read_image
from faceaug.preprocess.work_dir import data_dir_of
from faceaug.schema import read_table

PROTOTYPE_NOTE = (
    "The faces' AUs are label prototypes (--aus-from-labels): the estimator only learned one AU "
    "vector per class, so it measures whether an image looks like its class, not real AU intensities."
)


@dataclass
class TrainAuRequest:
    work_dir: Path
    out: Path | None = None
    steps: int = 800
    image_size: int = 48
    seed: int = 0
    device: str = "auto"


def _synthetic_truth(work_dir: Path) -> bool:
    """Whether WORK_DIR was made from a `faceaug synth` world (its AUs are then the renderer's exact values)."""
    data_dir = data_dir_of(work_dir)
    return data_dir is not None and (data_dir / "synth.json").is_file()


def run_train_au(request: TrainAuRequest) -> dict:
    started = time.perf_counter()
    work_dir = Path(request.work_dir)
    if request.steps < 1 or request.image_size < 16:
        raise UserError("--steps must be positive and --image-size at least 16.")
    faces = read_table(work_dir / "faces.parquet", "faces")
    train, heldout, how = split_heldout(faces, request.seed)
    load = lambda rows: np.stack([read_image(work_dir / p) for p in rows["image_path"]])  # noqa: E731
    train_images, heldout_images = load(train), load(heldout)
    train_aus, heldout_aus = (rows[list(AU_NAMES)].to_numpy(np.float32) for rows in (train, heldout))
    settings = AuTrainSettings(steps=request.steps, image_size=request.image_size)
    device = resolve_device(request.device)
    info(f"Training the AU estimator on {len(train)} faces, holding out {len(heldout)} ({how}).")
    with progress() as bar:
        task = bar.add_task("train AU estimator", total=settings.steps)
        est = train_au_estimator(
            train_images, train_aus, settings, seed=request.seed, device=device, on_step=lambda _: bar.advance(task)
        )
    sources = sorted(faces["au_source"].unique())
    est.heldout = heldout_report(est, heldout_images, heldout_aus, train_aus, device, how)
    est.training.update(
        {
            "au_source": sources,
            "synthetic_truth": _synthetic_truth(work_dir),
            "work_dir": str(work_dir),
            "seconds": round(time.perf_counter() - started, 1),
        }
    )
    path = Path(request.out) if request.out else default_au_estimator_path(work_dir)
    est.save(path)
    write_json_atomic(est.header(), path.with_suffix(".json"))
    _print(est.heldout, sources)
    if LABEL_PROTOTYPE in sources:
        warn(PROTOTYPE_NOTE)
    info(
        f"AU estimator: {path} (held-out MAE {est.heldout['mae']:.3f}, always-the-mean "
        f"{est.heldout['baseline']['mae']:.3f}; {time.perf_counter() - started:.0f} s)"
    )
    return est.header()


def _print(heldout: dict, sources: list[str]) -> None:
    table = Table(title=f"AU estimator: error on {heldout['n']} held-out faces")
    for column in ("AU", "MAE", "always the mean"):
        table.add_column(column, justify="left" if column == "AU" else "right")
    for au in AU_NAMES:
        table.add_row(au, f"{heldout[f'mae_{au}']:.3f}", f"{heldout['baseline'][f'mae_{au}']:.3f}")
    table.add_row("all", f"{heldout['mae']:.3f}", f"{heldout['baseline']['mae']:.3f}", style="bold")
    console.print(table)
