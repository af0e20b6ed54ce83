"""A compact FER classifier trained from scratch: a 3×3 stem conv, then three stages of two 3×3 convs (BatchNorm +
ReLU each), 2×2 max-pooling after each, global average pooling, dropout and a linear head. ~0.3 M parameters at
width 16 (24 M multiply-adds per 48-px face, so CPU training takes about a minute); works for 48–128 px crops
(the pooling makes it size-agnostic)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class FerNetConfig:
    n_classes: int
    in_channels: int = 1
    width: int = 16  # channels of the stem, doubled per stage
    stages: int = 3
    dropout: float = 0.3


def _stem(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True), nn.MaxPool2d(2)
    )


def _stage(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class FerNet(nn.Module):
    def __init__(self, cfg: FerNetConfig):
        super().__init__()
        self.config = cfg
        widths = [cfg.width * 2**i for i in range(cfg.stages + 1)]
        self.body = nn.Sequential(
            _stem(cfg.in_channels, widths[0]), *[_stage(c_in, c_out) for c_in, c_out in zip(widths, widths[1:])]
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(cfg.dropout), nn.Linear(widths[-1], cfg.n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))
