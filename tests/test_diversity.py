"""The variety measure shared by `faceaug report` and the SinGAN benchmarks (faceaug.metrics.diversity)."""

import numpy as np
from skimage.data import astronaut

from faceaug.io.images import resize_face
from faceaug.metrics.diversity import pairwise_ssim, singan_diversity, template_face_mask, variant_diversity


def _face(size=64):
    return resize_face(astronaut()[0:240, 120:360], size)


def test_copies_have_zero_diversity_and_ssim_one():
    face = _face()
    copies = np.stack([face] * 4)
    assert singan_diversity(copies, face) == 0.0
    assert pairwise_ssim(copies) == 1.0
    report = variant_diversity(copies, face)
    assert report["ssim_to_edit"] == 1.0 and report["abs_diff_to_edit"] == 0.0


def test_diversity_grows_with_noise_and_matches_a_direct_computation():
    face = _face()
    rng = np.random.default_rng(0)
    small = np.clip(face + rng.normal(0, 3, (6, *face.shape)), 0, 255).astype(np.uint8)
    large = np.clip(face + rng.normal(0, 30, (6, *face.shape)), 0, 255).astype(np.uint8)
    assert singan_diversity(small, face) < singan_diversity(large, face)
    assert pairwise_ssim(large) < pairwise_ssim(small) < 1.0
    grey = lambda x: x.astype(np.float64) @ [0.299, 0.587, 0.114]  # noqa: E731
    everywhere = np.ones(face.shape[:2], bool)
    direct = grey(large).std(axis=0).mean() / grey(face).std()
    assert abs(singan_diversity(large, face, everywhere) - direct) < 1e-3


def test_the_template_face_region_covers_eyes_and_mouth_but_not_the_corners():
    for size in (48, 64, 128):
        mask = template_face_mask(size)
        assert mask[int(0.37 * size), int(0.32 * size)] and mask[int(0.74 * size), size // 2]
        assert not mask[0, 0] and not mask[-1, -1] and not mask[0, size // 2]
        assert 0.3 < mask.mean() < 0.5
