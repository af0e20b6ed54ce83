"""Terminal output: one rich console, verbosity, and the progress-bar factory every long step uses."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True, highlight=False)
_verbosity = 0  # -1 quiet, 0 normal, 1 verbose


def set_verbosity(level: int) -> None:
    global _verbosity
    _verbosity = level
    console.quiet = level < 0


def verbosity() -> int:
    return _verbosity


def info(message: str) -> None:
    """A normal-level message (hidden by -q)."""
    console.print(message)


def debug(message: str) -> None:
    """A verbose-level message (shown with -v)."""
    if _verbosity > 0:
        console.print(f"[dim]{message}[/dim]")


def warn(message: str) -> None:
    console.print(f"[yellow]warning:[/yellow] {message}")


def progress(*extra_columns, transient: bool = False, shown: bool = True) -> Progress:
    """A rich progress bar with count, elapsed time and ETA; extra columns (e.g. live losses) may be added.

    `shown=False` gives a bar that draws nothing (e.g. on the ranks other than 0 of a multi-process run)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        *extra_columns,
        console=console,
        transient=transient,
        disable=_verbosity < 0 or not shown,
    )
