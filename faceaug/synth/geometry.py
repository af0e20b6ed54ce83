"""Face geometry driven by Action Units: the 68 iBUG landmarks (canonical units) and the shape parameters the
renderer draws from.

Each AU moves only the features of its own region, continuously and linearly-ish in its intensity (0–1), in the
direction FACS describes. Wrinkle-type cues (forehead lines, glabella furrows, crow's feet, nose wrinkles, nasolabial
folds, dimples, chin boss) are returned as opacities proportional to the AU, so they fade in continuously.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceaug.aus import AU_INDEX, N_AUS
from faceaug.synth.identity import Identity

CX = 0.5  # the face's midline in canonical units


@dataclass
class FaceShape:
    """Landmarks (68, 2) plus the dense curves and cue strengths the renderer needs (all canonical units)."""

    landmarks: np.ndarray
    jaw_curve: np.ndarray  # dense jaw contour (image-left ear → chin → image-right ear)
    brows: list[np.ndarray]  # dense centre lines of the two brows (outer → inner for the left, inner → outer right)
    eye_upper: list[np.ndarray]  # dense upper-lid curves (outer → inner for left; inner → outer for right)
    eye_lower: list[np.ndarray]
    lip_outer_upper: np.ndarray  # dense, left corner → right corner
    lip_outer_lower: np.ndarray
    lip_inner_upper: np.ndarray
    lip_inner_lower: np.ndarray
    cues: dict[str, float]  # opacities / offsets of wrinkle-type cues
    cheek_lift: float


def _a(aus: np.ndarray, name: str) -> float:
    return float(np.clip(aus[AU_INDEX[name]], 0.0, 1.0))


def spline(points: np.ndarray, n: int = 24) -> np.ndarray:
    """Dense Catmull-Rom curve through `points` (k, 2), end points included."""
    pts = np.asarray(points, dtype=np.float64)
    ext = np.vstack([2 * pts[0] - pts[1], pts, 2 * pts[-1] - pts[-2]])
    out = []
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        t = np.linspace(0, 1, n, endpoint=False)[:, None]
        out.append(
            0.5
            * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3)
        )
    out.append(pts[-1:])
    return np.vstack(out)


def face_shape(identity: Identity, aus: np.ndarray) -> FaceShape:
    """Compute the expression-dependent geometry of `identity` showing `aus` (17,) on 0–1."""
    aus = np.asarray(aus, dtype=np.float64)
    if aus.shape != (N_AUS,):
        raise ValueError(f"expected an AU vector of shape ({N_AUS},), got {aus.shape}")
    idn = identity
    lm = np.zeros((68, 2))
    a = {name: _a(aus, name) for name in AU_INDEX}
    mouth_y = idn.eye_y + idn.mouth_dy

    # --- jaw (0–16): AU26 drops the chin and lower jaw, AU17 pushes the chin up -------------------------------------
    phi = np.linspace(0.0, np.pi, 49)
    s = np.sin(phi)
    top = idn.eye_y - 0.01
    chin_y = mouth_y + idn.chin_drop
    jaw = np.stack([CX - idn.face_w * np.cos(phi) * (1 - 0.12 * s**2), top + (chin_y - top) * s**idn.jaw_power], 1)
    lower = np.clip((s - 0.6) / 0.4, 0.0, 1.0) ** 1.5  # the jaw swings down below the cheeks, not at the ears
    jaw[:, 1] += 0.055 * a["AU26"] * lower - 0.014 * a["AU17"] * s**12
    lm[0:17] = jaw[::3]

    # --- brows (17–21 image-left outer→inner, 22–26 inner→outer) ------------------------------------------------------
    brows = []
    for side in (-1, 1):
        t = np.linspace(0.0, 1.0, 5)  # 0 outer … 1 inner
        inner_x, outer_x = CX + side * 0.03, CX + side * (0.03 + 1.25 * idn.brow_len)
        x = outer_x + (inner_x - outer_x) * t
        y = idn.eye_y - idn.brow_gap - idn.brow_arch * (1 - ((t - 0.45) / 0.6) ** 2)
        y += -0.036 * a["AU01"] * t**1.5 - 0.036 * a["AU02"] * (1 - t) ** 1.5 + 0.022 * a["AU04"] * (0.4 + 0.6 * t)
        x += -side * 0.016 * a["AU04"] * t
        pts = np.stack([x, y], 1)
        if side == -1:
            lm[17:22] = pts
        else:
            pts = pts[::-1]
            lm[22:27] = pts
        brows.append(spline(pts, 8))

    # --- eyes (36–41 image-left, 42–47 image-right) ----------------------------------------------------------------
    hu = idn.eye_hu * (1 + 0.9 * a["AU05"] - 0.25 * a["AU07"] - 0.1 * a["AU06"])
    hl = idn.eye_hl * max(0.08, 1 - 0.35 * a["AU06"] - 0.6 * a["AU07"])
    up = hu * (1 - a["AU45"]) - hl * a["AU45"]  # blink: the upper lid comes down onto the lower lid
    eye_upper, eye_lower = [], []
    for side, start in ((-1, 36), (1, 42)):
        ex = CX + side * idn.eye_dx
        outer = np.array([ex + side * idn.eye_w, idn.eye_y - idn.eye_tilt])
        inner = np.array([ex - side * idn.eye_w, idn.eye_y])
        mid = lambda f, dy: np.array([ex + side * f * idn.eye_w, idn.eye_y - 0.5 * idn.eye_tilt * (1 + f) + dy])  # noqa: E731, B023
        u_out, u_in = mid(0.35, -0.95 * up), mid(-0.35, -0.95 * up)
        l_out, l_in = mid(0.35, 0.95 * hl), mid(-0.35, 0.95 * hl)
        if side == -1:  # 36 outer, 37/38 upper, 39 inner, 40/41 lower
            lm[start : start + 6] = [outer, u_out, u_in, inner, l_in, l_out]
            eye_upper.append(spline(np.array([outer, u_out, u_in, inner]), 10))
            eye_lower.append(spline(np.array([outer, l_out, l_in, inner]), 10))
        else:  # 42 inner, 43/44 upper, 45 outer, 46/47 lower
            lm[start : start + 6] = [inner, u_in, u_out, outer, l_out, l_in]
            eye_upper.append(spline(np.array([inner, u_in, u_out, outer]), 10))
            eye_lower.append(spline(np.array([inner, l_in, l_out, outer]), 10))

    # --- nose (27–30 bridge, 31–35 base): AU09 lifts and flares the nostrils ----------------------------------------
    tip_y = idn.eye_y + idn.nose_len - 0.006 * a["AU09"]
    lm[27:31] = np.stack([np.full(4, CX), np.linspace(idn.eye_y - 0.004, tip_y, 4)], 1)
    base_y = idn.eye_y + idn.nose_len + 0.02 - 0.012 * a["AU09"]
    flare = idn.nose_w * (1 + 0.18 * a["AU09"])
    lm[31:36] = [
        [CX - flare, base_y - 0.004],
        [CX - 0.5 * flare, base_y + 0.005],
        [CX, base_y + 0.008],
        [CX + 0.5 * flare, base_y + 0.005],
        [CX + flare, base_y - 0.004],
    ]

    # --- mouth (48–59 outer, 60–67 inner) --------------------------------------------------------------------------
    w = idn.mouth_w * (1 + 0.22 * a["AU12"] + 0.38 * a["AU20"] - 0.12 * a["AU23"] - 0.06 * a["AU14"])
    corner_y = mouth_y - 0.032 * a["AU12"] + 0.03 * a["AU15"] + 0.006 * a["AU20"] - 0.004 * a["AU14"]
    thin = 1 - 0.55 * a["AU23"] - 0.25 * a["AU20"] - 0.15 * a["AU12"]
    tu = idn.lip_up * max(0.2, thin)
    tl = idn.lip_lo * max(0.2, thin + 0.2 * a["AU17"])
    y_ui = mouth_y - 0.008 * a["AU25"] - 0.02 * a["AU10"]
    y_li = max(y_ui, mouth_y + 0.022 * a["AU25"] + 0.055 * a["AU26"] - 0.012 * a["AU17"])

    def lip(u: np.ndarray, centre_y: float, thickness: float, sign: float, bow: float = 0.0) -> np.ndarray:
        y = centre_y + (corner_y - centre_y) * u**2 + sign * thickness * (1 - u**2) ** 0.7
        y -= bow * np.exp(-(((np.abs(u) - 0.3) / 0.15) ** 2))
        return np.stack([CX + u * w, y], 1)

    u_outer_up = np.array([-1, -2 / 3, -1 / 3, 0, 1 / 3, 2 / 3, 1])
    up_outer = lip(u_outer_up, y_ui, tu, -1, bow=0.004)
    lo_outer = lip(np.array([1, 2 / 3, 1 / 3, 0, -1 / 3, -2 / 3]), y_li, tl, 1)
    lm[48:55] = up_outer
    lm[55:60] = lo_outer[1:]
    in_up = lip(np.array([-0.93, -0.4, 0, 0.4, 0.93]), y_ui, 0.0, -1)
    in_lo = lip(np.array([0.4, 0, -0.4]), y_li, 0.0, 1)
    lm[60:65] = in_up
    lm[65:68] = in_lo
    dense_u = np.linspace(-1, 1, 41)
    cues = {
        "forehead_mid": a["AU01"],
        "forehead_side": a["AU02"],
        "glabella": a["AU04"],
        "crows_feet": a["AU06"],
        "nose_wrinkle": a["AU09"],
        "nasolabial": max(a["AU12"], 0.6 * a["AU10"]),
        "dimple": a["AU14"],
        "depressor": a["AU15"],
        "chin_boss": a["AU17"],
        "lid_tension": a["AU07"],
    }
    return FaceShape(
        landmarks=lm.astype(np.float32),
        jaw_curve=jaw,
        brows=brows,
        eye_upper=eye_upper,
        eye_lower=eye_lower,
        lip_outer_upper=lip(dense_u, y_ui, tu, -1, bow=0.004),
        lip_outer_lower=lip(dense_u, y_li, tl, 1),
        lip_inner_upper=lip(dense_u * 0.97, y_ui, 0.0, -1),
        lip_inner_lower=lip(dense_u * 0.97, y_li, 0.0, 1),
        cues=cues,
        cheek_lift=a["AU06"],
    )
