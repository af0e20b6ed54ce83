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
from faceaug.inference.singan import SinganModel, sample_singan
from faceaug.inference.singan_file import StoredSingan, write_singan_file
from faceaug.models.ganimation import Generator
from faceaug.models.ganimation_file import GanimationModel
from faceaug.models.singan import ScaleGenerator, SinganArchitecture
from faceaug.preprocess.align import crop_template_id
from faceaug.training.ganimation_checkpoint import load_checkpoint, save_checkpoint
from faceaug.training.singan import train_singan
from tests.ganimation_fixtures import save_model
from tests.test_singan import CPU, TINY, _face

SMALL = GanimationConfig(image_size=32, conv_dim=8, repeat_num=2)


def _legacy_model_file(tmp_path: Path, **changes) -> Path:
    """A model file as faceaug wrote it before models owned their files: torch.save of the generator weights and the
    whole training config (format 1)."""
    generator = Generator(SMALL.generator_config())
    payload = {
        "format": "faceaug-ganimation",
        "version": 1,
        "generator": generator.state_dict(),
        "ganimation": vars(SMALL),
        "au_names": list(AU_NAMES),
        "image_size": 32,
        "crop_template": crop_template_id(),
        "origin": "trained",
    }
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
    with pytest.raises(
        UserError,
        match=r"Unknown settings 'architecture.warp', 'architecture.zoom' in the "
        r"architecture in .*ganimation.safetensors",
    ):
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
    settings = {
        **model.provenance["settings"],
        "architecture": "singan",
        "train_stages": 3,
        "lr_scale": 0.1,
        "num_stages": 6,
    }
    payload = {
        "format": "faceaug-singan-1",
        "config": json.dumps(settings),
        "image": torch.from_numpy(model.image),
        "sizes": [list(s) for s in arch.sizes],
        "scale_factor": arch.scale_factor,
        "first_scale": arch.first_scale,
        "channels": list(arch.channels),
        "generators": [g.state_dict() for g in model.generators],
        "noise_amps": list(arch.noise_amps),
        "z_rec": model.z_rec,
        "seed": 0,
        "mode": arch.mode,
        "losses": json.dumps(model.provenance["losses"]),
        "faceaug_version": "0.1.0",
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
    np.testing.assert_array_equal(
        sample_singan(loaded, 2, start_scale=1, mode=mode, seed=3, device=CPU),
        sample_singan(model, 2, start_scale=1, mode=mode, seed=3, device=CPU),
    )


def test_singan_file_with_unknown_settings_is_named_not_a_type_error(tmp_path):
    stored = json.dumps({**asdict(TINY), "patch_size": 7})
    with pytest.raises(UserError, match="Unknown setting 'singan.patch_size'"):
        SinganModel.load(_singan_file(tmp_path, config=stored))


def test_singan_file_of_a_newer_format_says_so(tmp_path):
    with pytest.raises(UserError, match="format 2, written by faceaug 2.0.*Upgrade"):
        SinganModel.load(_singan_file(tmp_path, format="faceaug-singan-2", faceaug_version="2.0"))


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
    state = Generator(SMALL.generator_config()).state_dict()
    legacy = _legacy_model_file(tmp_path, generator=_with_one_value(state, "body.0.weight", value))
    with pytest.raises(UserError, match=r"not finite numbers .*body\.0\.weight"):
        GanimationModel.load(legacy)


def test_fernet_files_with_absurd_sizes_or_non_finite_weights_are_refused(tmp_path):
    net = FerNet(FerNetConfig(n_classes=3))
    header = net_header(net, "au_estimator", {})
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
    states = [ScaleGenerator(arch.spec(scale)).state_dict() for scale in range(2)]
    stored = StoredSingan(arch, np.zeros((16, 16, 3), np.uint8), states, torch.zeros(1, 3, 12, 12), {"seed": 0})
    assert SinganModel.load(write_singan_file(stored, tmp_path / "good.safetensors")).arch == arch
    states[1]["tail.0.weight"].view(-1)[0] = float("nan")
    with pytest.raises(UserError, match=r"SinGAN model file .* not finite numbers .*generators\.1\.tail\.0\.weight"):
        SinganModel.load(write_singan_file(stored, tmp_path / "nan.safetensors"))
    states[1]["tail.0.weight"].view(-1)[0] = 0.0
    wide = dataclasses.replace(arch, channels=(8, 10**9))
    with pytest.raises(UserError, match=r"damaged SinGAN model file: .*channels\[1\] = 1000000000"):
        SinganModel.load(write_singan_file(dataclasses.replace(stored, arch=wide), tmp_path / "wide.safetensors"))


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
