"""dlib's face-recognition network run by PyTorch (faceaug.metrics.dlib_resnet) against dlib itself: the same
descriptors from the same installed file (faceaug[landmarks], in the dev extra), and a clear refusal of a file
that is not that network."""

from __future__ import annotations

import numpy as np
import pytest

from faceaug.metrics.identity import DESCRIPTOR_FILE, FaceDescriptor, identity_problem
from faceaug.preprocess.landmarks import model_file


@pytest.fixture(scope="module")
def descriptor():
    if identity_problem():
        pytest.skip(identity_problem())
    return FaceDescriptor()


def _faces() -> np.ndarray:
    from skimage import data

    from faceaug.io.images import resize_face

    astronaut = data.astronaut()
    return np.stack(
        [
            resize_face(astronaut[0:240, 120:360], 64),
            resize_face(astronaut[0:240, 120:360], 64)[:, ::-1],
            resize_face(data.chelsea()[0:300, 100:400], 64),  # not a face: dlib still describes the box
            np.full((64, 64, 3), 128, np.uint8),
        ]
    )


def test_the_pytorch_network_gives_dlib_s_own_descriptors(descriptor):
    import dlib

    reference = dlib.face_recognition_model_v1(str(model_file(DESCRIPTOR_FILE)))
    faces = _faces()
    chips = descriptor.chips(faces)
    expected = np.stack([np.asarray(reference.compute_face_descriptor(chip), np.float32) for chip in chips])
    ours = descriptor(faces)
    assert ours.shape == (4, 128) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    assert np.linalg.norm(ours[0] - ours[2]) > 0.6  # and they tell things apart


def test_a_file_that_is_not_dlib_s_network_is_refused_by_name(tmp_path, descriptor):
    from faceaug.metrics.dlib_resnet import DlibResnet

    data = model_file(DESCRIPTOR_FILE).read_bytes()
    (tmp_path / "truncated.dat").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not dlib's face-recognition ResNet"):
        DlibResnet.load(tmp_path / "truncated.dat")
    (tmp_path / "zeros.dat").write_bytes(bytes(1000))
    with pytest.raises(ValueError, match="zeros.dat is not dlib's face-recognition ResNet .no input layer"):
        DlibResnet.load(tmp_path / "zeros.dat")
