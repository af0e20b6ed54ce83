"""Model files and checkpoints from another faceaug version, or damaged ones: one clear sentence, no traceback."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from faceaug.aus import AU_NAMES
from faceaug.config import GanimationConfig
from faceaug.errors import UserError
from faceaug.fer.model import FerNet, FerNetConfig
from faceaug.fer.net_file import load_net, net_header, save_net
from faceaug.inference.editor import GanimationEditor
from faceaug.inference.singan import SinganModel
from faceaug.models.ganimation_file import GanimationModel
from faceaug.models.singan import ScaleGenerator, SinganArchitecture
from faceaug.models.singan_file import SinganFile
from faceaug.preprocess.align import crop_template_id
from faceaug.training.ganimation_checkpoint import load_checkpoint, save_checkpoint
from faceaug.training.singan import train_singan
from tests.ganimation_fixtures import save_model
from tests.test_singan import CPU, TINY, _face

SMALL = GanimationConfig(image_size=32, conv_dim=8, repeat_num=2)


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


def test_a_model_file_loads(tmp_path):
    editor = _load(_model_file(tmp_path))
    assert editor.image_size == 32 and editor.au_names == AU_NAMES and editor.crop_template == crop_template_id()


def test_the_model_id_is_that_of_the_weights_not_of_the_header(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    torch.manual_seed(0)
    plain = _model_file(tmp_path / "a")
    torch.manual_seed(0)
    imported = _model_file(tmp_path / "b", origin="imported", provenance={"imported_from": "x.pth"})
    assert plain.read_bytes() != imported.read_bytes()
    assert _load(plain).model_id == _load(imported).model_id


def test_unknown_settings_in_a_model_file_are_named(tmp_path):
    arch = {**dataclasses.asdict(SMALL.generator_config()), "warp": 2.0, "zoom": 1}
    with pytest.raises(
        UserError,
        match=r"Unknown settings 'architecture.warp', 'architecture.zoom' in the "
        r"architecture in .*ganimation.safetensors",
    ):
        _load(_model_file(tmp_path, architecture=arch))


def test_architecture_settings_missing_from_a_model_file_take_their_defaults(tmp_path):
    arch = {k: v for k, v in dataclasses.asdict(SMALL.generator_config()).items() if k != "condition"}
    assert _load(_model_file(tmp_path, architecture=arch)).condition == "absolute"


@pytest.mark.parametrize("key", ["architecture", "au_names", "image_size", "crop_template"])
def test_a_model_file_missing_a_part_is_a_user_error(tmp_path, key):
    with pytest.raises(UserError, match=f"incomplete faceaug GANimation model .*{key}"):
        _load(_model_file(tmp_path, **{key: None}))


def test_a_model_file_of_a_newer_format_says_which_faceaug_reads_it(tmp_path):
    path = _model_file(tmp_path, version=7, provenance={"faceaug_version": "3.1.0"})
    with pytest.raises(UserError, match="format 7, written by faceaug 3.1.0.*Upgrade faceaug"):
        _load(path)


def test_a_checkpoint_of_a_newer_format_says_so(tmp_path):
    path = save_checkpoint(tmp_path / "last.pt", {"ganimation": vars(SMALL), "step": 3})
    assert load_checkpoint(path)["step"] == 3
    payload = torch.load(path, weights_only=True)
    torch.save({**payload, "version": 2, "faceaug_version": "3.0"}, path)
    with pytest.raises(UserError, match="format 2, written by faceaug 3.0"):
        load_checkpoint(path)


def _singan_model() -> SinganModel:
    return train_singan(_face(36), TINY, seed=0, device=CPU, start_scale=1)


def _singan_safetensors(tmp_path: Path, **changes) -> Path:
    """A current SinGAN file with `changes` to the JSON in its header."""
    path = _singan_model().save(tmp_path / "singan.safetensors")
    with safe_open(str(path), framework="pt") as fh:
        header = json.loads(fh.metadata()["faceaug"])
    save_file(load_file(path), str(path), metadata={"faceaug": json.dumps({**header, **changes})})
    return path


def test_singan_safetensors_with_an_unknown_architecture_setting_is_named(tmp_path):
    arch = asdict(_singan_model().arch)
    with pytest.raises(
        UserError,
        match="Unknown setting 'architecture.patch_size' in the SinGAN architecture stored in .*singan.safetensors",
    ):
        SinganModel.load(_singan_safetensors(tmp_path, architecture={**arch, "patch_size": 7}))


def test_singan_safetensors_of_a_newer_format_says_so(tmp_path):
    with pytest.raises(UserError, match="format 2, written by faceaug 2.0.*Upgrade"):
        SinganModel.load(_singan_safetensors(tmp_path, version=2, faceaug_version="2.0"))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"format": "other"}, "is not a faceaug SinGAN model file"),
        ({"architecture": None}, "must be a table"),
        ({"architecture": {"sizes": [[25, 25]]}}, "Incomplete SinGAN architecture .*no scale_factor"),
    ],
)
def test_a_damaged_singan_safetensors_is_one_sentence(tmp_path, changes, message):
    with pytest.raises(UserError, match=message):
        SinganModel.load(_singan_safetensors(tmp_path, **changes))


def test_a_missing_singan_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        SinganModel.load(tmp_path / "singan.safetensors")


# A model file is input: its header may claim sizes its weights don't have, and its weights may not be numbers.


@pytest.mark.parametrize("field, value", [("conv_dim", 10**9), ("image_size", 10**6)])
def test_a_header_claiming_absurd_sizes_is_refused_before_a_network_is_built(tmp_path, field, value):
    arch = {**dataclasses.asdict(SMALL.generator_config()), field: value}
    path = _model_file(tmp_path, architecture=arch, **({"image_size": value} if field == "image_size" else {}))
    started = time.perf_counter()
    with pytest.raises(UserError, match=rf"{re.escape(str(path))} is a damaged GANimation model: .*{field}"):
        GanimationModel.load(path)
    assert time.perf_counter() - started < 10  # refused from the header, nothing of that size allocated


def _with_one_value(tensors: dict[str, torch.Tensor], name: str, value: float) -> dict[str, torch.Tensor]:
    changed = {k: v.clone() for k, v in tensors.items()}
    changed[name].view(-1)[0] = value
    return changed


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_ganimation_model_with_non_finite_weights_is_refused(tmp_path, value):
    path = _model_file(tmp_path)
    with safe_open(str(path), framework="pt") as fh:
        metadata = fh.metadata()
    save_file(_with_one_value(load_file(path), "color_head.0.weight", value), str(path), metadata=metadata)
    with pytest.raises(UserError, match=r"not finite numbers .*color_head\.0\.weight"):
        GanimationModel.load(path)


def test_fernet_files_with_absurd_sizes_or_non_finite_weights_are_refused(tmp_path):
    net = FerNet(FerNetConfig(n_classes=3))
    header = net_header(net, "au_estimator", {"image_size": 48})
    path = save_net(net, {**header, "net": {**header["net"], "width": 10**12}}, tmp_path / "wide.safetensors")
    with pytest.raises(UserError, match=r"damaged AU estimator: .*width = 1000000000000.*sized for 16"):
        load_net(path, "au_estimator", "AU estimator")
    net.body[0][1].running_var[0] = float("nan")
    with pytest.raises(UserError, match=r"AU estimator .* not finite numbers .*body\.0\.1\.running_var"):
        load_net(save_net(net, header, tmp_path / "nan.safetensors"), "au_estimator", "AU estimator")


def test_a_singan_file_with_non_finite_weights_is_refused(tmp_path):
    """Built by hand (no training): two scales of 8 channels."""
    arch = SinganArchitecture(
        sizes=((12, 12), (16, 16)),
        scale_factor=0.75,
        first_scale=0,
        channels=(8, 8),
        num_layers=4,
        noise_amps=(0.1, 0.05),
        mode="reconstruct",
    )
    generators = [ScaleGenerator(arch.spec(scale)) for scale in range(2)]
    stored = SinganFile(arch, np.zeros((16, 16, 3), np.uint8), generators, torch.zeros(1, 3, 12, 12), {"seed": 0})
    assert SinganModel.load(stored.save(tmp_path / "good.safetensors")).arch == arch
    with torch.no_grad():
        generators[1].tail[0].weight.view(-1)[0] = float("nan")
    with pytest.raises(UserError, match=r"SinGAN model file .* not finite numbers .*generators\.1\.tail\.0\.weight"):
        SinganModel.load(stored.save(tmp_path / "nan.safetensors"))
    with torch.no_grad():
        generators[1].tail[0].weight.view(-1)[0] = 0.0
    wide = dataclasses.replace(stored, arch=dataclasses.replace(arch, channels=(8, 10**9)))
    with pytest.raises(UserError, match=r"damaged SinGAN model file: .*channels\[1\] = 1000000000"):
        SinganModel.load(wide.save(tmp_path / "wide.safetensors"))


def test_an_oracle_with_non_finite_weights_is_refused(tmp_path):
    from faceaug.synth.oracle import AuOracle, OracleNet, OracleNetConfig

    net = OracleNet(OracleNetConfig())
    with torch.no_grad():
        net.head[-1].bias[0] = float("inf")
    with pytest.raises(UserError, match=r"not finite numbers .*head\.5\.bias"):
        AuOracle.load(AuOracle(net).save(tmp_path / "au_oracle.safetensors"))


@pytest.mark.parametrize("damage", ["nan", "conv_dim"])
def test_expand_with_a_damaged_model_file_exits_2(tmp_path, runner, damage):
    from faceaug.cli import app
    from tests.ganimation_fixtures import make_work_dir

    work = make_work_dir(tmp_path / "work", n=8, size=32)
    path = _model_file(
        tmp_path,
        **(
            {"architecture": {**dataclasses.asdict(SMALL.generator_config()), "conv_dim": 10**9}}
            if damage == "conv_dim"
            else {}
        ),
    )
    if damage == "nan":
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata()
        save_file(
            _with_one_value(load_file(path), "attention_head.0.weight", float("nan")), str(path), metadata=metadata
        )
    result = runner.invoke(
        app,
        [
            "expand",
            str(work),
            "--model",
            str(path),
            "--au-preset",
            "happy",
            "--per-class",
            "2",
            "--samples-per-edit",
            "0",
            "--min-target-probability",
            "0",
            "--out",
            str(tmp_path / "out"),
            "--device",
            "cpu",
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 2, result.output
    assert str(path) in result.output and ("not finite" in result.output or "conv_dim" in result.output)
