"""DiffAugment of the GANimation critic's inputs: each transform does what it says, passes gradients, is seeded,
and training with it runs (and is reproducible)."""

import torch

from faceaug.config import resolve_config
from faceaug.training.diffaugment import diff_augment, parse_policy


def _batch():
    torch.manual_seed(0)
    return (torch.rand(4, 3, 32, 32) * 2 - 1).requires_grad_(True)


def test_translation_shifts_whole_pixels_with_mid_grey_padding():
    x = _batch()
    y = diff_augment(x, ("translation",), torch.Generator().manual_seed(1))
    for i in range(4):
        found = [
            (dy, dx)
            for dy in range(-4, 5)
            for dx in range(-4, 5)
            if torch.equal(torch.roll(x[i], (dy, dx), (1, 2))[:, 4:-4, 4:-4], y[i][:, 4:-4, 4:-4])
        ]
        assert len(found) == 1, found  # exactly one integer shift explains the inside
    assert (y == 0).any()  # the uncovered border is 0 (mid-grey)


def test_cutout_blanks_one_half_side_square_and_color_keeps_grey_grey():
    x = _batch()
    y = diff_augment(x, ("cutout",), torch.Generator().manual_seed(2))
    assert ((y == 0).flatten(1).sum(1) == 3 * 16 * 16).all()
    grey = x[:, :1].expand(-1, 3, -1, -1)
    z = diff_augment(grey, ("color",), torch.Generator().manual_seed(3))
    assert torch.allclose(z[:, 0], z[:, 1]) and torch.allclose(z[:, 1], z[:, 2])


def test_every_policy_passes_gradients_and_a_seed_repeats_it():
    x = _batch()
    policy = parse_policy("color, translation,cutout")
    y = diff_augment(x, policy, torch.Generator().manual_seed(4))
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    again = diff_augment(x, policy, torch.Generator().manual_seed(4))
    assert torch.equal(y, again)
    assert not torch.equal(y, diff_augment(x, policy, torch.Generator().manual_seed(5)))


def test_an_unknown_policy_is_refused_before_training():
    problem = resolve_config("fast", None, {"ganimation.diffaugment": "color,flip"}).ganimation.problem()
    assert problem and "diffaugment 'flip' is not one of color, translation, cutout" in problem
    assert resolve_config("fast", None, {"ganimation.diffaugment": "color,cutout"}).ganimation.problem() is None
