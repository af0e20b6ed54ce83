"""The shared face-crop function: landmark alignment, Haar fallback, assume-cropped, no-face rejection."""

import numpy as np
import pytest
from skimage import data

from faceaug.preprocess.align import (
    CROP_TEMPLATE,
    AlignmentError,
    NoFaceError,
    align_face,
    anchor_points,
    detect_face_haar,
    similarity_transform,
)
from faceaug.preprocess.drawn_faces import draw_face, place_landmarks


def _apply(m, pts):
    return pts @ m[:, :2].T + m[:, 2]


@pytest.mark.parametrize("angle", [0.0, 20.0, -35.0])
@pytest.mark.parametrize("size", [64, 128])
def test_landmarks_land_on_the_template(angle, size):
    lm = place_landmarks((150, 110), 50, angle)
    img = draw_face(260, 300, lm)
    face = align_face(img, lm, size)
    assert face.method == "openface"
    assert face.crop.shape == (size, size, 3) and face.crop.dtype == np.uint8
    np.testing.assert_allclose(
        _apply(face.transform.astype(np.float64), anchor_points(lm)), CROP_TEMPLATE.points(size), atol=size / 256
    )  # least squares: sub-pixel residual
    # Same face, whatever its rotation and size in the source → nearly the same crop.
    ref = align_face(
        draw_face(260, 300, place_landmarks((150, 110), 50, 0.0)), place_landmarks((150, 110), 50, 0.0), size
    )
    assert np.abs(face.crop.astype(int) - ref.crop.astype(int)).mean() < 12


def test_transform_is_a_similarity_never_a_stretch():
    src = np.array([[10.0, 10.0], [40.0, 12.0], [24.0, 60.0]])  # a face squashed vertically
    m = similarity_transform(src, CROP_TEMPLATE.points(128))
    a, b = m[0, 0], m[1, 0]
    assert m[0, 1] == pytest.approx(-b) and m[1, 1] == pytest.approx(a)  # rotation·uniform scale, no shear
    assert np.linalg.det(m[:, :2]) > 0  # no reflection


def test_degenerate_landmarks_raise():
    with pytest.raises(AlignmentError) as info:
        align_face(np.zeros((50, 50, 3), np.uint8), np.zeros((68, 2), np.float32), 64)
    assert info.value.reason == "degenerate_landmarks"


def test_haar_fallback_on_a_real_face():
    img = data.astronaut()
    box = detect_face_haar(img)
    assert box is not None
    x, y, w, h = box
    assert 150 < x + w / 2 < 280 and 60 < y + h / 2 < 170  # the astronaut's face, not the flag or the suit
    face = align_face(img, None, 96)
    assert face.method == "haar" and face.crop.shape == (96, 96, 3)
    assert detect_face_haar(face.crop) is not None  # the crop is still a face


def test_haar_works_on_small_grayscale_like_inputs():
    import cv2

    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)[40:240, 140:320]
    tiny = cv2.resize(gray, (48, 53), interpolation=cv2.INTER_AREA)
    rgb = np.repeat(tiny[:, :, None], 3, axis=2)
    face = align_face(rgb, None, 64, assume_cropped=True)
    assert face.crop.shape == (64, 64, 3)


def test_no_face_rejects_unless_assume_cropped():
    blank = np.full((90, 120, 3), 127, np.uint8)
    with pytest.raises(NoFaceError) as info:
        align_face(blank, None, 64)
    assert info.value.reason == "no_face"
    face = align_face(blank, None, 64, assume_cropped=True)
    assert face.method == "none" and face.crop.shape == (64, 64, 3)
    # The centred square, scaled uniformly: (15, 0) → (0, 0) and (105, 90) → (64, 64).
    np.testing.assert_allclose(
        _apply(face.transform.astype(np.float64), np.array([[15.0, 0.0], [105.0, 90.0]])), [[0, 0], [64, 64]], atol=1e-4
    )
