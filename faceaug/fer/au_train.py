"""Training the AU estimator (faceaug.fer.au_estimator) on a WORK_DIR's real faces, and measuring it on held-out
subjects. AdamW with cosine decay for a fixed number of steps on the train split (albumentations: faceaug's
classic pipeline, since mirrored / shifted / relit faces carry the same AUs); held out = the test split (other
subjects), or, when there is none, a fifth of the training subjects. The held-out error is reported beside the
error of always answering the training mean, so "0.05" reads as good or bad."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from faceaug.aus import AU_NAMES
from faceaug.errors import UserError
from faceaug.fer.au_estimator import AuEstimator
from faceaug.fer.augment import classic_pipeline
from faceaug.fer.train import FerTrainSettings, cosine_lr
from faceaug.splits import held_out_subjects

#: Share of the training subjects train-au holds out when faces.parquet has no test split.
HELD_OUT_FRACTION = 0.2


@dataclass(frozen=True)
class AuTrainSettings(FerTrainSettings):
    """The FER classifier's training settings (faceaug.fer.train), plus the side the estimator sees."""

    steps: int = 800
    image_size: int = 48


def split_heldout(faces: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(train rows, held-out rows, how they were chosen)."""
    train, test = faces[faces["split"] == "train"], faces[faces["split"] == "test"]
    if train.empty:
        raise UserError("faces.parquet has no train split faces to learn AUs from.")
    if not test.empty:
        return train, test, "the test split (subjects not in the train split)"
    subjects = train["subject"].astype(str)
    if subjects.nunique() < 2:
        raise UserError("train-au needs faces of at least two subjects (one to hold out).")
    mask = held_out_subjects(subjects.tolist(), HELD_OUT_FRACTION, seed)
    held = subjects[mask].nunique()
    return train[~mask], train[mask], f"{held} of {subjects.nunique()} training subjects held out"


def au_errors(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Per-AU mean absolute error and its mean over AUs."""
    per_au = np.abs(predicted - truth).mean(axis=0)
    return {"mae": float(per_au.mean()), **{f"mae_{au}": float(v) for au, v in zip(AU_NAMES, per_au)}}


def train_au_estimator(
    train_images: np.ndarray,
    train_aus: np.ndarray,
    settings: AuTrainSettings,
    *,
    seed: int,
    device: torch.device,
    on_step: Callable[[int], None] | None = None,
) -> AuEstimator:
    """Fit an AuEstimator to uint8 faces (N, H, W, 3) and their AUs (N, 17) in [0, 1]."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    est = AuEstimator.new(settings.image_size, settings.width)
    grey = est.prepare(train_images)  # (N, 1, S, S) in [−1, 1]
    pixels = ((grey[:, 0].numpy() + 1) * 127.5).round().astype(np.uint8)
    targets = torch.from_numpy(np.array(train_aus, np.float32))
    pipeline = classic_pipeline(seed=seed)
    net = est.net.to(device).train()
    opt = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    for step in range(settings.steps):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(settings.lr, step, settings.steps)
        index = rng.integers(0, len(pixels), settings.batch_size)
        batch = np.stack([pipeline(image=pixels[i])["image"] for i in index])
        x = (torch.from_numpy(batch).float()[:, None] / 127.5 - 1).to(device)
        loss = F.mse_loss(est.forward(x), targets[index].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if on_step is not None:
            on_step(step)
    net.eval()
    est.training = {"settings": asdict(settings), "seed": seed, "n_train": int(len(pixels))}
    return est


def heldout_report(
    est: AuEstimator, images: np.ndarray, aus: np.ndarray, train_aus: np.ndarray, device: torch.device, how: str
) -> dict:
    """The estimator's held-out errors, next to the train-mean baseline's."""
    predicted = est.predict(images, device)
    baseline = np.broadcast_to(np.asarray(train_aus, np.float32).mean(axis=0), aus.shape)
    return {"how": how, "n": int(len(images)), **au_errors(predicted, aus), "baseline": au_errors(baseline, aus)}
