"""Evaluator "oracles" for the synthetic world: an AU regressor and an emotion classifier.

Both are small CNNs on 64-px aligned face crops (the crops `faceaug preprocess` makes with
`faceaug.preprocess.align.align_face`). Trained on synthetic faces with exact AUs, they later score GANimation edits:
"does the edited face show the target AUs / the target class?".

Each is trained multi-task when both kinds of target are at hand: the AU regressor also predicts the class of the
images that have one, and the classifier also regresses the AUs. The second head is dropped at prediction time; it
is there because small training sets learn much faster with it (synth world, 1,536 training crops, held-out
subjects: the classifier alone reached 79% after an 8-epoch schedule; trained jointly with the AU head, 90% after 9
and 97% after 21 epochs of a 30-epoch schedule — not a controlled comparison).

    au = train_au_oracle(crops, aus, labels=labels, seed=0)    # crops (N, H, W, 3) uint8, aus (N, 17) in 0–1
    au.predict(crops) -> (N, 17) float32 in 0–1
    emo = train_emotion_oracle(crops, labels, aus=aus, seed=0)
    emo.predict(crops) -> (N,) class names; emo.predict_proba(crops) -> (N, C)
    au.save(path); AuOracle.load(path, device="cpu")          # safetensors + JSON metadata (faceaug.io.model_file)

Training data and the measured quality: `python -m faceaug.synth.oracle_build --help` (faceaug.synth.oracle_build).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faceaug.aus import AU_NAMES, N_AUS
from faceaug.console import progress
from faceaug.device import resolve_device, torch_generator
from faceaug.errors import UserError
from faceaug.io.model_file import FileKind, ModelFile, layer_weight, load_weights
from faceaug.io.safetensors_files import check_architecture

ORACLE_SIZE = 64  # input side in pixels; predict() resizes anything else to this
AUX_WEIGHT = 0.5  # weight of the class loss next to the AU loss in joint training


@dataclass
class OracleNetConfig:
    """Size of the oracle CNN: a 5×5 stride-2 stem, three 3×3 conv stages each followed by 2× pooling, and a
    linear head on the 4×4 map (kept spatial: where a change happens matters). ~16 M multiply-adds at 64 px."""

    outputs: int = N_AUS
    width: int = 16  # stem channels; doubled per stage up to 8×
    hidden: int = 128
    dropout: float = 0.2
    image_size: int = ORACLE_SIZE


def _block(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class OracleNet(nn.Module):
    """64 px RGB → `outputs` raw scores: [17 AU logits][class logits] (either part may be absent)."""

    def __init__(self, cfg: OracleNetConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.features = nn.Sequential(
            *_block(3, w, 5, 2),
            *_block(w, 2 * w),
            nn.MaxPool2d(2),
            *_block(2 * w, 4 * w),
            nn.MaxPool2d(2),
            *_block(4 * w, 8 * w),
            nn.MaxPool2d(2),
        )
        side = cfg.image_size // 16
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(cfg.dropout),
            nn.Linear(8 * w * side * side, cfg.hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, cfg.outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def prepare_images(images: np.ndarray, size: int = ORACLE_SIZE) -> torch.Tensor:
    """(N, H, W, 3) uint8 (or a list of differently sized images) → (N, 3, size, size) float in [-1, 1]."""
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = images[None]
    out = np.empty((len(images), size, size, 3), np.uint8)
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"oracles take RGB uint8 (H, W, 3) images, got {img.dtype} {img.shape}")
        if img.shape[:2] != (size, size):
            interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_LINEAR
            img = cv2.resize(img, (size, size), interpolation=interp)
        out[i] = img
    return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Label-preserving jitter: mirror (the world is symmetric) and brightness/contrast. No shifts: crops are
    landmark-aligned, and even ±1 px shifts made small training sets stop learning."""
    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    gain = 1 + 0.15 * (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1)
    bias = 0.1 * (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1)
    return x * gain + bias


def _joint_loss(out: torch.Tensor, aus: torch.Tensor | None, classes: torch.Tensor | None) -> torch.Tensor:
    """AU loss (smooth L1 on sigmoid outputs, first 17 outputs) + AUX_WEIGHT × cross-entropy (the rest) on the rows
    with a class (index ≥ 0). A missing target contributes nothing."""
    loss = out.new_zeros(())
    if aus is not None:
        loss = loss + F.smooth_l1_loss(torch.sigmoid(out[:, :N_AUS]), aus, beta=0.05)
    if classes is not None:
        known = classes >= 0
        if known.any():
            logits = out[known, N_AUS:] if aus is not None else out[known]
            loss = loss + AUX_WEIGHT * F.cross_entropy(logits, classes[known], label_smoothing=0.05)
    return loss


def _train(
    net: OracleNet,
    x: torch.Tensor,
    aus: torch.Tensor | None,
    classes: torch.Tensor | None,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
    device: torch.device,
    desc: str,
) -> list[float]:
    gen = torch_generator(seed)
    net.to(device).train()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * max(1, -(-len(x) // batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    history = []
    with progress() as bar:
        task = bar.add_task(desc, total=epochs)
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            total = 0.0
            for start in range(0, len(x), batch_size):
                idx = order[start : start + batch_size]
                if len(idx) < 2:
                    continue
                xb = _augment(x[idx], gen).to(device)
                loss = _joint_loss(
                    net(xb),
                    None if aus is None else aus[idx].to(device),
                    None if classes is None else classes[idx].to(device),
                )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
            history.append(total / len(x))
            bar.advance(task)
    net.eval()
    return history


def _oracle_kind(kind: str, what: str) -> FileKind:
    """An oracle's model file: {"kind", "net" (OracleNetConfig), "meta"} as metadata keys of their own, no version."""
    return FileKind(
        kind,
        what,
        key="kind",
        versioned=False,
        required=("net",),
        advice="build them with `python -m faceaug.synth.oracle_build`",
        flat=True,
    )


class _Oracle(ModelFile):
    def __init__(self, net: OracleNet, meta: dict | None = None):
        self.net = net.eval()
        self.meta = meta or {}

    @torch.no_grad()
    def _scores(self, images, batch_size: int = 256) -> torch.Tensor:
        x = prepare_images(images, self.net.cfg.image_size)
        device = next(self.net.parameters()).device
        return torch.cat([self.net(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])

    def file_header(self) -> dict[str, Any]:
        return {"net": asdict(self.net.cfg), "meta": self.meta}

    def file_tensors(self) -> dict[str, torch.Tensor]:
        return self.net.state_dict()

    @classmethod
    def from_file(cls, path: Path, header: dict[str, Any], tensors: dict, device: str = "cpu"):
        what = cls.file_kind.what
        values = header["net"]
        if not isinstance(values, dict) or set(values) - set(OracleNetConfig.__dataclass_fields__):
            raise UserError(f"{path} is a damaged {what}: its network settings are unknown.")
        cfg = OracleNetConfig(**values)
        stem, hidden, out = (
            layer_weight(path, what, tensors, name, dims)
            for name, dims in (("features.0.weight", 4), ("head.2.weight", 2), ("head.5.weight", 2))
        )
        check_architecture(
            path,
            what,
            {  # before a network of the claimed size is built
                "width": (cfg.width, int(stem.shape[0]), 1, 4096),
                "hidden": (cfg.hidden, int(hidden.shape[0]), 1, 65536),
                "outputs": (cfg.outputs, int(out.shape[0]), 1, 65536),
                "image_size": (cfg.image_size, None, 16, 1024),
            },
        )
        net = load_weights(OracleNet(cfg), tensors, path, what)
        return cls(net.to(resolve_device(device)), dict(header.get("meta") or {}))


class AuOracle(_Oracle):
    """Image → 17 AU intensities on 0–1 (faceaug.aus.AU_NAMES order)."""

    file_kind: ClassVar[FileKind] = _oracle_kind("au_oracle", "AU oracle")

    def predict(self, images) -> np.ndarray:
        return torch.sigmoid(self._scores(images)[:, :N_AUS]).numpy().astype(np.float32)


class EmotionOracle(_Oracle):
    """Image → expression class (the class names it was trained on, in `classes`)."""

    file_kind: ClassVar[FileKind] = _oracle_kind("emotion_oracle", "emotion oracle")

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    def predict_proba(self, images) -> np.ndarray:
        """(N, len(classes)) class probabilities (the class logits are the last outputs of the net)."""
        return torch.softmax(self._scores(images)[:, -len(self.classes) :], dim=1).numpy().astype(np.float32)

    def predict(self, images) -> np.ndarray:
        return np.asarray(self.classes, dtype=object)[self.predict_proba(images).argmax(1)]


def _class_indices(labels, n: int) -> tuple[list[str], torch.Tensor]:
    """Sorted class names and (n,) long indices; None / "" entries (unlabelled images) get -1."""
    if len(labels) != n:
        raise ValueError(f"{n} images but {len(labels)} labels")
    names = [None if c is None or str(c) == "" else str(c) for c in labels]
    classes = sorted({c for c in names if c is not None})
    index = {c: i for i, c in enumerate(classes)}
    return classes, torch.tensor([-1 if c is None else index[c] for c in names], dtype=torch.long)


def _check_aus(aus, n: int) -> np.ndarray:
    aus = np.asarray(aus, dtype=np.float32)
    if aus.ndim != 2 or aus.shape[1] != N_AUS or len(aus) != n:
        raise ValueError(f"expected aus of shape ({n}, {N_AUS}), got {aus.shape}")
    return aus


def _fit(
    images,
    aus: np.ndarray | None,
    labels,
    *,
    seed: int,
    epochs: int,
    device: str,
    batch_size: int,
    lr: float,
    cfg: OracleNetConfig | None,
    desc: str,
) -> tuple[OracleNet, list[str], list[float]]:
    n = len(images)
    aus_t = None if aus is None else torch.from_numpy(_check_aus(aus, n))
    classes, cls_t = ([], None) if labels is None else _class_indices(labels, n)
    outputs = (N_AUS if aus is not None else 0) + len(classes)
    with torch.random.fork_rng(devices=[]):  # init and dropout draw from the global generator: seed a private copy
        torch.manual_seed(seed)
        net = OracleNet(replace(cfg or OracleNetConfig(), outputs=outputs))
        history = _train(
            net,
            prepare_images(images, net.cfg.image_size),
            aus_t,
            cls_t,
            seed=seed,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            device=resolve_device(device),
            desc=desc,
        )
    return net, classes, history


def train_au_oracle(
    images: np.ndarray,
    aus: np.ndarray,
    *,
    labels=None,
    seed: int = 0,
    epochs: int = 30,
    device: str = "cpu",
    batch_size: int = 64,
    lr: float = 3e-3,
    cfg: OracleNetConfig | None = None,
) -> AuOracle:
    """Fit the AU regressor to aligned crops and their AUs (N, 17) in 0–1. With `labels` (class names, None for
    images without one) a class head is trained beside it as an auxiliary task (`cfg.outputs` is set from the data)."""
    net, classes, history = _fit(
        images,
        aus,
        labels,
        seed=seed,
        epochs=epochs,
        device=device,
        batch_size=batch_size,
        lr=lr,
        cfg=cfg,
        desc="AU oracle",
    )
    return AuOracle(
        net,
        {
            "aus": list(AU_NAMES),
            "aux_classes": classes,
            "train_images": len(images),
            "epochs": epochs,
            "seed": seed,
            "final_loss": history[-1] if history else None,
        },
    )


def train_emotion_oracle(
    images: np.ndarray,
    labels: list[str],
    *,
    aus: np.ndarray | None = None,
    seed: int = 0,
    epochs: int = 30,
    device: str = "cpu",
    batch_size: int = 64,
    lr: float = 3e-3,
    cfg: OracleNetConfig | None = None,
) -> EmotionOracle:
    """Fit the expression classifier (cross-entropy, light label smoothing) to aligned crops and class names. With
    `aus` (N, 17) an AU head is trained beside it as an auxiliary task (`cfg.outputs` is set from the data)."""
    if labels is None or any(c is None or str(c) == "" for c in labels):
        raise ValueError("every image of the emotion oracle needs a class label")
    net, classes, history = _fit(
        images,
        aus,
        labels,
        seed=seed,
        epochs=epochs,
        device=device,
        batch_size=batch_size,
        lr=lr,
        cfg=cfg,
        desc="emotion oracle",
    )
    return EmotionOracle(
        net,
        {
            "classes": classes,
            "aux_aus": aus is not None,
            "train_images": len(images),
            "epochs": epochs,
            "seed": seed,
            "final_loss": history[-1] if history else None,
        },
    )
