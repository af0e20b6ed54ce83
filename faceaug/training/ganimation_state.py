"""What a GANimation trainer saves into its training checkpoint and restores from it (`faceaug train --resume`), and
the weights a fine-tuning run starts from (`--init`): `TrainerState`, the part of `GanimationTrainer` that is about
its state rather than its step (faceaug.training.ganimation_trainer). The checkpoint file itself:
faceaug.training.ganimation_checkpoint.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import torch

from faceaug.aus import AU_NAMES
from faceaug.config import Config, GanimationConfig
from faceaug.models.ganimation import Critic, Generator


class TrainerState:
    """The trainer's networks, optimisers, step and records as one dict of tensors and plain values, and back."""

    # set by GanimationTrainer.__init__
    cfg: Config
    g: GanimationConfig
    generator: Generator
    generator_ema: Generator | None
    critic: Critic
    au_judge: torch.nn.Module | None
    au_heldout: list[tuple[int, float]]
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    step: int
    au_pretrained: bool
    init_from: dict[str, Any] | None
    grey: bool

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "au_pretrained": self.au_pretrained,
            "generator": self.generator.state_dict(),
            "generator_ema": None if self.generator_ema is None else self.generator_ema.state_dict(),
            "critic": self.critic.state_dict(),
            "au_judge": self.au_judge.state_dict() if self.g.au_judge == "frozen" and self.au_judge else None,
            "au_heldout": self.au_heldout,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scheduler": {"kind": "constant_then_linear", "step": self.step},
            "scaler": None,  # bf16 autocast needs no gradient scaler
            "rng": {"torch": torch.get_rng_state(), "seed": self.cfg.seed},
            "config": self.cfg.to_dict(),
            "ganimation": dataclasses.asdict(self.g),
            "au_names": list(AU_NAMES),
            "image_size": self.g.image_size,
            "init_from": self.init_from,
            "grey": self.grey,
        }

    def start_from(self, generator_state: dict[str, torch.Tensor], origin: dict[str, Any], grey: bool = False) -> None:
        """Fine-tune: the generator (and its average) start from given weights; `origin` names them (it goes into
        checkpoints and the model file). `grey`: those weights were trained on grey faces, so the fine-tuned editor
        stays a luminance editor whatever the faces (its colour output is made grey, and the model file says so)."""
        self.generator.load_state_dict(generator_state)
        if self.generator_ema is not None:
            self.generator_ema.load_state_dict(generator_state)
        self.init_from = dict(origin)
        self.grey = self.grey or grey

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        if self.generator_ema is not None:
            self.generator_ema.load_state_dict(state.get("generator_ema") or state["generator"])
        self.critic.load_state_dict(state["critic"])
        if state.get("au_judge") is not None:
            self.au_judge = copy.deepcopy(self.critic).requires_grad_(False).eval()
            self.au_judge.load_state_dict(state["au_judge"])
        self.au_heldout = [tuple(x) for x in state.get("au_heldout", [])]
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        torch.set_rng_state(state["rng"]["torch"])
        self.step = int(state["step"])
        self.au_pretrained = bool(state.get("au_pretrained", self.step > 0))
        self.init_from = state.get("init_from")
        self.grey = bool(state.get("grey", self.grey))  # a fine-tuned grey editor stays grey when resumed
