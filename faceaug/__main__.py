"""The `faceaug` command: the console script and `python -m faceaug` both run `main`.

The CLI is imported inside `main`, not when this module is imported: a worker process of multiprocessing's fork
server or spawn start imports its parent's main script again, and should not pay for a CLI (typer, every command's
module: 0.2 s, 0.5 s without cached bytecode) that it never runs.
"""

import sys


def main() -> None:
    import gc

    args = sys.argv[1:]
    if args[:1] == ["preprocess"] and not _one_process(args):
        # its workers' fork server (a fresh interpreter importing OpenCV and numpy: 0.3 s on another core) starts
        # before the CLI is imported and parses the options (0.25 s), so that it is ready when the first faces are;
        # the command's own call (after its options say how many processes) then finds it running
        from faceaug.preprocess.server import start_server

        start_server(0)

    from faceaug.cli import app

    try:
        app(prog_name="faceaug")
    finally:
        # the interpreter's exit collects garbage among every object still alive: with pandas, pyarrow and OpenCV
        # loaded, 0.05-0.1 s after the command has done its work. Frozen, they are freed without that search.
        gc.freeze()


def _one_process(args: list[str]) -> bool:
    """Whether the command line asks for one process (`--workers 1`), read before the CLI parses it."""
    return "--workers=1" in args or any(a == "--workers" and b == "1" for a, b in zip(args, args[1:]))


if __name__ == "__main__":
    main()
