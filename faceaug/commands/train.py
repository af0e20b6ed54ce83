"""`faceaug train`: GANimation on WORK_DIR's train split → WORK_DIR/models/ganimation.safetensors.

Resolves what the run starts from (a fresh generator, or with `--init` a model whose architecture replaces the
profile's) and checks the settings; the run itself, its files and its torchrun set-up are
faceaug.training.ganimation_run's `train`.

Multi-GPU: start with `torchrun --nproc_per_node N -m faceaug train ...`; each rank trains on its share of every
epoch's batches under DistributedDataParallel and rank 0 writes all files.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from faceaug.config import Config
from faceaug.errors import UserError
from faceaug.models.ganimation_config import GeneratorConfig
from faceaug.models.ganimation_file import GanimationModel
from faceaug.pretrained import choose_editor
from faceaug.training.ganimation_run import FineTuning, train

#: The generator's architecture fields the training settings hold: a fine-tuning run takes them from its model.
_ARCHITECTURE = tuple(f.name for f in dataclasses.fields(GeneratorConfig) if f.name != "n_aus")


def _initial_model(init: str | Path, cfg: Config) -> tuple[FineTuning, Config]:
    """The model a fine-tuning run starts from (a path, or "bundled") with its name, weights id and a line that
    says what was taken from it, and the config with its architecture."""
    choice = choose_editor(init)
    model = GanimationModel.load(choice.path)
    arch = model.config
    changed = {key: getattr(arch, key) for key in _ARCHITECTURE if getattr(arch, key) != getattr(cfg.ganimation, key)}
    cfg = dataclasses.replace(cfg, ganimation=dataclasses.replace(cfg.ganimation, **changed))
    line = f"Fine-tuning from {choice.name} (weights {model.model_id})" + (
        f"; its architecture replaces the profile's: {', '.join(f'{k} {v}' for k, v in changed.items())}."
        if changed
        else "."
    )
    return FineTuning(model, {"name": choice.name, "id": model.model_id}, line), cfg


def run_train(
    work_dir: Path, cfg: Config, *, resume: bool, max_steps: int | None = None, init: str | Path | None = None
) -> Path:
    """Train GANimation on WORK_DIR's train split; returns the path of the model file.

    `max_steps` (for tests and benchmarks) stops after that many steps in total, like a time budget does.
    `init` (a model file, or "bundled") fine-tunes: the generator starts from that model's weights.
    """
    work_dir = Path(work_dir)
    initial = None
    if init is not None:
        if resume:
            raise UserError("--init starts a new fine-tuning run and --resume continues one: give one of them.")
        initial, cfg = _initial_model(init, cfg)
    problem = cfg.ganimation.problem()
    if problem:
        raise UserError(f"GANimation settings don't fit: {problem}")
    return train(work_dir, cfg, resume=resume, max_steps=max_steps, initial=initial)
