"""How a command ends when it fails: one sentence and an exit code, never a traceback for what a user can fix."""

from __future__ import annotations

import functools
import signal
import time
from collections.abc import Callable

import typer
from rich.console import Console
from rich.markup import escape

from faceaug.console import debug
from faceaug.errors import MachineFault, UserError, is_machine_fault
from faceaug.interrupts import stop_signals_interrupt

_errors = Console(stderr=True, highlight=False)


def user_errors(fn: Callable) -> Callable:
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
