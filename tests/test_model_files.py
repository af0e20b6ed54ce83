"""Model files and checkpoints from another faceaug version, or damaged ones: one clear sentence, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from faceaug.config import GanimationConfig
from faceaug.editing import GanimationEditor
from faceaug.errors import UserError
from faceaug.models.ganimation import Generator
from faceaug.training.ganimation_checkpoint import load_checkpoint, save_checkpoint, save_model_file
from faceaug.training.singan import train_singan
from faceaug.training.singan_checkpoint import load_singan, save_singan
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


def _singan_file(tmp_path: Path, **changes) -> Path:
    path = save_singan(train_singan(_face(36), TINY, seed=0, device=CPU), tmp_path / "singan.pt")
    payload = torch.load(path, weights_only=True)
    torch.save({**payload, **changes}, path)
    return path


def test_singan_file_with_unknown_settings_is_named_not_a_type_error(tmp_path):
    import json

    from dataclasses import asdict

    stored = json.dumps({**asdict(TINY), "patch_size": 7})
    with pytest.raises(UserError, match="Unknown setting 'singan.patch_size'"):
        load_singan(_singan_file(tmp_path, config=stored))


def test_singan_file_of_a_newer_format_says_so(tmp_path):
    with pytest.raises(UserError, match="format 2, written by faceaug 2.0.*Upgrade"):
        load_singan(_singan_file(tmp_path, format="faceaug-singan-2", faceaug_version="2.0"))
