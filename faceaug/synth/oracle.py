"""Evaluator "oracles" for the synthetic world: an AU regressor and an emotion classifier.

Both are small CNNs on 64-px aligned face crops (the crops `faceaug preprocess` makes with
`faceaug.preprocess.align.align_face`). Trained on synthetic faces with exact AUs, they later score GANimation edits:
"does the edited face show the target AUs / the target class?".

    au = train_au_oracle(crops, aus, seed=0, epochs=30)        # crops (N, H, W, 3) uint8, aus (N, 17) in 0–1
    au.predict(crops) -> (N, 17) float32 in 0–1
    emo = train_emotion_oracle(crops, labels, seed=0, epochs=30)
    emo.predict(crops) -> (N,) class names; emo.predict_proba(crops) -> (N, C)
    au.save(path); AuOracle.load(path)                        # safetensors + JSON metadata

Training data and the measured quality: `python -m faceaug.synth.oracle_build --help` (faceaug.synth.oracle_build).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from faceaug.aus import AU_NAMES, N_AUS
from faceaug.console import progress
from faceaug.device import resolve_device, torch_generator
from faceaug.errors import UserError
from faceaug.schema import atomic_path

ORACLE_SIZE = 64  # input side in pixels; predict() resizes anything else to this


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
    return [nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


class OracleNet(nn.Module):
    """64 px RGB → `outputs` raw scores (logits)."""

    def __init__(self, cfg: OracleNetConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.features = nn.Sequential(
            *_block(3, w, 5, 2),
            *_block(w, 2 * w), nn.MaxPool2d(2),
            *_block(2 * w, 4 * w), nn.MaxPool2d(2),
            *_block(4 * w, 8 * w), nn.MaxPool2d(2),
        )
        side = cfg.image_size // 16
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(cfg.dropout), nn.Linear(8 * w * side * side, cfg.hidden),
                                  nn.ReLU(inplace=True), nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, cfg.outputs))

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


def _train(net: OracleNet, x: torch.Tensor, loss_fn, targets: torch.Tensor, *, seed: int, epochs: int,
           batch_size: int, lr: float, device: torch.device, desc: str) -> list[float]:
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
                idx = order[start:start + batch_size]
                if len(idx) < 2:
                    continue
                xb = _augment(x[idx], gen).to(device)
                loss = loss_fn(net(xb), targets[idx].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
            history.append(total / len(x))
            bar.advance(task)
    net.eval()
    return history


class _Oracle:
    kind = ""

    def __init__(self, net: OracleNet, meta: dict | None = None):
        self.net = net.eval()
        self.meta = meta or {}

    @torch.no_grad()
    def _scores(self, images, batch_size: int = 256) -> torch.Tensor:
        x = prepare_images(images, self.net.cfg.image_size)
        device = next(self.net.parameters()).device
        return torch.cat([self.net(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])

    def save(self, path: Path) -> Path:
        path = Path(path)
        meta = {"kind": self.kind, "net": json.dumps(asdict(self.net.cfg)), "meta": json.dumps(self.meta)}
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        return path

    @classmethod
    def load(cls, path: Path, device: str = "cpu"):
        path = Path(path)
        if not path.exists():
            raise UserError(f"Oracle weights {path} do not exist (build them with "
                            "`python -m faceaug.synth.oracle_build`).")
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        if meta.get("kind") != cls.kind:
            raise UserError(f"{path} holds a {meta.get('kind') or 'unknown'} model, not a {cls.kind} oracle.")
        net = OracleNet(OracleNetConfig(**json.loads(meta["net"])))
        net.load_state_dict(load_file(str(path)))
        return cls(net.to(resolve_device(device)), json.loads(meta.get("meta", "{}")))


class AuOracle(_Oracle):
    """Image → 17 AU intensities on 0–1 (faceaug.aus.AU_NAMES order)."""

    kind = "au_oracle"

    def predict(self, images) -> np.ndarray:
        return torch.sigmoid(self._scores(images)).numpy().astype(np.float32)


class EmotionOracle(_Oracle):
    """Image → expression class (the class names it was trained on, in `classes`)."""

    kind = "emotion_oracle"

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    def predict_proba(self, images) -> np.ndarray:
        return torch.softmax(self._scores(images), dim=1).numpy().astype(np.float32)

    def predict(self, images) -> np.ndarray:
        return np.asarray(self.classes, dtype=object)[self.predict_proba(images).argmax(1)]


def train_au_oracle(images: np.ndarray, aus: np.ndarray, *, seed: int = 0, epochs: int = 30, device: str = "cpu",
                    batch_size: int = 64, lr: float = 3e-3, cfg: OracleNetConfig | None = None) -> AuOracle:
    """Fit the AU regressor (L1-smooth loss on sigmoid outputs) to aligned crops and their AUs (N, 17) in 0–1."""
    aus = np.asarray(aus, dtype=np.float32)
    if aus.ndim != 2 or aus.shape[1] != N_AUS or len(aus) != len(images):
        raise ValueError(f"expected aus of shape ({len(images)}, {N_AUS}), got {aus.shape}")
    with torch.random.fork_rng(devices=[]):  # init and dropout draw from the global generator: seed a private copy
        torch.manual_seed(seed)
        net = OracleNet(cfg or OracleNetConfig(outputs=N_AUS))
        history = _train(net, prepare_images(images, net.cfg.image_size),
                         lambda out, y: F.smooth_l1_loss(torch.sigmoid(out), y, beta=0.05), torch.from_numpy(aus),
                         seed=seed, epochs=epochs, batch_size=batch_size, lr=lr, device=resolve_device(device),
                         desc="AU oracle")
    return AuOracle(net, {"aus": list(AU_NAMES), "train_images": len(aus), "epochs": epochs, "seed": seed,
                          "final_loss": history[-1] if history else None})


def train_emotion_oracle(images: np.ndarray, labels: list[str], *, seed: int = 0, epochs: int = 30,
                         device: str = "cpu", batch_size: int = 64, lr: float = 3e-3,
                         cfg: OracleNetConfig | None = None) -> EmotionOracle:
    """Fit the expression classifier (cross-entropy, light label smoothing) to aligned crops and class names."""
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    classes = sorted({str(c) for c in labels})
    labels = [str(c) for c in labels]
    index = {c: i for i, c in enumerate(classes)}
    y = torch.tensor([index[c] for c in labels], dtype=torch.long)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = OracleNet(cfg or OracleNetConfig(outputs=len(classes)))
        if net.cfg.outputs != len(classes):
            raise ValueError(f"cfg.outputs={net.cfg.outputs} but there are {len(classes)} classes")
        history = _train(net, prepare_images(images, net.cfg.image_size),
                         lambda out, t: F.cross_entropy(out, t, label_smoothing=0.05), y, seed=seed, epochs=epochs,
                         batch_size=batch_size, lr=lr, device=resolve_device(device), desc="emotion oracle")
    return EmotionOracle(net, {"classes": classes, "train_images": len(labels), "epochs": epochs, "seed": seed,
                               "final_loss": history[-1] if history else None})
