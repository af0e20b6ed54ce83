"""How far do an expansion's images move from their source's identity? dlib face-descriptor distances.

    .venv/bin/python -m benchmarks.identity_distances OUT_DIR [--max-rows 300] [--json out.json]

For the generated images of an expand OUT_DIR (manifest.parquet + images/), the distance of each image's
descriptor (faceaug.metrics.identity, the `faceaug[landmarks]` extra) to its source original's, by stage
(ganimation edits, SinGAN / patch variants), beside two references measured on the same originals: distinct
people (every pair of originals from different subjects) and the same face flipped. dlib's same-person threshold
is 0.6; the quality gate's `--max-identity-distance` defaults to it.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from faceaug.io.images import read_image, resize_face
from faceaug.metrics.identity import SAME_PERSON, FaceDescriptor, identity_distance, identity_problem
from faceaug.schema import read_table

PERCENTILES = (5, 25, 50, 75, 95)


def _stats(values: np.ndarray) -> dict:
    values = np.asarray(values, np.float64)
    return {
        "n": int(len(values)),
        **{f"p{p}": round(float(np.percentile(values, p)), 3) for p in PERCENTILES},
        "share_above_threshold": round(float((values > SAME_PERSON).mean()), 3),
    }


def measure(out_dir: Path, max_rows: int, seed: int = 0) -> dict:
    manifest = read_table(out_dir / "manifest.parquet", "manifest")
    originals = manifest[~manifest["is_generated"]].set_index("source_id")
    generated = manifest[manifest["is_generated"]]
    if len(generated) > max_rows:
        generated = generated.sample(max_rows, random_state=seed)
    descriptor = FaceDescriptor()
    size = read_image(out_dir / generated["path"].iloc[0]).shape[0]

    def load(rel: str) -> np.ndarray:
        return resize_face(read_image(out_dir / rel), size)

    sources = sorted(set(generated["source_id"]))
    own = dict(zip(sources, descriptor(np.stack([load(originals.loc[s, "path"]) for s in sources]))))
    result = {"out_dir": str(out_dir), "threshold": SAME_PERSON, "stages": {}}
    for stage, rows in generated.groupby("stage"):
        mine = descriptor(np.stack([load(p) for p in rows["path"]]))
        result["stages"][str(stage)] = _stats(identity_distance(mine, np.stack([own[s] for s in rows["source_id"]])))
    subjects = originals.loc[sources, "subject"].to_numpy()
    vectors = np.stack([own[s] for s in sources])
    pairs = [(i, j) for i, j in itertools.combinations(range(len(sources)), 2) if subjects[i] != subjects[j]]
    result["distinct_people"] = _stats(np.array([np.linalg.norm(vectors[i] - vectors[j]) for i, j in pairs]))
    flipped = descriptor(np.stack([load(originals.loc[s, "path"])[:, ::-1] for s in sources]))
    result["same_face_flipped"] = _stats(identity_distance(vectors, flipped))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--max-rows", type=int, default=300, help="generated images measured at most (sampled)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if identity_problem():
        raise SystemExit(f"face descriptors are unavailable: {identity_problem()}")
    result = measure(args.out_dir, args.max_rows)
    for name, stats in {
        **{f"stage {k}": v for k, v in result["stages"].items()},
        "distinct people": result["distinct_people"],
        "same face flipped": result["same_face_flipped"],
    }.items():
        print(
            f"{name:22s} n {stats['n']:5d}  "
            + "  ".join(f"p{p} {stats[f'p{p}']:.3f}" for p in PERCENTILES)
            + f"  > {SAME_PERSON}: {100 * stats['share_above_threshold']:.0f}%"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
