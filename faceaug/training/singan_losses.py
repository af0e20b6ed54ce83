"""SinGAN loss terms as small pure functions, one loss per model: K models stacked on the channel axis (model k
owns channels [3k, 3k+3) of images and channel k of critic scores) give losses of shape (K,). The weights
(SinganConfig.lambda_gp, SinganConfig.alpha) are applied by the trainer."""

from __future__ import annotations

from collections.abc import Callable

import torch

from faceaug.models.tensors import IMAGE_CHANNELS


def per_model_mean(x: torch.Tensor, k: int) -> torch.Tensor:
    """(1, C·K, h, w) → (K,): the mean over each model's channels and pixels."""
    return x.reshape(k, -1).mean(dim=1)


def critic_wasserstein_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor, k: int) -> torch.Tensor:
    """WGAN critic loss per model: E[D(fake)] − E[D(real)] (the critic learns to score the real image higher)."""
    return -per_model_mean(real_scores, k) + per_model_mean(fake_scores, k)


def generator_adversarial_loss(fake_scores: torch.Tensor, k: int) -> torch.Tensor:
    """WGAN generator loss per model: −E[D(fake)]."""
    return -per_model_mean(fake_scores, k)


def reconstruction_loss(reconstruction: torch.Tensor, real: torch.Tensor, k: int) -> torch.Tensor:
    """Mean squared error per model between G(z*, reconstruction so far) and the real image at this scale."""
    return per_model_mean((reconstruction - real) ** 2, k)


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor, k: int
) -> torch.Tensor:
    """WGAN-GP as in SinGAN: E[(‖∇ D(x̂)‖₂ − 1)²] at x̂ = α·real + (1 − α)·fake, the norm taken per pixel over each
    model's 3 channels; `alpha` holds one α ∈ [0, 1] per model, repeated over its channels, (1, 3K, 1, 1)."""
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    norms = grad.reshape(k, IMAGE_CHANNELS, *grad.shape[-2:]).norm(2, dim=1)
    return per_model_mean((norms - 1) ** 2, k)
