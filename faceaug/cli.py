"""The `faceaug` command line: parse flags, resolve the config, call one function per command. No logic here."""

from __future__ import annotations

import functools
import inspect
import os
import signal
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from faceaug import __version__
from faceaug.aus import parse_au_spec
from faceaug.config import (
    AU_JUDGES,
    EXECUTORS,
    EXPAND_MODES,
    FINE_TUNE_STEPS,
    GREYSCALE_CHOICES,
    LANDMARK_METHODS,
    PROFILE_NAMES,
    REGENERATORS,
    SECTIONS,
    SINGAN_MODES,
    SPLIT_BY,
    Config,
    resolve_config,
)
from faceaug.console import debug, set_verbosity, verbosity
from faceaug.errors import MachineFault, UserError, is_machine_fault
from faceaug.interrupts import stop_signals_interrupt
from faceaug.io.lock import writing

# Help texts are plain text: rich markup would swallow bracketed text such as "[default: ...]" or "faceaug[ray]".
app = typer.Typer(
    name="faceaug",
    help="Enlarge facial-expression datasets for FER training: GANimation edits faces to target Action Units, "
    "a single-image SinGAN per edited face samples more variants, a Parquet manifest lists them all.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
)
_errors = Console(stderr=True, highlight=False)


def _user_errors(fn: Callable) -> Callable:
    """Turn a UserError into one red sentence and its exit code (2), a fault of the machine (disk full, I/O
    error) into one sentence and exit code 1; anything else keeps its traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            with stop_signals_interrupt():
                result = fn(*args, **kwargs)
            debug(f"{fn.__name__.replace('_', '-')} finished in {time.perf_counter() - started:.1f} s")
            return result
        except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP: worker pools were stopped on the way out
            signum = getattr(exc, "signum", signal.SIGINT)
            _errors.print(
                f"interrupted ({signal.Signals(signum).name}): rerun the same command to continue; what "
                "was finished is kept.",
                soft_wrap=True,
            )
            raise typer.Exit(128 + signum) from None
        except OSError as exc:
            if not is_machine_fault(exc):
                raise
            fault = MachineFault.from_os_error(exc)
            _errors.print(f"[bold red]error:[/bold red] {escape(str(fault))}", soft_wrap=True)
            raise typer.Exit(fault.exit_code) from None
        except UserError as exc:
            _errors.print(f"[bold red]error:[/bold red] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and final output paths.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="More detail.")]


def _verbosity_flags(fn: Callable) -> Callable:
    """Give a command the -q/-v flags too, so they work after its name as well as before (`faceaug expand W -q`)."""
    signature = inspect.signature(fn, eval_str=True)
    flags = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False, annotation=annotation)
        for name, annotation in (("quiet", QuietOpt), ("verbose", VerboseOpt))
    ]

    @functools.wraps(fn)
    def wrapper(*args, quiet: bool = False, verbose: bool = False, **kwargs):
        if quiet or verbose:  # on top of the flags before the command name (already applied); -q wins
            set_verbosity(-1 if quiet or verbosity() < 0 else 1)
        return fn(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *flags])
    return wrapper


def command(name: str | None = None, **kwargs) -> Callable:
    """`app.command` with user-error handling and the -q/-v flags."""

    def decorate(fn: Callable) -> Callable:
        return app.command(name, **kwargs)(_verbosity_flags(_user_errors(fn)))

    return decorate


def _version(value: bool) -> None:
    if value:
        typer.echo(f"faceaug {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    set_verbosity(-1 if quiet else (1 if verbose else 0))


# ----------------------------------------------------------------------------------------------------------------
# Options shared by several commands (one definition each).


def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A str Enum of allowed names for typer, built from the tuple that is their one home (faceaug.config)."""
    return Enum(name, {value.replace("-", "_"): value for value in values}, type=str)


Profile = _choices("Profile", PROFILE_NAMES)


ProfileOpt = Annotated[
    Optional[Profile],
    typer.Option("--profile", help="Hyperparameter profile: 'fast' (CPU-feasible, default) or 'paper' (GPU)."),
]
ConfigOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--config",
        help="TOML file overriding the profile (sections: preprocess, ganimation, singan, "
        "expand, patch). Flags override the file.",
    ),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto (CUDA if present), cpu, cuda or cuda:N.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for every random draw.")]
ConfigSeedOpt = Annotated[
    Optional[int],
    typer.Option("--seed", help="Seed for every random draw [default: the config file's `seed`, else 0]."),
]


def _config(
    profile: Optional[Profile], config: Optional[Path], seed: Optional[int], device: str, **overrides
) -> Config:
    cfg = resolve_config(profile.value if profile else None, config, overrides, seed=seed, device=device)
    given = {k: v for k, v in overrides.items() if v is not None}
    debug(
        escape(
            f"config: profile {cfg.profile}, seed {cfg.seed}, device {cfg.device}"
            + (f", file {config}" if config else "")
            + (f", flags {given}" if given else "")
        )
    )
    for section in SECTIONS:
        debug(escape(f"  [{section}] " + ", ".join(f"{k}={v}" for k, v in getattr(cfg, section).__dict__.items())))
    return cfg


def _positive(name: str, value: Optional[float]) -> None:
    if value is not None and value <= 0:
        raise UserError(f"{name} must be positive, got {value}.")


def _require_work_dir(work_dir: Path) -> None:
    """Checked before a command takes the lock of a folder inside WORK_DIR (which would create WORK_DIR)."""
    if not work_dir.is_dir():
        raise UserError(f"Work folder {work_dir} does not exist. Run `faceaug preprocess DATA --out {work_dir}` first.")


def _non_negative(name: str, value: Optional[int]) -> None:
    if value is not None and value < 0:
        raise UserError(f"{name} must be 0 or more, got {value}.")


# ----------------------------------------------------------------------------------------------------------------
# Commands. Each resolves its config and calls exactly one function of the library.


@command()
def synth(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the synthetic dataset into.")],
    subjects: Annotated[int, typer.Option(help="Number of synthetic people.")] = 40,
    per_class: Annotated[int, typer.Option(help="Images per subject and class.")] = 10,
    size: Annotated[int, typer.Option(help="Image side in pixels.")] = 128,
    classes: Annotated[str, typer.Option(help="Classes: preset names, 'all', or custom AU specs.")] = "all",
    seed: SeedOpt = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing dataset in OUT_DIR.")] = False,
) -> None:
    """Make a synthetic face world with known AUs and landmarks (the layout `preprocess` reads)."""
    for name, value in (("--subjects", subjects), ("--per-class", per_class), ("--size", size)):
        _positive(name, value)
    target_classes = parse_au_spec(classes)
    from faceaug.commands.synth import run_synth

    with writing(out_dir, "synth"):
        run_synth(
            out_dir,
            subjects=subjects,
            per_class=per_class,
            size=size,
            classes=target_classes,
            seed=seed,
            overwrite=overwrite,
        )


SplitBy = _choices("SplitBy", SPLIT_BY)


Landmarks = _choices("Landmarks", LANDMARK_METHODS)


@command()
def preprocess(
    data_dir: Annotated[Path, typer.Argument(help="Folder of labelled face images (+ OpenFace CSVs).")],
    out: Annotated[Path, typer.Option("--out", help="Work folder to write faces/ and faces.parquet into.")],
    au_dir: Annotated[Optional[Path], typer.Option(help="Folder of OpenFace CSVs (OpenFace's processed/).")] = None,
    labels: Annotated[Optional[Path], typer.Option(help="CSV with columns path,label[,subject][,split].")] = None,
    size: Annotated[Optional[int], typer.Option(help="Side of the aligned crop in pixels [default: 128].")] = None,
    aus_from_labels: Annotated[bool, typer.Option(help="Use the label's preset AUs when a face has no CSV.")] = False,
    test_fraction: Annotated[Optional[float], typer.Option(help="Share of subjects for the test split.")] = None,
    split_by: Annotated[Optional[SplitBy], typer.Option(help="Assign splits by subject or by image.")] = None,
    subject_regex: Annotated[
        Optional[str], typer.Option(help="Regex with one group extracting the subject id from the file name.")
    ] = None,
    face_id: Annotated[
        Optional[int], typer.Option(help="Take this OpenFace face_id instead of the most confident face.")
    ] = None,
    min_confidence: Annotated[Optional[float], typer.Option(help="Reject OpenFace rows below this.")] = None,
    landmarks: Annotated[
        Landmarks,
        typer.Option(
            help="Where the 68 landmarks come from: auto = the CSV's, else "
            "dlib (pip install 'faceaug[landmarks]'), else the Haar detector; "
            "openface, dlib or haar only; none = the image as it is."
        ),
    ] = Landmarks.auto,
    assume_cropped: Annotated[
        bool,
        typer.Option(
            help="Each image is one face: when no face is found, landmarks "
            "from the whole frame (dlib) or the whole image (Haar)."
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Start over instead of reusing unchanged faces.")] = False,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes [default: CPU cores].")] = None,
    seed: ConfigSeedOpt = None,
    profile: ProfileOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Align labelled faces and their OpenFace AUs into WORK_DIR/faces.parquet (+ rejects.parquet)."""
    _positive("--size", size)
    if test_fraction is not None and not 0.0 <= test_fraction < 1.0:
        raise UserError(f"--test-fraction must be in [0, 1), got {test_fraction}.")
    cfg = _config(
        profile,
        config,
        seed,
        "cpu",
        **{
            "preprocess.size": size,
            "preprocess.test_fraction": test_fraction,
            "preprocess.split_by": split_by.value if split_by else None,
            "preprocess.min_confidence": min_confidence,
            "preprocess.workers": workers,
        },
    )
    from faceaug.commands.preprocess import run_preprocess

    with writing(out, "preprocess"):
        run_preprocess(
            data_dir,
            out,
            cfg,
            au_dir=au_dir,
            labels=labels,
            aus_from_labels=aus_from_labels,
            subject_regex=subject_regex,
            face_id=face_id,
            landmarks=landmarks.value,
            assume_cropped=assume_cropped,
            overwrite=overwrite,
        )


AuJudge = _choices("AuJudge", AU_JUDGES)


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
    device: DeviceOpt = "auto",
    seed: ConfigSeedOpt = None,
    profile: ProfileOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Train GANimation (AU-conditioned expression editing) on the train split of WORK_DIR, from scratch or
    fine-tuned from a trained editor (--init bundled)."""
    for name, value in (("--epochs", epochs), ("--batch-size", batch_size), ("--image-size", image_size)):
        _positive(name, value)
    _non_negative("--steps", steps)
    if max_minutes is not None and max_minutes < 0:
        raise UserError(f"--max-minutes must be 0 (no limit) or more, got {max_minutes}.")
    cfg = _config(
        profile,
        config,
        seed,
        device,
        **{
            "ganimation.epochs": epochs,
            "ganimation.epochs_decay": epochs_decay,
            "ganimation.steps": FINE_TUNE_STEPS if init is not None and steps is None and epochs is None else steps,
            "ganimation.batch_size": batch_size,
            "ganimation.image_size": image_size,
            "ganimation.max_minutes": max_minutes,
            "ganimation.au_judge": au_judge.value if au_judge else None,
            "ganimation.au_estimator": str(au_estimator) if au_estimator else None,
        },
    )
    from faceaug.commands.train import run_train

    _require_work_dir(work_dir)
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
    _positive("--image-size", image_size)
    from faceaug.commands.import_ganimation import import_ganimation as do_import

    do_import(checkpoint, out, image_size=image_size)


SinganMode = _choices("SinganMode", SINGAN_MODES)


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
    device: DeviceOpt = "auto",
    seed: ConfigSeedOpt = None,
    profile: ProfileOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Train a single-image SinGAN on one face and sample variants that keep its structure."""
    _positive("--samples", samples)
    _non_negative("--start-scale", start_scale)
    _positive("--iters", iters)
    cfg = _config(
        profile,
        config,
        seed,
        device,
        **{
            "singan.iters_per_scale": iters,
            "expand.start_scale": start_scale,
            "expand.singan_mode": mode.value if mode else None,
        },
    )
    from faceaug.commands.singan import run_singan_command

    run_singan_command(image, out, cfg, samples=samples)


ExpandMode = _choices("ExpandMode", EXPAND_MODES)


Executor = _choices("Executor", EXECUTORS)


Regenerator = _choices("Regenerator", REGENERATORS)


@command()
def expand(
    work_dir: Annotated[
        Path, typer.Argument(help="Work folder with faces.parquet (and models/ganimation.safetensors).")
    ],
    au_preset: Annotated[
        str, typer.Option(help="Target classes: preset name(s), 'all', or custom 'name:AU06=0.8,AU12=1'.")
    ] = "all",
    per_class: Annotated[int, typer.Option(help="New images per target class (edits + SinGAN samples).")] = 10,
    mode: Annotated[
        ExpandMode, typer.Option(help="discrete classes, single-AU sweeps, or continuous interpolation.")
    ] = ExpandMode.discrete,
    aus: Annotated[Optional[str], typer.Option(help="single-au mode: comma list of AUs [default: all 17].")] = None,
    samples_per_edit: Annotated[
        Optional[int], typer.Option(help="M: at most this many variants per edited face (0 = edits only).")
    ] = None,
    edits_first: Annotated[
        Optional[bool],
        typer.Option(
            "--edits-first/--no-edits-first",
            help="Edit as many different source faces as --per-class allows before drawing variants (the fast default; "
            "--no-edits-first: M variants of every edit, the paper's N x M).",
        ),
    ] = None,
    start_scale: Annotated[Optional[int], typer.Option(help="SinGAN start scale: 0 = N, 1 = N-1, 2 = N-2.")] = None,
    singan_mode: Annotated[Optional[SinganMode], typer.Option(help="reconstruct or inject.")] = None,
    regenerator: Annotated[
        Optional[Regenerator],
        typer.Option(
            help="What makes the M variants of an edit: patch "
            "(training-free, the fast default) or singan (a SinGAN "
            "trained per edit, the paper default)."
        ),
    ] = None,
    sources_label: Annotated[Optional[str], typer.Option(help="Only use source faces with this label.")] = None,
    sources_split: Annotated[str, typer.Option(help="Split the source faces come from.")] = "train",
    model: Annotated[
        Optional[Path],
        typer.Option(
            help="GANimation model file, or 'bundled' for the editor that "
            "ships with faceaug [default: WORK_DIR/models/"
            "ganimation.safetensors when it exists, else bundled]."
        ),
    ] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder [default: WORK_DIR/expanded].")] = None,
    executor: Annotated[Executor, typer.Option(help="local, or ray (pip install 'faceaug[ray]').")] = Executor.local,
    ray_address: Annotated[Optional[str], typer.Option(help="Ray cluster address [default: a local Ray].")] = None,
    workers: Annotated[int, typer.Option(help="Parallel shard workers (0 = auto).")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing, different expansion in OUT.")] = False,
    min_edit_score: Annotated[
        Optional[float],
        typer.Option(
            help="Quality gate: drop edits whose AU gain (judged "
            "by the train-au estimator) is below this and draw "
            "the target from another source (0 = off)."
        ),
    ] = None,
    min_target_probability: Annotated[
        Optional[float],
        typer.Option(
            help="Quality gate: drop edits that the "
            "expression judge shipped with faceaug gives "
            "less than this probability of showing their "
            "target class (0 = off)."
        ),
    ] = None,
    max_identity_distance: Annotated[
        Optional[float],
        typer.Option(
            help="Quality gate, with the landmarks extra: drop edits whose dlib face descriptor is further than this "
            "from their source's, an identity leak (default 0.6, dlib's threshold for one person; 0 = off)."
        ),
    ] = None,
    au_estimator: Annotated[
        Optional[Path],
        typer.Option(help="The gate's AU estimator [default: WORK_DIR/models/au_estimator.safetensors]."),
    ] = None,
    device: DeviceOpt = "auto",
    seed: ConfigSeedOpt = None,
    profile: ProfileOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Edit source faces to target expressions and sample SinGAN variants: N expressions x M samples."""
    _non_negative("--samples-per-edit", samples_per_edit)
    _non_negative("--start-scale", start_scale)
    cfg = _config(
        profile,
        config,
        seed,
        device,
        **{
            "expand.samples_per_edit": samples_per_edit,
            "expand.edits_first": edits_first,
            "expand.start_scale": start_scale,
            "expand.singan_mode": singan_mode.value if singan_mode else None,
            "expand.regenerator": regenerator.value if regenerator else None,
            "expand.min_edit_score": min_edit_score,
            "expand.max_identity_distance": max_identity_distance,
            "expand.min_target_probability": min_target_probability,
        },
    )
    from faceaug.commands.expand import ExpandRequest, run_expand

    request = ExpandRequest(
        work_dir=work_dir,
        au_preset=au_preset,
        per_class=per_class,
        mode=mode.value,
        aus=aus,
        sources_label=sources_label,
        sources_split=sources_split,
        model=model,
        out_dir=out,
        executor=executor.value,
        ray_address=ray_address,
        workers=workers,
        overwrite=overwrite,
        au_estimator=au_estimator,
    )
    _require_work_dir(work_dir)
    out_dir = out or work_dir / "expanded"
    with writing(out_dir, "expand"):
        run_expand(request, cfg)


Greyscale = _choices("Greyscale", GREYSCALE_CHOICES)


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
    steps: Annotated[int, typer.Option(help="Optimisation steps per training run (the same for every arm).")] = 600,
    lr: Annotated[
        Optional[float],
        typer.Option(
            help="Peak learning rate of every run (AdamW, cosine decay) "
            "[default: the classifier's, 2e-3]; lower it when the 'fit' column "
            "(real training faces read right) is red."
        ),
    ] = None,
    image_size: Annotated[int, typer.Option(help="Side the classifier sees, in pixels.")] = 48,
    grayscale: Annotated[
        Greyscale, typer.Option(help="Train on grey images: auto = when the real faces are grey.")
    ] = Greyscale.auto,
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
            grayscale=grayscale.value,
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
