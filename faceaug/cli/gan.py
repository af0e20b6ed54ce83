"""The generator commands: `train` (GANimation), `import-ganimation` (published weights) and `singan` (one face's
SinGAN and its samples)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from faceaug.cli.app import command
from faceaug.cli.options import (
    ConfigDeviceOpt,
    ConfigOpt,
    ConfigSeedOpt,
    ProfileOpt,
    SinganMode,
    choices,
    positive,
    require_work_dir,
    resolve,
)
from faceaug.config import AU_JUDGES, FINE_TUNE_STEPS, train_steps_flag
from faceaug.io.lock import writing

AuJudge = choices("AuJudge", AU_JUDGES)


@command()
def train(
    work_dir: Annotated[Path, typer.Argument(help="Work folder made by `faceaug preprocess`.")],
    epochs: Annotated[Optional[int], typer.Option(help="Epochs at constant learning rate.")] = None,
    epochs_decay: Annotated[Optional[int], typer.Option(help="Epochs of linear learning-rate decay.")] = None,
    steps: Annotated[
        Optional[int],
        typer.Option(
            help="Training steps whatever the dataset size (the fast profile's budget: 9000; 0 = count --epochs)."
        ),
    ] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Batch size.")] = None,
    image_size: Annotated[Optional[int], typer.Option(help="Training image side in pixels.")] = None,
    max_minutes: Annotated[
        Optional[float], typer.Option(help="Stop (and save) after this many minutes, decayed (fast: 14; 0 = no limit).")
    ] = None,
    au_judge: Annotated[
        Optional[AuJudge],
        typer.Option(
            help="What reads the generator's AUs: critic (its own AU head, the paper), frozen (a copy of it chosen on "
            "held-out people) or estimator (the AU estimator of train-au)."
        ),
    ] = None,
    au_estimator: Annotated[
        Optional[Path],
        typer.Option(help="With --au-judge estimator: its file [default: WORK_DIR/models/au_estimator.safetensors]."),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint.")] = False,
    init: Annotated[
        Optional[str],
        typer.Option(
            help="Fine-tune: start the generator from this model file, or 'bundled' (the editor that ships with "
            f"faceaug); its architecture is used, and --steps defaults to {FINE_TUNE_STEPS}."
        ),
    ] = None,
    device: ConfigDeviceOpt = None,
    seed: ConfigSeedOpt = None,
    profile: ProfileOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Train GANimation (AU-conditioned expression editing) on the train split of WORK_DIR, from scratch or
    fine-tuned from a trained editor (--init bundled)."""
    cfg = resolve(
        profile,
        config,
        seed,
        device,
        {
            "--epochs": ("ganimation.epochs", epochs),
            "--epochs-decay": ("ganimation.epochs_decay", epochs_decay),
            "--steps": ("ganimation.steps", train_steps_flag(steps, epochs, fine_tuning=init is not None)),
            "--batch-size": ("ganimation.batch_size", batch_size),
            "--image-size": ("ganimation.image_size", image_size),
            "--max-minutes": ("ganimation.max_minutes", max_minutes),
            "--au-judge": ("ganimation.au_judge", au_judge),
            "--au-estimator": ("ganimation.au_estimator", str(au_estimator) if au_estimator else None),
        },
    )
    from faceaug.commands.train import run_train

    require_work_dir(work_dir)
    # under torchrun every rank runs this command and rank 0 writes for all: it alone holds the lock
    with writing(work_dir / "models", "train", lock=os.environ.get("RANK", "0") == "0"):
        run_train(work_dir, cfg, resume=resume, init=init)


@command("import-ganimation")
def import_ganimation(
    checkpoint: Annotated[Path, typer.Argument(help="Generator weights published by ganimation_replicate.")],
    out: Annotated[
        Path,
        typer.Option("--out", help="Where to write the faceaug model, e.g. WORK_DIR/models/ganimation.safetensors."),
    ],
    image_size: Annotated[int, typer.Option(help="Image size the weights were trained at.")] = 128,
) -> None:
    """Convert published GANimation generator weights into a faceaug model file."""
    positive("--image-size", image_size)
    from faceaug.commands.import_ganimation import import_ganimation as do_import

    do_import(checkpoint, out, image_size=image_size)


SinganModeOpt = Annotated[
    Optional[SinganMode],
    typer.Option(
        "--mode",
        help="reconstruct: coarse scales replay the training image; inject: the downsampled "
        "image enters at the start scale.",
    ),
]


@command()
def singan(
    image: Annotated[Path, typer.Argument(help="One face image.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the samples and the model file.")],
    samples: Annotated[int, typer.Option(help="Number of samples to draw.")] = 8,
    start_scale: Annotated[
        Optional[int],
        typer.Option(
            help="0 = N (pure generation), 1 = N-1, 2 = N-2, ... [default: expand.start_scale of the config, 2 in both "
            "profiles]."
        ),
    ] = None,
    mode: SinganModeOpt = None,
    iters: Annotated[Optional[int], typer.Option(help="Training iterations per scale.")] = None,
    device: ConfigDeviceOpt = None,
    seed: ConfigSeedOpt = None,
    profile: ProfileOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Train a single-image SinGAN on one face and sample variants that keep its structure."""
    positive("--samples", samples)
    cfg = resolve(
        profile,
        config,
        seed,
        device,
        {
            "--iters": ("singan.iters_per_scale", iters),
            "--start-scale": ("expand.start_scale", start_scale),
            "--mode": ("expand.singan_mode", mode),
        },
    )
    from faceaug.commands.singan import run_singan_command

    run_singan_command(image, out, cfg, samples=samples)
