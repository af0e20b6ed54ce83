"""Fingerprint of what the CLI chain writes, to show a refactoring changed no behaviour.

Runs a small, step-bounded chain on the CPU (synth → preprocess → train 40 steps → expand with the SinGAN and the
patch regenerators, and the bundled editor on the astronaut) and writes one JSON: the SHA-256 of every image and the
manifest/faces tables, with the folder the chain ran in written as OUT. Two runs of two code
versions compare with `--compare A.json B.json`.

    python -m benchmarks.same_outputs --out /tmp/before   # on the old code
    python -m benchmarks.same_outputs --out /tmp/after    # on the new code
    python -m benchmarks.same_outputs --compare /tmp/before/outputs.json /tmp/after/outputs.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def _faceaug(*args: str) -> None:
    cmd = [sys.executable, "-m", "faceaug", *args, "-q"]
    subprocess.run(cmd, check=True)


def chain(out: Path) -> None:
    """The step-bounded chain; every step seeded."""
    _faceaug("synth", str(out / "data"), "--subjects", "6", "--per-class", "2", "--size", "64", "--seed", "0")
    _faceaug("preprocess", str(out / "data"), "--out", str(out / "work"), "--labels", str(out / "data/labels.csv"))
    # --max-minutes 0: no time budget, whose share would stop the AU pre-training after a machine-dependent step
    _faceaug("train", str(out / "work"), "--steps", "40", "--max-minutes", "0", "--seed", "0")
    # 2 edits and 4 variants per class (variants drawn before more edits), so that both regenerators run
    common = ["--au-preset", "happy,surprise", "--per-class", "6", "--samples-per-edit", "2", "--no-edits-first"]
    common += ["--min-target-probability", "0", "--seed", "0"]
    _faceaug("expand", str(out / "work"), *common, "--out", str(out / "singan"), "--regenerator", "singan")
    _faceaug("expand", str(out / "work"), *common, "--out", str(out / "patch"), "--regenerator", "patch")
    subprocess.run(
        [sys.executable, str(HERE.parent / "examples/astronaut.py"), str(out / "astronaut-data")], check=True
    )
    _faceaug("preprocess", str(out / "astronaut-data"), "--out", str(out / "astronaut-work"), "--aus-from-labels")
    _faceaug(
        "expand", str(out / "astronaut-work"), "--au-preset", "all", "--per-class", "1", "--samples-per-edit", "0",
        "--min-target-probability", "0", "--out", str(out / "astronaut-expanded"), "--seed", "0",
    )  # fmt: skip


def _table(path: Path, out: Path) -> list[dict]:
    records = json.loads(pd.read_parquet(path).round(6).to_json(orient="records"))
    where = str(out)  # the folder the chain ran in, which a path column may name
    return [{k: v.replace(where, "OUT") if isinstance(v, str) else v for k, v in r.items()} for r in records]


def fingerprint(out: Path) -> dict:
    result: dict = {"images": {}, "tables": {}}
    for image in sorted(out.rglob("*.png")):
        rel = str(image.relative_to(out))
        if "/models/" in rel or "report" in rel:  # training samples and report figures: matplotlib/time dependent
            continue
        result["images"][rel] = hashlib.sha256(image.read_bytes()).hexdigest()
    for table in sorted(out.rglob("*.parquet")):
        result["tables"][str(table.relative_to(out))] = _table(table, out)
    return result


def compare(a: dict, b: dict) -> int:
    problems = []
    for kind in ("images", "tables"):
        for key in sorted(set(a[kind]) | set(b[kind])):
            if a[kind].get(key) != b[kind].get(key):
                problems.append(
                    f"{kind}: {key} differs" if key in a[kind] and key in b[kind] else f"{kind}: {key} only in one"
                )
    for p in problems:
        print(p)
    verdict = f"{len(problems)} differences" if problems else "same"
    print(f"{len(a['images'])} images, {len(a['tables'])} tables: {verdict}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="folder for the chain's outputs (must not exist)")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    args = ap.parse_args(argv)
    if args.compare:
        return compare(*(json.loads(p.read_text()) for p in args.compare))
    if args.out is None:
        ap.error("--out or --compare")
    chain(args.out)
    (args.out / "outputs.json").write_text(json.dumps(fingerprint(args.out), indent=1))
    print(args.out / "outputs.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
