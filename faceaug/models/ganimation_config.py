"""Architecture-only configs of the GANimation networks: what a model file stores and what rebuilds a network.

Kept free of torch so that `faceaug.config` (which derives them from the training settings) stays light to import.
"""

from __future__ import annotations

from dataclasses import dataclass

from faceaug.aus import N_AUS

DOWNSAMPLINGS = 2  # stride-2 stages in the generator
#: What the generator is conditioned on: the target AU vector (the paper), or the change from the source face's
#: AUs to the target (values in [−1, 1]).
CONDITIONS = ("absolute", "relative")
#: ×2 upsampling in the generator: the paper's 4×4 stride-2 transposed conv, or nearest-neighbour resize + 3×3 conv
#: (faceaug.models.ganimation builds them).
UPSAMPLINGS = ("transpose", "resize")


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything that rebuilds a generator (and how its AU input is read); stored in the model file."""

    image_size: int = 128
    conv_dim: int = 64  # base channels
    repeat_num: int = 6  # residual blocks
    upsample: str = "transpose"  # ×2 upsampling: transpose (paper) | resize (nearest + 3×3 conv)
    condition: str = "absolute"  # absolute (paper) | relative (target − the source face's AUs)
    n_aus: int = N_AUS

    def problem(self) -> str | None:
        """Why this config cannot build a generator (one sentence), or None."""
        if self.image_size < 2**DOWNSAMPLINGS or self.image_size % 2**DOWNSAMPLINGS:
            return f"image size {self.image_size} must be a positive multiple of {2**DOWNSAMPLINGS}."
        if self.upsample not in UPSAMPLINGS:
            return f"upsample must be one of {', '.join(UPSAMPLINGS)}, not {self.upsample!r}."
        if self.condition not in CONDITIONS:
            return f"condition must be one of {', '.join(CONDITIONS)}, not {self.condition!r}."
        if self.conv_dim < 1 or self.repeat_num < 0 or self.n_aus < 1:
            return "channel counts, block counts and the AU count must be positive."
        return None


@dataclass(frozen=True)
class CriticConfig:
    """Everything that rebuilds a critic."""

    image_size: int = 128
    critic_dim: int = 64  # base channels
    critic_layers: int = 6  # stride-2 convs
    n_aus: int = N_AUS

    def problem(self) -> str | None:
        """Why this config cannot build a critic (one sentence), or None."""
        side, layers = self.image_size, self.critic_layers
        if layers < 1 or self.critic_dim < 1 or self.n_aus < 1:
            return "channel counts and layer counts must be positive."
        if side < 2**layers or side % 2**layers:
            return (
                f"image size {side} must be a positive multiple of {2**layers} (the critic halves it {layers} times)."
            )
        return None
