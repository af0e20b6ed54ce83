"""Render a synthetic face with known Action Units and exact 68 iBUG landmarks.

`render_face(identity, aus, size, pose)` draws the face on a supersampled canonical canvas (features from
`faceaug.synth.geometry`, textures from `faceaug.synth.textures`), warps it into the image through the pose,
composites it over a textured background, downsamples, adds sensor noise and returns the RGB image with the
landmarks mapped by the same transform. Deterministic: equal inputs (and equally seeded `rng`) give equal pixels.

Landmark coordinates use the pixel-index convention (the centre of pixel (i, j) is at x = j, y = i).
"""

from __future__ import annotations

import cv2
import numpy as np

from faceaug.aus import N_AUS
from faceaug.synth.geometry import CX, FaceShape, face_shape, spline
from faceaug.synth.identity import Identity, Pose, sample_identity  # noqa: F401  (re-exported API)
from faceaug.synth.textures import background, hair_texture, lighting, skin_texture

__all__ = ["Identity", "Pose", "sample_identity", "render_face", "SUPERSAMPLE"]

SUPERSAMPLE = 2  # the canvas and the warp run at this multiple of the output size, then area-downsample
_SHIFT = 4  # cv2 fixed-point bits for sub-pixel drawing
_SENSOR_NOISE = 1.8  # grey levels (std) of per-image noise


class _Canvas:
    """A float RGB canvas in canonical units (0–1 → 0–R pixels) with masked painting helpers."""

    def __init__(self, res: int):
        self.res = res
        self.rgb = np.zeros((res, res, 3), np.float32)
        self.alpha = np.zeros((res, res), np.float32)
        self.hair = np.zeros((res, res), np.float32)

    def _pts(self, pts: np.ndarray) -> np.ndarray:
        return np.round((np.asarray(pts) * self.res - 0.5) * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)

    def poly_mask(self, *polys: np.ndarray) -> np.ndarray:
        """Anti-aliased filled polygon(s) as a uint8 mask (0–255)."""
        m = np.zeros((self.res, self.res), np.uint8)
        cv2.fillPoly(m, [self._pts(p) for p in polys], 255, cv2.LINE_AA, _SHIFT)
        return m

    def line_mask(self, pts: np.ndarray, width: float, closed: bool = False) -> np.ndarray:
        m = np.zeros((self.res, self.res), np.uint8)
        cv2.polylines(m, [self._pts(pts)], closed, 255, max(1, int(round(width * self.res))), cv2.LINE_AA, _SHIFT)
        return m

    def ellipse_mask(self, centre, axes, angle: float = 0.0) -> np.ndarray:
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        ca, sa = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))
        x, y = axes[0] * np.cos(t), axes[1] * np.sin(t)
        return self.poly_mask(np.stack([centre[0] + ca * x - sa * y, centre[1] + sa * x + ca * y], 1))

    def blur(self, mask: np.ndarray, sigma: float) -> np.ndarray:
        """Gaussian-blurred mask, uint8 (the kernel is finite, so the effect stays local)."""
        return cv2.GaussianBlur(mask, (0, 0), max(0.5, sigma * self.res))

    def paint(self, mask: np.ndarray, colour, opacity: float = 1.0, hair: bool = False) -> None:
        """Blend `colour` in where the uint8 `mask` is set (only inside its bounding box, for speed)."""
        if opacity <= 0:
            return
        x, y, w, h = cv2.boundingRect(mask)
        if w == 0 or h == 0:
            return
        box = (slice(y, y + h), slice(x, x + w))
        a = mask[box].astype(np.float32) * (float(opacity) / 255.0)
        self.rgb[box] = self.rgb[box] * (1 - a[..., None]) + np.asarray(colour, np.float32) * a[..., None]
        self.alpha[box] = np.maximum(self.alpha[box], a)
        self.hair[box] = np.maximum(self.hair[box], a / float(opacity)) if hair else self.hair[box] * (1 - a)


def _scaled(colour, f) -> np.ndarray:
    return np.clip(np.asarray(colour, np.float32) * np.asarray(f, np.float32), 0, 1)


def _arc(cx: float, cy: float, half_w: float, bend: float, n: int = 9) -> np.ndarray:
    x = np.linspace(-half_w, half_w, n)
    return np.stack([cx + x, cy + bend * (1 - (x / half_w) ** 2)], 1)


def _draw_hair_back(cv: _Canvas, idn: Identity) -> None:
    top = idn.eye_y - 0.01 - idn.forehead_h
    vol = idn.hair_volume if idn.hair_style != 2 else 0.008
    cy = idn.eye_y - 0.04
    cv.paint(cv.ellipse_mask((CX, cy), (idn.face_w + vol, cy - top + vol)), idn.hair_colour, hair=True)
    if idn.hair_style == 1:  # long: falls behind the face to the shoulders
        w = idn.face_w + vol
        cv.paint(
            cv.poly_mask(np.array([[CX - w, cy], [CX + w, cy], [CX + w + 0.03, 0.9], [CX - w - 0.03, 0.9]])),
            idn.hair_colour,
            hair=True,
        )


def _draw_body(cv: _Canvas, idn: Identity) -> None:
    nw = 0.55 * idn.face_w
    neck = np.array(
        [[CX - nw, idn.eye_y + 0.1], [CX + nw, idn.eye_y + 0.1], [CX + nw * 1.1, 1.02], [CX - nw * 1.1, 1.02]]
    )
    cv.paint(cv.poly_mask(neck), _scaled(idn.skin, 0.78))
    cv.paint(cv.ellipse_mask((CX, 1.1), (0.42, 0.22)), idn.shirt_colour)
    for side in (-1, 1):
        cv.paint(cv.ellipse_mask((CX + side * idn.face_w, idn.eye_y + 0.045), (0.022, 0.045)), _scaled(idn.skin, 0.9))


def _draw_face_base(cv: _Canvas, idn: Identity, shape: FaceShape) -> None:
    top = idn.eye_y - 0.01
    theta = np.linspace(0, np.pi, 40)
    forehead = np.stack([CX + idn.face_w * np.cos(theta), top - idn.forehead_h * np.sin(theta)], 1)
    face_u8 = cv.poly_mask(np.vstack([shape.jaw_curve, forehead]))
    face = face_u8.astype(np.float32) / 255.0
    shade = 0.84 + 0.16 * np.clip(cv.blur(face_u8, 0.02).astype(np.float32) / 255.0 * 1.6 - 0.6, 0, 1)
    cv.rgb = cv.rgb * (1 - face[..., None]) + (np.asarray(idn.skin, np.float32) * face[..., None]) * shade[..., None]
    cv.alpha = np.maximum(cv.alpha, face)
    cv.hair = cv.hair * (1 - face)


def _draw_skin_cues(cv: _Canvas, idn: Identity, shape: FaceShape) -> None:
    lm, cue = shape.landmarks, shape.cues
    crease = _scaled(idn.skin, 0.62)
    line = 0.0035
    brow_base = idn.eye_y - idn.brow_gap
    for side in (-1, 1):  # cheeks: a soft rosy mass that rises with AU06
        ex = CX + side * (idn.eye_dx + 0.012)
        lift = shape.cheek_lift
        m = cv.blur(cv.ellipse_mask((ex, idn.eye_y + 0.09 - 0.024 * lift), (0.04, 0.028 * (1 + 0.25 * lift))), 0.01)
        cv.paint(m, _scaled(idn.skin, (1.08, 0.9, 0.9)), 0.3 + 0.45 * lift)
        if cue["crows_feet"] > 0:
            ox = CX + side * (idn.eye_dx + idn.eye_w + 0.01)
            for k, dy in enumerate((-0.012, 0.0, 0.012)):
                seg = np.array([[ox, idn.eye_y + dy * 0.6], [ox + side * 0.022, idn.eye_y + dy * (1.4 + 0.2 * k)]])
                cv.paint(cv.line_mask(seg, line), crease, 0.8 * cue["crows_feet"])
        if cue["forehead_side"] > 0:
            for k in range(3):
                arc = _arc(CX + side * 0.1, brow_base - 0.07 - 0.02 * k, 0.04, -0.006)
                cv.paint(cv.line_mask(arc, line), crease, 0.75 * cue["forehead_side"])
        if cue["nasolabial"] > 0:
            pts = np.array(
                [
                    [CX + side * (idn.nose_w + 0.008), lm[33, 1] - 0.002],
                    [CX + side * (idn.mouth_w + 0.022), idn.eye_y + idn.mouth_dy - 0.02],
                    [CX + side * (idn.mouth_w + 0.03), idn.eye_y + idn.mouth_dy + 0.025],
                ]
            )
            cv.paint(cv.blur(cv.line_mask(spline(pts, 8), 0.006), 0.003), crease, 0.8 * cue["nasolabial"])
        corner = lm[48] if side == -1 else lm[54]
        if cue["dimple"] > 0:
            m = cv.ellipse_mask((corner[0] + side * 0.014, corner[1]), (0.004, 0.009 * (0.5 + cue["dimple"])))
            cv.paint(cv.blur(m, 0.002), crease, 0.9 * cue["dimple"])
        if cue["depressor"] > 0:
            seg = np.array([corner + [side * 0.004, 0.006], corner + [side * 0.012, 0.03]])
            cv.paint(cv.blur(cv.line_mask(seg, line), 0.002), crease, 0.8 * cue["depressor"])
    if cue["forehead_mid"] > 0:
        for k in range(3):
            cv.paint(
                cv.line_mask(_arc(CX, brow_base - 0.07 - 0.02 * k, 0.05, -0.008), line),
                crease,
                0.75 * cue["forehead_mid"],
            )
    if cue["glabella"] > 0:
        for side in (-1, 1):
            seg = np.array([[CX + side * 0.011, brow_base + 0.012], [CX + side * 0.014, brow_base - 0.03]])
            cv.paint(cv.line_mask(seg, line), crease, 0.9 * cue["glabella"])
    if cue["nose_wrinkle"] > 0:
        for k in range(3):
            arc = _arc(CX, idn.eye_y + 0.012 + 0.015 * k, 0.018, -0.004)
            cv.paint(cv.line_mask(arc, line), crease, 0.85 * cue["nose_wrinkle"])
    if cue["chin_boss"] > 0:
        chin = lm[8]
        for dx, dy in ((-0.012, -0.03), (0.01, -0.028), (0.0, -0.018), (-0.02, -0.015), (0.02, -0.016)):
            m = cv.ellipse_mask((chin[0] + dx, chin[1] + dy), (0.0045, 0.003))
            cv.paint(cv.blur(m, 0.002), crease, 0.7 * cue["chin_boss"])
    sulcus = shape.lip_outer_lower[12:29] + np.array([0.0, 0.014])
    cv.paint(cv.blur(cv.line_mask(sulcus, 0.004), 0.003), crease, 0.2 + 0.5 * cue["chin_boss"])


def _draw_nose(cv: _Canvas, idn: Identity, shape: FaceShape) -> None:
    lm = shape.landmarks
    dark = _scaled(idn.skin, 0.6)
    for side, wing in ((-1, lm[31]), (1, lm[35])):
        seg = np.array([[CX + side * 0.012, idn.eye_y + 0.01], [CX + side * 0.02, lm[29, 1]], wing + [0, -0.006]])
        cv.paint(cv.blur(cv.line_mask(seg, 0.006), 0.005), dark, 0.35)
    cv.paint(cv.line_mask(lm[31:36], 0.004), dark, 0.6)
    for k in (32, 34):
        cv.paint(cv.ellipse_mask(lm[k] + [0, -0.004], (0.008, 0.0038)), _scaled(idn.skin, 0.3), 0.85)
    cv.paint(cv.blur(cv.ellipse_mask(lm[30] + [0, -0.004], (0.01, 0.007)), 0.004), _scaled(idn.skin, 1.15), 0.5)


def _draw_eyes(cv: _Canvas, idn: Identity, shape: FaceShape) -> None:
    lash = _scaled(idn.brow_colour, 0.5)
    for k, side in enumerate((-1, 1)):
        ex = CX + side * idn.eye_dx
        upper, lower = shape.eye_upper[k], shape.eye_lower[k]
        rest = upper.copy()
        rest[:, 1] = idn.eye_y - (idn.eye_hu * 2.1 + 0.008) * np.sin(np.linspace(0, np.pi, len(rest))) ** 0.8
        cv.paint(cv.poly_mask(np.vstack([rest, upper[::-1]])), _scaled(idn.skin, 0.88))
        cv.paint(cv.line_mask(rest[2:-2], 0.003), _scaled(idn.skin, 0.65), 0.6)
        sclera = cv.poly_mask(np.vstack([upper, lower[::-1]]))
        radius = 0.75 * (idn.eye_hu + idn.eye_hl)
        iris = cv.ellipse_mask((ex, idn.eye_y + 0.002), (radius, radius))
        pupil = cv.ellipse_mask((ex, idn.eye_y + 0.002), (0.4 * radius, 0.4 * radius))
        cv.paint(sclera, (0.93, 0.91, 0.88))
        within = lambda m: cv2.multiply(sclera, m, scale=1 / 255)  # noqa: E731, B023 (clip a mask to the eye opening)
        cv.paint(within(iris), idn.iris_colour)
        cv.paint(within(pupil), (0.04, 0.03, 0.03))
        cv.paint(
            within(cv.ellipse_mask((ex + 0.3 * radius, idn.eye_y - 0.3 * radius), (0.2 * radius,) * 2)),
            (1.0, 1.0, 1.0),
            0.8,
        )
        cv.paint(cv.line_mask(upper, 0.006), lash)
        cv.paint(
            cv.line_mask(lower, 0.003 + 0.003 * shape.cues["lid_tension"]),
            _scaled(idn.skin, 0.55),
            0.4 + 0.5 * shape.cues["lid_tension"],
        )


def _draw_brows(cv: _Canvas, idn: Identity, shape: FaceShape) -> None:
    for centre in shape.brows:
        d = np.gradient(centre, axis=0)
        normal = np.stack([-d[:, 1], d[:, 0]], 1) / np.linalg.norm(d, axis=1, keepdims=True)
        t = np.linspace(0, 1, len(centre))
        half = 0.5 * idn.brow_thick * (0.45 + 0.55 * np.sin(np.pi * (0.15 + 0.75 * t)))
        poly = np.vstack([centre + normal * half[:, None], (centre - normal * half[:, None])[::-1]])
        cv.paint(cv.poly_mask(poly), idn.brow_colour, 0.95, hair=True)


def _draw_mouth(cv: _Canvas, idn: Identity, shape: FaceShape) -> None:
    cv.paint(cv.poly_mask(np.vstack([shape.lip_outer_upper, shape.lip_outer_lower[::-1]])), idn.lip_colour)
    inner = cv.poly_mask(np.vstack([shape.lip_inner_upper, shape.lip_inner_lower[::-1]]))
    cv.paint(inner, (0.22, 0.06, 0.07))
    up_teeth = cv.poly_mask(np.vstack([shape.lip_inner_upper, (shape.lip_inner_upper + [0, 0.013])[::-1]]))
    lo_teeth = cv.poly_mask(np.vstack([shape.lip_inner_lower, (shape.lip_inner_lower - [0, 0.007])[::-1]]))
    cv.paint(cv2.multiply(inner, np.maximum(up_teeth, lo_teeth), scale=1 / 255), (0.92, 0.9, 0.84))
    seam = _scaled(idn.lip_colour, 0.45)
    cv.paint(cv.line_mask(shape.lip_inner_upper, 0.003), seam, 0.9)
    cv.paint(cv.line_mask(shape.lip_inner_lower, 0.003), seam, 0.9)
    hi = shape.lip_outer_lower[14:27] * [1, 0] + [0, 1] * (
        0.4 * shape.lip_outer_lower[14:27] + 0.6 * shape.lip_inner_lower[14:27]
    )
    cv.paint(cv.blur(cv.line_mask(hi, 0.004), 0.002), _scaled(idn.lip_colour, 1.25), 0.5)


def _draw_hair_front(cv: _Canvas, idn: Identity) -> None:
    if idn.hair_style == 2 or idn.fringe < 0.15:
        return
    top = idn.eye_y - 0.01 - idn.forehead_h
    vol = idn.hair_volume
    low = top + 0.015 + 0.035 * idn.fringe  # stays above the forehead wrinkles
    theta = np.linspace(np.pi, 0, 30)
    cap = np.stack([CX + (idn.face_w + vol) * np.cos(theta), top + 0.03 - (0.03 + vol) * np.sin(theta)], 1)
    x = np.linspace(CX + idn.face_w + vol, CX - idn.face_w - vol, 30)
    edge = np.stack([x, low + 0.008 * np.sin(x * 90) - 0.02 * ((x - CX) / idn.face_w) ** 2], 1)
    cv.paint(cv.poly_mask(np.vstack([cap, edge])), idn.hair_colour, hair=True)


def _draw_glasses(cv: _Canvas, idn: Identity) -> None:
    if not idn.glasses:
        return
    n = 2.0 + 4.0 * (1.0 - idn.glasses_round)
    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    rims = []
    for side in (-1, 1):
        ex, ey = CX + side * idn.eye_dx, idn.eye_y + 0.004
        ax, ay = idn.eye_w + 0.022, 0.034
        x = ex + ax * np.sign(np.cos(t)) * np.abs(np.cos(t)) ** (2 / n)
        y = ey + ay * np.sign(np.sin(t)) * np.abs(np.sin(t)) ** (2 / n)
        rim = np.stack([x, y], 1)
        rims.append(rim)
        cv.paint(cv.poly_mask(rim), idn.glasses_colour, 0.1)
        cv.paint(cv.line_mask(rim, 0.005, closed=True), idn.glasses_colour)
        cv.paint(
            cv.line_mask(np.array([[ex + side * ax, ey - 0.01], [CX + side * idn.face_w, ey - 0.005]]), 0.004),
            idn.glasses_colour,
        )
    bridge = np.array(
        [
            [CX - idn.eye_dx + idn.eye_w + 0.02, idn.eye_y - 0.006],
            [CX, idn.eye_y - 0.012],
            [CX + idn.eye_dx - idn.eye_w - 0.02, idn.eye_y - 0.006],
        ]
    )
    cv.paint(cv.line_mask(bridge, 0.004), idn.glasses_colour)


def render_face(
    identity: Identity, aus: np.ndarray, size: int, pose: Pose | None = None, *, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Draw `identity` showing `aus` ((17,) on 0–1) as a `size`×`size` RGB uint8 image.

    Returns (image, landmarks) with landmarks (68, 2) float32 in iBUG order, in output pixels. `pose` defaults to
    the canonical frontal pose. `rng` draws the per-image sensor noise; without it the noise is a fixed function of
    the identity, so the call is deterministic either way.
    """
    aus = np.asarray(aus, dtype=np.float32)
    if aus.shape != (N_AUS,):
        raise ValueError(f"expected an AU vector of shape ({N_AUS},), got {aus.shape}")
    if size < 16:
        raise ValueError(f"size must be at least 16 px, got {size}")
    pose = pose or Pose()
    shape = face_shape(identity, aus)
    res = size * SUPERSAMPLE
    cv = _Canvas(res)
    _draw_hair_back(cv, identity)
    _draw_body(cv, identity)
    _draw_face_base(cv, identity, shape)
    _draw_skin_cues(cv, identity, shape)
    _draw_nose(cv, identity, shape)
    _draw_eyes(cv, identity, shape)
    _draw_brows(cv, identity, shape)
    _draw_mouth(cv, identity, shape)
    _draw_hair_front(cv, identity)
    _draw_glasses(cv, identity)

    light = lighting(identity, res)
    texture = skin_texture(identity, res) * (1 - cv.hair) + hair_texture(identity, res) * cv.hair
    layer = np.dstack([np.clip(cv.rgb * (texture * light)[..., None], 0, 1), cv.alpha])

    mat = pose.matrix(size)  # canonical → continuous output pixels
    lin, t = mat[:, :2], mat[:, 2]
    warp = np.hstack([SUPERSAMPLE * lin / res, (SUPERSAMPLE * (lin @ [0.5 / res, 0.5 / res] + t) - 0.5)[:, None]])
    hi = size * SUPERSAMPLE
    face = cv2.warpAffine(layer, warp, (hi, hi), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = face[..., 3:4]
    img = background(identity, hi) * (1 - alpha) + face[..., :3] * alpha
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) * 255.0
    noise_rng = rng if rng is not None else np.random.default_rng([identity.texture_seed, 4])
    img = img + noise_rng.normal(0.0, _SENSOR_NOISE, img.shape)
    rgb = np.clip(np.round(img), 0, 255).astype(np.uint8)
    landmarks = (shape.landmarks.astype(np.float64) @ lin.T + t - 0.5).astype(np.float32)
    return rgb, landmarks
