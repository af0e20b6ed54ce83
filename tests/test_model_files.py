"""Model files and checkpoints from another faceaug version, or damaged ones: one clear sentence, no traceback."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from faceaug.config import GanimationConfig
from faceaug.editing import GanimationEditor
from faceaug.errors import UserError
from faceaug.models.ganimation import Generator
from faceaug.inference.singan import SinganModel, sample_singan
from faceaug.training.ganimation_checkpoint import load_checkpoint, save_checkpoint, save_model_file
from faceaug.training.singan import train_singan
from tests.test_singan import CPU, TINY, _face

SMALL = GanimationConfig(image_size=32, conv_dim=8, repeat_num=2)


def _model_file(tmp_path: Path, **changes) -> Path:
    path = save_model_file(tmp_path / "ganimation.pt", Generator(SMALL).state_dict(), SMALL)
    payload = torch.load(path, weights_only=True)
    for key, value in changes.items():
        if value is None:
            payload.pop(key)
        else:
            payload[key] = value
    torch.save(payload, path)
    return path


def _load(path: Path):
    return GanimationEditor.load(path, torch.device("cpu"))


def test_a_current_model_file_loads(tmp_path):
    assert _load(_model_file(tmp_path)).image_size == 32


def test_unknown_settings_in_a_model_file_are_named(tmp_path):
    stored = {**vars(SMALL), "warp_loss": 2.0, "zoom": 1}
    with pytest.raises(UserError, match=r"Unknown settings 'ganimation.warp_loss', 'ganimation.zoom' in the settings "
                                        r"stored in .*ganimation.pt"):
        _load(_model_file(tmp_path, ganimation=stored))


def test_settings_missing_from_an_older_model_file_take_their_defaults(tmp_path):
    stored = {k: v for k, v in vars(SMALL).items() if k not in ("ema_decay", "condition")}
    assert _load(_model_file(tmp_path, ganimation=stored)).condition == "absolute"


@pytest.mark.parametrize("key", ["au_names", "image_size", "crop_template", "ganimation"])
def test_a_model_file_missing_a_part_is_a_user_error(tmp_path, key):
    with pytest.raises(UserError, match=f"incomplete faceaug GANimation model .*{key}"):
        _load(_model_file(tmp_path, **{key: None}))


def test_a_model_file_of_a_newer_format_says_which_faceaug_reads_it(tmp_path):
    path = _model_file(tmp_path, version=7, faceaug_version="3.1.0")
    with pytest.raises(UserError, match="format 7, written by faceaug 3.1.0.*Upgrade faceaug"):
        _load(path)


def test_a_checkpoint_of_a_newer_format_says_so(tmp_path):
    path = save_checkpoint(tmp_path / "last.pt", {"ganimation": vars(SMALL), "step": 3})
    assert load_checkpoint(path)["step"] == 3
    payload = torch.load(path, weights_only=True)
    torch.save({**payload, "version": 2, "faceaug_version": "3.0"}, path)
    with pytest.raises(UserError, match="format 2, written by faceaug 3.0"):
        load_checkpoint(path)


def _singan_model(mode: str = "reconstruct") -> SinganModel:
    return train_singan(_face(36), TINY, seed=0, device=CPU, mode=mode, start_scale=1)


def _legacy_singan_file(path: Path, model: SinganModel, **changes) -> Path:
    """A SinGAN file as faceaug 0.1 wrote it (format faceaug-singan-1, `torch.save`; its settings still had the
    ConSinGAN fields), with `changes` to its entries."""
    arch = model.arch
    settings = {**model.provenance["settings"], "architecture": "singan", "train_stages": 3, "lr_scale": 0.1,
                "num_stages": 6}
    payload = {
        "format": "faceaug-singan-1", "config": json.dumps(settings), "image": torch.from_numpy(model.image),
        "sizes": [list(s) for s in arch.sizes], "scale_factor": arch.scale_factor, "first_scale": arch.first_scale,
        "channels": list(arch.channels), "generators": [g.state_dict() for g in model.generators],
        "noise_amps": list(arch.noise_amps), "z_rec": model.z_rec, "seed": 0, "mode": arch.mode,
        "losses": json.dumps(model.provenance["losses"]), "faceaug_version": "0.1.0",
    }
    torch.save({**payload, **changes}, path)
    return path


def _singan_file(tmp_path: Path, **changes) -> Path:
    return _legacy_singan_file(tmp_path / "singan.pt", _singan_model(), **changes)


def _singan_safetensors(tmp_path: Path, **changes) -> Path:
    """A current SinGAN file with `changes` to the JSON in its header."""
    path = _singan_model().save(tmp_path / "singan.safetensors")
    with safe_open(str(path), framework="pt") as fh:
        header = json.loads(fh.metadata()["faceaug"])
    save_file(load_file(path), str(path), metadata={"faceaug": json.dumps({**header, **changes})})
    return path


@pytest.mark.parametrize("mode", ["reconstruct", "inject"])
def test_a_singan_file_of_faceaug_0_1_still_loads(tmp_path, mode):
    model = _singan_model(mode)
    loaded = SinganModel.load(_legacy_singan_file(tmp_path / "singan.pt", model), CPU)
    assert loaded.model_id == model.model_id and loaded.arch == model.arch
    assert "architecture" not in loaded.provenance["settings"]  # the retired ConSinGAN settings are dropped
    np.testing.assert_array_equal(sample_singan(loaded, 2, start_scale=1, mode=mode, seed=3, device=CPU),
                                  sample_singan(model, 2, start_scale=1, mode=mode, seed=3, device=CPU))


def test_singan_file_with_unknown_settings_is_named_not_a_type_error(tmp_path):
    stored = json.dumps({**asdict(TINY), "patch_size": 7})
    with pytest.raises(UserError, match="Unknown setting 'singan.patch_size'"):
        SinganModel.load(_singan_file(tmp_path, config=stored))


def test_singan_file_of_a_newer_format_says_so(tmp_path):
    with pytest.raises(UserError, match="format 2, written by faceaug 2.0.*Upgrade"):
        SinganModel.load(_singan_file(tmp_path, format="faceaug-singan-2", faceaug_version="2.0"))


def test_singan_safetensors_with_an_unknown_architecture_setting_is_named(tmp_path):
    arch = asdict(_singan_model().arch)
    with pytest.raises(UserError, match="Unknown setting 'architecture.patch_size' in the SinGAN architecture "
                                        "stored in .*singan.safetensors"):
        SinganModel.load(_singan_safetensors(tmp_path, architecture={**arch, "patch_size": 7}))


def test_singan_safetensors_of_a_newer_format_says_so(tmp_path):
    with pytest.raises(UserError, match="format 2, written by faceaug 2.0.*Upgrade"):
        SinganModel.load(_singan_safetensors(tmp_path, version=2, faceaug_version="2.0"))


@pytest.mark.parametrize("changes, message", [
    ({"format": "other"}, "is not a faceaug SinGAN model file"),
    ({"architecture": None}, "must be a table"),
    ({"architecture": {"sizes": [[25, 25]]}}, "Incomplete SinGAN architecture .*no scale_factor"),
])
def test_a_damaged_singan_safetensors_is_one_sentence(tmp_path, changes, message):
    with pytest.raises(UserError, match=message):
        SinganModel.load(_singan_safetensors(tmp_path, **changes))


@pytest.mark.parametrize("name", ["singan.safetensors", "singan.pt"])
def test_a_missing_singan_file_is_a_user_error(tmp_path, name):
    with pytest.raises(UserError, match="does not exist"):
        SinganModel.load(tmp_path / name)
