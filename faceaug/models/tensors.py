"""Images as network tensors: the one home of RGB uint8 ↔ float [−1, 1] and of the image channel count."""

from __future__ import annotations

import numpy as np
import torch

IMAGE_CHANNELS = 3  # every network in faceaug takes and makes RGB


def to_model_range(images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 (…, 3, H, W) → `dtype` in [−1, 1]."""
    return images.to(dtype).div(127.5).sub(1.0)


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """One RGB uint8 (H, W, 3) image → (1, 3, H, W) in [−1, 1], in torch's default float dtype."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != IMAGE_CHANNELS:
        raise ValueError(f"expected an RGB uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
    pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
    return to_model_range(pixels, torch.get_default_dtype())


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float (B, 3, H, W) in [−1, 1] → RGB uint8 (B, H, W, 3); half-precision inputs are widened first."""
    x = images.detach()
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    x = x.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as OpenCV's RGB → grey


def grey_tensor(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) → its luma in all three channels (differentiable): a generator's colour output made grey."""
    weights = x.new_tensor(_LUMA).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True).expand_as(x)
