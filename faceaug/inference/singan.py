"""A trained single-image SinGAN (`SinganModel`) and sampling from a start scale.

Scale indices run from 0 (coarsest, the paper's N) to S-1 (finest). `start_scale = s` means: scales < s replay the
training image's reconstruction (fixed noise z* at the coarsest, zero elsewhere), random noise from scale s on —
so 0 = pure generation from N, 1 = from N-1, 2 = from N-2, and s = S reproduces the reconstruction. In `inject`
mode the training image, downsampled to scale s-1 and upsampled, enters scale s directly; scales < s are never
used, so a model trained with `mode="inject", start_scale=s` has no networks for them (faceaug.training.singan).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceaug.device import torch_cpu_threads, torch_generator
from faceaug.errors import UserError
from faceaug.io.images import grey_like
from faceaug.models.singan import MODES, ScaleGenerator, SinganArchitecture
from faceaug.models.singan_file import SinganFile
from faceaug.models.singan_pyramid import injected_image, resize
from faceaug.models.tensors import IMAGE_CHANNELS, to_uint8


@dataclass
class SinganModel:
    """A trained single-image SinGAN: frozen generators for scales first_scale … S-1, ready to sample."""

    arch: SinganArchitecture
    image: np.ndarray  # the training image, RGB uint8
    generators: list[ScaleGenerator]  # for scales first_scale … S-1, eval mode
    z_rec: torch.Tensor | None  # fixed reconstruction noise at scale 0, (1, 1, h0, w0); None if scale 0 untrained
    # Not needed to sample: seed, faceaug_version, settings (the training settings), losses (last iteration's, per
    # trained scale).
    provenance: dict[str, Any] = field(default_factory=dict)
    cpu_threads: int = 1  # torch threads while sampling on CPU (SinganConfig.cpu_threads); not stored in files

    @property
    def num_scales(self) -> int:
        return len(self.arch.sizes)

    @property
    def model_id(self) -> str:
        """A short stable id: hash of the generator weights and the reconstruction noise."""
        h = hashlib.sha256()
        for g in self.generators:
            for name, t in g.state_dict().items():
                h.update(name.encode())
                h.update(t.detach().cpu().contiguous().numpy().tobytes())
        if self.z_rec is not None:
            h.update(self.z_rec.cpu().numpy().tobytes())
        return "sg-" + h.hexdigest()[:12]

    def generator(self, scale: int) -> ScaleGenerator:
        return self.generators[scale - self.arch.first_scale]

    def noise_amp(self, scale: int) -> float:
        return self.arch.noise_amps[scale - self.arch.first_scale]

    def save(self, path: Path) -> Path:
        """Write the model file (singan.safetensors, see faceaug.models.singan_file), atomically."""
        return SinganFile(self.arch, self.image, self.generators, self.z_rec, self.provenance).save(path)

    @classmethod
    def load(cls, path: Path, device="cpu", *, cpu_threads: int = 1) -> SinganModel:
        """Read a model file (singan.safetensors); UserError for a bad one."""
        stored = SinganFile.load(path)
        return cls(
            arch=stored.arch,
            image=stored.image,
            generators=[generator.to(device) for generator in stored.generators],
            z_rec=stored.z_rec,
            provenance=stored.provenance,
            cpu_threads=cpu_threads,
        )


def check_mode_and_start_scale(mode: str, start_scale: int) -> None:
    """UserError for an unknown mode or a negative start scale (training and sampling)."""
    if mode not in MODES:
        raise UserError(f"Unknown SinGAN mode {mode!r}: use reconstruct or inject.")
    if start_scale < 0:
        raise UserError(f"SinGAN start scale must be 0 or more, got {start_scale}.")


def scale_noise(generator: torch.Generator, batch: int, size: tuple[int, int], scale: int) -> torch.Tensor:
    """N(0, 1) noise of one model at `scale`, drawn on CPU (the same numbers on every device): (batch, 3, h, w),
    one channel broadcast to three at the coarsest scale (as in SinGAN), three elsewhere."""
    channels = 1 if scale == 0 else IMAGE_CHANNELS
    return torch.randn((batch, channels, *size), generator=generator).expand(batch, IMAGE_CHANNELS, *size)


@torch.no_grad()
def sample_singan(
    model: SinganModel,
    n: int,
    *,
    start_scale: int,
    mode: str,
    seed: int,
    device,
    chunk: int = 16,
    start_noise_amp: float = 0.0,
) -> np.ndarray:
    """n samples, RGB uint8 (n, H, W, 3), reproducible for a seed. See the module docstring for start_scale.

    `start_noise_amp` > 0 (inject mode): the start scale's noise amplitude instead of the one it was trained with
    (SinganConfig.inject_noise_amp; the variety knob). A grey training image gives grey samples."""
    check_mode_and_start_scale(mode, start_scale)
    device = torch.device(device)
    start = min(start_scale, model.num_scales)
    _check_model_samples_from(model, start, start_scale, mode)
    for g in model.generators:
        g.to(device).eval()
    with torch_cpu_threads(device, model.cpu_threads):
        gen = torch_generator(seed)
        amps = _sampling_amps(model, start, mode, start_noise_amp)
        samples = np.concatenate(
            [_sample_batch(model, min(chunk, n - lo), start, mode, gen, device, amps) for lo in range(0, n, chunk)],
            axis=0,
        )
    return grey_like(samples, model.image)


def _sampling_amps(model: SinganModel, start: int, mode: str, start_noise_amp: float) -> dict[int, float]:
    """Noise amplitude per scale while sampling: the trained ones, the start scale's replaced in inject mode."""
    amps = {scale: model.noise_amp(scale) for scale in range(model.arch.first_scale, model.num_scales)}
    if mode == "inject" and start_noise_amp > 0 and start in amps:
        amps[start] = start_noise_amp
    return amps


def _check_model_samples_from(model: SinganModel, start: int, start_scale: int, mode: str) -> None:
    s_count, first = model.num_scales, model.arch.first_scale
    if mode == "inject" and start >= s_count:
        raise UserError(f"Inject mode needs a start scale below the model's {s_count} scales, got {start_scale}.")
    if mode == "inject" and start < first:
        raise UserError(
            f"This model was trained from scale {first} (inject mode); it cannot sample from start scale {start_scale}."
        )
    if mode == "reconstruct" and first > 0:
        raise UserError(
            "This model was trained in inject mode without its coarse scales; sample it with mode 'inject'."
        )


def _sample_batch(
    model: SinganModel, b: int, start: int, mode: str, gen: torch.Generator, device, amps: dict[int, float]
) -> np.ndarray:
    """b samples: the coarsest input, then every scale from there (random noise from `start` on)."""
    sizes = model.arch.sizes
    if mode == "inject":
        x = injected_image(model.image, sizes, start, model.arch.scale_factor).to(device).expand(b, -1, -1, -1)
        first = start
    else:
        x = torch.zeros((b, IMAGE_CHANNELS, *sizes[0]), device=device)
        first = 0
    for scale in range(first, model.num_scales):
        size = sizes[scale]
        if scale >= start:
            z = scale_noise(gen, b, size, scale).to(device)
        elif scale == 0:
            z = model.z_rec.to(device).expand(b, IMAGE_CHANNELS, *size)
        else:
            z = torch.zeros((b, IMAGE_CHANNELS, *size), device=device)
        x = model.generator(scale)(amps[scale] * z, x)
        if scale + 1 < model.num_scales:
            x = resize(x, sizes[scale + 1])
    return to_uint8(x)


def reconstruct_singan(model: SinganModel, device="cpu") -> np.ndarray:
    """The model's reconstruction of its training image (RGB uint8, H, W, 3)."""
    return sample_singan(model, 1, start_scale=model.num_scales, mode="reconstruct", seed=0, device=device)[0]
