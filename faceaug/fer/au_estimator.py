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

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from faceaug.aus import AU_NAMES
from faceaug.errors import UserError
from faceaug.fer.model import FerNet, FerNetConfig
from faceaug.io.images import resize_face
from faceaug.io.safetensors_files import read_model_file, save_with_header, weights_id
from faceaug.models.tensors import to_model_range

FILE_NAME = "au_estimator.safetensors"
KIND = "au_estimator"
_BATCH = 256


def default_au_estimator_path(work_dir: Path) -> Path:
    return Path(work_dir) / "models" / FILE_NAME


def trained_against(provenance: dict[str, Any], estimator: "AuEstimator") -> str | None:
    """A sentence when a GANimation model (its provenance) was trained with this very estimator as its AU judge
    (`ganimation.au_judge = "estimator"`): the generator optimised what the estimator reads, so its AU readings of
    the edits are not an independent measure. None otherwise."""
    if (provenance.get("training") or {}).get("au_judge_id") != estimator.model_id:
        return None
    return (f"the AU estimator {estimator.model_id} is the one the GANimation model was trained against "
            "(au_judge estimator): edits that fool it read as on target, so its AU figures flatter them; train "
            "another (`faceaug train-au WORK --seed 1 --out FILE`) and pass it as --au-estimator FILE")


@dataclass
class AuEstimator:
    net: FerNet
    image_size: int
    au_names: tuple[str, ...] = AU_NAMES
    #: what it was trained on and how well it does on held-out subjects (written by faceaug.fer.au_train)
    heldout: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, image_size: int, width: int = 16) -> "AuEstimator":
        net = FerNet(FerNetConfig(n_classes=len(AU_NAMES), in_channels=1, width=width, dropout=0.1))
        return cls(net=net, image_size=image_size)

    def prepare(self, images: np.ndarray) -> torch.Tensor:
        """uint8 faces (N, H, W[, 3]) → model input (N, 1, S, S) in [−1, 1]."""
        grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) if f.ndim == 3 and f.shape[-1] == 3 else np.squeeze(f)
                for f in (resize_face(np.ascontiguousarray(im, np.uint8), self.image_size) for im in images)]
        return to_model_range(torch.from_numpy(np.stack(grey))[:, None]) if grey else torch.zeros(
            (0, 1, self.image_size, self.image_size))

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
        out = [self.forward(self.prepare(images[i:i + _BATCH]).to(device)).cpu().numpy()
               for i in range(0, len(images), _BATCH)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, len(self.au_names)), np.float32)

    def header(self) -> dict[str, Any]:
        return {"kind": KIND, "image_size": self.image_size, "au_names": list(self.au_names),
                "net": asdict(self.net.config), "heldout": self.heldout, "training": self.training}

    def save(self, path: Path) -> Path:
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        return save_with_header(tensors, self.header(), Path(path))

    @classmethod
    def load(cls, path: Path) -> "AuEstimator":
        path = Path(path)
        header, tensors = read_model_file(path, "AU estimator", f"No AU estimator at {path}. Train one with "
                                          "`faceaug train-au WORK_DIR`.")
        if not header or header.get("kind") != KIND:
            raise UserError(f"{path} is not an AU estimator written by `faceaug train-au`.")
        net = FerNet(FerNetConfig(**header["net"]))
        try:
            net.load_state_dict(tensors)
        except RuntimeError as exc:
            raise UserError(f"{path} holds weights that do not fit its own architecture: {exc}") from None
        return cls(net=net.eval(), image_size=int(header["image_size"]), au_names=tuple(header["au_names"]),
                   heldout=header.get("heldout", {}), training=header.get("training", {}))
