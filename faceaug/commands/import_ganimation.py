"""`faceaug import-ganimation`: published ganimation_replicate generator weights → a faceaug model file."""

from __future__ import annotations

from pathlib import Path

from faceaug.aus import AU_NAMES
from faceaug.console import info
from faceaug.errors import UserError
from faceaug.models.ganimation import Generator
from faceaug.models.ganimation_file import GanimationModel
from faceaug.models.ganimation_replicate import convert_state_dict, read_their_state
from faceaug.preprocess.align import crop_template_id


def import_ganimation(checkpoint: Path, out: Path, *, image_size: int) -> Path:
    """Write a faceaug model file at `out` from ganimation_replicate generator weights."""
    if image_size % 4:
        raise UserError(f"--image-size must be a multiple of 4, got {image_size}.")
    state, cfg = convert_state_dict(read_their_state(Path(checkpoint)), image_size)
    generator = Generator(cfg)
    generator.load_state_dict(state)  # strict: every parameter present with the right shape
    model = GanimationModel(
        generator=generator,
        au_names=AU_NAMES,
        crop_template=crop_template_id(),
        origin="imported",
        provenance={"imported_from": Path(checkpoint).name},
    )
    model.save(Path(out))
    info(
        f"Imported {checkpoint} ({cfg.conv_dim} base channels, {cfg.repeat_num} residual blocks, "
        f"{image_size} px) → {out}"
    )
    return Path(out)
