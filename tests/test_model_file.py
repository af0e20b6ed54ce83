"""The one base of faceaug's model files (faceaug.io.model_file): what every kind gets from it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from faceaug.errors import UserError
from faceaug.io.model_file import FileKind, ModelFile, layer_weight, load_weights, read_model_file, write_model_file

KIND = FileKind("faceaug-toy", "toy model", version=2, required=("width",), advice="train one with `toy`")
FLAT = FileKind("toy", "flat toy", key="kind", versioned=False, flat=True)


@dataclass
class Toy(ModelFile):
    file_kind: ClassVar[FileKind] = KIND

    net: nn.Linear
    note: str = ""

    def file_header(self) -> dict:
        return {"width": self.net.out_features, "note": self.note}

    def file_tensors(self) -> dict:
        return self.net.state_dict()

    @classmethod
    def from_file(cls, path: Path, header: dict, tensors: dict, scale: float = 1.0) -> Toy:
        weight = layer_weight(path, KIND.what, tensors, "weight", 2)
        net = load_weights(nn.Linear(weight.shape[1], int(header["width"])), tensors, path, KIND.what)
        with torch.no_grad():
            net.weight.mul_(scale)
        return cls(net, header["note"])


def _metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as fh:
        return fh.metadata()


def _rewrite(path: Path, metadata: dict[str, str] | None, tensors: dict | None = None) -> Path:
    with safe_open(str(path), framework="pt") as fh:
        stored = {name: fh.get_tensor(name) for name in fh.keys()}
    save_file(tensors or stored, str(path), metadata=metadata)
    return path


def test_a_model_saves_and_loads_with_its_kind_and_version_first(tmp_path):
    toy = Toy(nn.Linear(3, 2), "hello")
    path = toy.save(tmp_path / "toy.safetensors")
    header = json.loads(_metadata(path)["faceaug"])
    assert list(header) == ["format", "version", "width", "note"] and header["version"] == 2
    loaded = Toy.load(path, scale=2.0)
    assert loaded.note == "hello" and torch.equal(loaded.net.weight, toy.net.weight * 2)


def test_a_flat_unversioned_kind_keeps_one_metadata_key_per_entry(tmp_path):
    header = {"net": {"width": 4}, "meta": {"classes": ["a"]}}
    path = write_model_file({"w": torch.ones(2)}, header, tmp_path / "flat.safetensors", FLAT)
    assert _metadata(path) == {"kind": "toy", "net": '{"width": 4}', "meta": '{"classes": ["a"]}'}
    assert read_model_file(path, FLAT)[0] == {"kind": "toy", **header}


def test_missing_unreadable_and_foreign_files_are_one_sentence_each(tmp_path):
    with pytest.raises(UserError, match=r"toy model .*none.safetensors does not exist \(train one with `toy`\)\.$"):
        Toy.load(tmp_path / "none.safetensors")
    (tmp_path / "text.safetensors").write_text("hello")
    with pytest.raises(UserError, match=r"toy model .*text.safetensors could not be read: .*\(train one with `toy`\)"):
        Toy.load(tmp_path / "text.safetensors")
    save_file({"w": torch.ones(2)}, str(tmp_path / "bare.safetensors"))
    with pytest.raises(UserError, match=r"is not a faceaug toy model \(it has no faceaug header\)"):
        Toy.load(tmp_path / "bare.safetensors")
    path = Toy(nn.Linear(3, 2)).save(tmp_path / "toy.safetensors")
    with pytest.raises(UserError, match=r"is not a faceaug flat toy \(its kind is None\)"):
        read_model_file(path, FLAT)
    header = json.loads(_metadata(path)["faceaug"])
    _rewrite(path, {"faceaug": json.dumps({**header, "format": "faceaug-other"})})
    with pytest.raises(UserError, match=r"is not a faceaug toy model \(its format is 'faceaug-other'\)"):
        Toy.load(path)


def test_versions_and_required_keys_are_checked(tmp_path):
    path = Toy(nn.Linear(3, 2)).save(tmp_path / "toy.safetensors")
    header = json.loads(_metadata(path)["faceaug"])
    _rewrite(path, {"faceaug": json.dumps({**header, "version": 3, "faceaug_version": "9.0"})})
    with pytest.raises(UserError, match="toy model of format 3, written by faceaug 9.0.*Upgrade faceaug"):
        Toy.load(path)
    _rewrite(path, {"faceaug": json.dumps({k: v for k, v in header.items() if k != "version"})})
    assert Toy.load(path).net.out_features == 2  # a file without a version reads as version 1
    _rewrite(path, {"faceaug": json.dumps({k: v for k, v in header.items() if k != "width"})})
    with pytest.raises(UserError, match=r"is an incomplete faceaug toy model \(no width\)"):
        Toy.load(path)


def test_weights_that_are_not_finite_or_do_not_fit_are_refused(tmp_path):
    toy = Toy(nn.Linear(3, 2))
    path = toy.save(tmp_path / "toy.safetensors")
    metadata = _metadata(path)
    state = {name: tensor.clone() for name, tensor in toy.net.state_dict().items()}
    state["bias"][0] = float("nan")
    _rewrite(path, metadata, state)
    with pytest.raises(UserError, match=r"toy model .* not finite numbers \(NaN or infinite values in bias\)"):
        Toy.load(path)
    _rewrite(path, metadata, {"weight": torch.ones(2, 3), "bias": torch.ones(5)})
    with pytest.raises(UserError, match=r"holds weights that do not fit its own toy model architecture \(.*bias"):
        Toy.load(path)
    _rewrite(path, metadata, {"weight": torch.ones(6), "bias": torch.ones(2)})
    with pytest.raises(UserError, match=r"is a damaged toy model: it holds no weight weights of 2 dimensions"):
        Toy.load(path)
