"""The one face-crop function of faceaug, and the crop template it aligns to.

Every face crop — at preprocess time, in GANimation training and at expand time — comes from `align_face`, so
models always see faces cropped the same way (GANimation breaks on faces cropped differently from training).

Geometry: a similarity transform (rotation, uniform scale, translation; never a stretch) maps three anchor points
of the face — the two eye centres (mean of iBUG landmarks 36–41 and 42–47) and the mouth centre (mean of 48–67) —
onto `CROP_TEMPLATE`, fitted by least squares. The landmarks come from the caller (an OpenFace CSV) or from dlib's
68-point predictor (`faceaug.preprocess.landmarks`, the optional extra); either way the same anchors and template.
Without landmarks and without dlib, OpenCV's Haar frontal-face detector gives a box; the anchor points' usual
positions inside such a box (`HAAR_BOX_ANCHORS`) are mapped to the same template, so the paths give about the
same framing. No face → `NoFaceError`, unless `assume_cropped` (the image is one face): dlib then predicts the
landmarks on the whole frame, the Haar path takes the centred square of the image as the crop.

`AlignedFace.method` says where the anchors came from, in the words of faces.parquet's `landmark_method`:
openface (landmarks passed in), dlib, haar (a detector box), none (the centred square, no face geometry).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from faceaug.preprocess.landmarks import dlib_landmarks


@dataclass(frozen=True)
class CropTemplate:
    """Where the anchor points land in the crop, as fractions of its side (x right, y down).

    `left_eye` is the eye on the image's left (the subject's right eye, iBUG 36–41). Eyes at 37% height, mouth at
    74%, 36% of the side between the eyes: the crop keeps the forehead, the chin and a little hair, and the face
    (hull of the 68 landmarks) fills 42% of it. The earlier, looser template (eyes at 40%, mouth at 71%, 30% apart;
    face 29% of the crop) spent most of a 64-px crop on background: GANimation `fast` edits of held-out synthetic
    subjects were recognised 86.2% / 89.9% (seeds 0 / 1), with this one 94.7% / 93.4% (CHANGELOG).
    """

    left_eye: tuple[float, float] = (0.32, 0.37)
    right_eye: tuple[float, float] = (0.68, 0.37)
    mouth: tuple[float, float] = (0.50, 0.742)

    def points(self, size: int) -> np.ndarray:
        """The three anchor points in pixel coordinates of a `size`×`size` crop, (3, 2) float64."""
        return np.array([self.left_eye, self.right_eye, self.mouth], dtype=np.float64) * float(size)


#: The canonical crop template (the single home of faceaug's face framing).
CROP_TEMPLATE = CropTemplate()


def crop_template_id() -> str:
    """A short id of the face framing (`CROP_TEMPLATE`): model files record the one they were trained on."""
    blob = json.dumps(dataclasses.asdict(CROP_TEMPLATE), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


#: Typical anchor positions inside an OpenCV `haarcascade_frontalface_default` box, as fractions of its width
#: and height (left eye, right eye, mouth). Measured on 96 `faceaug synth` faces with exact landmarks (mean
#: (0.31, 0.40), (0.67, 0.40), (0.49, 0.78), sd ≤ 0.03) and checked by eye on skimage's astronaut (a real face,
#: eyes ≈ 0.30 / 0.70, mouth ≈ 0.80); these are rounded between the two. Used only without landmarks.
HAAR_BOX_ANCHORS = np.array([[0.31, 0.39], [0.69, 0.39], [0.50, 0.79]], dtype=np.float64)

_LEFT_EYE = slice(36, 42)
_RIGHT_EYE = slice(42, 48)
_MOUTH = slice(48, 68)
_HAAR_MAX_SIDE = 480  # detection runs on a copy at most this large (speed)
_HAAR_MIN_SIDE = 96  # tiny images are upscaled to this before detection (the cascade's window is 24 px)


class AlignmentError(ValueError):
    """A face that cannot be aligned. `reason` is a stable code for rejects.parquet."""

    reason = "alignment_failed"

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class NoFaceError(AlignmentError):
    """No landmarks and the detector found no face."""

    reason = "no_face"


@dataclass
class AlignedFace:
    crop: np.ndarray  # (size, size, 3) uint8 RGB
    transform: np.ndarray  # (2, 3) float32: source pixel (x, y, 1) → crop pixel
    method: str  # "openface" | "dlib" | "haar" | "none"
    landmarks: np.ndarray | None = None  # (68, 2) source px: the ones the crop was aligned by
    whole_frame: bool = False  # dlib's landmarks came from the whole image (no face detected; assume_cropped)

    @property
    def scale(self) -> float:
        """Crop pixels per source pixel (> 1 means the source was magnified)."""
        return float(np.hypot(self.transform[0, 0], self.transform[1, 0]))


def anchor_points(landmarks: np.ndarray) -> np.ndarray:
    """68 iBUG landmarks (68, 2) → (3, 2) left-eye centre, right-eye centre, mouth centre."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"expected (68, 2) landmarks, got {pts.shape}")
    return np.stack([pts[_LEFT_EYE].mean(0), pts[_RIGHT_EYE].mean(0), pts[_MOUTH].mean(0)])


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) mapping src → dst, (2, 3)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    s, d = src - src_mean, dst - dst_mean
    norm = float((s**2).sum())
    if norm < 1e-9:
        raise AlignmentError("the anchor points coincide: the landmarks are degenerate.", "degenerate_landmarks")
    a = float((s[:, 0] * d[:, 0] + s[:, 1] * d[:, 1]).sum()) / norm
    b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum()) / norm
    rot = np.array([[a, -b], [b, a]])
    t = dst_mean - rot @ src_mean
    return np.hstack([rot, t[:, None]])


def warp_to_crop(image: np.ndarray, transform: np.ndarray, size: int) -> np.ndarray:
    """Apply a source → crop similarity transform; large reductions are pre-shrunk with area averaging."""
    m = np.asarray(transform, dtype=np.float64)
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    src = image
    if scale < 0.5:  # warpAffine's bilinear sampling would alias: shrink first, then warp the rest
        f = min(1.0, 2.0 * scale)
        src = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        fx, fy = src.shape[1] / image.shape[1], src.shape[0] / image.shape[0]
        m = m @ np.diag([1.0 / fx, 1.0 / fy, 1.0])
    return cv2.warpAffine(src, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


#: One cascade per thread: a CascadeClassifier keeps working buffers between calls, so threads must not share one.
_CASCADES = threading.local()


def _cascade() -> cv2.CascadeClassifier:
    cascade = getattr(_CASCADES, "cascade", None)
    if cascade is None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise RuntimeError(f"OpenCV's Haar cascade could not be loaded from {path}")
        _CASCADES.cascade = cascade
    return cascade


def detect_face_haar(image: np.ndarray, min_neighbors: int = 5) -> tuple[int, int, int, int] | None:
    """The largest frontal face (x, y, w, h) in source pixels found by OpenCV's Haar cascade, or None."""
    gray = image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    factor = 1.0
    if max(h, w) > _HAAR_MAX_SIDE:
        factor = _HAAR_MAX_SIDE / max(h, w)
    elif min(h, w) < _HAAR_MIN_SIDE:
        factor = _HAAR_MIN_SIDE / min(h, w)
    if factor != 1.0:
        interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
        gray = cv2.resize(gray, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=interp)
    gray = cv2.equalizeHist(gray)
    min_side = max(24, int(0.15 * min(gray.shape)))
    boxes = _cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=min_neighbors, minSize=(min_side, min_side))
    if len(boxes) == 0:
        return None
    x, y, bw, bh = max((tuple(int(v) for v in b) for b in boxes), key=lambda b: b[2] * b[3])
    return (round(x / factor), round(y / factor), round(bw / factor), round(bh / factor))


def haar_box_anchors(box: tuple[int, int, int, int]) -> np.ndarray:
    """The (3, 2) anchor points implied by a Haar face box."""
    x, y, w, h = box
    return np.array([x, y], dtype=np.float64) + HAAR_BOX_ANCHORS * np.array([w, h], dtype=np.float64)


def _centre_square_transform(height: int, width: int, size: int) -> np.ndarray:
    side = min(height, width)
    s = size / side
    return np.array([[s, 0.0, -(width - side) / 2 * s], [0.0, s, -(height - side) / 2 * s]])


#: What `align_face` may use when no landmarks are passed in.
DETECTORS = ("dlib", "haar", "none")
#: The framing each landmark method gives: OpenFace's and dlib's points are both the iBUG 68, the same anchors.
METHOD_FRAMING = {"openface": "68 landmarks", "dlib": "68 landmarks", "haar": "a Haar box", "none": "the whole image"}


def other_framing(trained_methods: dict[str, int], methods) -> str | None:
    """Why faces aligned by `methods` (an iterable of faces.parquet `landmark_method`s) are framed differently from
    a model's training faces (`trained_methods`: method → count, as its file records), or None. Models of earlier
    versions record nothing and faces of earlier versions are 'unknown': no sentence then."""
    trained = {m: n for m, n in (trained_methods or {}).items() if m in METHOD_FRAMING}
    framings = {METHOD_FRAMING[m] for m in trained}
    methods = list(methods)
    other: dict[str, int] = {}
    for m in methods:
        if m in METHOD_FRAMING and METHOD_FRAMING[m] not in framings:
            other[m] = other.get(m, 0) + 1
    if not trained or not other:
        return None
    trained_mix, other_mix = (", ".join(f"{n} {m}" for m, n in c.items()) for c in (trained, other))
    return (
        f"was trained on faces aligned by {trained_mix} (landmark_method), but {sum(other.values())} of the "
        f"{len(methods)} source faces were aligned by {other_mix}: their crops are framed differently, so their "
        "edits may be poorer (preprocess them with the training faces' --landmarks)"
    )


def flat_landmarks(points: np.ndarray | None) -> list[float] | None:
    """(68, 2) landmarks → faces.parquet's 136 values x_0..x_67, y_0..y_67 (None stays None)."""
    if points is None:
        return None
    return np.concatenate([points[:, 0], points[:, 1]]).astype(np.float32).tolist()


def landmark_points(values) -> np.ndarray | None:
    """faces.parquet's 136 landmark values → (68, 2) float64; None when missing, of another length or not finite."""
    if values is None or np.size(values) != 136:
        return None
    points = np.asarray(values, np.float64).reshape(2, 68).T
    return points if np.isfinite(points).all() else None


def transform_points(points: np.ndarray, transform) -> np.ndarray:
    """Points (N, 2) mapped by a 2×3 affine transform (6 values, row-major, e.g. faces.parquet's crop_transform)."""
    m = np.asarray(transform, np.float64).reshape(2, 3)
    return np.asarray(points, np.float64) @ m[:, :2].T + m[:, 2]


def align_face(
    image: np.ndarray, landmarks: np.ndarray | None, size: int, *, assume_cropped: bool = False, detector: str = "haar"
) -> AlignedFace:
    """Crop an RGB uint8 image to a `size`×`size` face aligned to CROP_TEMPLATE.

    With landmarks (68, 2 in source pixels) the anchor points come from them; without, from `detector`: dlib's
    68 landmarks, the Haar detector's box, or none (the centred square). When no face is found: `assume_cropped`
    means the image is one face (dlib: landmarks of the whole frame; Haar: the centred square), else NoFaceError.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"align_face expects an RGB uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
    if detector not in DETECTORS:
        raise ValueError(f"detector must be one of {DETECTORS}, got {detector!r}")
    height, width = image.shape[:2]
    method, whole_frame = "openface", False
    if landmarks is None and detector == "dlib":
        found = dlib_landmarks(image, whole_frame=assume_cropped)
        if found is None:
            raise NoFaceError(
                "dlib found no face in the image (use --assume-cropped if the images are already face crops)."
            )
        (landmarks, whole_frame), method = found, "dlib"
    if landmarks is not None:
        m = similarity_transform(anchor_points(landmarks), CROP_TEMPLATE.points(size))
    else:
        box = detect_face_haar(image) if detector == "haar" else None
        if box is not None:
            method = "haar"
            m = similarity_transform(haar_box_anchors(box), CROP_TEMPLATE.points(size))
        elif assume_cropped or detector == "none":
            method = "none"
            m = _centre_square_transform(height, width, size)
        else:
            raise NoFaceError(
                "no landmarks in the CSV and the face detector found no face "
                "(use --assume-cropped if the images are already face crops)."
            )
    crop = warp_to_crop(image, m, size)
    return AlignedFace(
        crop=crop, transform=m.astype(np.float32), method=method, landmarks=landmarks, whole_frame=whole_frame
    )
