"""The synthetic face renderer: determinism, AU locality and direction, landmarks on the drawn features."""

from __future__ import annotations

import numpy as np
import pytest

from faceaug.aus import AU_INDEX, AU_NAMES, N_AUS
from faceaug.synth.render import Identity, Pose, render_face, sample_identity

SIZE = 96
ZERO = np.zeros(N_AUS, np.float32)


def _identity(seed: int) -> Identity:
    return sample_identity(np.random.default_rng(seed))


def _one(name: str, value: float = 1.0) -> np.ndarray:
    v = ZERO.copy()
    v[AU_INDEX[name]] = value
    return v


def _changed(a: np.ndarray, b: np.ndarray, threshold: int = 2) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).max(2) > threshold


def test_render_shapes_and_determinism():
    idn = _identity(0)
    aus = np.random.default_rng(1).uniform(0, 1, N_AUS).astype(np.float32)
    pose = Pose(roll=7, skew=0.05, scale=0.9, dx=0.03, dy=-0.02)
    img1, lm1 = render_face(idn, aus, SIZE, pose, rng=np.random.default_rng(5))
    img2, lm2 = render_face(idn, aus, SIZE, pose, rng=np.random.default_rng(5))
    assert img1.shape == (SIZE, SIZE, 3) and img1.dtype == np.uint8
    assert lm1.shape == (68, 2) and lm1.dtype == np.float32
    assert np.array_equal(img1, img2) and np.array_equal(lm1, lm2)
    assert not np.array_equal(img1, render_face(idn, aus, SIZE, pose, rng=np.random.default_rng(6))[0])
    assert not np.array_equal(img1, render_face(_identity(1), aus, SIZE, pose, rng=np.random.default_rng(5))[0])


def test_images_have_texture_not_flat_fills():
    img, lm = render_face(_identity(3), ZERO, 128)
    x0, y0 = lm[1] + (lm[31] - lm[1]) * 0.5  # middle of a cheek
    patch = img[int(y0) - 4 : int(y0) + 4, int(x0) - 4 : int(x0) + 4].astype(float)
    assert patch.std() > 1.5  # skin grain + sensor noise
    corner = img[:12, :12].astype(float)
    assert corner.std() > 1.0  # textured background


def _region_rules(lm: np.ndarray) -> dict[str, tuple[float, float, float, float]]:
    """FACS regions as (x0, y0, x1, y1) boxes from the neutral face's landmarks (pixels, frontal pose)."""
    eye_line = lm[36:48, 1].mean()
    brow_low = lm[17:27, 1].max()
    nose_tip = lm[30, 1]
    mouth_w = lm[54, 0] - lm[48, 0]
    face_l, face_r = lm[0:17, 0].min() - 4, lm[0:17, 0].max() + 4
    eye_h = 0.45 * (lm[45, 0] - lm[42, 0])
    brows = (face_l, 0, face_r, eye_line)
    eyes = (lm[36, 0] - 4, brow_low, lm[45, 0] + 4, eye_line + eye_h)
    cheeks = (face_l, brow_low, face_r, lm[51, 1])
    nose = (lm[31, 0] - 4, brow_low, lm[35, 0] + 4, lm[51, 1])
    mouth = (lm[48, 0] - 0.6 * mouth_w, nose_tip, lm[54, 0] + 0.6 * mouth_w, lm[8, 1])
    lower_face = (face_l, nose_tip, face_r, float("inf"))
    return {
        "AU01": brows,
        "AU02": brows,
        "AU04": brows,
        "AU05": eyes,
        "AU07": eyes,
        "AU45": eyes,
        "AU06": cheeks,
        "AU09": nose,
        "AU10": mouth,
        "AU12": mouth,
        "AU14": mouth,
        "AU15": mouth,
        "AU20": mouth,
        "AU23": mouth,
        "AU25": mouth,
        "AU17": lower_face,
        "AU26": lower_face,
    }


@pytest.mark.parametrize("seed", [0, 11])
def test_each_au_changes_the_image_only_in_its_own_region(seed):
    idn = _identity(seed)
    base, lm = render_face(idn, ZERO, SIZE)
    rules = _region_rules(lm)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    for name in AU_NAMES:
        img, _ = render_face(idn, _one(name), SIZE)
        changed = _changed(img, base)
        x0, y0, x1, y1 = rules[name]
        inside = (xx >= x0 - 1) & (xx <= x1 + 1) & (yy >= y0 - 1) & (yy <= y1 + 1)
        assert changed.sum() >= 15, f"{name} at full intensity barely changes the image"
        assert not (changed & ~inside).any(), f"{name} changed pixels outside its region"


def test_upper_and_lower_face_aus_do_not_interfere():
    idn = _identity(4)
    base, lm = render_face(idn, ZERO, SIZE)
    nose_tip = lm[30, 1]
    for name in ("AU01", "AU02", "AU04", "AU05", "AU07", "AU45"):
        rows = np.nonzero(_changed(render_face(idn, _one(name), SIZE)[0], base).any(1))[0]
        assert rows.max() < nose_tip, name
    for name in ("AU10", "AU12", "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26"):
        rows = np.nonzero(_changed(render_face(idn, _one(name), SIZE)[0], base).any(1))[0]
        assert rows.min() > nose_tip, name


def test_aus_move_landmarks_in_their_facs_direction():
    idn = _identity(2)
    _, lm0 = render_face(idn, ZERO, SIZE)

    def lm(name):
        return render_face(idn, _one(name), SIZE)[1]

    up = lambda a, b: a[1] < b[1]  # noqa: E731  (image y grows downwards)
    assert up(lm("AU01")[21], lm0[21]) and up(lm("AU01")[22], lm0[22])  # inner brows up
    assert up(lm("AU02")[17], lm0[17]) and up(lm("AU02")[26], lm0[26])  # outer brows up
    b4 = lm("AU04")
    assert not up(b4[21], lm0[21]) and b4[22, 0] - b4[21, 0] < lm0[22, 0] - lm0[21, 0]  # down and together
    assert up(lm("AU05")[37], lm0[37])  # upper lid up
    assert up(lm("AU07")[41], lm0[41])  # lower lid up
    assert up(lm("AU06")[41], lm0[41])  # cheeks push the lower lid up
    e45 = lm("AU45")
    assert abs(e45[37, 1] - e45[41, 1]) < 0.2 * abs(lm0[37, 1] - lm0[41, 1])  # eye closed
    assert up(lm("AU09")[33], lm0[33])  # nostrils lifted
    assert up(lm("AU10")[51], lm0[51])  # upper lip up
    a12 = lm("AU12")
    assert up(a12[48], lm0[48]) and a12[54, 0] - a12[48, 0] > lm0[54, 0] - lm0[48, 0]  # corners up and out
    assert up(lm0[48], lm("AU15")[48])  # corners down
    assert up(lm("AU17")[8], lm0[8])  # chin up
    assert lm("AU20")[54, 0] - lm("AU20")[48, 0] > lm0[54, 0] - lm0[48, 0] + 2  # stretched sideways
    a23 = lm("AU23")
    assert a23[57, 1] - a23[51, 1] < lm0[57, 1] - lm0[51, 1] - 1  # lips thinner
    assert lm("AU25")[66, 1] - lm("AU25")[62, 1] > 1.5  # lips apart
    a26 = lm("AU26")
    assert a26[8, 1] > lm0[8, 1] + 3 and a26[66, 1] - a26[62, 1] > 3  # jaw drops, mouth opens


def test_mouth_corners_rise_continuously_with_au12_under_a_pose():
    idn = _identity(5)
    pose = Pose(roll=-8, skew=0.04, scale=1.05, dx=0.02, dy=0.03)
    corner_y, diffs = [], []
    base, _ = render_face(idn, ZERO, SIZE, pose)
    for value in np.linspace(0, 1, 6):
        img, lm = render_face(idn, _one("AU12", value), SIZE, pose)
        # corner height measured against the eye line, rotated back by the pose roll
        theta = np.deg2rad(pose.roll)
        down = np.array([-np.sin(theta), np.cos(theta)])
        corner_y.append(float(((lm[48] + lm[54]) / 2 - lm[36:48].mean(0)) @ down))
        diffs.append(np.abs(img.astype(int) - base).sum())
    assert all(b < a for a, b in zip(corner_y, corner_y[1:])), corner_y
    assert all(b > a for a, b in zip(diffs, diffs[1:])), diffs  # more change for more intensity, no jumps to zero


def test_landmarks_lie_on_the_drawn_features_under_a_pose():
    idn = _identity(6)
    pose = Pose(roll=9, skew=-0.05, scale=0.92, dx=-0.04, dy=0.02)
    base, lm = render_face(idn, ZERO, 128, pose)
    for name, idx in (
        ("AU12", slice(48, 68)),
        ("AU01", slice(17, 27)),
        ("AU45", slice(36, 48)),
        ("AU09", slice(27, 36)),
        ("AU26", slice(0, 17)),
    ):
        img, lm1 = render_face(idn, _one(name), 128, pose)
        ys, xs = np.nonzero(_changed(img, base))
        changed = np.stack([xs, ys], 1).astype(float)
        points = np.vstack([lm[idx], lm1[idx]])
        # every landmark of the moving feature has a changed pixel near it, and the change sits around them
        nearest = np.sqrt(((points[:, None] - changed[None]) ** 2).sum(-1)).min(1)
        assert np.median(nearest) < 3.0, (name, nearest)
        assert np.linalg.norm(changed.mean(0) - points.mean(0)) < 12, name
    # lip landmarks sit on red-ish lip pixels, the eye centre on a dark iris/pupil
    mid_upper_lip = ((lm[51] + lm[62]) / 2).round().astype(int)
    cheek = ((lm[3] + lm[31]) / 2).round().astype(int)
    lip_px, cheek_px = base[mid_upper_lip[1], mid_upper_lip[0]].astype(float), base[cheek[1], cheek[0]].astype(float)
    assert lip_px[1] / lip_px[0] < cheek_px[1] / cheek_px[0]
    eye = lm[36:42].mean(0).round().astype(int)
    assert base[eye[1], eye[0]].mean() < cheek_px.mean()


def test_pose_maps_landmarks_with_its_matrix():
    idn = _identity(8)
    _, frontal = render_face(idn, ZERO, SIZE)
    pose = Pose(roll=10, skew=0.06, scale=0.88, dx=0.05, dy=-0.03)
    _, posed = render_face(idn, ZERO, SIZE, pose)
    canonical = (frontal + 0.5 - Pose().matrix(SIZE)[:, 2]) / SIZE
    m = pose.matrix(SIZE)
    np.testing.assert_allclose(posed, canonical @ m[:, :2].T + m[:, 2] - 0.5, atol=1e-3)


def test_identity_record_round_trip():
    idn = _identity(9)
    assert Identity.from_record(idn.to_record()) == idn


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError):
        render_face(_identity(0), np.zeros(5), SIZE)
    with pytest.raises(ValueError):
        render_face(_identity(0), ZERO, 8)
