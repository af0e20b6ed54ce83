"""GANimation networks and loss terms: shapes, blend convention, gradient-penalty math."""

import dataclasses

import pytest
import torch

from faceaug.aus import N_AUS
from faceaug.config import GanimationConfig, resolve_config
from faceaug.models.ganimation import Critic, Generator, blend, constant_map_conv
from faceaug.training import ganimation_losses as L

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _generator(cfg: GanimationConfig, **kwargs) -> Generator:
    return Generator(cfg.generator_config(), **kwargs)


def _critic(cfg: GanimationConfig, **kwargs) -> Critic:
    return Critic(cfg.critic_config(), **kwargs)


def _small(size: int, critic_layers: int = 4) -> GanimationConfig:
    return dataclasses.replace(
        GanimationConfig(), image_size=size, conv_dim=8, critic_dim=8, repeat_num=2, critic_layers=critic_layers
    )


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
@pytest.mark.parametrize("size,layers", [(32, 4), (64, 5), (128, 6), (96, 5)])
def test_generator_and_critic_shapes(size, layers, upsample):
    cfg = dataclasses.replace(_small(size, layers), upsample=upsample)
    assert cfg.problem() is None
    x = torch.rand(2, 3, size, size) * 2 - 1
    aus = torch.rand(2, N_AUS)
    color, attention = _generator(cfg)(x, aus)
    assert color.shape == (2, 3, size, size) and attention.shape == (2, 1, size, size)
    assert color.abs().max() <= 1 and 0 <= attention.min() and attention.max() <= 1
    scores, pred = _critic(cfg)(x)
    side = size // 2**layers
    assert scores.shape == (2, 1, side, side)
    assert pred.shape == (2, N_AUS)


def test_profiles_build_networks():
    for profile in ("fast", "paper"):
        assert resolve_config(profile).ganimation.problem() is None


def test_sizes_that_do_not_fit_are_explained():
    assert "multiple of 64" in dataclasses.replace(GanimationConfig(), image_size=100).problem()
    assert "transpose, resize" in dataclasses.replace(GanimationConfig(), upsample="bilinear").problem()
    assert "gp_every" in dataclasses.replace(GanimationConfig(), gp_every=0).problem()
    assert "absolute, relative" in dataclasses.replace(GanimationConfig(), condition="delta").problem()


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
@pytest.mark.parametrize("size", [32, 96])
def test_generator_computes_the_published_layers(size, upsample):
    """The fast path (closed-form AU-map conv, fused heads) gives what the paper's layers give: a 7×7 conv over
    [image, tiled AU map], the body, and separate colour and attention heads — so model files stay interchangeable."""
    cfg = dataclasses.replace(_small(size), upsample=upsample)
    gen = _generator(cfg, init_generator=torch.Generator().manual_seed(3))
    with torch.no_grad():  # larger weights than the init, so border effects of the padding are not negligible
        for p in gen.parameters():
            p.normal_(0, 0.2, generator=torch.Generator().manual_seed(p.numel()))
    x = torch.rand(3, 3, size, size) * 2 - 1
    aus = torch.rand(3, N_AUS)
    features = gen.body(torch.cat([x, aus[:, :, None, None].expand(-1, -1, size, size)], dim=1))
    color, attention = gen(x, aus)
    torch.testing.assert_close(color, gen.color_head(features), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(attention, gen.attention_head(features), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("k,size", [(7, (12, 9)), (3, (5, 5)), (1, (4, 6))])
def test_constant_map_conv_matches_a_zero_padded_conv(k, size):
    values, weight = torch.randn(2, 5), torch.randn(4, 5, k, k)
    tiled = values[:, :, None, None].expand(-1, -1, *size)
    expected = torch.nn.functional.conv2d(tiled, weight, padding=k // 2)
    torch.testing.assert_close(constant_map_conv(values, weight, size), expected, atol=1e-4, rtol=1e-4)


def test_paper_generator_upsamples_with_transposed_convolutions():
    """The paper profile keeps the published layer layout (the ganimation_replicate importer relies on it)."""
    kinds = {type(m).__name__ for m in _generator(_small(32)).modules()}
    assert "ConvTranspose2d" in kinds and "Upsample" not in kinds
    kinds = {type(m).__name__ for m in _generator(dataclasses.replace(_small(32), upsample="resize")).modules()}
    assert "ConvTranspose2d" not in kinds and "Upsample" in kinds


def test_generator_depends_on_the_au_vector():
    cfg = _small(32)
    gen = _generator(cfg)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    a = gen(x, torch.zeros(1, N_AUS))[1]
    b = gen(x, torch.ones(1, N_AUS))[1]
    assert not torch.allclose(a, b)


def test_blend_convention_attention_one_keeps_input():
    image = torch.full((1, 3, 4, 4), 0.5)
    color = torch.full((1, 3, 4, 4), -1.0)
    assert torch.equal(blend(image, color, torch.ones(1, 1, 4, 4)), image)
    assert torch.equal(blend(image, color, torch.zeros(1, 1, 4, 4)), color)
    mixed = blend(image, color, torch.full((1, 1, 4, 4), 0.25))
    assert torch.allclose(mixed, 0.25 * image + 0.75 * color)


def test_generator_edit_uses_the_blend():
    gen = _generator(_small(32))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = torch.rand(2, N_AUS)
    color, attention = gen(x, y)
    out, att = gen.edit(x, y)
    assert torch.allclose(out, attention * x + (1 - attention) * color) and torch.equal(att, attention)


def test_gradient_penalty_of_a_linear_critic():
    # D(x) = <w, x> has gradient w everywhere: penalty = (‖w‖ − 1)².
    w = torch.randn(3, 8, 8)
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    gp = L.gradient_penalty(critic, real, fake, torch.rand(4, 1, 1, 1))
    assert gp.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-5)
    unit = w / w.norm()
    gp_unit = L.gradient_penalty(lambda x: (x * unit).flatten(1).sum(1), real, fake, torch.rand(4, 1, 1, 1))
    assert gp_unit.item() == pytest.approx(0.0, abs=1e-8)


def test_gradient_penalty_is_per_sample_and_differentiable():
    # D(x) = ‖x‖² has gradient 2x̂: penalty depends on each sample's own mix.
    real = torch.zeros(2, 1, 2, 2)
    fake = torch.ones(2, 1, 2, 2)
    eps = torch.tensor([0.0, 1.0]).view(2, 1, 1, 1)
    gp = L.gradient_penalty(lambda x: (x**2).flatten(1).sum(1), real, fake, eps)
    # sample 0: x̂ = fake → ‖2x̂‖ = 4; sample 1: x̂ = real → 0
    assert gp.item() == pytest.approx(((4 - 1) ** 2 + (0 - 1) ** 2) / 2)
    critic = _critic(_small(32))
    gp = L.gradient_penalty(
        lambda x: critic(x)[0], torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32), torch.rand(2, 1, 1, 1)
    )
    gp.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in critic.body.parameters())


def test_loss_terms_are_finite_and_signed_as_documented():
    cfg = _small(32)
    gen, critic = _generator(cfg), _critic(cfg)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    y_src, y_tgt = torch.rand(3, N_AUS), torch.rand(3, N_AUS)
    color, attention = gen(x, y_tgt)
    fake = blend(x, color, attention)
    rec = gen.edit(fake, y_src)[0]
    s_real, a_real = critic(x)
    s_fake, a_fake = critic(fake)
    terms = [
        L.critic_wasserstein_loss(s_real, s_fake),
        L.generator_adversarial_loss(s_fake),
        L.au_regression_loss(a_real, y_src),
        L.au_regression_loss(a_fake, y_tgt),
        L.cycle_loss(rec, x),
        L.attention_mean_loss(attention),
        L.attention_tv_loss(attention),
    ]
    assert all(torch.isfinite(t) for t in terms)
    assert L.critic_wasserstein_loss(torch.ones(4), torch.zeros(4)).item() == -1.0
    assert L.cycle_loss(x, x).item() == 0.0
    flat = torch.full((2, 1, 5, 5), 0.3)
    assert L.attention_tv_loss(flat).item() == 0.0
    step = torch.zeros(1, 1, 2, 2)
    step[..., 1] = 1.0  # one vertical edge of height 2: every horizontal neighbour pair differs by 1
    assert L.attention_tv_loss(step).item() == 1.0
    # a mean over pixels: the same edge in a larger mask or a larger batch gives the same value per pixel
    big = torch.zeros(3, 1, 8, 9)
    big[..., 4:] = 1.0  # 1 of 8 horizontal pairs per row differs
    assert abs(L.attention_tv_loss(big).item() - 1 / 8) < 1e-6
    assert L.au_regression_loss(torch.ones(2, 17), torch.zeros(2, 17)).item() == 1.0
