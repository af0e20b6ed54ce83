"""The `faceaug` command: the console script and `python -m faceaug` both run `main`.

The CLI is imported inside `main`, not when this module is imported: a worker process of multiprocessing's fork
server or spawn start imports its parent's main script again, and should not pay for a CLI (typer, every command's
module: 0.2 s, 0.5 s without cached bytecode) that it never runs.
"""


def main() -> None:
    from faceaug.cli import app

    app(prog_name="faceaug")


if __name__ == "__main__":
    main()
