"""`python -m faceaug` runs the CLI (the same as the `faceaug` console script)."""

from faceaug.cli import app

app(prog_name="faceaug")
