"""Shared test worlds that take a while to build (built once per test session), and a manifest made older."""

from __future__ import annotations

from pathlib import Path

import torch

from faceaug.commands.expand import ExpandRequest, run_expand
from faceaug.commands.train_au import TrainAuRequest, run_train_au
from faceaug.config import GanimationConfig, resolve_config
from tests.ganimation_fixtures import make_work_dir, save_model, split_by_subject

# untrained tiny editors: the expression gate (on in `fast`) would drop their edits; tests that want it say so
TINY = {
    "expand.min_target_probability": 0.0,
    "singan.iters_per_scale": 2,
    "singan.nfc": 8,
    "singan.max_nfc": 8,
    "singan.min_size": 12,
    "expand.samples_per_edit": 3,
    "expand.shard_size": 4,
    "expand.edits_first": False,
    "expand.regenerator": "singan",
}  # these tests exercise SinGAN's N x M; the patch default has its own


def build_report_world(root: Path) -> tuple[Path, Path]:
    """A blob-face work folder split by subject (s4 = test), an expansion of it with an untrained generator
    (happy, surprise) and an AU estimator trained on it."""
    work = split_by_subject(make_work_dir(root / "work", n=60, size=32), 5)
    torch.manual_seed(0)
    save_model(work / "models" / "ganimation.safetensors", GanimationConfig(image_size=32, conv_dim=8, repeat_num=2))
    run_expand(
        ExpandRequest(work_dir=work, au_preset="happy,surprise", per_class=8, out_dir=root / "expanded", workers=1),
        resolve_config("fast", None, TINY, seed=0, device="cpu"),
    )
    run_train_au(TrainAuRequest(work_dir=work, steps=300, image_size=32, device="cpu"))
    return work, root / "expanded"


def as_manifest_format_1(manifest_path: Path) -> None:
    """Rewrite a manifest as faceaug wrote it at format 1: variants with stage "singan", no `regenerator` column
    (the patch regenerator's variants said so in singan_mode)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(manifest_path)
    patch = pc.fill_null(pc.equal(table["regenerator"], "patch"), False)
    stage = pc.if_else(pc.equal(table["stage"], "variant"), "singan", table["stage"])
    mode = pc.if_else(patch, pa.scalar("patch"), table["singan_mode"])
    table = table.set_column(table.schema.get_field_index("stage"), "stage", stage)
    table = table.set_column(table.schema.get_field_index("singan_mode"), "singan_mode", mode)
    table = table.drop_columns(["regenerator"])
    meta = {**table.schema.metadata, b"faceaug_schema": b"manifest/1"}
    pq.write_table(table.replace_schema_metadata(meta), manifest_path)
