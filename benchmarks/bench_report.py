"""`faceaug report` seconds per 1,000 generated images (goal ≤ 20 s on 2 cores).

    .venv/bin/python -m benchmarks.bench_report --generated 1000 --size 64 [--sifid] [--out benchmarks/results]

Builds an expansion-shaped folder without training anything: 64-px synthetic faces as originals, each "edit" a
copy of a source and each edit's 4 "variants" noisy copies of it (the report's cost does not depend on what the
pixels show), an AU estimator of the real architecture (untrained weights: same cost) and, with --sifid, random
InceptionV3 stem weights in the pytorch-fid layout. Then times `run_report` on it, the stages split.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.results import BenchRecord, add_output_args
from faceaug.aus import AU_NAMES
from faceaug.console import set_verbosity
from faceaug.io.images import read_image, write_png_atomic
from faceaug.schema import read_table, write_table_atomic


def build(root: Path, generated: int, size: int, variants: int = 4) -> Path:
    from faceaug.fer.au_estimator import AuEstimator, default_au_estimator_path
    from tests.ganimation_fixtures import make_work_dir

    work = make_work_dir(root / "work", n=60, size=size)
    faces = read_table(work / "faces.parquet", "faces")
    AuEstimator.new(48).save(default_au_estimator_path(work))
    out = root / "expanded"
    rng = np.random.default_rng(0)
    rows = []
    base = {au: 0.0 for au in AU_NAMES}
    for face in faces.itertuples(index=False):
        image_id = f"orig_{face.face_id}"
        rel = f"images/{face.label}/{image_id}.png"
        write_png_atomic(out / rel, read_image(work / face.image_path))
        rows.append(_row(image_id, rel, face, "original", False, base))
    n_edits = generated // (variants + 1)
    for k in range(n_edits):
        face = faces.iloc[k % len(faces)]
        source = read_image(work / face.image_path)
        stem = f"{face.face_id}_happy_{k:05d}"
        target = {**base, "AU06": 0.8, "AU12": 1.0}
        write_png_atomic(out / f"images/happy/{stem}_edit.png", source)
        rows.append(_row(f"{stem}_edit", f"images/happy/{stem}_edit.png", face, "ganimation", True, target))
        for j in range(variants):
            noisy = np.clip(source + rng.normal(0, 6, source.shape), 0, 255).astype(np.uint8)
            rel = f"images/happy/{stem}_s{j:02d}.png"
            write_png_atomic(out / rel, noisy)
            rows.append(_row(f"{stem}_s{j:02d}", rel, face, "variant", True, target, sample_index=j))
    write_table_atomic(rows, out / "manifest.parquet", "manifest")
    (out / "expand.json").write_text(json.dumps({"request": {"work_dir": str(work)}}))
    return out


def _row(image_id, rel, face, stage, generated, aus, sample_index=None) -> dict:
    return {
        "id": image_id,
        "path": rel,
        "label": "happy" if generated else face.label,
        "split": face.split,
        "is_generated": generated,
        "stage": stage,
        "source_id": face.face_id,
        "source_label": face.label,
        "subject": face.subject,
        "target": "happy" if generated else "original",
        **aus,
        "alpha": None,
        "gen_start_scale": 2 if stage == "variant" else None,
        "singan_mode": "inject" if stage == "variant" else None,
        "regenerator": "singan" if stage == "variant" else None,
        "sample_index": sample_index,
        "seed": 0,
        "ganimation_model_id": None,
        "singan_model_id": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--sifid", action="store_true", help="also SIFID (random stem weights, same cost)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    add_output_args(parser)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    set_verbosity(-1)
    record = BenchRecord(
        "report",
        "cpu",
        settings={
            "generated": args.generated,
            "size": args.size,
            "sifid": args.sifid,
            "torch_threads": torch.get_num_threads(),
        },
    )
    from faceaug.commands.report import ReportRequest, run_report

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        out = build(Path(tmp), args.generated, args.size)
        built = time.perf_counter() - t
        weights = None
        if args.sifid:
            from faceaug.metrics.sifid import InceptionStem

            weights = Path(tmp) / "inception.pth"
            torch.save(InceptionStem(64).state_dict(), weights)
        n_generated = int(read_table(out / "manifest.parquet", "manifest")["is_generated"].sum())
        t = time.perf_counter()
        summary = run_report(ReportRequest(path=out, inception_weights=weights))
        seconds = time.perf_counter() - t
    record.figure(
        "s_per_1000",
        f"report on {n_generated} generated {args.size}-px images" + (" (with SIFID)" if args.sifid else ""),
        round(1000 * seconds / n_generated, 2),
        "s per 1,000",
        higher_is_better=False,
        goal=20,
    )
    record.details = {
        "generated_images": n_generated,
        "build_seconds": round(built, 1),
        "report_seconds": round(seconds, 2),
        "verdict": summary["verdict"]["level"],
    }
    record.write(args.out)


if __name__ == "__main__":
    main()
