"""Expression edits by geometry: each AU moves the 68 landmarks, and a smooth warp moves the pixels with them.

The motion comes from the synthetic world's face model (`faceaug.synth.geometry.face_shape`, which moves each
feature the way FACS describes its AU) for a typical face (the mean of the world's people), placed in the crop by the
same anchors and `CROP_TEMPLATE` as every aligned face. The landmarks move by face_shape(target) − face_shape(source)
times `strength`; a thin-plate spline through the moved landmarks and a fixed ring around the face gives every pixel
its motion (nothing outside the ring moves). No training, no weights: clean and identity-preserving by construction,
at any size and in colour. What it cannot do is paint what was not there — teeth in an opening mouth, wrinkles — which
is what a GANimation editor adds; `WarpEditor(base=editor)` edits with the editor first and warps its edit.

    editor = WarpEditor(strength=1.0)                 # geometry only
    editor = WarpEditor(strength=1.0, base=gan_editor)  # GANimation's edit, then the geometry
    edited, attention = editor.edit(faces_uint8, target_aus, source_aus)
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from scipy.interpolate import RBFInterpolator

from faceaug.aus import AU_NAMES, N_AUS
from faceaug.preprocess.align import CROP_TEMPLATE, anchor_points, similarity_transform, transform_points
from faceaug.synth.geometry import face_shape
from faceaug.synth.identity import Identity, sample_identity

#: the warp's name in editor names (and `python -m faceaug.metrics.edit_quality --model warp`, the warp alone)
WARP = "warp"
_FIELD_SIDE = 64  # the motion field is computed at most this large and resized (it is smooth)
_RING_SCALE = 1.45  # the fixed ring: the face's hull scaled this much about its centre
_SMOOTHING = 0.5  # thin-plate spline smoothing: close landmarks with different motions do not fold the image


@lru_cache(maxsize=1)
def typical_identity() -> Identity:
    """The synthetic world's average person: each shape parameter averaged over 512 drawn people (seed 0)."""
    rng = np.random.default_rng(0)
    people = [sample_identity(rng) for _ in range(512)]
    first = people[0]
    means = {
        f.name: float(np.mean([getattr(p, f.name) for p in people]))
        for f in dataclasses.fields(Identity)
        if isinstance(getattr(first, f.name), float)
    }
    return dataclasses.replace(first, **means)


@lru_cache(maxsize=8)
def _to_crop(size: int) -> np.ndarray:
    """(2, 3) similarity from the face model's units to a `size`-px aligned crop (the neutral face's anchors)."""
    neutral = face_shape(typical_identity(), np.zeros(N_AUS)).landmarks
    return similarity_transform(anchor_points(neutral), CROP_TEMPLATE.points(size))


def _landmarks(aus: np.ndarray, size: int) -> np.ndarray:
    lm = face_shape(typical_identity(), np.clip(np.asarray(aus, np.float64), 0.0, 1.0)).landmarks
    return transform_points(lm, _to_crop(size))


def _ring(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Fixed points: the face's convex hull scaled about its centre, plus the crop's border where it lies outside
    that ring (below a dropping jaw the border moves with the chin)."""
    lm = np.asarray(landmarks, np.float32)
    hull = cv2.convexHull(lm)[:, 0].astype(np.float64)
    centre = lm.mean(0).astype(np.float64)
    ring = centre + _RING_SCALE * (hull - centre)
    s = size - 1.0
    edge = np.linspace(0.0, s, 9)
    border = np.concatenate(
        [np.stack([edge, np.zeros(9)], 1), np.stack([edge, np.full(9, s)], 1)]
        + [np.stack([np.zeros(7), edge[1:-1]], 1), np.stack([np.full(7, s), edge[1:-1]], 1)]
    )
    polygon = ring.astype(np.float32).reshape(-1, 1, 2)
    outside = [cv2.pointPolygonTest(polygon, (float(x), float(y)), False) < 0 for x, y in border]
    return np.concatenate([ring, border[outside]])


def landmark_motion(
    source_aus: np.ndarray,
    target_aus: np.ndarray,
    size: int,
    strength: float = 1.0,
    landmarks: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(landmarks after the edit, where each came from), both (68, 2) in pixels of a `size`-px crop. The motion is
    the face model's; it starts from the face's own `landmarks` (in crop pixels) when given, else from the typical
    face's."""
    model = _landmarks(source_aus, size)
    before = model if landmarks is None else np.asarray(landmarks, np.float64)
    return before + strength * (_landmarks(target_aus, size) - model), before


def motion_field(
    source_aus: np.ndarray,
    target_aus: np.ndarray,
    size: int,
    strength: float = 1.0,
    landmarks: np.ndarray | None = None,
) -> np.ndarray:
    """Backward motion (size, size, 2) float32: output pixel p shows the input at p + field[p]."""
    side = min(size, _FIELD_SIDE)
    scale = side / size
    after, before = landmark_motion(source_aus, target_aus, size, strength, landmarks)
    ring = _ring(before, size)
    points = np.concatenate([after, ring]) * scale
    values = np.concatenate([before - after, np.zeros_like(ring)]) * scale
    if np.abs(values).max() < 1e-6:
        return np.zeros((size, size, 2), np.float32)
    spline = RBFInterpolator(points, values, kernel="thin_plate_spline", smoothing=_SMOOTHING)
    grid = (np.mgrid[0:side, 0:side][::-1].reshape(2, -1).T + 0.5) * (size / side) - 0.5
    field = spline(grid * scale).reshape(side, side, 2) / scale
    if side != size:
        field = cv2.resize(field.astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    return field.astype(np.float32)


def warp_face(
    face: np.ndarray,
    source_aus: np.ndarray,
    target_aus: np.ndarray,
    strength: float = 1.0,
    attention: np.ndarray | None = None,
    landmarks: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One aligned crop (S, S[, C]) uint8 moved from `source_aus` to `target_aus` (from its own `landmarks` in crop
    pixels when given): (warped uint8, attention (S, S) float32). Attention keeps its meaning — 1 where the pixel
    comes from the input, moved or not, 0 where an editor painted it — so the `attention` of an edit (default: all
    ones) is moved with its pixels."""
    size = face.shape[0]
    field = motion_field(source_aus, target_aus, size, strength, landmarks)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    move = lambda image, how: cv2.remap(  # noqa: E731
        image, xs + field[..., 0], ys + field[..., 1], interpolation=how, borderMode=cv2.BORDER_REFLECT
    )
    warped = move(face, cv2.INTER_CUBIC).reshape(face.shape)
    if attention is None:
        return warped, np.ones((size, size), np.float32)
    return warped, np.clip(move(np.asarray(attention, np.float32), cv2.INTER_LINEAR), 0.0, 1.0)


@dataclass
class WarpEditor:
    """An editor with GANimationEditor's `edit` API that moves the face's geometry toward the target AUs, after the
    `base` editor's edit when one is given. Needs the sources' AUs (zeros, a neutral face, when none are given)."""

    strength: float = 1.0
    base: Any = None  # a faceaug.inference.editor.GanimationEditor, or None for the warp alone

    needs_source_aus = True
    uses_landmarks = True  # `edit` takes each face's landmarks (faceaug.pipeline.editing passes them)

    @property
    def image_size(self) -> int:
        return self.base.image_size if self.base is not None else _FIELD_SIDE

    @property
    def au_names(self) -> tuple[str, ...]:
        return self.base.au_names if self.base is not None else AU_NAMES

    @property
    def model_id(self) -> str:
        mine = hashlib.sha256(f"warp:{self.strength:g}".encode()).hexdigest()[:12]
        return mine if self.base is None else f"{self.base.model_id}+{mine[:6]}"

    @property
    def name(self) -> str:
        if self.base is None:
            return f"{WARP} (strength {self.strength:g})"
        return f"{self.base.name} + {WARP} {self.strength:g}"

    def __getattr__(self, attr: str) -> Any:  # the base editor's other facts (device, provenance, crop template…)
        base = self.__dict__.get("base")
        if base is None:
            raise AttributeError(attr)
        return getattr(base, attr)

    def edit(
        self,
        faces: np.ndarray,
        aus: np.ndarray,
        source_aus: np.ndarray | None = None,
        landmarks: list[np.ndarray | None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Same contract as GanimationEditor.edit: uint8 (B, S, S, 3) edits and float32 (B, S, S) attention.
        `landmarks`: each face's 68 landmarks in its crop's pixels (None: the typical face's), placing the motion."""
        aus = np.asarray(aus, np.float32)
        source = np.zeros_like(aus) if source_aus is None else np.asarray(source_aus, np.float32)
        if len(source) != len(aus) or len(faces) != len(aus):
            raise ValueError(f"{len(faces)} faces, {len(aus)} target and {len(source)} source AU vectors")
        if self.base is not None:
            faces, kept = self.base.edit(faces, aus, source_aus)
        else:
            faces = np.asarray(faces)
            if faces.ndim == 3:
                faces = np.repeat(faces[..., None], 3, axis=-1)
            kept = np.ones(faces.shape[:3], np.float32)
        full_aus, full_source = self._full(aus), self._full(source)
        out = np.empty_like(faces)
        attention = np.empty(faces.shape[:3], np.float32)
        for i, face in enumerate(faces):
            own = None if landmarks is None else landmarks[i]
            out[i], attention[i] = warp_face(face, full_source[i], full_aus[i], self.strength, kept[i], own)
        return out, attention

    def _full(self, aus: np.ndarray) -> np.ndarray:
        """AU vectors in the editor's order → the face model's 17 (AUs the editor lacks stay 0)."""
        names = self.au_names
        if tuple(names) == tuple(AU_NAMES):
            return aus
        full = np.zeros((len(aus), N_AUS), np.float32)
        for j, name in enumerate(names):
            full[:, AU_NAMES.index(name)] = aus[:, j]
        return full
