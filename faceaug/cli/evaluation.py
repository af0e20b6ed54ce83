"""The evaluation commands: `fer-eval` (does the expansion help a classifier), `train-au` (the AU estimator that
judges edits) and `report` (what a dataset or an expansion holds, and how good it is)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from faceaug.cli.app import command
from faceaug.cli.options import DeviceOpt, choices
from faceaug.config import GREYSCALE_CHOICES
from faceaug.errors import UserError

Greyscale = choices("Greyscale", GREYSCALE_CHOICES)


@command("fer-eval")
def fer_eval(
    work_dir: Annotated[
        Path, typer.Argument(help="Work folder made by `faceaug preprocess` (its test split is the test set).")
    ],
    expanded: Annotated[
        Optional[Path],
        typer.Option(help="Output folder of `faceaug expand` (its manifest.parquet holds the generated images)."),
    ] = None,
    arms: Annotated[str, typer.Option(help="Comma list of arms: original, classic, faceaug, faceaug+classic.")] = (
        "original,classic,faceaug,faceaug+classic"
    ),
    seeds: Annotated[int, typer.Option(help="Seeds per arm (the classifier is trained once per arm and seed).")] = 3,
    steps: Annotated[
        Optional[int],
        typer.Option(
            help="Optimisation steps per training run [default: 20 passes over the arm's training images, at least "
            "600]."
        ),
    ] = None,
    lr: Annotated[
        Optional[float],
        typer.Option(
            help="Peak learning rate of every run (AdamW, cosine decay) "
            "[default: the classifier's, 2e-3]; lower it when the 'fit' column "
            "(real training faces read right) is red."
        ),
    ] = None,
    image_size: Annotated[int, typer.Option(help="Side the classifier sees, in pixels.")] = 48,
    greyscale: Annotated[
        Greyscale, typer.Option(help="Train on grey images: auto = when the real faces are grey.")
    ] = Greyscale.auto,
    # the same flag in American spelling, kept working for existing scripts but not listed in --help
    grayscale: Annotated[Optional[Greyscale], typer.Option("--grayscale", hidden=True)] = None,
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out", help="Folder for fer-eval.json and fer-eval.png [default: the expand folder, else WORK_DIR]."
        ),
    ] = None,
    device: DeviceOpt = "auto",
) -> None:
    """Measure whether the generated faces help a facial-expression classifier: the same compact CNN per arm and
    seed, scored on the test split's real faces (accuracy, macro-F1, paired gains)."""
    from faceaug.commands.fer_eval import FerEvalRequest, run_fer_eval

    run_fer_eval(
        FerEvalRequest(
            work_dir=work_dir,
            expanded=expanded,
            arms=arms,
            seeds=seeds,
            steps=steps,
            lr=lr,
            image_size=image_size,
            greyscale=(grayscale or greyscale).value,
            device=device,
            out_dir=out,
        )
    )


@command("train-au")
def train_au(
    work_dir: Annotated[Path, typer.Argument(help="Work folder made by `faceaug preprocess`.")],
    out: Annotated[
        Optional[Path], typer.Option("--out", help="Model file [default: WORK_DIR/models/au_estimator.safetensors].")
    ] = None,
    steps: Annotated[int, typer.Option(help="Optimisation steps.")] = 800,
    image_size: Annotated[int, typer.Option(help="Side the estimator sees, in pixels.")] = 48,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Train the AU estimator `faceaug report` judges edits with: a small CNN regressor of the 17 AUs, trained on
    the train split's real faces and measured on held-out subjects (independent of GANimation's critic)."""
    from faceaug.commands.train_au import TrainAuRequest, run_train_au

    run_train_au(
        TrainAuRequest(work_dir=work_dir, out=out, steps=steps, image_size=image_size, seed=seed, device=device)
    )


@command("report")
def report(
    path: Annotated[Path, typer.Argument(help="A WORK_DIR, an expand OUT_DIR or a manifest.parquet.")],
    html: Annotated[
        Optional[Path],
        typer.Option(
            "--html", help="Where to write the HTML page [default: report.html next to the manifest, else in WORK_DIR]."
        ),
    ] = None,
    metrics: Annotated[
        bool,
        typer.Option(
            "--metrics/--no-metrics",
            help="Score every image (metrics.parquet); --no-metrics gives counts and contact sheets only.",
        ),
    ] = True,
    au_estimator: Annotated[
        Optional[Path], typer.Option(help="AU estimator file [default: WORK_DIR/models/au_estimator.safetensors].")
    ] = None,
    inception_weights: Annotated[
        Optional[Path],
        typer.Option(
            help="pytorch-fid InceptionV3 weights "
            "(pt_inception-2015-12-05-6726825d.pth) for SIFID "
            "[default: the torch hub cache]."
        ),
    ] = None,
    openface_dir: Annotated[
        Optional[Path],
        typer.Option(
            help="OpenFace CSVs measured on the generated images (<image id>.csv), used instead of the AU estimator."
        ),
    ] = None,
    sifid_dims: Annotated[
        int, typer.Option(help="SIFID features: 64 (the official SinGAN code) or 192 (the paper's text).")
    ] = 64,
    device: DeviceOpt = "cpu",
) -> None:
    """Show what a dataset or an expansion holds and whether the generated faces are any good: a verdict, counts,
    warnings, per-image metrics (AUs achieved, face rate, variety, SIFID) and one self-contained HTML page."""
    from faceaug.commands.report import ReportRequest, run_report

    if sifid_dims not in (64, 192):
        raise UserError("--sifid-dims must be 64 or 192.")
    run_report(
        ReportRequest(
            path=path,
            html=html,
            metrics=metrics,
            au_estimator=au_estimator,
            inception_weights=inception_weights,
            openface_dir=openface_dir,
            sifid_dims=sifid_dims,
            device=device,
        )
    )
