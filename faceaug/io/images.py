"""Image files: decode to RGB uint8, encode PNG atomically. Every image in faceaug is RGB uint8 (H, W, 3)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from faceaug.errors import UserError
from faceaug.io.atomic import write_bytes_atomic

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


class ImageDecodeError(ValueError):
    """The file is not a decodable image (corrupt, truncated, empty or another format).

    `reason` is a stable code: "empty_file", "not_an_image" (no known image signature) or "corrupt_image".
    """

    def __init__(self, message: str, reason: str = "corrupt_image"):
        super().__init__(message)
        self.reason = reason


#: Leading bytes of the formats OpenCV decodes for us (JPEG, PNG, BMP, TIFF little/big endian, WebP).
_SIGNATURES = {
    b"\xff\xd8\xff": "jpeg",
    b"\x89PNG\r\n\x1a\n": "png",
    b"BM": "bmp",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
    b"RIFF": "webp",
}


def sniff_image_format(data: bytes) -> str | None:
    """The image format named by the file's leading bytes ("jpeg", "png", ...), or None."""
    for signature, name in _SIGNATURES.items():
        if data.startswith(signature):
            return name
    return None


def decode_image(data: bytes) -> np.ndarray:
    """Bytes of an image file → RGB uint8 (H, W, 3), turned upright as its EXIF Orientation tag says.

    Greyscale inputs become 3-channel RGB, alpha is dropped, 16-bit values are divided by 257 (65535 → 255).
    Truncated JPEGs (no end-of-image marker) are refused rather than decoded with a grey lower part.
    """
    if not data:
        raise ImageDecodeError("the file is empty", "empty_file")
    kind = sniff_image_format(data)
    if kind is None:
        raise ImageDecodeError("the file is not an image (its first bytes match no image format)", "not_an_image")
    if kind == "jpeg" and b"\xff\xd9" not in data[-4096:]:
        raise ImageDecodeError("the JPEG file is truncated (no end-of-image marker)")
    buf = np.frombuffer(data, dtype=np.uint8)
    # Any colour type and depth as stored, but unlike IMREAD_UNCHANGED, OpenCV applies the EXIF orientation.
    img = cv2.imdecode(buf, cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
    if img is None or img.size == 0:
        raise ImageDecodeError(f"the {kind.upper()} file is corrupt or truncated and could not be decoded")
    img = _to_uint8(img)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    if img.shape[2] == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    """16-bit → 8-bit by the fixed factor 65535 / 255 = 257 (rounded), float images from [0, 1]."""
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if img.dtype.kind == "f":
        return np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise ImageDecodeError(f"the image has an unsupported pixel type ({img.dtype})")


def read_image(path: Path) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); raises ImageDecodeError for anything undecodable."""
    return decode_image(Path(path).read_bytes())


def path_inside(root: Path, rel: str) -> Path | None:
    """`root / rel` when it stays inside `root`, also once every symbolic link on the way is followed; None when it
    leads elsewhere (an absolute path, "..", or a link to a file outside). Tables list image paths relative to their
    folder: a link out of it must not make faceaug read (or show) a file the user never put there."""
    path = Path(root) / rel
    real_root = os.path.realpath(root)
    if Path(rel).is_absolute() or os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
        return None
    return path


def image_problem(root: Path, rel: str) -> str | None:
    """Why the image `rel` listed in a table of folder `root` cannot be used, in a few words, or None when it is a
    regular file inside `root` that decodes."""
    path = path_inside(root, rel)
    if path is None:
        return f"leads outside {root}"
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "missing"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    try:
        read_image(path)
    except ImageDecodeError as exc:
        return str(exc)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    return None


#: How many damaged files a message names (the count says how many there are in all).
SHOWN_DAMAGED = 5


def refuse_damaged_images(root: Path, rels: Iterable[str], *, table: Path, writer: str, note: str = "") -> None:
    """UserError when an image that `table` lists (paths relative to `root`) is missing, not a regular file, leads
    outside `root` or does not decode: it names up to SHOWN_DAMAGED of them and their count, says that rerunning
    `writer` (the command that wrote them, e.g. "the same `faceaug expand` command") repairs them, then `note`.
    Checked before anything is written, so a damaged folder fails at once instead of with a traceback half-way."""
    damaged = [(rel, problem) for rel in dict.fromkeys(rels) if (problem := image_problem(root, rel))]
    if not damaged:
        return
    shown = "; ".join(f"{rel} ({problem})" for rel, problem in damaged[:SHOWN_DAMAGED])
    more = f"; and {len(damaged) - SHOWN_DAMAGED} more" if len(damaged) > SHOWN_DAMAGED else ""
    raise UserError(
        f"{table} lists {len(damaged)} damaged image(s): {shown}{more}. Rerunning {writer} repairs "
        f"them; nothing was written.{(' ' + note) if note else ''}"
    )


def encode_png(rgb: np.ndarray) -> bytes:
    """RGB (or greyscale) uint8 → PNG bytes."""
    rgb = np.ascontiguousarray(rgb)
    bgr = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def png_shape(path: Path) -> tuple[int, int] | None:
    """(height, width) from a PNG file's header (its first 24 bytes), None when it is not a readable PNG."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
    except OSError:
        return None
    if len(head) < 24 or not head.startswith(b"\x89PNG\r\n\x1a\n") or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[20:24], "big"), int.from_bytes(head[16:20], "big")


def write_png_atomic(path: Path, rgb: np.ndarray, *, durable: bool = True) -> Path:
    """Write an RGB uint8 image as PNG, atomically (temp file + rename).

    `durable=False` skips the per-file fsync (still never half-written after a crash of the process): for
    writers of many files that flush them together (`os.sync()`) before writing the table that lists them.
    """
    return write_bytes_atomic(encode_png(rgb), path, durable=durable)


def resize_face(image: np.ndarray, size: int) -> np.ndarray:
    """An RGB uint8 face crop at `size`×`size` (area interpolation when shrinking, cubic when enlarging)."""
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[0] == size and image.shape[1] == size:
        return np.ascontiguousarray(image)
    shrink = image.shape[0] > size
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


#: The largest channel difference (grey levels) an image may have and still count as grey (JPEG / resize rounding).
GREY_TOLERANCE = 2


def colour_spread(image: np.ndarray) -> int:
    """The largest difference between two channels of any pixel of an RGB uint8 image (0 = grey)."""
    image = np.asarray(image)
    if image.ndim == 2 or image.shape[-1] == 1:
        return 0
    image = image.astype(np.int16)
    return int(max(np.abs(image[..., 0] - image[..., 1]).max(), np.abs(image[..., 1] - image[..., 2]).max()))


def is_grey(image: np.ndarray) -> bool:
    return colour_spread(image) <= GREY_TOLERANCE


def to_grey_rgb(image: np.ndarray) -> np.ndarray:
    """The image's luma (ITU-R 601, as OpenCV) in all three channels: grey, max channel difference 0."""
    grey = cv2.cvtColor(np.ascontiguousarray(image, np.uint8), cv2.COLOR_RGB2GRAY)
    return np.repeat(grey[..., None], 3, axis=-1)


def grey_like(outputs: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """`outputs[i]` made grey wherever `sources[i]` is grey (greyscale in ⇒ greyscale out); others unchanged.
    `sources` may be one image (H, W, 3), the source of every output."""
    if len(outputs) == 0:
        return outputs
    if np.asarray(sources).ndim == 3:
        return np.stack([to_grey_rgb(out) for out in outputs]) if is_grey(sources) else outputs
    return np.stack([to_grey_rgb(out) if is_grey(src) else out for out, src in zip(outputs, sources)])
