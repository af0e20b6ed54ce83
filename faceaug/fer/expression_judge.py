"""An expression judge independent of the editor: a small CNN classifier of the expression a grey face shows,
trained by the project on FER2013's train/ faces (`python -m benchmarks.train_bundled --judge`) and shipped with
faceaug (faceaug/pretrained/). It is never a training loss of any editor, so what it reads of an edit is evidence,
not the thing the generator learned to fool. `faceaug expand`'s gate keeps an edit only when the judge gives its
target at least `expand.min_target_probability`.

    judge = ExpressionJudge.load(bundled_judge_path())
    probs = judge.probabilities(images_uint8_nhw3)      # (N, len(judge.labels)), rows sum to 1
    judge.heldout["accuracy"]                           # on FER2013 test/ faces it never saw

The network is faceaug's FER classifier (faceaug.fer.model.FerNet), as the AU estimator's body is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceaug.fer.model import FerNet, FerNetConfig
from faceaug.fer.net_file import grey_input, load_net, net_header, save_net
from faceaug.io.safetensors_files import weights_id

KIND = "expression_judge"
_BATCH = 256


@dataclass
class ExpressionJudge:
    net: FerNet
    image_size: int
    labels: tuple[str, ...]  # faceaug preset names, in the network's output order
    heldout: dict[str, Any] = field(default_factory=dict)  # its scores on faces it never saw
    training: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, labels: tuple[str, ...], image_size: int = 48, width: int = 16) -> ExpressionJudge:
        return cls(
            net=FerNet(FerNetConfig(n_classes=len(labels), in_channels=1, width=width)),
            image_size=image_size,
            labels=tuple(labels),
        )

    @property
    def model_id(self) -> str:
        return weights_id(self.net.state_dict())

    def prepare(self, images: np.ndarray) -> torch.Tensor:
        """uint8 faces (N, H, W[, 3]) → model input (N, 1, S, S) in [−1, 1] (grey: a judge blind to tint)."""
        return grey_input(images, self.image_size)

    @torch.no_grad()
    def probabilities(self, images: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
        """(N, len(labels)) class probabilities for uint8 faces (N, H, W, 3); a face and its mirror image are
        averaged (the judge should not care which way a face looks)."""
        self.net.to(device).eval()
        out = []
        for i in range(0, len(images), _BATCH):
            x = self.prepare(images[i : i + _BATCH]).to(device)
            logits = (self.net(x).softmax(1) + self.net(x.flip(3)).softmax(1)) / 2
            out.append(logits.float().cpu().numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, len(self.labels)), np.float32)

    def target_probability(
        self, images: np.ndarray, targets: list[str], device: str | torch.device = "cpu"
    ) -> np.ndarray:
        """P(target) of each image (NaN where the target is not one of the judge's labels: it cannot judge it)."""
        probs = self.probabilities(images, device)
        index = {label: i for i, label in enumerate(self.labels)}
        return np.asarray([probs[n, index[t]] if t in index else np.nan for n, t in enumerate(targets)], np.float32)

    def header(self) -> dict[str, Any]:
        return net_header(
            self.net,
            KIND,
            {
                "image_size": self.image_size,
                "labels": list(self.labels),
                "heldout": self.heldout,
                "training": self.training,
            },
        )

    def save(self, path: Path) -> Path:
        return save_net(self.net, self.header(), path)

    @classmethod
    def load(cls, path: Path) -> ExpressionJudge:
        net, header = load_net(path, KIND, "expression judge")
        return cls(
            net=net,
            image_size=int(header["image_size"]),
            labels=tuple(header["labels"]),
            heldout=header.get("heldout", {}),
            training=header.get("training", {}),
        )
