"""68-point landmarks without OpenFace: dlib's HOG face detector and its iBUG 300-W shape predictor.

The optional extra `faceaug[landmarks]` installs them: `dlib-bin` (binary wheels of dlib) and
`face_recognition_models`, whose package folder holds `shape_predictor_68_face_landmarks.dat` (nothing is
downloaded at run time). The predictor numbers its points as OpenFace does (iBUG 300-W), so its landmarks go
through the same `align_face` as a CSV's. The 68-point model is trained on iBUG 300-W, which is licensed for
research use only.

Small images are upscaled before detection: the HOG detector's window is 80 px, so a 48-px FER2013 face is never
found at its own size. Measured on 64 synthetic FER-like 48-px crops and 128 `faceaug synth` faces (64 and 128
px): with the short side at 200 px and the detection threshold lowered to −0.3, dlib finds 63 / 64 crops and
58 / 64 of either synth size (at 160 px 44–58, at 320 px 49–60; thresholds 0 → −0.6 trade misses for 1–2 px of
error); eye and mouth centres are within about 1.3 px of the truth on average.
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


def detect_faces(gray: np.ndarray) -> list[tuple[float, float, float, float]]:
    """dlib's frontal faces in a grey uint8 image as (left, top, right, bottom) in its pixels, most confident
    first (not largest: at the lowered threshold a large false box can appear beside a real face, e.g. on
    skimage's astronaut)."""
    detector, _ = _models()
    h, w = gray.shape
    factor = 1.0
    if min(h, w) < DETECT_SIDE:
        factor = DETECT_SIDE / min(h, w)
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

    Small images are predicted at the detection scale (`DETECT_SIDE`), as the predictor was trained on faces
    larger than a 48-px crop holds."""
    import dlib

    _, predictor = _models()
    h, w = gray.shape
    factor = max(1.0, DETECT_SIDE / min(h, w))
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
    boxes = detect_faces(gray)
    if boxes:
        return predict_landmarks(gray, boxes[0]), False
    if not whole_frame:
        return None
    h, w = gray.shape
    box = tuple(f * side for f, side in zip(WHOLE_FRAME_BOX, (w, h, w, h)))
    return predict_landmarks(gray, box), True
