"""SinGAN model files: `torch.save` of tensors and plain values, loaded with `weights_only=True` (no pickled code)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from faceaug import __version__
from faceaug.config import SinganConfig, section_from_dict
from faceaug.errors import UserError
from faceaug.io.atomic import save_torch_atomic
from faceaug.io.versions import check_format_version
from faceaug.inference.singan import SinganModel
from faceaug.models.singan import ScaleGenerator, ScaleSpec, SinganArchitecture

FORMAT_NAME = "faceaug-singan"
FORMAT_VERSION = 1
FORMAT = f"{FORMAT_NAME}-{FORMAT_VERSION}"
#: Settings that files of format 1 hold but faceaug no longer has (ConSinGAN's, never implemented): ignored.
_RETIRED_SETTINGS = ("architecture", "train_stages", "lr_scale", "num_stages")
_KEYS = ("config", "image", "sizes", "scale_factor", "first_scale", "channels", "generators", "noise_amps", "z_rec",
         "seed", "mode", "losses")


def save_singan(model: SinganModel, path: Path) -> Path:
    arch = model.arch
    payload = {
        "format": FORMAT,
        "config": json.dumps(model.provenance["settings"]),
        "image": torch.from_numpy(np.ascontiguousarray(model.image)),
        "sizes": [list(s) for s in arch.sizes],
        "scale_factor": float(arch.scale_factor),
        "first_scale": int(arch.first_scale),
        "channels": [g.spec.channels for g in model.generators],
        "generators": [{k: v.detach().cpu() for k, v in g.state_dict().items()} for g in model.generators],
        "noise_amps": [float(a) for a in arch.noise_amps],
        "z_rec": None if model.z_rec is None else model.z_rec.detach().cpu(),
        "seed": int(model.provenance["seed"]),
        "mode": arch.mode,
        "losses": json.dumps(model.provenance["losses"]),
        "faceaug_version": __version__,
    }
    return save_torch_atomic(payload, path)


def load_singan(path: Path, device="cpu") -> SinganModel:
    try:
        data = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"SinGAN model file {path} does not exist.") from None
    except Exception as exc:  # corrupt or foreign file
        raise UserError(f"SinGAN model file {path} could not be read: {exc}.") from None
    name, _, version = str(data.get("format", "") if isinstance(data, dict) else "").rpartition("-")
    if name != FORMAT_NAME:
        raise UserError(f"{path} is not a faceaug SinGAN model file.")
    check_format_version(path, "SinGAN model file", version, FORMAT_VERSION, data.get("faceaug_version"))
    missing = [key for key in _KEYS if key not in data]
    if missing:
        raise UserError(f"{path} is an incomplete faceaug SinGAN model file (no {', '.join(missing)}).")
    try:
        stored = json.loads(data["config"])
    except (TypeError, ValueError):
        raise UserError(f"{path} is a damaged faceaug SinGAN model file (its settings are not JSON).") from None
    if isinstance(stored, dict):
        stored = {key: value for key, value in stored.items() if key not in _RETIRED_SETTINGS}
    cfg = section_from_dict(SinganConfig, "singan", stored, f"the settings stored in {path}")
    generators = []
    for channels, state in zip(data["channels"], data["generators"]):
        g = ScaleGenerator(ScaleSpec(channels, cfg.num_layers))
        try:
            g.load_state_dict(state)
        except RuntimeError as exc:
            raise UserError(f"{path} holds SinGAN weights that don't match its own settings ({exc}).") from None
        generators.append(g.to(device).eval().requires_grad_(False))
    arch = SinganArchitecture(sizes=tuple(tuple(s) for s in data["sizes"]), scale_factor=data["scale_factor"],
                              first_scale=data["first_scale"], channels=tuple(data["channels"]),
                              num_layers=cfg.num_layers, noise_amps=tuple(data["noise_amps"]), mode=data["mode"])
    return SinganModel(arch=arch, image=data["image"].numpy(), generators=generators, z_rec=data["z_rec"],
                       provenance={"seed": data["seed"], "faceaug_version": data["faceaug_version"],
                                   "settings": asdict(cfg), "losses": json.loads(data["losses"])},
                       cpu_threads=cfg.cpu_threads)
