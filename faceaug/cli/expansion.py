"""The `expand` command: edit source faces to target expressions and sample variants of every edit."""

from __future__ import annotations

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
    require_work_dir,
    resolve,
)
from faceaug.config import EXECUTORS, EXPAND_MODES, REGENERATORS
from faceaug.io.lock import writing

ExpandMode = choices("ExpandMode", EXPAND_MODES)
Executor = choices("Executor", EXECUTORS)
Regenerator = choices("Regenerator", REGENERATORS)


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
    max_variants_per_edit: Annotated[
        Optional[int],
        typer.Option(
            help="When a class has fewer usable edits than it needs, each edit takes at most this many variants and "
            "the class gets fewer images (0 = as many as --per-class needs)."
        ),
    ] = None,
    warp: Annotated[
        Optional[float],
        typer.Option(
            help="After each edit, move the face's landmarks toward the target AUs with a smooth image warp of this "
            "strength (1 = the face model's full motion; 0 = off)."
        ),
    ] = None,
    au_estimator: Annotated[
        Optional[Path],
        typer.Option(help="The gate's AU estimator [default: WORK_DIR/models/au_estimator.safetensors]."),
    ] = None,
    device: ConfigDeviceOpt = None,
    seed: ConfigSeedOpt = None,
    profile: ProfileOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Edit source faces to target expressions and sample SinGAN variants: N expressions x M samples."""
    cfg = resolve(
        profile,
        config,
        seed,
        device,
        {
            "--samples-per-edit": ("expand.samples_per_edit", samples_per_edit),
            "--edits-first": ("expand.edits_first", edits_first),
            "--start-scale": ("expand.start_scale", start_scale),
            "--singan-mode": ("expand.singan_mode", singan_mode),
            "--regenerator": ("expand.regenerator", regenerator),
            "--min-edit-score": ("expand.min_edit_score", min_edit_score),
            "--max-identity-distance": ("expand.max_identity_distance", max_identity_distance),
            "--min-target-probability": ("expand.min_target_probability", min_target_probability),
            "--warp": ("expand.warp", warp),
            "--max-variants-per-edit": ("expand.max_variants_per_edit", max_variants_per_edit),
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
    require_work_dir(work_dir)
    out_dir = out or work_dir / "expanded"
    with writing(out_dir, "expand"):
        run_expand(request, cfg)
