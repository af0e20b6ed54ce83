"""SinGAN engine: pyramid rule, start-scale semantics, batched == sequential, reproducibility, model files, CLI."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from faceaug.cli import app
from faceaug.config import SinganConfig
from faceaug.errors import UserError
from faceaug.inference.singan import SinganModel, reconstruct_singan, sample_singan
from faceaug.io.images import read_image, write_png_atomic
from faceaug.models.singan_pyramid import pyramid_sizes
from faceaug.training.singan import train_singan, train_singan_batch

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = SinganConfig(iters_per_scale=2, nfc=8, max_nfc=16)


def _face(size: int, seed: int = 0) -> np.ndarray:
    """A smooth face-like test image (not random noise, so reconstructions are meaningful)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.stack([0.5 + 0.4 * np.sin(6 * x + rng.uniform(0, 3)), 0.5 + 0.3 * np.cos(5 * y), 0.4 + 0.2 * x], -1)
    img[(x - 0.5) ** 2 / 0.12 + (y - 0.5) ** 2 / 0.2 < 1] *= 0.6
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.mark.parametrize(
    "size, expected",
    [
        (48, [25, 29, 35, 41, 48]),
        (64, [25, 30, 36, 44, 53, 64]),
        (128, [25, 32, 40, 50, 64, 80, 101, 128]),
        (250, [25, 31, 40, 50, 63, 79, 100, 125, 158, 199, 250]),
    ],
)
def test_pyramid_sizes_follow_the_official_rule(size, expected):
    sizes, r = pyramid_sizes(size, size, SinganConfig())
    assert [h for h, _ in sizes] == expected
    assert all(h == w for h, w in sizes)
    assert 0.75 <= r < 0.85


def test_pyramid_limits_the_long_side_and_keeps_aspect():
    sizes, _ = pyramid_sizes(600, 400, SinganConfig())
    assert max(sizes[-1]) == 250 and min(sizes[0]) == 25
    assert sizes[-1] == (250, 167)
    with pytest.raises(UserError, match="too small"):
        pyramid_sizes(20, 30, SinganConfig())


def test_start_scale_past_finest_reproduces_the_reconstruction_and_start_zero_varies():
    face = _face(40)
    model = train_singan(face, TINY, seed=1, device=CPU)
    n = model.num_scales
    rec = reconstruct_singan(model)
    for seed in (0, 5):  # the noise seed is irrelevant when every scale replays the reconstruction
        same = sample_singan(model, 2, start_scale=n, mode="reconstruct", seed=seed, device=CPU)
        assert np.array_equal(same[0], rec) and np.array_equal(same[1], rec)
    fine = sample_singan(model, 2, start_scale=n - 1, mode="reconstruct", seed=0, device=CPU)
    assert not np.array_equal(fine[0], fine[1])  # the finest scale adds random noise
    coarse = sample_singan(model, 4, start_scale=0, mode="reconstruct", seed=0, device=CPU)
    late = sample_singan(model, 4, start_scale=n - 1, mode="reconstruct", seed=0, device=CPU)
    # starting earlier lets more scales vary: samples spread further from the reconstruction
    assert np.abs(coarse.astype(float) - rec).mean() > np.abs(late.astype(float) - rec).mean()


def test_samples_are_reproducible_from_a_seed():
    model = train_singan(_face(36), TINY, seed=3, device=CPU)
    a = sample_singan(model, 3, start_scale=1, mode="reconstruct", seed=7, device=CPU)
    b = sample_singan(model, 3, start_scale=1, mode="reconstruct", seed=7, device=CPU)
    c = sample_singan(model, 3, start_scale=1, mode="reconstruct", seed=8, device=CPU)
    assert a.shape == (3, 36, 36, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    again = train_singan(_face(36), TINY, seed=3, device=CPU)  # training is reproducible too
    assert again.model_id == model.model_id
    assert train_singan(_face(36), TINY, seed=4, device=CPU).model_id != model.model_id


def test_inject_mode_trains_only_from_the_start_scale_and_feeds_the_image():
    face = _face(48)
    model = train_singan(face, TINY, seed=0, device=CPU, start_scale=2, mode="inject")
    assert model.arch.first_scale == 2 and len(model.generators) == model.num_scales - 2
    out = sample_singan(model, 2, start_scale=2, mode="inject", seed=0, device=CPU)
    assert out.shape == (2, 48, 48, 3)
    with pytest.raises(UserError, match="trained from scale 2"):
        sample_singan(model, 1, start_scale=1, mode="inject", seed=0, device=CPU)
    with pytest.raises(UserError, match="inject mode"):
        sample_singan(model, 1, start_scale=2, mode="reconstruct", seed=0, device=CPU)


def test_batched_training_equals_sequential_training():
    """K=3 models stacked into grouped convolutions == 3 lone runs with the same seeds (float64: exact maths,
    no rounding noise for Adam to amplify)."""
    cfg = dataclasses.replace(TINY, iters_per_scale=2)  # 2 iterations: the lr decay (at 80%) happens after the 1st
    images = [_face(40, 0), _face(40, 1), _face(40, 2), _face(48, 3)]  # the 48-px one is its own pyramid group
    seeds = [11, 12, 13, 14]
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        sequential = [train_singan(im, cfg, seed=s, device=CPU) for im, s in zip(images, seeds)]
        batched = train_singan_batch(images, cfg, seeds=seeds, device=CPU, strategy="grouped")
    finally:
        torch.set_default_dtype(old)
    assert len({m.model_id for m in batched}) == 4
    for a, b in zip(sequential, batched):
        assert a.arch.sizes == b.arch.sizes
        np.testing.assert_allclose(a.arch.noise_amps, b.arch.noise_amps, rtol=1e-9)
        for la, lb in zip(a.provenance["losses"], b.provenance["losses"]):
            for key in ("loss_d", "loss_g", "rec"):
                assert la[key] == pytest.approx(lb[key], abs=1e-7)
        for ga, gb in zip(a.generators, b.generators):
            for (name, ta), tb in zip(ga.state_dict().items(), gb.state_dict().values()):
                if ta.dtype.is_floating_point:
                    torch.testing.assert_close(ta, tb, atol=1e-7, rtol=0, msg=name)


def test_model_file_round_trip(tmp_path):
    model = train_singan(_face(36), TINY, seed=2, device=CPU)
    path = model.save(tmp_path / "singan.safetensors")
    assert set(load_file(path)) >= {"image", "z_rec"}  # safetensors: nothing but tensors (and JSON metadata)
    loaded = SinganModel.load(path, CPU)
    assert loaded.model_id == model.model_id and loaded.arch == model.arch
    assert loaded.arch.noise_amps == model.arch.noise_amps and np.array_equal(loaded.image, model.image)
    for start in (0, 2):
        np.testing.assert_array_equal(
            sample_singan(loaded, 2, start_scale=start, mode="reconstruct", seed=4, device=CPU),
            sample_singan(model, 2, start_scale=start, mode="reconstruct", seed=4, device=CPU),
        )
    assert loaded.provenance == json.loads(json.dumps(model.provenance))
    for name in ("bad.pt", "bad.safetensors"):
        (tmp_path / name).write_bytes(b"not a model")
        with pytest.raises(UserError, match="could not be read"):
            SinganModel.load(tmp_path / name)


def test_singan_command_writes_samples_model_and_config(runner, tmp_path):
    image = write_png_atomic(tmp_path / "face.png", _face(40))
    toml = tmp_path / "tiny.toml"
    toml.write_text("[singan]\nnfc = 8\nmax_nfc = 16\n")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "singan",
            str(image),
            "--out",
            str(out),
            "--samples",
            "3",
            "--start-scale",
            "2",
            "--mode",
            "reconstruct",
            "--iters",
            "1",
            "--config",
            str(toml),
            "--device",
            "cpu",
            "--seed",
            "5",
        ],
    )
    assert result.exit_code == 0, result.output
    samples = sorted(out.glob("sample_*.png"))
    assert len(samples) == 3 and read_image(samples[0]).shape == (40, 40, 3)
    model = SinganModel.load(out / "singan.safetensors")
    assert model.provenance["settings"]["iters_per_scale"] == 1 and model.provenance["settings"]["nfc"] == 8
    assert json.loads((out / "singan.json").read_text())["model_file"] == "singan.safetensors"
    assert (out / "reconstruction.png").exists() and not (out / "singan.pt").exists()
    assert str(out) in result.output.replace("\n", "")

    inject = runner.invoke(
        app,
        [
            "singan",
            str(image),
            "--out",
            str(tmp_path / "inj"),
            "--samples",
            "1",
            "--mode",
            "inject",
            "--iters",
            "1",
            "--config",
            str(toml),
            "--device",
            "cpu",
        ],
    )
    assert inject.exit_code == 0, inject.output
    assert SinganModel.load(tmp_path / "inj" / "singan.safetensors").arch.first_scale == 2


def test_singan_command_unreadable_image_is_a_user_error(runner, tmp_path):
    bad = tmp_path / "face.png"
    bad.write_bytes(b"garbage")
    result = runner.invoke(app, ["singan", str(bad), "--out", str(tmp_path / "o"), "--iters", "1"])
    assert result.exit_code == 2 and "could not be read" in result.output
    missing = runner.invoke(app, ["singan", str(tmp_path / "nope.png"), "--out", str(tmp_path / "o")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_structure_check_accepts_varied_faces_and_rejects_copies_and_non_faces():
    import cv2
    import skimage.data

    from faceaug.metrics.singan_check import singan_structure_check
    from faceaug.preprocess.align import align_face

    face = align_face(skimage.data.astronaut(), None, 64).crop
    rng = np.random.default_rng(0)
    varied = np.clip(face[None] + rng.normal(0, 16, (4, *face.shape)), 0, 255).astype(np.uint8)
    ok = singan_structure_check(varied, face)
    assert ok["passes"] and ok["varied"] and ok["face_detected"] == 1.0 and 0.5 < ok["ssim_mean"] < 0.95
    copies = singan_structure_check(np.repeat(face[None], 3, axis=0), face)
    assert not copies["passes"] and copies["ssim_mean"] == pytest.approx(1.0) and copies["variety"] == 0.0
    blurred = np.repeat(cv2.GaussianBlur(face, (5, 5), 1.5)[None], 3, axis=0)  # one blurred copy, repeated
    assert not singan_structure_check(blurred, face)["varied"]
    noise = singan_structure_check(rng.integers(0, 256, (3, *face.shape), dtype=np.uint8), face)
    assert not noise["passes"] and noise["face_detected"] == 0.0


def test_cpu_threads_apply_during_training_only():
    seen = []
    torch.set_num_threads(2)
    model = train_singan(
        _face(32),
        dataclasses.replace(TINY, iters_per_scale=1, cpu_threads=1),
        seed=0,
        device=CPU,
        progress=lambda done, total: seen.append(torch.get_num_threads()),
    )
    assert seen and set(seen) == {1}  # SinGAN's tiny ops run on one thread (see SinganConfig.cpu_threads)
    assert torch.get_num_threads() == 2  # and the caller's setting is restored
    sample_singan(model, 1, start_scale=1, mode="reconstruct", seed=0, device=CPU)
    assert torch.get_num_threads() == 2
