"""Convert generator weights published by the ganimation_replicate project into a faceaug generator.

Their generator ("SplitGenerator", pix2pix-style layout) has the same layers as ours, named
`model.<i>` (7×7 conv, two 4×4 stride-2 convs, residual blocks `model.<i>.conv_block.{0,3}`, two transposed
convs), `color_top.0` and `au_top.0`, and uses the same blend (A · input + (1 − A) · C), images in [−1, 1] and
AUs / 5. Differences, all exact:

* their convs before an InstanceNorm carry a bias; InstanceNorm subtracts each channel's mean, so the bias
  cancels and is dropped;
* their InstanceNorm has no affine parameters; ours are set to scale 1, shift 0;
* weights saved from `nn.DataParallel` have a `module.` prefix, which is removed.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from faceaug.aus import N_AUS
from faceaug.errors import UserError
from faceaug.io.torch_files import load_torch_safely
from faceaug.models.ganimation import Generator, GeneratorConfig
from faceaug.models.tensors import IMAGE_CHANNELS

_BLOCK = re.compile(r"^model\.(\d+)\.conv_block\.")
_IGNORED_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


def read_their_state(path: Path) -> dict[str, torch.Tensor]:
    """The generator weights in a ganimation_replicate checkpoint (weights_only), `module.` prefixes removed."""
    payload = load_torch_safely(path, "Checkpoint")
    for key in ("state_dict", "net_gen", "generator"):
        if isinstance(payload.get(key), dict):
            payload = payload[key]
    state = {k.removeprefix("module."): v for k, v in payload.items() if isinstance(v, torch.Tensor)}
    if "model.0.weight" not in state or "color_top.0.weight" not in state or "au_top.0.weight" not in state:
        raise UserError(
            f"{path} does not hold ganimation_replicate generator weights (expected keys "
            "model.0.weight, color_top.0.weight, au_top.0.weight)."
        )
    return state


def convert_state_dict(theirs: dict[str, torch.Tensor], image_size: int) -> tuple[dict, GeneratorConfig]:
    """Their generator state dict → (our Generator state dict, the architecture that sizes it)."""
    first = theirs["model.0.weight"]
    conv_dim, in_channels = int(first.shape[0]), int(first.shape[1])
    if in_channels - IMAGE_CHANNELS != N_AUS:
        raise UserError(f"These weights expect {in_channels - IMAGE_CHANNELS} AUs; faceaug uses {N_AUS}.")
    blocks = sorted({int(m.group(1)) for k in theirs if (m := _BLOCK.match(k))})
    cfg = GeneratorConfig(image_size=image_size, conv_dim=conv_dim, repeat_num=len(blocks))  # the paper's layers
    ours = Generator(cfg).state_dict()
    converted: dict[str, torch.Tensor] = {}
    for key, value in theirs.items():
        if key.endswith(_IGNORED_SUFFIXES):
            continue
        name = key.replace("color_top.", "color_head.").replace("au_top.", "attention_head.")
        name = re.sub(r"^model\.", "body.", name).replace(".conv_block.", ".body.")
        if name.endswith(".bias") and name not in ours:
            continue  # conv bias in front of an InstanceNorm: cancelled by the norm
        if name not in ours:
            raise UserError(f"Unexpected parameter {key!r} in the checkpoint (not part of the GANimation generator).")
        if tuple(ours[name].shape) != tuple(value.shape):
            raise UserError(f"Parameter {key!r} has shape {tuple(value.shape)}, expected {tuple(ours[name].shape)}.")
        converted[name] = value.float().clone()
    for name, value in ours.items():
        if name not in converted:
            if not name.endswith((".weight", ".bias")) or value.dim() != 1:
                raise UserError(f"The checkpoint lacks parameter {name!r} of the generator.")
            converted[name] = torch.ones_like(value) if name.endswith(".weight") else torch.zeros_like(value)
    return converted, cfg
