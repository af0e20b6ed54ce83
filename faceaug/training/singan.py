"""SinGAN training, single and batched (the trained model and sampling: faceaug.inference.singan; the `faceaug
singan` command: faceaug.commands.singan).

In `inject` mode the training image enters the start scale directly and the coarser scales are never used, so
`train_singan(..., mode="inject", start_scale=s)` does not train them. What that saves is the coarse
scales' share of the work, small because they are small: measured on one CPU thread (benchmarks/bench_singan.py),
`fast` 64-px face 12-14 vs 19-22 CPU-s (2 of 4 scales trained), 128 px 96-101 vs 106-114 CPU-s; at `paper`
(channels double at the fine scales) about 1% by a pixels x channels² estimate. The larger gain is quality at
short schedules: with `fast` the coarse scales do not learn to reconstruct the face from noise in 150 iterations,
so reconstruct-mode samples are distorted (SSIM to the image 0.64-0.77) while inject-mode samples keep it (SSIM
0.94-0.95 at 64 px, 0.87 at 128 px, face found in 100%).

Batched training stacks K independent models along the channel axis (grouped convolutions; every random draw of
model k comes from its own seeded generator in the same order as a lone run), so K=1 and K>1 give the same
models up to float rounding.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from faceaug import __version__
from faceaug.config import SinganConfig
from faceaug.device import torch_cpu_threads
from faceaug.errors import UserError
from faceaug.inference.singan import SinganModel, check_mode_and_start_scale
from faceaug.models.singan import SinganArchitecture
from faceaug.models.singan_pyramid import pyramid_sizes
from faceaug.training.singan_scale import Group, Progress, TrainedScale, prepare_group, train_scales


def _train_group(images, cfg: SinganConfig, seeds, device, first: int, mode: str, progress: Progress | None):
    """Train K same-pyramid models at once (K = len(images)), scale by scale; returns K SinganModels."""
    with torch_cpu_threads(device, cfg.cpu_threads):
        group = prepare_group(images, cfg, seeds, device, first, mode, progress)
        scales = train_scales(group)
    return [_model(i, images[i], int(seeds[i]), group, scales) for i in range(group.k)]


def _model(i: int, image, seed: int, group: Group, scales: list[TrainedScale]) -> SinganModel:
    """Model i of a trained group."""
    arch = SinganArchitecture(
        sizes=tuple(group.sizes),
        scale_factor=group.scale_factor,
        first_scale=group.first,
        channels=tuple(s.channels for s in scales),
        num_layers=group.cfg.num_layers,
        noise_amps=tuple(float(s.amp[i]) for s in scales),
        mode=group.mode,
    )
    losses = [
        {
            "scale": s.scale,
            "loss_d": s.losses[0][i].item(),
            "loss_g": s.losses[1][i].item(),
            "rec": s.losses[2][i].item(),
        }
        for s in scales
        if s.losses is not None
    ]
    return SinganModel(
        arch=arch,
        image=image,
        generators=[s.generators[i] for s in scales],
        z_rec=None if group.z_rec is None else group.z_rec[i],
        provenance={"seed": seed, "faceaug_version": __version__, "settings": asdict(group.cfg), "losses": losses},
        cpu_threads=group.cfg.cpu_threads,
    )


def _first_trained(image: np.ndarray, cfg: SinganConfig, start_scale: int, mode: str) -> int:
    if mode != "inject":
        return 0
    n_scales = len(pyramid_sizes(*image.shape[:2], cfg)[0])
    if start_scale >= n_scales:
        raise UserError(
            f"Start scale {start_scale} is beyond this image's {n_scales} SinGAN scales; "
            f"inject mode needs a start scale below {n_scales}."
        )
    return start_scale


def train_singan(
    image: np.ndarray,
    cfg: SinganConfig,
    *,
    seed: int,
    device: torch.device,
    start_scale: int = 0,
    mode: str = "reconstruct",
    progress: Progress | None = None,
) -> SinganModel:
    """Train one single-image SinGAN on an RGB uint8 image (inject mode skips scales coarser than start_scale)."""
    check_mode_and_start_scale(mode, start_scale)
    first = _first_trained(image, cfg, start_scale, mode)
    return _train_group([image], cfg, [seed], torch.device(device), first, mode, progress)[0]


def train_singan_batch(
    images: list[np.ndarray],
    cfg: SinganConfig,
    *,
    seeds: list[int],
    device: torch.device,
    start_scale: int = 0,
    mode: str = "reconstruct",
    strategy: str = "auto",
    progress: Progress | None = None,
) -> list[SinganModel]:
    """Train K independent SinGANs, one per image; same models as K `train_singan` calls with these seeds.

    Images are grouped by (pyramid shape, first trained scale). `strategy`: "grouped" stacks each group into
    grouped convolutions; "sequential" trains one model after another; "auto" = grouped on CUDA, sequential on
    CPU (where grouped convolutions measured 0.85-1.2x a loop for K = 4-64, see benchmarks/bench_singan.py).
    """
    if len(images) != len(seeds):
        raise ValueError(f"{len(images)} images but {len(seeds)} seeds")
    check_mode_and_start_scale(mode, start_scale)
    device = torch.device(device)
    if strategy == "auto":
        strategy = "grouped" if device.type == "cuda" else "sequential"
    if strategy not in ("grouped", "sequential"):
        raise ValueError(f"unknown strategy {strategy!r}")
    groups = _stackable_groups(images, cfg, start_scale, mode)
    chunks = [
        (first, chunk)
        for (_, first), idx in groups.items()
        for chunk in ([idx] if strategy == "grouped" else [[i] for i in idx])
    ]
    total = sum((len(key[0]) - key[1]) * cfg.iters_per_scale * len(idx) for key, idx in groups.items())
    models: list[SinganModel | None] = [None] * len(images)
    done = 0
    for first, chunk in chunks:
        trained = _train_group(
            [images[i] for i in chunk],
            cfg,
            [seeds[i] for i in chunk],
            device,
            first,
            mode,
            _progress_of_chunk(progress, done, len(chunk), total),
        )
        done += (trained[0].num_scales - first) * cfg.iters_per_scale * len(chunk)
        for i, m in zip(chunk, trained):
            models[i] = m
    return models  # type: ignore[return-value]


def _stackable_groups(images, cfg: SinganConfig, start_scale: int, mode: str) -> dict[tuple, list[int]]:
    """Image indices by (pyramid sizes, first trained scale): the images whose models can be stacked."""
    groups: dict[tuple, list[int]] = {}
    for i, image in enumerate(images):
        key = (tuple(pyramid_sizes(*image.shape[:2], cfg)[0]), _first_trained(image, cfg, start_scale, mode))
        groups.setdefault(key, []).append(i)
    return groups


def _progress_of_chunk(progress: Progress | None, before: int, width: int, total: int) -> Progress | None:
    """A chunk of `width` models trained together advances the batch's progress `width` iterations a step."""
    if progress is None:
        return None
    return lambda done, _total: progress(before + done * width, total)


def check_singan_setup(height: int, width: int, cfg: SinganConfig, *, start_scale: int, mode: str) -> int:
    """Validate a SinGAN request for images of this size before any work starts (UserError on a bad one).

    Returns the number of pyramid scales."""
    check_mode_and_start_scale(mode, start_scale)
    _first_trained(np.zeros((height, width, 3), np.uint8), cfg, start_scale, mode)
    return len(pyramid_sizes(height, width, cfg)[0])
