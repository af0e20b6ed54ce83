"""decode_image: EXIF orientation, bit depth and channel handling, on image bytes built here by hand."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from faceaug.io.images import decode_image


def _picture(grey: bool = False) -> np.ndarray:
    """A 6 x 10 image with no symmetry: three coloured quarters and a black one (BGR, as cv2 writes it)."""
    img = np.zeros((6, 10, 3), np.uint8)
    img[:3, :5], img[:3, 5:], img[3:, 5:] = (255, 0, 0), (0, 0, 255), (0, 255, 0)
    return img[:, :, 1] + img[:, :, 2] // 2 if grey else img


def _encode(ext: str, img: np.ndarray, *params: int) -> bytes:
    ok, buf = cv2.imencode(ext, img, list(params))
    assert ok
    return buf.tobytes()


def _exif_app1(orientation: int, byte_order: str) -> bytes:
    """A JPEG APP1 segment holding an Exif block whose IFD0 has one entry: Orientation (tag 0x0112, SHORT)."""
    e = ">" if byte_order == "MM" else "<"
    tiff = (
        byte_order.encode()
        + struct.pack(e + "HI", 42, 8)
        + struct.pack(e + "H", 1)
        + struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0)
        + struct.pack(e + "I", 0)
    )
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _with_orientation(jpeg: bytes, orientation: int, byte_order: str = "MM") -> bytes:
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + _exif_app1(orientation, byte_order) + jpeg[2:]


#: What a viewer shows for each EXIF orientation, given the stored pixels (EXIF 2.3, tag 0x0112).
DISPLAYED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # rotated 180°
    4: lambda a: a[::-1],  # mirrored top-bottom
    5: lambda a: a.swapaxes(0, 1),  # transposed
    6: lambda a: np.rot90(a, -1),  # rotated 90° clockwise (the usual portrait phone photo)
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],  # transverse
    8: lambda a: np.rot90(a, 1),  # rotated 90° counter-clockwise
}


@pytest.mark.parametrize("byte_order", ["MM", "II"])
@pytest.mark.parametrize("orientation", sorted(DISPLAYED))
def test_jpeg_exif_orientation_is_applied(orientation, byte_order):
    jpeg = _encode(".jpg", _picture(), cv2.IMWRITE_JPEG_QUALITY, 100)
    stored = decode_image(jpeg)
    shown = decode_image(_with_orientation(jpeg, orientation, byte_order))
    assert np.array_equal(shown, DISPLAYED[orientation](stored))


def test_greyscale_jpeg_is_oriented_and_becomes_rgb():
    jpeg = _encode(".jpg", _picture(grey=True), cv2.IMWRITE_JPEG_QUALITY, 100)
    shown = decode_image(_with_orientation(jpeg, 6))
    assert shown.shape == (10, 6, 3)
    assert np.array_equal(shown, np.rot90(decode_image(jpeg), -1))


def _tiff(bgr: np.ndarray, orientation: int) -> bytes:
    """An uncompressed little-endian RGB TIFF with an Orientation tag."""
    h, w, _ = bgr.shape
    pixels = np.ascontiguousarray(bgr[:, :, ::-1]).tobytes()
    n = 10
    data_offset = 8 + 2 + 12 * n + 4
    short, long_ = 3, 4
    entries = [
        (256, short, w),
        (257, short, h),
        (258, short, 8),
        (259, short, 1),
        (262, short, 2),
        (273, long_, data_offset),
        (274, short, orientation),
        (277, short, 3),
        (278, short, h),
        (279, long_, len(pixels)),
    ]
    ifd = struct.pack("<H", n) + b"".join(
        struct.pack("<HHI", tag, kind, 1)
        + (struct.pack("<HH", value, 0) if kind == short else struct.pack("<I", value))
        for tag, kind, value in entries
    )
    return b"II" + struct.pack("<HI", 42, 8) + ifd + struct.pack("<I", 0) + pixels


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_tiff_orientation_is_applied_once(orientation):
    rgb = _picture()[:, :, ::-1]
    assert np.array_equal(decode_image(_tiff(_picture(), orientation)), DISPLAYED[orientation](rgb))


def test_16_bit_png_is_scaled_by_257_not_stretched_to_its_maximum():
    dark = np.array([[0, 257, 1000]], np.uint16)  # a dark 16-bit image stays dark
    assert decode_image(_encode(".png", dark))[0, :, 0].tolist() == [0, 1, 4]
    full = np.array([[0, 257, 128 * 257, 65535]], np.uint16)
    assert decode_image(_encode(".png", full))[0, :, 0].tolist() == [0, 1, 128, 255]


def test_16_bit_colour_png_keeps_its_channel_order():
    bgr = np.zeros((1, 1, 3), np.uint16)
    bgr[0, 0] = (0, 257 * 10, 257 * 200)  # B, G, R
    assert decode_image(_encode(".png", bgr))[0, 0].tolist() == [200, 10, 0]


def test_greyscale_and_alpha_pngs_become_rgb():
    bgr = _picture()
    rgb = bgr[:, :, ::-1]
    assert np.array_equal(decode_image(_encode(".png", bgr)), rgb)
    assert np.array_equal(decode_image(_encode(".png", np.dstack([bgr, np.full(bgr.shape[:2], 7, np.uint8)]))), rgb)
    grey = _picture(grey=True)
    assert np.array_equal(decode_image(_encode(".png", grey)), np.dstack([grey] * 3))
