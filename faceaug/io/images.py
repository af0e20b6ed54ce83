"""Image files: decode to RGB uint8, encode PNG atomically. Every image in faceaug is RGB uint8 (H, W, 3)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from faceaug.schema import write_bytes_atomic

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


class ImageDecodeError(ValueError):
    """The file is not a decodable image (corrupt, truncated, empty or another format)."""


def decode_image(data: bytes) -> np.ndarray:
    """Bytes of an image file → RGB uint8 (H, W, 3). Grayscale and alpha inputs become 3-channel RGB."""
    if not data:
        raise ImageDecodeError("the file is empty")
    buf = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ImageDecodeError("the file could not be decoded as an image")
    if img.dtype != np.uint8:  # 16-bit PNG/TIFF
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(float(img.max()), 1.0))
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    if img.shape[2] == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_image(path: Path) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); raises ImageDecodeError for anything undecodable."""
    return decode_image(Path(path).read_bytes())


def encode_png(rgb: np.ndarray) -> bytes:
    """RGB (or grayscale) uint8 → PNG bytes."""
    rgb = np.ascontiguousarray(rgb)
    bgr = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def write_png_atomic(path: Path, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG, atomically (temp file + rename)."""
    return write_bytes_atomic(encode_png(rgb), path)
