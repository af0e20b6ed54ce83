"""An AU estimator of `faceaug train-au` as the judge of the generator's AUs in GANimation training
(`ganimation.au_judge = "estimator"`).

The paper reads the generator's AUs with the critic's own AU head, trained along. On a few hundred faces of one
image per person (FER2013, label-prototype AUs) that head learns who each face is, not its expression: on 83
faces it reaches training MSE 0.0005 while on 21 held-out people it never beats always answering the mean
(0.0643 vs 0.0645, docs/results.md), so the generator can only "hit" a target AU vector by turning the
face into a training person who carries it. The estimator is trained with faceaug's classic augmentation (flips,
shifts, relighting) on the same faces and does better on new people (FER2013: held-out MAE 0.151 vs 0.193 for
the mean), so its gradients point more towards expressions. It is frozen, and reads the fake as the estimator
reads a face: luma, resized to its side, in [−1, 1].

Caveat: an expansion whose generator was trained against this estimator should not be judged by it —
`faceaug report` and the quality gate would measure what the generator optimised. The model file records the
estimator's weights id (provenance training.au_judge_id), and both say so when handed the same estimator
(`faceaug.fer.au_estimator.trained_against`). Train a second estimator (other seed) for them, and trust
`faceaug fer-eval` first.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from faceaug.fer.au_estimator import AuEstimator

#: ITU-R 601 luma, as OpenCV's RGB2GRAY that AuEstimator.prepare uses
_LUMA = (0.299, 0.587, 0.114)


class EstimatorJudge(nn.Module):
    """A frozen AuEstimator with the critic's call shape: judge(x) → (None, AUs) for RGB x in [−1, 1]."""

    def __init__(self, estimator: AuEstimator):
        super().__init__()
        self.net = estimator.net.eval().requires_grad_(False)
        self.image_size = estimator.image_size
        self.estimator_id = estimator.model_id  # recorded in the model file (provenance training.au_judge_id)
        self.register_buffer("luma", torch.tensor(_LUMA).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> EstimatorJudge:  # always eval: BatchNorm keeps its statistics
        return super().train(False)

    def forward(self, x: torch.Tensor) -> tuple[None, torch.Tensor]:
        grey = (x * self.luma.to(x.dtype)).sum(1, keepdim=True)
        if grey.shape[-1] != self.image_size:
            grey = F.interpolate(
                grey,
                size=(self.image_size, self.image_size),
                mode="bilinear",
                align_corners=False,
                antialias=grey.shape[-1] > self.image_size,
            )
        return None, torch.sigmoid(self.net(grey))


def load_judge(path: Path, device: torch.device) -> EstimatorJudge:
    return EstimatorJudge(AuEstimator.load(path)).to(device)
