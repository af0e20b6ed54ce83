"""How far an edit moved a face away from its person: dlib's 128-D face descriptor (a ResNet trained for face
verification), offline from the files `face_recognition_models` ships (the `faceaug[landmarks]` extra).

    descriptor = FaceDescriptor()                    # RuntimeError without the extra: identity_problem() says why
    d = identity_distance(descriptor(sources), descriptor(edits))   # (B,) Euclidean distances

dlib's published rule: two descriptors closer than 0.6 are the same person (99.38% on LFW). The faces here are
faceaug's aligned crops, so the face box is not detected but fixed (`WHOLE_FRAME_BOX` of the crop, where dlib's
own boxes fall on such crops): a source and its edit are described from the same box, and a face the detector would
miss on an edit (a washed-out one) still gets a descriptor. Small crops are upscaled to the landmark detector's side
first, as the 5-point shape predictor was trained on larger faces. dlib places the points and cuts the chip; the
network itself runs in PyTorch from the same file (faceaug.metrics.dlib_resnet).
"""

from __future__ import annotations

import cv2
import numpy as np

from faceaug.preprocess.landmarks import INSTALL_HINT, PREDICT_SIDE, WHOLE_FRAME_BOX, model_file

DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_FILE = "shape_predictor_5_face_landmarks.dat"
#: dlib's threshold for "the same person" (its face_recognition examples and LFW evaluation)
SAME_PERSON = 0.6
#: Chips through the network at once (memory: ~1.5 MB of activations a chip)
DESCRIPTOR_BATCH = 64


def identity_problem() -> str | None:
    """Why face descriptors cannot be computed here (one phrase naming the fix), or None when they can."""
    try:
        import dlib  # noqa: F401 — the optional extra
    except ImportError:
        return f"dlib is not installed ({INSTALL_HINT})"
    missing = [name for name in (DESCRIPTOR_FILE, SHAPE_FILE) if model_file(name) is None]
    if missing:
        return f"face_recognition_models (which ships {', '.join(missing)}) is not installed ({INSTALL_HINT})"
    return None


class FaceDescriptor:
    """Callable: RGB (or grey-as-RGB) uint8 crops (B, S, S, 3) → float32 descriptors (B, 128).

    dlib finds the 5 points and cuts the 150-px chip of each face as its own descriptor does; the network runs in
    PyTorch (faceaug.metrics.dlib_resnet: the same descriptors, batched, ~20× faster than dlib's BLAS-less build)."""

    def __init__(self) -> None:
        problem = identity_problem()
        if problem:
            raise RuntimeError(f"face descriptors need the landmarks extra: {problem}")
        import dlib

        from faceaug.metrics.dlib_resnet import CHIP_SIDE, DlibResnet

        self._dlib = dlib
        self._chip_side = CHIP_SIDE
        self._shape = dlib.shape_predictor(str(model_file(SHAPE_FILE)))
        self._net = DlibResnet.load(model_file(DESCRIPTOR_FILE))

    def chips(self, images: np.ndarray) -> np.ndarray:
        """The aligned 150-px chips (B, 150, 150, 3) dlib's descriptor would see (face box: `WHOLE_FRAME_BOX`)."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"expected uint8 images (B, S, S, 3), got {images.dtype} {images.shape}")
        out = np.empty((len(images), self._chip_side, self._chip_side, 3), np.uint8)
        for i, image in enumerate(images):
            side = max(PREDICT_SIDE, image.shape[0])
            work = np.ascontiguousarray(
                image if image.shape[0] == side else cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC)
            )
            box = self._dlib.rectangle(*(int(round(f * side)) for f in WHOLE_FRAME_BOX))
            out[i] = self._dlib.get_face_chip(work, self._shape(work, box), size=self._chip_side, padding=0.25)
        return out

    def __call__(self, images: np.ndarray) -> np.ndarray:
        chips = self.chips(images)
        out = np.empty((len(chips), 128), np.float32)
        for start in range(0, len(chips), DESCRIPTOR_BATCH):
            out[start : start + DESCRIPTOR_BATCH] = self._net(chips[start : start + DESCRIPTOR_BATCH]).numpy()
        return out


def identity_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance between matching rows of two descriptor arrays (B, 128) → (B,)."""
    return np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32), axis=1)
