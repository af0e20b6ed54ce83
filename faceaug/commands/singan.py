"""The `faceaug singan` command: train one SinGAN on a face image and write samples, the model and its config."""

from __future__ import annotations

import time
from pathlib import Path

from faceaug.config import write_resolved_config
from faceaug.console import console, info, progress
from faceaug.device import resolve_device
from faceaug.errors import UserError
from faceaug.inference.singan import reconstruct_singan, sample_singan
from faceaug.io.images import ImageDecodeError, read_image, write_png_atomic
from faceaug.models.singan_pyramid import pyramid_sizes
from faceaug.pipeline.variants import inject_amplitude
from faceaug.training.singan import check_singan_setup, train_singan

MODEL_FILE = "singan.safetensors"


def run_singan_command(image: Path, out_dir: Path, cfg, *, samples: int) -> Path:
    """Train on one face image, write `samples` PNGs, the model file and the resolved config to out_dir."""
    image, out_dir = Path(image), Path(out_dir)
    try:
        rgb = read_image(image)
    except FileNotFoundError:
        raise UserError(f"Image {image} does not exist.") from None
    except (ImageDecodeError, OSError) as exc:
        raise UserError(f"Image {image} could not be read: {exc}.") from None
    device = resolve_device(cfg.device)
    start, mode = cfg.expand.start_scale, cfg.expand.singan_mode
    check_singan_setup(*rgb.shape[:2], cfg.singan, start_scale=start, mode=mode)
    sizes = pyramid_sizes(*rgb.shape[:2], cfg.singan)[0]
    info(
        f"SinGAN on {image.name}: {len(sizes)} scales {sizes[0][1]}×{sizes[0][0]} → {sizes[-1][1]}×{sizes[-1][0]} "
        f"px, {cfg.singan.iters_per_scale} iterations per scale, profile {cfg.profile}, device {device}."
    )
    t0 = time.perf_counter()
    with progress() as bar:
        task = bar.add_task("training SinGAN", total=None)
        model = train_singan(
            rgb,
            cfg.singan,
            seed=cfg.seed,
            device=device,
            start_scale=start,
            mode=mode,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    train_s = time.perf_counter() - t0
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = model.save(out_dir / MODEL_FILE)
    amp = inject_amplitude(model, cfg.singan, start_scale=start, mode=mode, seed=cfg.seed, device=device)
    images = sample_singan(
        model, samples, start_scale=start, mode=mode, seed=cfg.seed, device=device, start_noise_amp=amp
    )
    paths = [write_png_atomic(out_dir / f"sample_{i:03d}.png", im) for i, im in enumerate(images)]
    if mode == "reconstruct":
        write_png_atomic(out_dir / "reconstruction.png", reconstruct_singan(model, device))
    write_resolved_config(
        cfg,
        out_dir / "singan.json",
        image=str(image),
        samples=len(paths),
        model_file=model_path.name,
        model_id=model.model_id,
        train_seconds=round(train_s, 2),
        pyramid=[list(s) for s in sizes],
        noise_amps=model.arch.noise_amps,
        start_noise_amp=amp,
    )
    console.print(
        f"Wrote {len(paths)} samples, the model ({model_path.name}, id {model.model_id}) and singan.json to {out_dir}"
    )
    return out_dir
