"""The CUDA paths, on a CUDA GPU: the editor, GANimation training with bf16 autocast, batched SinGAN and an
expansion on the device. Skipped without a GPU; `python -m benchmarks.gpu_check --dry-run` runs them on the CPU
(FACEAUG_TEST_DEVICE=cpu) so that the first GPU run finds them working."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from faceaug.cli import app

DEVICE = os.environ.get("FACEAUG_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.skipif(
        DEVICE == "cuda" and not torch.cuda.is_available(),
        reason="needs a CUDA GPU (FACEAUG_TEST_DEVICE=cpu runs these on the CPU)",
    ),
    pytest.mark.usefixtures("one_torch_thread"),
]


def test_the_bundled_editor_edits_on_the_device_as_on_the_cpu():
    from skimage import data

    from faceaug.aus import preset_vector
    from faceaug.inference.editor import GanimationEditor
    from faceaug.io.images import resize_face
    from faceaug.pretrained import bundled_editor_path

    faces = np.stack([resize_face(data.astronaut()[0:240, 120:360], 128)] * 2)
    targets = np.stack([preset_vector("happy"), preset_vector("surprise")])
    sources = np.stack([preset_vector("happy")] * 2)
    on_device, mask = GanimationEditor.load(bundled_editor_path(), torch.device(DEVICE)).edit(faces, targets, sources)
    on_cpu, _ = GanimationEditor.load(bundled_editor_path(), torch.device("cpu")).edit(faces, targets, sources)
    assert on_device.shape == faces.shape and mask.shape == faces.shape[:3]
    assert np.abs(on_device.astype(int) - on_cpu.astype(int)).max() <= 2


def test_training_steps_on_the_device_give_a_finite_model(tmp_path, runner):
    from faceaug.models.ganimation_file import GanimationModel
    from tests.ganimation_fixtures import make_work_dir

    work = make_work_dir(tmp_path / "work", n=16, size=32)
    result = runner.invoke(
        app,
        [
            "train",
            str(work),
            "--device",
            DEVICE,
            "--steps",
            "4",
            "--batch-size",
            "4",
            "--image-size",
            "32",
            "--max-minutes",
            "0",
            "--seed",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    model = GanimationModel.load(work / "models" / "ganimation.safetensors")  # refuses non-finite weights
    assert model.config.image_size == 32


def test_batched_singan_trains_and_samples_on_the_device():
    from skimage import data

    from faceaug.config import resolve_config
    from faceaug.inference.singan import sample_singan
    from faceaug.io.images import resize_face
    from faceaug.training.singan import train_singan_batch

    cfg = resolve_config(
        "fast",
        None,
        {"singan.iters_per_scale": 2, "singan.nfc": 8, "singan.max_nfc": 8, "singan.min_size": 12},
        device=DEVICE,
    ).singan
    face = resize_face(data.astronaut()[0:240, 120:360], 32)
    faces = [face, face[:, ::-1].copy(), np.clip(face.astype(int) + 20, 0, 255).astype(np.uint8)]
    models = train_singan_batch(
        faces, cfg, seeds=[0, 1, 2], device=torch.device(DEVICE), start_scale=2, mode="inject", strategy="grouped"
    )
    samples = sample_singan(models[0], 2, start_scale=2, mode="inject", seed=0, device=torch.device(DEVICE))
    assert len(models) == 3 and samples.shape == (2, 32, 32, 3) and samples.std() > 0


def test_an_expansion_runs_on_the_device(tmp_path, runner):
    from faceaug.config import GanimationConfig
    from faceaug.schema import read_table
    from tests.ganimation_fixtures import make_work_dir, save_model
    from tests.test_expand import TINY, _toml

    work = make_work_dir(tmp_path / "work", n=12, size=32)
    save_model(work / "models" / "ganimation.safetensors", GanimationConfig(image_size=32, conv_dim=8, repeat_num=2))
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "expand",
            str(work),
            "--au-preset",
            "happy",
            "--per-class",
            "4",
            "--out",
            str(out),
            "--device",
            DEVICE,
            "--config",
            str(_toml(tmp_path / "tiny.toml", TINY)),
        ],
    )
    assert result.exit_code == 0, result.output
    generated = read_table(out / "manifest.parquet", "manifest").query("is_generated")
    assert len(generated) == 4 and all((out / p).is_file() for p in generated["path"])
