"""An AU estimator independent of GANimation: a small CNN regressor of the 17 AU intensities (0–1) from a grey face
crop, trained by `faceaug train-au` on a WORK_DIR's real training faces. `faceaug report` reads the AUs that
generated faces achieve with it; its file records its own held-out error so the reader knows how far to trust it.

    est = AuEstimator.load(Path("WORK/models/au_estimator.safetensors"))
    aus = est.predict(images_uint8_nhw3)        # (N, 17) in [0, 1]
    est.heldout["mae_per_au"]                   # its error on faces of subjects it never saw

The network is faceaug's FER classifier body (faceaug.fer.model.FerNet) with 17 sigmoid outputs: one small CNN
for both jobs. Greyscale input on purpose: AUs are shapes, and a judge that ignores colour is not fooled by (or
blind to) a colour tint — the report measures colour separately.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceaug.aus import AU_NAMES
from faceaug.fer.model import FerNet, FerNetConfig
from faceaug.fer.net_file import grey_input, load_net, net_header, save_net
from faceaug.io.safetensors_files import weights_id

FILE_NAME = "au_estimator.safetensors"
KIND = "au_estimator"
_BATCH = 256


def default_au_estimator_path(work_dir: Path) -> Path:
    return Path(work_dir) / "models" / FILE_NAME


def trained_against(provenance: dict[str, Any], estimator: AuEstimator) -> str | None:
    """A sentence when a GANimation model (its provenance) was trained with this very estimator as its AU judge
    (`ganimation.au_judge = "estimator"`): the generator optimised what the estimator reads, so its AU readings of
    the edits are not an independent measure. None otherwise."""
    if (provenance.get("training") or {}).get("au_judge_id") != estimator.model_id:
        return None
    return (
        f"the AU estimator {estimator.model_id} is the one the GANimation model was trained against "
        "(au_judge estimator): edits that fool it read as on target, so its AU figures flatter them; train "
        "another (`faceaug train-au WORK --seed 1 --out FILE`) and pass it as --au-estimator FILE"
    )


@dataclass
class AuEstimator:
    net: FerNet
    image_size: int
    au_names: tuple[str, ...] = AU_NAMES
    #: what it was trained on and how well it does on held-out subjects (written by faceaug.fer.au_train)
    heldout: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, image_size: int, width: int = 16) -> AuEstimator:
        net = FerNet(FerNetConfig(n_classes=len(AU_NAMES), in_channels=1, width=width, dropout=0.1))
        return cls(net=net, image_size=image_size)

    def prepare(self, images: np.ndarray) -> torch.Tensor:
        """uint8 faces (N, H, W[, 3]) → model input (N, 1, S, S) in [−1, 1]."""
        return grey_input(images, self.image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))

    @property
    def model_id(self) -> str:
        """A short hash of the weights: a GANimation model trained against this estimator records it
        (provenance training.au_judge_id), so the report and the quality gate can tell it is not independent."""
        return weights_id(self.net.state_dict())

    @torch.no_grad()
    def predict(self, images: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
        """(N, 17) float32 AU intensities in [0, 1] for uint8 faces (N, H, W, 3)."""
        self.net.to(device).eval()
        out = [
            self.forward(self.prepare(images[i : i + _BATCH]).to(device)).cpu().numpy()
            for i in range(0, len(images), _BATCH)
        ]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, len(self.au_names)), np.float32)

    def header(self) -> dict[str, Any]:
        return net_header(
            self.net,
            KIND,
            {
                "image_size": self.image_size,
                "au_names": list(self.au_names),
                "heldout": self.heldout,
                "training": self.training,
            },
        )

    def save(self, path: Path) -> Path:
        return save_net(self.net, self.header(), path)

    @classmethod
    def load(cls, path: Path) -> AuEstimator:
        net, header = load_net(
            path,
            KIND,
            "AU estimator written by `faceaug train-au`",
            f"No AU estimator at {path}. Train one with `faceaug train-au WORK_DIR`.",
        )
        return cls(
            net=net,
            image_size=int(header["image_size"]),
            au_names=tuple(header["au_names"]),
            heldout=header.get("heldout", {}),
            training=header.get("training", {}),
        )
