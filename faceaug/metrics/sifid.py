"""SIFID (Shaham et al., SinGAN, 2019): the Fréchet distance between the distributions of InceptionV3 features
over the positions of one generated image and of its training image. Low = the sample has the training image's
internal patch statistics.

Features: the first blocks of the FID InceptionV3 (the `pytorch-fid` weights file
`pt_inception-2015-12-05-6726825d.pth`), on the image at its own size (no resize to 299; inputs scaled to
[−1, 1]). `dims=64` takes the 64 channels after the first max-pool (before the second) as the official SinGAN
code did; `dims=192` takes the 192 channels after the second max-pool, as the paper's text states (at 64 px that
leaves 5×5 positions, too few for a 192-D covariance: prefer 64 there).

The weights cannot be downloaded here: `find_inception_weights` looks at an explicit path, then the torch hub cache
($TORCH_HOME/hub/checkpoints, default ~/.cache/torch/hub/checkpoints). Without them SIFID is left empty, never
estimated from random weights.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy import linalg
from torch import nn

from faceaug.errors import UserError
from faceaug.io.torch_files import load_torch_safely

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
DIMS = (64, 192)


class _BasicConv(nn.Module):
    """conv (no bias) + batch norm (eps 1e-3) + ReLU, named as in the FID InceptionV3 weights."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class InceptionStem(nn.Module):
    """InceptionV3 up to the first (dims 64) or second (dims 192) max-pool; parameter names match pytorch-fid's."""

    def __init__(self, dims: int = 64):
        super().__init__()
        if dims not in DIMS:
            raise ValueError(f"SIFID features have {' or '.join(map(str, DIMS))} dims, not {dims}")
        self.dims = dims
        self.Conv2d_1a_3x3 = _BasicConv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _BasicConv(32, 32, 3)
        self.Conv2d_2b_3x3 = _BasicConv(32, 64, 3, padding=1)
        if dims == 192:
            self.Conv2d_3b_1x1 = _BasicConv(64, 80, 1)
            self.Conv2d_4a_3x3 = _BasicConv(80, 192, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [−1, 1] → (N, dims, h, w)."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = nn.functional.max_pool2d(x, 3, 2)
        if self.dims == 192:
            x = nn.functional.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, 2)
        return x

    @torch.no_grad()
    def features(self, images: np.ndarray) -> np.ndarray:
        """uint8 RGB (N, H, W, 3) → (N, h·w, dims) float64: one feature vector per position."""
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
        f = self.eval()(x)
        return f.flatten(2).transpose(1, 2).double().numpy()


def find_inception_weights(path: Path | None = None) -> Path | None:
    """The FID InceptionV3 weights: `path` if given (a UserError if it is not a file), else the torch hub cache."""
    if path is not None:
        if not Path(path).is_file():
            raise UserError(f"--inception-weights {path} is not a file.")
        return Path(path)
    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints" / WEIGHTS_FILE
    return hub if hub.is_file() else None


def load_inception_stem(path: Path, dims: int = 64) -> InceptionStem:
    """The stem with the weights of a pytorch-fid file (only its first blocks are read)."""
    state = load_torch_safely(Path(path), "the InceptionV3 weights")
    model = InceptionStem(dims)
    wanted = model.state_dict().keys()
    missing = [k for k in wanted if k not in state]
    if missing:
        raise UserError(f"{path} is not the pytorch-fid InceptionV3 file ({WEIGHTS_FILE}): it lacks {missing[0]}.")
    model.load_state_dict({k: state[k] for k in wanted})
    return model.eval()


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½); a small ridge is added when the product is singular."""
    diff = mu1 - mu2
    with warnings.catch_warnings():  # a singular product is expected with few positions; handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean, _ = linalg.sqrtm(sigma1 @ sigma2, disp=False)
    if not np.isfinite(covmean).all():
        ridge = np.eye(len(sigma1)) * eps
        covmean = linalg.sqrtm((sigma1 + ridge) @ (sigma2 + ridge))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of (positions, dims) features."""
    return features.mean(axis=0), np.cov(features, rowvar=False)


def sifid(stem: InceptionStem, samples: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """SIFID of each sample (N, H, W, 3) against `reference` (H, W, 3): (N,) float."""
    ref_stats = statistics(stem.features(np.asarray(reference)[None])[0])
    return np.array([frechet_distance(*statistics(f), *ref_stats) for f in stem.features(np.asarray(samples))])
