"""Configuration: named profiles (`fast`, `paper`), TOML overrides, flags, and the resolved-config JSON.

Precedence, lowest first: the profile's values < the TOML file given with `--config` < command-line flags.
A TOML file has one table per section, e.g.::

    [ganimation]
    image_size = 64
    lambda_au = 160.0

    [singan]
    iters_per_scale = 500
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from faceaug import __version__
from faceaug.errors import UserError

T = TypeVar("T")


@dataclass
class PreprocessConfig:
    size: int = 128  # side of the aligned face crop (px)
    min_confidence: float = 0.8  # OpenFace rows below this are rejected
    test_fraction: float = 0.2
    split_by: str = "subject"  # subject | image
    min_source_side: int = 64  # sources with a shorter side are counted as upscaled in the summary (e.g. 48-px FER)
    workers: int = 0  # process-pool size; 0 = number of CPU cores


@dataclass
class GanimationConfig:
    image_size: int = 128
    conv_dim: int = 64  # generator base channels
    critic_dim: int = 64  # critic base channels
    repeat_num: int = 6  # residual blocks
    critic_layers: int = 6  # stride-2 convs in the critic
    upsample: str = "transpose"  # generator ×2 upsampling: transpose (paper) | resize (nearest + 3×3 conv)
    # what the generator is told: absolute = the target AUs (paper); relative = target − the source face's AUs
    # (the edit to make; the source AUs come from faces.parquet, so the generator needn't read them off the face)
    condition: str = "absolute"
    batch_size: int = 25
    epochs: int = 20  # epochs at constant learning rate
    epochs_decay: int = 10  # then linear decay to 0 over this many epochs
    max_minutes: float = 0.0  # stop after this wall-clock budget (0 = no limit)
    lr: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_critic: int = 5  # critic updates per generator update
    critic_warmup_steps: int = 0  # critic-only steps before the first generator update (0 = paper)
    au_pretrain_steps: int = 0  # AU-head pre-training on real faces before the GAN starts (0 = paper)
    au_pretrain_batch: int = 64  # real faces per AU pre-training step
    ema_decay: float = 0.0  # the saved generator is an average of its weights over updates (0 = off, as the paper)
    lambda_gp: float = 10.0
    gp_every: int = 1  # gradient penalty on every k-th critic step, weighted ×k ("lazy", StyleGAN2); 1 = paper
    lambda_au: float = 160.0  # effective AU weight (paper 4000 / batch 25 on a mean-reduced MSE)
    lambda_cyc: float = 10.0
    lambda_mask: float = 0.1
    lambda_tv: float = 4.1  # on the per-pixel mean TV; = official 1e-5 on a batch sum at batch 25, 128 px
    target_noise: float = 0.1  # U(-x, x) added to the target AUs during training
    checkpoint_every: int = 500  # steps
    sample_every_epoch: bool = True
    amp: bool = True  # bf16 autocast on CUDA
    cpu_amp: bool = False  # bf16 autocast on CPUs with native bf16 (AVX512-BF16 / AMX); ignored on others
    channels_last: bool = True  # on CUDA
    compile: bool = False  # torch.compile on CUDA
    num_workers: int = 0


@dataclass
class SinganConfig:
    scale_factor: float = 0.75
    min_size: int = 25  # coarsest short side
    max_size: int = 250  # finest long side
    nfc: int = 32  # channels at the coarsest scale, doubled every 4 scales
    max_nfc: int = 128
    num_layers: int = 5  # conv blocks per generator / critic
    iters_per_scale: int = 2000
    d_steps: int = 3
    g_steps: int = 3
    lr: float = 5e-4
    lr_decay_at: float = 0.8  # fraction of iters_per_scale at which lr is multiplied by 0.1
    beta1: float = 0.5
    beta2: float = 0.999
    lambda_gp: float = 0.1
    alpha: float = 10.0  # reconstruction weight
    noise_amp: float = 0.1  # noise amplitude = noise_amp * RMSE
    # torch threads while SinGAN trains/samples on CPU (0 = leave torch's setting). Its ops are tiny, and on 2
    # shared cores 2 threads measured 20-40x slower than 1 (benchmarks/bench_singan.py); use processes for cores.
    cpu_threads: int = 1


@dataclass
class ExpandConfig:
    samples_per_edit: int = 4  # M: SinGAN samples per GANimation edit
    start_scale: int = 2  # SinGAN gen_start_scale (0 = N, 1 = N-1, 2 = N-2)
    singan_mode: str = "reconstruct"  # reconstruct | inject
    shard_size: int = 4  # edit jobs per shard
    continuous_steps: int = 5
    continuous_label_threshold: float = 0.5  # alpha >= this → target label, else source label


@dataclass
class Config:
    profile: str = "fast"
    seed: int = 0
    device: str = "auto"
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    ganimation: GanimationConfig = field(default_factory=GanimationConfig)
    singan: SinganConfig = field(default_factory=SinganConfig)
    expand: ExpandConfig = field(default_factory=ExpandConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SECTIONS = ("preprocess", "ganimation", "singan", "expand")

#: `paper` = the published hyperparameters (for GPUs); `fast` = CPU-feasible. Only differences from the
#: dataclass defaults (which are the paper's) are listed.
PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {},
    "fast": {
        # CPU, chosen by measurement on ~2,000 synthetic 64-px faces scored by the synth oracles (CHANGELOG, issue 5
        # notes): 64 px, 16-channel generator with 2 residual blocks, batch 8. Short runs fail in two ways: the
        # generator learns to fool a critic whose AU head cannot read AUs yet (stripes and smears instead of
        # expressions), and transposed convolutions paint checkerboards. So: a 32-channel critic (a 16-channel one
        # was fooled; the critic costs far less than the generator), its AU head pre-trained on real faces alone
        # (1,000 steps of 64, ~60 s), 100 critic-only steps, then 2 critic steps per generator step, lr 5e-4, AU
        # weight 300 (paper's effective 160), resize-convolution upsampling, and attention weight 0.5 (paper 0.1:
        # over a 15-minute run the mask creeps towards "keep the input" and the edits fade; recognition 62% at 0.1,
        # 75% at 0.25, 78% at 0.5, 66% at 1.0). The saved generator is the running average of its weights (EMA,
        # decay 0.999 after the (1+n)/(10+n) ramp): recognition 80% / 62% against the last weights' 78% / 59%
        # (seeds 0 / 1, same runs). One 15-minute run is noisy: seeds 0 / 1 / 2 gave 80% / 62% / 62% with 300
        # pre-training steps, 72% / 76% / 72% with 1,000 (mean 68% → 73%, AU error 0.097 → 0.085). The gradient
        # penalty is lazy (every 4th critic step, weighted ×4; it was 40% of the critic's time); with the faster
        # generator layers a step takes ~0.078 s on 2 cores, so 32 + 13 epochs (9,360 steps) fit in the 15 minutes
        # (13.0 min with the pre-training, measured alone on 2 cores): seeds 0 / 1 / 2 recognise 84.3% / 81.1% /
        # 81.2%, AU error 0.060 / 0.062 / 0.063 (22 + 9 epochs: seed 1 80%, AU error 0.072). What was left was
        # generalisation to new people: edits of *training* subjects toward neutral / disgust reach 50-98% / 84-100%
        # by source class, of held-out subjects 25-71% / 29-94% (seed 1): told only the target, the generator must
        # read the source expression off a face it never saw. Told the change (condition "relative", target −
        # source AUs): seeds 0 / 1 / 2 86.2% / 89.9% / 88.7%, AU error 0.053 / 0.055 / 0.051, attention 0.951 /
        # 0.947 / 0.946 (0.86 / 0.85 / 0.85 inside the face, 29% of the crop); attention weight 0.6 with it: 89.1% /
        # 86.4% / 86.9%, attention 0.951 / 0.951 / 0.948 (no lower); 0.7: seeds 0 / 1 80.7% / 85.6% (0.947 / 0.936).
        # Measured and not kept (seed 1, 76% with the 14 + 6 schedule): n_critic 1 67%, n_critic 3 (seed 0) 64%,
        # λ_cyc 5 72%, differentiable augmentation of the critic's inputs 38%, a full-resolution generator skip connection 69%, a projection critic (realism judged
        # against the AUs) 68%; with 22 + 9: AU-conditioned scale and shift (FiLM) in the residual blocks 77% (80%
        # without); with 32 + 13 (81% without): colour + shift augmentation of the real faces 55%, of only the faces
        # the AU head learns from 47%, ±2 px shifts alone 34%, an AU-head input-Jacobian penalty 77%, AU weight 500
        # 82%, attention weight 0.3 82% (neutral 43% → 53%, but attention 0.95). Mask TV weight (relative, full
        # schedule; seeds 0 / 1 / 2 / 3): 4.1 (kept) 86.2 / 89.9 / 88.7 / 88.8%, attention 0.951 / 0.947 / 0.946 /
        # 0.949; 1.0: 92.3 / 80.5 / 90.0 / 85.0%, attention 0.935 / 0.946 / 0.927 / 0.933; 2.0 (seeds 0-2) 86.1 /
        # 88.1 / 84.1%, 0.943 / 0.943 / 0.952; 0.33 (seed 0) 85.9%, 0.934. A lower weight lowers the attention
        # mean by ~0.015, but recognition spreads from 86-90% to 80-92% over the seeds: not kept. All of the above
        # used the earlier, looser crop template (face 29% of the crop); with the current one (42%), seeds 0 / 1
        # recognise 94.7% / 93.4%, AU error 0.046 / 0.050, attention 0.944 / 0.947 (preprocess/align.py).
        "ganimation": {
            "image_size": 64,
            "conv_dim": 16,
            "critic_dim": 32,
            "repeat_num": 2,
            "critic_layers": 5,
            "upsample": "resize",
            "condition": "relative",
            "batch_size": 8,
            "epochs": 32,
            "epochs_decay": 13,
            "n_critic": 2,
            "gp_every": 4,
            "au_pretrain_steps": 1000,
            "critic_warmup_steps": 100,
            "lr": 5e-4,
            "lambda_au": 300.0,
            "lambda_mask": 0.5,
            "ema_decay": 0.999,
            "checkpoint_every": 100,
        },
        # SinGAN on CPU, chosen by measurement (`python -m benchmarks.bench_singan --sweep`, 64-px faces, inject
        # mode from start scale 2): 16 channels, 1 critic + 1 generator step, r = 0.6 (a 64-px face has 4 scales
        # 25/34/47/64, 6 at 128 px, ConSinGAN's count) and 150 iterations per scale: ~12 CPU-s per 64-px face,
        # faces kept in 100% of samples. Fewer iterations (40-60) or 8 channels lost the face in 10-24% of
        # synthetic-face samples; 2+2 steps cost twice as much for no gain; a larger noise amplitude (0.3, 0.6)
        # added variety but lost faces.
        "singan": {
            "iters_per_scale": 150,
            "scale_factor": 0.6,
            "max_size": 128,
            "nfc": 16,
            "max_nfc": 64,
            "d_steps": 1,
            "g_steps": 1,
        },
        # inject mode: with the fast SinGAN the coarse scales don't learn to rebuild a face from noise, so they are
        # not trained and the downsampled edit enters at the start scale (benchmarks/bench_singan.py --quality);
        # small shards keep both CPU workers busy on small runs.
        "expand": {"samples_per_edit": 4, "shard_size": 2, "singan_mode": "inject"},
    },
}
PROFILE_NAMES = tuple(PROFILES)
DEFAULT_PROFILE = "fast"


def _apply(cfg: Config, section: str, values: dict[str, Any], origin: str) -> None:
    _apply_to(getattr(cfg, section), section, values, origin)


def _apply_to(target: Any, section: str, values: Any, origin: str) -> None:
    """Set `values` on the dataclass `target`: the one rule for every config read from a file (TOML, model files,
    checkpoints): unknown keys are a UserError naming them, values must have the field's type."""
    if not isinstance(values, dict):
        raise UserError(f"'{section}' in {origin} must be a table of settings, got {type(values).__name__}.")
    known = {f.name: f for f in dataclasses.fields(target)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        names = ", ".join(f"'{section}.{key}'" for key in unknown)
        raise UserError(f"Unknown setting{'s' if len(unknown) > 1 else ''} {names} in {origin}. "
                        f"Known: {', '.join(sorted(known))}.")
    for key, value in values.items():
        current = getattr(target, key)
        setattr(target, key, _coerce(value, type(current), f"{section}.{key}", origin))


def section_from_dict(kind: type[T], section: str, values: Any, origin: str) -> T:
    """A config section (e.g. GanimationConfig) from stored values: defaults for missing keys, the TOML rule for
    the rest (`origin` names the file in the message, e.g. "model file W/models/ganimation.pt")."""
    target = kind()
    _apply_to(target, section, values, origin)
    return target


def _coerce(value: Any, kind: type, name: str, origin: str) -> Any:
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise UserError(f"Setting '{name}' in {origin} must be {kind.__name__}, got {value!r}.")


def load_toml(path: Path) -> dict[str, Any]:
    """Read a TOML config file; unreadable or malformed files are a UserError."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UserError(f"Config file {path} does not exist.") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"Config file {path} could not be read: {exc}.") from None


def resolve_config(
    profile: str | None = None,
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    seed: int | None = None,
    device: str | None = None,
) -> Config:
    """Build the effective config: profile < TOML file < flags.

    `overrides` maps "section.field" to a value; None values (flags not given) are ignored.
    """
    file_values = load_toml(config_file) if config_file is not None else {}
    file_profile = file_values.pop("profile", None)
    profile = profile or file_profile or DEFAULT_PROFILE
    if profile not in PROFILES:
        raise UserError(f"Unknown profile {profile!r}. Valid profiles: {', '.join(PROFILE_NAMES)}.")
    cfg = Config(profile=profile)
    for section, values in PROFILES[profile].items():
        _apply(cfg, section, values, f"profile '{profile}'")
    origin = str(config_file)
    for key, value in file_values.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise UserError(f"'{key}' in {origin} must be a table ([{key}]).")
            _apply(cfg, key, value, origin)
        elif key in ("seed", "device"):
            setattr(cfg, key, _coerce(value, type(getattr(cfg, key)), key, origin))
        elif key != "profile":
            raise UserError(f"Unknown top-level key '{key}' in {origin}. Known: seed, device, {', '.join(SECTIONS)}.")
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, key = dotted.split(".", 1)
        _apply(cfg, section, {key: value}, "the command line")
    if seed is not None:
        cfg.seed = seed
    if device is not None:
        cfg.device = device
    return cfg


def config_from_dict(data: dict[str, Any]) -> Config:
    """Rebuild a Config from `Config.to_dict()` output (e.g. a resolved-config JSON), with the TOML rule."""
    cfg = Config(profile=data.get("profile", "fast"), seed=data.get("seed", 0), device=data.get("device", "auto"))
    for section in SECTIONS:
        if section in data:
            _apply(cfg, section, data[section], "a stored config")
    return cfg


def write_resolved_config(cfg: Config, path: Path, **extra: Any) -> Path:
    """Write the resolved config (plus e.g. counts, timings) as JSON, atomically."""
    from faceaug.io.atomic import write_json_atomic

    payload = {"faceaug_version": __version__, "config": cfg.to_dict(), **extra}
    write_json_atomic(payload, path)
    return path


def dumps(cfg: Config) -> str:
    return json.dumps(cfg.to_dict(), indent=2)
