"""Model files and checkpoints from another faceaug version, or damaged ones: one clear sentence, no traceback."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from faceaug.config import GanimationConfig
from faceaug.inference.editor import GanimationEditor
from faceaug.errors import UserError
from faceaug.models.ganimation import Generator
from faceaug.aus import AU_NAMES
from faceaug.inference.singan import SinganModel, sample_singan
from faceaug.preprocess.align import crop_template_id
from faceaug.training.ganimation_checkpoint import load_checkpoint, save_checkpoint
from tests.ganimation_fixtures import save_model
from faceaug.training.singan import train_singan
from tests.test_singan import CPU, TINY, _face

SMALL = GanimationConfig(image_size=32, conv_dim=8, repeat_num=2)


def _legacy_model_file(tmp_path: Path, **changes) -> Path:
    """A model file as faceaug wrote it before models owned their files: torch.save of the generator weights and the
    whole training config (format 1)."""
    generator = Generator(SMALL.generator_config())
    payload = {"format": "faceaug-ganimation", "version": 1, "generator": generator.state_dict(),
               "ganimation": vars(SMALL), "au_names": list(AU_NAMES), "image_size": 32,
               "crop_template": crop_template_id(), "origin": "trained"}
    for key, value in changes.items():
        if value is None:
            payload.pop(key)
        else:
            payload[key] = value
    path = tmp_path / "ganimation.pt"
    torch.save(payload, path)
    return path


def _model_file(tmp_path: Path, **changes) -> Path:
    """A current model file (safetensors), its JSON header changed as given (None removes a key)."""
    path = save_model(tmp_path / "ganimation.safetensors", SMALL)
    with safe_open(str(path), framework="pt") as fh:
        header, state = json.loads(fh.metadata()["faceaug"]), {k: fh.get_tensor(k) for k in fh.keys()}
    for key, value in changes.items():
        if value is None:
            header.pop(key)
        else:
            header[key] = value
    save_file(state, str(path), metadata={"faceaug": json.dumps(header)})
    return path


def _load(path: Path):
    return GanimationEditor.load(path, torch.device("cpu"))


@pytest.mark.parametrize("write", [_model_file, _legacy_model_file])
def test_a_current_and_a_legacy_model_file_load(tmp_path, write):
    editor = _load(write(tmp_path))
    assert editor.image_size == 32 and editor.au_names == AU_NAMES and editor.crop_template == crop_template_id()


def test_the_model_id_is_that_of_the_weights_not_of_the_file(tmp_path):
    torch.manual_seed(0)
    legacy = _legacy_model_file(tmp_path)
    torch.manual_seed(0)
    current = save_model(tmp_path / "g.safetensors", SMALL)
    assert _load(legacy).model_id == _load(current).model_id


def test_unknown_settings_in_a_model_file_are_named(tmp_path):
    arch = {**dataclasses.asdict(SMALL.generator_config()), "warp": 2.0, "zoom": 1}
    with pytest.raises(UserError, match=r"Unknown settings 'architecture.warp', 'architecture.zoom' in the "
                                        r"architecture in .*ganimation.safetensors"):
        _load(_model_file(tmp_path, architecture=arch))


def test_settings_missing_from_an_older_model_file_take_their_defaults(tmp_path):
    stored = {k: v for k, v in vars(SMALL).items() if k not in ("ema_decay", "condition")}
    assert _load(_legacy_model_file(tmp_path, ganimation=stored)).condition == "absolute"


@pytest.mark.parametrize("write", [_model_file, _legacy_model_file])
@pytest.mark.parametrize("key", ["au_names", "image_size", "crop_template"])
def test_a_model_file_missing_a_part_is_a_user_error(tmp_path, key, write):
    with pytest.raises(UserError, match=f"incomplete faceaug GANimation model .*{key}"):
        _load(write(tmp_path, **{key: None}))


def test_a_model_file_without_its_architecture_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="incomplete faceaug GANimation model .*architecture"):
        _load(_model_file(tmp_path, architecture=None))
    with pytest.raises(UserError, match="incomplete faceaug GANimation model .*ganimation"):
        _load(_legacy_model_file(tmp_path, ganimation=None))


def test_a_model_file_of_a_newer_format_says_which_faceaug_reads_it(tmp_path):
    path = _model_file(tmp_path, version=7, provenance={"faceaug_version": "3.1.0"})
    with pytest.raises(UserError, match="format 7, written by faceaug 3.1.0.*Upgrade faceaug"):
        _load(path)
    path = _legacy_model_file(tmp_path, version=7, faceaug_version="3.1.0")
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


def test_a_safetensors_header_length_ending_in_0x80_is_not_taken_for_a_pickle(tmp_path):
    """The header length's first byte is the pickle opcode 0x80 for 1 header length in 256: still safetensors."""
    from faceaug.inference.singan_legacy import is_torch_file

    path = tmp_path / "singan.safetensors"
    path.write_bytes((0x2980).to_bytes(8, "little") + b"{" + b" " * (0x2980 - 1))
    assert not is_torch_file(path)
    legacy = tmp_path / "singan.pt"
    torch.save({"format": "faceaug-singan-1"}, legacy)
    assert is_torch_file(legacy)


@pytest.mark.parametrize("name", ["singan.safetensors", "singan.pt"])
def test_a_missing_singan_file_is_a_user_error(tmp_path, name):
    with pytest.raises(UserError, match="does not exist"):
        SinganModel.load(tmp_path / name)
