"""68-point landmarks without OpenFace: dlib's HOG face detector and its iBUG 300-W shape predictor.

The optional extra `faceaug[landmarks]` installs them: `dlib-bin` (binary wheels of dlib) and
`face_recognition_models`, whose package folder holds `shape_predictor_68_face_landmarks.dat` (nothing is
downloaded at run time). The predictor numbers its points as OpenFace does (iBUG 300-W), so its landmarks go
through the same `align_face` as a CSV's. The 68-point model is trained on iBUG 300-W, which is licensed for
research use only.

Small images are upscaled before detection: the HOG detector's window is 80 px, so a 48-px FER2013 face is never
found at its own size. Detection runs with the short side at `DETECT_SIDE` (200 px) and the threshold lowered to
−0.3; the shape predictor then runs with the short side at `PREDICT_SIDE` (200 px), the scale it was trained near.
An image known to be one face (`--assume-cropped`) fills the detector's window at a smaller scale,
`CROPPED_DETECT_SIDE` (120 px): on 400 synthetic FER-like 48-px crops with known landmarks the eye/mouth centres
land 0.91 px from the truth detecting at 120 px, 0.96 px at 200 px, in 2.3 vs 4.7 ms per image (landmarks
included); on 400 FER2013 train crops both sides find as many faces (328 vs 326) and put the eye/mouth centres a
median 0.3 px apart (docs/results.md). A face that is a part of a small frame needs the 200 px (at 120 px dlib
finds 4 of 24 synthetic 64-px frames, at 200 px 21).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

#: What a user runs to get the detector (named in every message about it).
INSTALL_HINT = "pip install 'faceaug[landmarks]'"
PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
DETECT_SIDE = 200  # images with a shorter side are upscaled to this before detection (the HOG window is 80 px)
CROPPED_DETECT_SIDE = 120  # the same for an image known to be one face (see the module docstring)
PREDICT_SIDE = 200  # images with a shorter side are upscaled to this before the shape predictor runs
DETECT_MAX_SIDE = 640  # larger images are detected on a copy this large (speed); the predictor sees the original
DETECT_THRESHOLD = -0.3  # dlib's adjust_threshold: below 0 finds more faces (see the module docstring)
#: The face box assumed on a pre-cropped image when detection fails, as fractions of its width and height
#: (left, top, right, bottom). On the synthetic FER-like crops, dlib's own boxes fill about this much of the frame
#: (median 0.06–0.15 … 0.89–0.97 by upscale) and the predictor given this box lands within 1.2 px of the truth on
#: average, as close as from a detected box.
WHOLE_FRAME_BOX = (0.05, 0.05, 0.95, 0.95)


def model_file(name: str) -> Path | None:
    """A model file shipped inside the installed face_recognition_models package (e.g. `PREDICTOR_FILE`), or None.

    Found without importing the package: its `__init__` imports `pkg_resources`, which setuptools ≥ 81 no longer
    ships, so `face_recognition_models.pose_predictor_model_location()` fails on current installs.
    """
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):  # ValueError: sys.modules holds None for it (what the tests use)
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    return path if path.is_file() else None


def dlib_problem() -> str | None:
    """Why dlib landmarks cannot be used here (one phrase), or None when they can."""
    try:
        import dlib  # noqa: F401 — the optional extra
    except ImportError:
        return "dlib is not installed"
    if model_file(PREDICTOR_FILE) is None:
        return f"face_recognition_models (which ships {PREDICTOR_FILE}) is not installed"
    return None


_MODELS: tuple | None = None  # (detector, predictor), loaded once per process


def _models() -> tuple:
    global _MODELS
    if _MODELS is None:
        import dlib

        path = model_file(PREDICTOR_FILE)
        if path is None:
            raise RuntimeError(f"dlib landmarks were requested but {PREDICTOR_FILE} is not installed")
        _MODELS = (dlib.get_frontal_face_detector(), dlib.shape_predictor(str(path)))
    return _MODELS


def detect_faces(gray: np.ndarray, side: int = DETECT_SIDE) -> list[tuple[float, float, float, float]]:
    """dlib's frontal faces in a grey uint8 image as (left, top, right, bottom) in its pixels, most confident
    first (not largest: at the lowered threshold a large false box can appear beside a real face, e.g. on
    skimage's astronaut). Images with a short side below `side` are upscaled to it first."""
    detector, _ = _models()
    h, w = gray.shape
    factor = 1.0
    if min(h, w) < side:
        factor = side / min(h, w)
    elif max(h, w) > DETECT_MAX_SIDE:
        factor = DETECT_MAX_SIDE / max(h, w)
    work = gray
    if factor != 1.0:
        interp = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
        work = cv2.resize(gray, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=interp)
    rects, scores, _ = detector.run(work, 0, DETECT_THRESHOLD)
    ranked = sorted(zip(scores, range(len(rects))), reverse=True)
    return [
        (rects[i].left() / factor, rects[i].top() / factor, rects[i].right() / factor, rects[i].bottom() / factor)
        for _, i in ranked
    ]


def predict_landmarks(gray: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The 68 iBUG points (68, 2) float64 in source pixels inside a face box (left, top, right, bottom).

    Small images are predicted at `PREDICT_SIDE`, as the predictor was trained on faces larger than a 48-px crop
    holds."""
    import dlib

    _, predictor = _models()
    h, w = gray.shape
    factor = max(1.0, PREDICT_SIDE / min(h, w))
    work = (
        gray
        if factor == 1.0
        else cv2.resize(gray, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_CUBIC)
    )
    rect = dlib.rectangle(*(int(round(v * factor)) for v in box))
    shape = predictor(work, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64) / factor


def dlib_landmarks(image: np.ndarray, *, whole_frame: bool) -> tuple[np.ndarray, bool] | None:
    """(68 landmarks, whether they came from the whole frame) for the most confident face in an RGB uint8 image.

    No face found: with `whole_frame` (the image is known to be one face) the predictor runs on `WHOLE_FRAME_BOX`
    of the whole image, else None.
    """
    gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    boxes = detect_faces(gray, CROPPED_DETECT_SIDE if whole_frame else DETECT_SIDE)
    if boxes:
        return predict_landmarks(gray, boxes[0]), False
    if not whole_frame:
        return None
    h, w = gray.shape
    box = tuple(f * side for f, side in zip(WHOLE_FRAME_BOX, (w, h, w, h)))
    return predict_landmarks(gray, box), True
