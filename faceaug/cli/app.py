"""The Typer app, its top-level flags and `command`, the decorator every command is registered with."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from faceaug import __version__
from faceaug.cli.errors import user_errors
from faceaug.console import debug, set_verbosity, verbosity

# Help texts are plain text: rich markup would swallow bracketed text such as "[default: ...]" or "faceaug[ray]".
app = typer.Typer(
    name="faceaug",
    help="Enlarge facial-expression datasets for FER training: GANimation edits faces to target Action Units, "
    "a single-image SinGAN per edited face samples more variants, a Parquet manifest lists them all.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
)

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and final output paths.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="More detail.")]


def _given(name: str, arguments: dict[str, Any]) -> str:
    """What -v prints first for every command: its arguments and options as resolved by the parser, defaults
    included (options left to a config or a later default, None, are not listed)."""
    shown = (
        f"{key}={value.value if isinstance(value, Enum) else value}"
        for key, value in arguments.items()
        if value is not None
    )
    return escape(f"{name}: " + ", ".join(shown))


def _verbosity_flags(fn: Callable, name: str) -> Callable:
    """Give a command the -q/-v flags too, so they work after its name as well as before (`faceaug expand W -q`);
    with -v the command first prints what it was given."""
    signature = inspect.signature(fn, eval_str=True)
    flags = [
        inspect.Parameter(flag, inspect.Parameter.KEYWORD_ONLY, default=False, annotation=annotation)
        for flag, annotation in (("quiet", QuietOpt), ("verbose", VerboseOpt))
    ]

    @functools.wraps(fn)
    def wrapper(*args, quiet: bool = False, verbose: bool = False, **kwargs):
        if quiet or verbose:  # on top of the flags before the command name (already applied); -q wins
            set_verbosity(-1 if quiet or verbosity() < 0 else 1)
        debug(_given(name, signature.bind_partial(*args, **kwargs).arguments))
        return fn(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *flags])
    return wrapper


def command(name: str | None = None, **kwargs) -> Callable:
    """`app.command` with user-error handling and the -q/-v flags."""

    def decorate(fn: Callable) -> Callable:
        return app.command(name, **kwargs)(_verbosity_flags(user_errors(fn), name or fn.__name__.replace("_", "-")))

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
