"""GANimation loss terms as small pure functions (weights are applied by the trainer, from GanimationConfig).

AU weight: the paper's λ_y = 4000 is divided by the batch size in the official code, on top of a mean-reduced MSE;
`au_regression_loss` is that mean-reduced MSE and `GanimationConfig.lambda_au` (160 = 4000 / 25) the effective
weight, the value other implementations use directly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def critic_wasserstein_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN critic loss: E[D(fake)] − E[D(real)] (the critic learns to score real images higher)."""
    return fake_scores.float().mean() - real_scores.float().mean()


def generator_adversarial_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN generator loss: −E[D(fake)]."""
    return -fake_scores.float().mean()


def gradient_penalty(
    critic_scores: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor, epsilon: torch.Tensor
) -> torch.Tensor:
    """WGAN-GP: E[(‖∇ D(x̂)‖₂ − 1)²] at x̂ = ε·real + (1 − ε)·fake, one ε ∈ [0, 1] per sample (shape (B, 1, 1, 1)).

    The norm is taken per sample over all pixels and channels; `critic_scores` maps images to realism scores of
    any shape (summed, so each sample's gradient is that of its own scores). Computed in float32.
    """
    mixed = (epsilon * real.float() + (1.0 - epsilon) * fake.float()).detach().requires_grad_(True)
    scores = critic_scores(mixed)
    (grad,) = torch.autograd.grad(scores.float().sum(), mixed, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return ((norms - 1.0) ** 2).mean()


def au_regression_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between predicted and target AU vectors (mean over batch and AUs)."""
    return F.mse_loss(predicted.float(), target.float())


def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """L1 between G(G(x, y_target), y_source) and x (mean over pixels)."""
    return (reconstructed.float() - original.float()).abs().mean()


def attention_mean_loss(attention: torch.Tensor) -> torch.Tensor:
    """Mean attention value; penalising it keeps the mask from saturating at 1 (which would mean 'no edit')."""
    return attention.float().mean()


def attention_tv_loss(attention: torch.Tensor) -> torch.Tensor:
    """Total variation of the mask as a *mean* over pixels: mean |A(i, j+1) − A(i, j)| + mean |A(i+1, j) − A(i, j)|.

    The official code sums the absolute differences over the whole batch (weight 1e-5), which makes the term
    scale with batch size and image area (≈ 1,700 at batch 16 / 64 px, ≈ 20,000 at the start). As a mean it is
    independent of both; `GanimationConfig.lambda_tv` = 1e-5 × 25 × 128² ≈ 4.1 reproduces the official term at the
    paper's batch 25 / 128 px. Against the attention-mean term it still depends on image size: a region of the
    mask costs its edge length (∝ side) in TV but saves its area (∝ side²) in the mean, so at 64 px the same weight
    holds edits back twice as hard as at 128 px (`fast` keeps 4.1: lower weights measured no better,
    config/profiles.py).
    """
    a = attention.float()
    return (a[:, :, :, 1:] - a[:, :, :, :-1]).abs().mean() + (a[:, :, 1:, :] - a[:, :, :-1, :]).abs().mean()
