"""The geometric editor (faceaug.inference.warp): landmarks move the way the face model moves them for the AUs asked
for, the pixels follow them smoothly, nothing else moves, and expand's `--warp` uses it after the GANimation edit."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest
from skimage.data import astronaut

from faceaug.aus import AU_NAMES, preset_vector
from faceaug.inference.warp import WarpEditor, landmark_motion, motion_field, warp_face
from faceaug.io.images import read_image
from faceaug.preprocess.align import align_face
from faceaug.synth.identity import sample_identity
from faceaug.synth.render import render_face

NEUTRAL = np.zeros(len(AU_NAMES), np.float32)


def test_the_same_aus_leave_the_face_untouched():
    image, landmarks = render_face(sample_identity(np.random.default_rng(3)), NEUTRAL, 128)
    face = align_face(image, landmarks, 64).crop
    warped, attention = warp_face(face, preset_vector("sad"), preset_vector("sad"))
    assert np.array_equal(warped, face)
    assert (attention == 1).all()
    painted = np.ones((64, 64), np.float32)
    painted[40:50, 20:44] = 0.0
    assert np.array_equal(warp_face(face, NEUTRAL, NEUTRAL, attention=painted)[1], painted)


def test_the_pixels_move_with_the_landmarks_and_the_border_stays():
    size = 128
    source, target = NEUTRAL, preset_vector("surprise")
    after, before = landmark_motion(source, target, size)
    field = motion_field(source, target, size)
    at = np.clip(np.round(after).astype(int), 0, size - 1)
    sampled = field[at[:, 1], at[:, 0]]
    inside = ((after >= 2) & (after <= size - 3)).all(1)  # the chin of an open mouth leaves the crop
    moved = (np.linalg.norm(before - after, axis=1) > 1.0) & inside
    assert moved.sum() >= 10  # surprise lifts the brows and drops the jaw
    # each landmark that moves is shown where it came from (within a pixel: the spline is smoothed)
    assert np.abs(sampled[moved] - (before - after)[moved]).max() < 1.5
    border = np.concatenate([field[0], field[:, 0], field[:, -1]])  # the bottom row may show the dropping chin
    assert np.abs(border).max() < 0.5


@pytest.mark.parametrize("own", [False, True], ids=["typical face", "own landmarks"])
def test_a_happy_warp_lifts_the_mouth_corners_in_the_image(own):
    """Dots drawn at a neutral face's mouth corners end up where the face model puts a smile's corners; with the
    face's own landmarks (here a wider, lower mouth than the typical face's) the motion starts from them."""
    size = 128
    typical, _ = landmark_motion(NEUTRAL, NEUTRAL, size)
    landmarks = None
    if own:
        landmarks = typical.copy()
        landmarks[48:68] += (landmarks[48:68] - landmarks[48:68].mean(0)) * [0.25, 0.0] + [0.0, 3.0]
    after, before = landmark_motion(NEUTRAL, preset_vector("happy"), size, landmarks=landmarks)
    assert np.allclose(before, typical if landmarks is None else landmarks)
    face = np.full((size, size, 3), 90, np.uint8)
    for corner in (48, 54):
        cv2.circle(face, tuple(int(round(v)) for v in before[corner]), 2, (255, 255, 255), -1)
    warped, attention = warp_face(face, NEUTRAL, preset_vector("happy"), landmarks=landmarks)
    for corner in (48, 54):
        x0, y0 = np.round(after[corner]).astype(int)
        window = warped[y0 - 8 : y0 + 9, x0 - 8 : x0 + 9, 0].astype(float) - 90
        ys, xs = np.nonzero(window > 80)
        found = np.array([xs.mean(), ys.mean()]) + [x0 - 8, y0 - 8]
        assert np.linalg.norm(found - after[corner]) < 1.5  # the dot was drawn at a whole pixel
        assert before[corner][1] - found[1] > 2.0  # lifted by more than 2 px
    assert (attention == 1).all()  # moved, not painted: every pixel still comes from the input


@pytest.mark.parametrize("size", [48, 64, 200])
def test_grey_and_colour_faces_of_any_size_keep_their_form(size):
    colour = align_face(astronaut(), None, size, assume_cropped=True).crop
    grey = colour.mean(2).astype(np.uint8)
    editor = WarpEditor(1.0)
    target = preset_vector("happy")[None]
    for faces in (colour[None], grey[None]):
        edited, attention = editor.edit(faces, target, NEUTRAL[None])
        assert edited.shape == (1, size, size, 3) and edited.dtype == np.uint8
        assert attention.shape == (1, size, size) and (attention == 1).all()
        assert not np.array_equal(edited[0, ..., 0], np.asarray(faces[0])[..., 0] if faces.ndim == 4 else faces[0])
    edited, _ = editor.edit(np.repeat(grey[None, ..., None], 3, -1), target, NEUTRAL[None])
    assert (edited[0, ..., 0] == edited[0, ..., 1]).all()  # a grey face stays grey


def test_warp_after_the_editor_in_expand(tmp_path):
    """`expand --warp 1` warps every edit after the model's edit, and the manifest names the warp."""
    import torch

    from faceaug.commands.expand import ExpandRequest, run_expand
    from faceaug.config import GanimationConfig, resolve_config
    from tests.ganimation_fixtures import make_work_dir, save_model

    work = make_work_dir(tmp_path / "work", n=8, size=32)
    torch.manual_seed(0)
    save_model(work / "models" / "ganimation.safetensors", GanimationConfig(image_size=32, conv_dim=8, repeat_num=2))
    tiny = {"expand.min_target_probability": 0.0, "expand.samples_per_edit": 0}
    outputs = {}
    for warp in (0.0, 1.0):
        cfg = resolve_config("fast", None, {**tiny, "expand.warp": warp}, seed=0, device="cpu")
        out = tmp_path / f"out{warp:g}"
        run_expand(ExpandRequest(work_dir=work, au_preset="surprise", per_class=4, out_dir=out, workers=1), cfg)
        manifest = pd.read_parquet(out / "manifest.parquet")
        edits = manifest[manifest["stage"] == "ganimation"].sort_values("source_id")
        outputs[warp] = (edits, [read_image(out / p) for p in edits["path"]])
    (plain, plain_images), (warped, warped_images) = outputs[0.0], outputs[1.0]
    assert len(plain) == len(warped) == 4 and list(plain["source_id"]) == list(warped["source_id"])
    assert all(name.endswith("+ warp 1") for name in warped["editor"])
    assert json.loads((tmp_path / "out1" / "expand.json").read_text())["ganimation_model"]["warp"] == 1.0
    assert not any(name.endswith("warp 1") for name in plain["editor"])
    assert all(not np.array_equal(a, b) for a, b in zip(plain_images, warped_images))
