"""Who a synthetic face is: the identity parameters, their random draw, and the head pose.

All lengths are in *canonical* units: the face is drawn on a unit square (x right, y down) with the face centred at
x = 0.5; `render_face` maps that square to the output image through the `Pose`. About 0.2 units separate the eyes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

Colour = tuple[float, float, float]  # RGB in 0–1

_SKIN_TONES: tuple[Colour, ...] = (
    (0.96, 0.80, 0.69),
    (0.92, 0.74, 0.60),
    (0.85, 0.64, 0.50),
    (0.76, 0.55, 0.40),
    (0.62, 0.43, 0.30),
    (0.47, 0.32, 0.22),
    (0.36, 0.24, 0.17),
    (0.98, 0.86, 0.78),
)
_HAIR_COLOURS: tuple[Colour, ...] = (
    (0.10, 0.08, 0.07),
    (0.25, 0.16, 0.10),
    (0.45, 0.30, 0.17),
    (0.70, 0.55, 0.33),
    (0.55, 0.22, 0.10),
    (0.60, 0.60, 0.60),
    (0.85, 0.78, 0.60),
    (0.18, 0.12, 0.10),
)
_IRIS_COLOURS: tuple[Colour, ...] = (
    (0.30, 0.18, 0.10),
    (0.20, 0.35, 0.55),
    (0.30, 0.45, 0.30),
    (0.45, 0.35, 0.20),
    (0.15, 0.10, 0.08),
)


@dataclass(frozen=True)
class Identity:
    """Everything about a synthetic person that does not change with expression or pose."""

    # face outline
    face_w: float  # half-width of the face at eye level
    forehead_h: float  # forehead height above the eye line
    chin_drop: float  # chin below the mouth centre
    jaw_power: float  # < 1: square jaw, > 1: pointed chin
    # eyes and brows
    eye_y: float
    eye_dx: float  # eye centre offset from the midline
    eye_w: float  # half-width of an eye
    eye_hu: float  # upper-lid opening above the eye axis
    eye_hl: float  # lower-lid opening below the eye axis
    eye_tilt: float  # outer corners higher (> 0) or lower
    brow_gap: float  # brow height above the eye axis
    brow_len: float
    brow_thick: float
    brow_arch: float
    # nose and mouth
    nose_len: float
    nose_w: float
    mouth_dy: float  # mouth centre below the eye axis
    mouth_w: float  # half-width of the closed mouth
    lip_up: float  # upper-lip thickness
    lip_lo: float  # lower-lip thickness
    # colours
    skin: Colour
    lip_colour: Colour
    iris_colour: Colour
    hair_colour: Colour
    brow_colour: Colour
    shirt_colour: Colour
    # hair: 0 short, 1 long, 2 shaved/very short; fringe = how far it comes down the forehead (0–1)
    hair_style: int
    hair_volume: float
    fringe: float
    # background and light
    bg_colour_a: Colour
    bg_colour_b: Colour
    bg_texture: int  # 0 blotches, 1 stripes, 2 soft discs
    bg_scale: float
    light_angle: float  # radians, direction the light comes from
    light_strength: float
    # accessories
    glasses: bool
    glasses_colour: Colour
    glasses_round: float  # 0 rectangular … 1 round
    texture_seed: int  # seeds skin/hair/background texture (never the expression)

    def to_record(self) -> dict:
        """Flat dict for identities.parquet (colours become lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_record(cls, record: dict) -> Identity:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {
            k: (tuple(float(x) for x in v) if isinstance(v, (list, np.ndarray)) else v)
            for k, v in record.items()
            if k in names
        }
        values["hair_style"], values["bg_texture"] = int(values["hair_style"]), int(values["bg_texture"])
        values["texture_seed"], values["glasses"] = int(values["texture_seed"]), bool(values["glasses"])
        return cls(**values)


@dataclass(frozen=True)
class Pose:
    """Head pose in the image: in-plane roll (degrees), a yaw-like skew (horizontal squeeze + vertical shear),
    scale (1 = canonical size) and shift (fractions of the image side)."""

    roll: float = 0.0
    skew: float = 0.0
    scale: float = 1.0
    dx: float = 0.0
    dy: float = 0.0

    def matrix(self, size: float) -> np.ndarray:
        """(2, 3) affine map from canonical units to pixels of a `size`-pixel image."""
        theta = np.deg2rad(self.roll)
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        skew = np.array([[1.0 - 0.5 * abs(self.skew), 0.0], [self.skew, 1.0]])
        lin = size * self.scale * rot @ skew
        centre = np.array([0.5, 0.5])
        t = size * (centre + np.array([self.dx, self.dy])) - lin @ centre
        return np.hstack([lin, t[:, None]])


def _jitter(rng: np.random.Generator, colour: Colour, amount: float) -> Colour:
    c = np.clip(np.asarray(colour) + rng.normal(0.0, amount, 3), 0.02, 0.98)
    return tuple(float(v) for v in c)


def sample_identity(rng: np.random.Generator) -> Identity:
    """Draw a random person (every draw from `rng`)."""
    u = rng.uniform
    skin = _jitter(rng, _SKIN_TONES[rng.integers(len(_SKIN_TONES))], 0.03)
    hair = _jitter(rng, _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))], 0.03)
    lip = tuple(
        float(v) for v in np.clip(np.asarray(skin) * np.array([0.95, 0.62, 0.62]) + rng.normal(0, 0.03, 3), 0.05, 0.95)
    )
    bg_a = tuple(float(v) for v in rng.uniform(0.1, 0.9, 3))
    bg_b = _jitter(rng, bg_a, 0.2)
    return Identity(
        face_w=u(0.195, 0.235),
        forehead_h=u(0.20, 0.25),
        chin_drop=u(0.10, 0.13),
        jaw_power=u(0.8, 1.4),
        eye_y=u(0.42, 0.45),
        eye_dx=u(0.095, 0.105),
        eye_w=u(0.043, 0.05),
        eye_hu=u(0.017, 0.022),
        eye_hl=u(0.012, 0.016),
        eye_tilt=u(-0.006, 0.008),
        brow_gap=u(0.05, 0.06),
        brow_len=u(0.085, 0.105),
        brow_thick=u(0.011, 0.018),
        brow_arch=u(0.004, 0.012),
        nose_len=u(0.10, 0.12),
        nose_w=u(0.03, 0.04),
        mouth_dy=u(0.19, 0.21),
        mouth_w=u(0.058, 0.07),
        lip_up=u(0.011, 0.016),
        lip_lo=u(0.014, 0.02),
        skin=skin,
        lip_colour=lip,
        iris_colour=_jitter(rng, _IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))], 0.03),
        hair_colour=hair,
        brow_colour=tuple(float(v) for v in np.asarray(hair) * 0.7),
        shirt_colour=tuple(float(v) for v in rng.uniform(0.05, 0.95, 3)),
        hair_style=int(rng.integers(3)),
        hair_volume=u(0.02, 0.06),
        fringe=u(0.0, 1.0),
        bg_colour_a=bg_a,
        bg_colour_b=bg_b,
        bg_texture=int(rng.integers(3)),
        bg_scale=u(0.5, 2.0),
        light_angle=u(0, 2 * np.pi),
        light_strength=u(0.05, 0.25),
        glasses=bool(rng.random() < 0.3),
        glasses_colour=tuple(float(v) for v in rng.uniform(0.0, 0.5, 3)),
        glasses_round=u(0.0, 1.0),
        texture_seed=int(rng.integers(2**31 - 1)),
    )
