"""Training and scoring one FER classifier: a fixed number of AdamW steps on class-balanced batches (classes drawn
uniformly, then an image within the class), cosine learning-rate decay, and accuracy / macro-F1 / confusion matrix
on a test set. Every draw (initial weights, batches, augmentation, dropout) comes from the seed."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset

from faceaug.fer.dataset import ManifestDataset
from faceaug.fer.model import FerNet, FerNetConfig


@dataclass(frozen=True)
class FerTrainSettings:
    steps: int = 600
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 5e-4
    width: int = 16


def cosine_lr(lr: float, step: int, steps: int) -> float:
    """Cosine decay from `lr` at step 0 to 0 at `steps` (the FER classifier's and the AU estimator's schedule)."""
    return lr * 0.5 * (1 + math.cos(math.pi * step / steps))


def balanced_batches(
    targets: np.ndarray, n_classes: int, batch_size: int, steps: int, rng: np.random.Generator
) -> np.ndarray:
    """(steps, batch_size) indices into `targets`: each draw picks a class present, then one of its images."""
    by_class = [np.flatnonzero(targets == c) for c in range(n_classes)]
    present = [c for c in range(n_classes) if len(by_class[c])]
    classes = rng.choice(present, size=(steps, batch_size))
    picks = rng.random((steps, batch_size))
    return np.vectorize(lambda c, u: by_class[c][int(u * len(by_class[c]))])(classes, picks)


def train_classifier(
    train: list[ManifestDataset],
    n_classes: int,
    settings: FerTrainSettings,
    *,
    seed: int,
    device: torch.device,
    on_step: Callable[[int], None] | None = None,
) -> FerNet:
    """Train a FerNet on the union of `train` (same channels, image size and label map)."""
    torch.manual_seed(seed)  # weight init and dropout; the rest draws from `rng`
    rng = np.random.default_rng(seed)
    data = ConcatDataset(train)
    targets = np.concatenate([ds.targets for ds in train])
    model = FerNet(FerNetConfig(n_classes=n_classes, in_channels=train[0].channels, width=settings.width))
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    batches = balanced_batches(targets, n_classes, settings.batch_size, settings.steps, rng)
    for step, index in enumerate(batches):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(settings.lr, step, settings.steps)
        items = [data[int(i)] for i in index]
        x = torch.stack([item[0] for item in items]).to(device)
        y = torch.tensor([item[1] for item in items], device=device)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if on_step is not None:
            on_step(step + 1)
    return model.eval()


@torch.no_grad()
def predict(model: FerNet, test: ManifestDataset, device: torch.device, batch: int = 256) -> np.ndarray:
    out = []
    for start in range(0, len(test), batch):
        x = torch.stack([test[i][0] for i in range(start, min(start + batch, len(test)))]).to(device)
        out.append(model(x).argmax(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def scores(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict:
    """Accuracy, macro-F1 over the classes present in `truth`, and the confusion matrix (rows = truth)."""
    confusion = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    tp = np.diag(confusion).astype(np.float64)
    precision = np.divide(tp, confusion.sum(0), out=np.zeros(n_classes), where=confusion.sum(0) > 0)
    recall = np.divide(tp, confusion.sum(1), out=np.zeros(n_classes), where=confusion.sum(1) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n_classes), where=(precision + recall) > 0)
    present = confusion.sum(1) > 0
    return {
        "accuracy": float(tp.sum() / max(len(truth), 1)),
        "macro_f1": float(f1[present].mean()),
        "per_class_f1": f1.round(4).tolist(),
        "confusion": confusion.tolist(),
    }
