"""The `faceaug` command line: parse flags, resolve the config, call one function per command. No logic here.

`app` (faceaug.cli.app) is the Typer app; `errors` turns failures into one sentence and an exit code; `options`
holds the shared flags and the config resolution; the command groups register their commands on import.
"""

from faceaug.cli.app import app

# The groups in the order `faceaug --help` lists their commands (Typer keeps the order of registration).
# isort: off
from faceaug.cli import data  # noqa: F401
from faceaug.cli import gan  # noqa: F401
from faceaug.cli import expansion  # noqa: F401
from faceaug.cli import evaluation  # noqa: F401

# isort: on

__all__ = ["app"]
