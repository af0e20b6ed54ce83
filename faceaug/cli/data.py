"""The data commands: `synth` (a synthetic face world) and `preprocess` (aligned faces and their AUs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from faceaug.aus import parse_au_spec
from faceaug.cli.app import command
from faceaug.cli.options import ConfigOpt, ConfigSeedOpt, ProfileOpt, SeedOpt, choices, positive, resolve
from faceaug.config import LANDMARK_METHODS, SPLIT_BY
from faceaug.io.lock import writing


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
        positive(name, value)
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


SplitBy = choices("SplitBy", SPLIT_BY)
Landmarks = choices("Landmarks", LANDMARK_METHODS)


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
    cfg = resolve(
        profile,
        config,
        seed,
        "cpu",
        {
            "--size": ("preprocess.size", size),
            "--test-fraction": ("preprocess.test_fraction", test_fraction),
            "--split-by": ("preprocess.split_by", split_by),
            "--min-confidence": ("preprocess.min_confidence", min_confidence),
            "--workers": ("preprocess.workers", workers),
        },
    )
    from faceaug.preprocess.server import start_server

    start_server(cfg.preprocess.workers)  # its start overlaps the imports and the discovery of files below
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
