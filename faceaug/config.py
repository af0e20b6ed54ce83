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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from faceaug import __version__
from faceaug.aus import LABEL_PROTOTYPE, N_AUS
from faceaug.errors import UserError
from faceaug.models.ganimation_config import CONDITIONS, UPSAMPLINGS, CriticConfig, GeneratorConfig

T = TypeVar("T")


# The names a user chooses from (settings and command-line choices; the CLI builds its choices from these).
SPLIT_BY = ("subject", "image")  # how `preprocess` assigns splits
SINGAN_MODES = ("reconstruct", "inject")  # how SinGAN sampling starts (faceaug.training.singan)
AU_JUDGES = ("critic", "frozen", "estimator")  # what reads the generator's AUs in training (GanimationConfig.au_judge)
REGENERATORS = ("singan", "patch")  # what makes `expand`'s variants of an edit (faceaug.pipeline.shard)
EXPAND_MODES = ("discrete", "single-au", "continuous")  # what `expand` targets (faceaug.pipeline.plan)
EXECUTORS = ("local", "ray")  # where `expand` runs its shards (faceaug.pipeline.executors)
GREYSCALE_CHOICES = ("auto", "on", "off")  # whether `fer-eval` trains on grey images
# where `preprocess` takes a face's landmarks from: auto = the CSV's, else dlib when installed, else Haar
# (faceaug.commands.preprocess); the other names force one source (none = the image's centred square)
LANDMARK_METHODS = ("auto", "openface", "dlib", "haar", "none")


#: DiffAugment transforms of the GANimation critic's inputs (faceaug.training.diffaugment).
DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")


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
    # A step budget instead of epochs (0 = count epochs, as the paper): the run lasts `steps` steps whatever the
    # dataset size, the last `decay_fraction` of them with the learning rate decaying linearly to 0.
    steps: int = 0
    decay_fraction: float = 0.3
    # DiffAugment of every critic input (real and fake), comma list of color, translation, cutout ("" = off, paper)
    diffaugment: str = ""
    # per-face contrast gain 1 ± x and brightness offset ± x/2 of the generator's training faces (0 = off, paper):
    # an editor meant for other datasets' faces sees other exposures while it learns
    photometric_jitter: float = 0.0
    max_minutes: float = 0.0  # stop after this wall-clock budget (0 = no limit)
    lr: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_critic: int = 5  # critic updates per generator update
    critic_warmup_steps: int = 0  # critic-only steps before the first generator update (0 = paper)
    au_pretrain_steps: int = 0  # AU-head pre-training on real faces before the GAN starts (0 = paper)
    au_pretrain_batch: int = 64  # real faces per AU pre-training step
    au_pretrain_share: float = 0.15  # with max_minutes: at most this share of the budget goes to AU pre-training
    # What reads the generator's AUs: critic = the critic's own AU head, trained all along (paper); frozen = a
    # copy of the critic taken during the AU pre-training at its lowest AU error on held-out subjects, never
    # trained again. With few faces (one per person) the live head learns who each face is instead of its
    # expression, and the generator then edits by changing the person (docs/results.md).
    # estimator = the frozen AU estimator of `faceaug train-au` (faceaug.training.au_judge), from `au_estimator`
    # ("" = WORK_DIR/models/au_estimator.safetensors)
    au_judge: str = "critic"
    au_estimator: str = ""
    au_pretrain_holdout: float = 0.2  # au_judge frozen: share of the training subjects held out to choose the copy
    ema_decay: float = 0.0  # the saved generator is an average of its weights over updates (0 = off, as the paper)
    lambda_gp: float = 10.0
    gp_every: int = 1  # gradient penalty on every k-th critic step, weighted ×k ("lazy", StyleGAN2); 1 = paper
    lambda_au: float = 160.0  # effective AU weight (paper 4000 / batch 25 on a mean-reduced MSE)
    # the AU weight instead of lambda_au when most training faces' AUs are label prototypes (`preprocess
    # --aus-from-labels`, in-the-wild FER sets); 0 = lambda_au. A file or flag that sets lambda_au sets this to 0.
    lambda_au_prototypes: float = 0.0
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

    def generator_config(self, n_aus: int = N_AUS) -> GeneratorConfig:
        """The generator's architecture (what its model file stores)."""
        return GeneratorConfig(
            image_size=self.image_size,
            conv_dim=self.conv_dim,
            repeat_num=self.repeat_num,
            upsample=self.upsample,
            condition=self.condition,
            n_aus=n_aus,
        )

    def critic_config(self, n_aus: int = N_AUS) -> CriticConfig:
        return CriticConfig(
            image_size=self.image_size, critic_dim=self.critic_dim, critic_layers=self.critic_layers, n_aus=n_aus
        )

    def schedule(self, steps_per_epoch: int) -> tuple[int, int]:
        """(total steps, the step at which the learning-rate decay starts)."""
        if self.steps > 0:
            return self.steps, round(self.steps * (1.0 - self.decay_fraction))
        return steps_per_epoch * (self.epochs + self.epochs_decay), steps_per_epoch * self.epochs

    def au_weight_for(self, au_sources: dict[str, int]) -> float:
        """The AU weight to train with on faces whose AUs came from `au_sources` (faces.parquet au_source counts):
        `lambda_au_prototypes` when it is set and label prototypes are the AUs of most faces, else `lambda_au`."""
        prototypes = au_sources.get(LABEL_PROTOTYPE, 0)
        if self.lambda_au_prototypes > 0 and 2 * prototypes > sum(au_sources.values()):
            return self.lambda_au_prototypes
        return self.lambda_au

    def problem(self) -> str | None:
        """Why these settings cannot train (one sentence), or None."""
        if min(self.n_critic, self.gp_every) < 1:
            return "n_critic and gp_every must be at least 1."
        if self.au_judge == "frozen" and self.au_pretrain_steps < 1:
            return "au_judge frozen is a copy of the pre-trained AU head: set au_pretrain_steps above 0."
        unknown = [p for p in self.diffaugment.split(",") if p.strip() and p.strip() not in DIFFAUGMENT_POLICIES]
        if unknown:
            return f"diffaugment {unknown[0]!r} is not one of {', '.join(DIFFAUGMENT_POLICIES)}."
        return self.generator_config().problem() or self.critic_config().problem()


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
    # inject mode, sampling: the start scale's noise amplitude of its own, in the [-1, 1] image range (0 = the
    # amplitude it was trained with, noise_amp x RMSE ~ 0.004 there: near-copies; docs/results.md "SinGAN
    # variety"). Training keeps the RMSE rule: a start scale trained with the larger noise learns to remove it.
    inject_noise_amp: float = 0.0
    # inject mode: raise that amplitude per edit (up to max_inject_noise_amp) until probe samples have a mean pairwise
    # SSIM of at most this (faceaug.inference.singan.start_noise_for_variety; 0 = the fixed amplitude)
    target_pairwise_ssim: float = 0.0
    max_inject_noise_amp: float = 0.24
    # inject mode: train the start scale on perturbed injected images (random affine warp and colour change of
    # strength x: shift ±x·side/2, rotation ±x rad, scale and colour gain 1 ± x, colour offset ±x); 0 = off
    inject_jitter: float = 0.0
    # torch threads while SinGAN trains/samples on CPU (0 = leave torch's setting). Its ops are tiny, and on 2
    # shared cores 2 threads measured 20-40x slower than 1 (benchmarks/bench_singan.py); use processes for cores.
    cpu_threads: int = 1


@dataclass
class PatchConfig:
    """The training-free patch regenerator (faceaug.inference.patch_regen, GPNN-style)."""

    noise: float = 0.25  # std of the noise added to the coarsest level ([-1, 1] range): a variety knob
    warp: float = 0.09  # std of the coarsest level's smooth random displacement (±1 = half the side): a variety knob
    warp_grid: int = 3  # the displacement field's control points per side
    coarse_size: int = 16  # short side of the coarsest level (px)
    scale_factor: float = 0.75  # ratio between levels
    patch_size: int = 7
    coarse_iters: int = 4  # nearest-neighbour passes at the coarsest level
    fine_iters: int = 1  # ... and at every finer level
    search_radius: float = 0.25  # a patch is searched within this fraction of the level's side of its position
    # ... at the coarsest level; the finer levels only sharpen a guess that already has the face's layout, so they
    # search within this fraction of their side (0 = search_radius everywhere): at 128 px 0.03 is 5.8× cheaper
    # for the same diversity, SSIMs and face rate (docs/results.md)
    fine_search_radius: float = 0.03
    completeness: float = 0.0  # GPNN's normalised score d / (completeness + min d); 0 = plain nearest neighbour


@dataclass
class ExpandConfig:
    samples_per_edit: int = 4  # M: SinGAN samples per GANimation edit (at most, with edits_first)
    # one edit of as many different sources as per_class allows before any variants (faceaug.pipeline.plan);
    # False = every edit gets M variants (the paper's N × M)
    edits_first: bool = False
    start_scale: int = 2  # SinGAN gen_start_scale (0 = N, 1 = N-1, 2 = N-2)
    singan_mode: str = "reconstruct"  # reconstruct | inject
    regenerator: str = "singan"  # singan (trained per edit) | patch (training-free, PatchConfig)
    shard_size: int = 4  # edit jobs per shard
    continuous_steps: int = 5
    continuous_label_threshold: float = 0.5  # alpha >= this → target label, else source label
    # the edit quality gate (faceaug.pipeline.gate): drop edits whose AU gain, judged by the AU estimator of
    # `faceaug train-au`, is below this, and draw the target from another source (0 = off)
    min_edit_score: float = 0.0
    # the gate's expression judge (shipped with faceaug, faceaug.fer.expression_judge): drop edits to a class it
    # gives less than this probability of showing that class, and draw the target from another source (0 = off)
    min_target_probability: float = 0.0
    # variants in which the Haar detector lost the face are replaced from M × this spare draws (pipeline.variants)
    face_redraws: int = 1
    # with the gate on and the landmarks extra installed: an edit whose dlib face descriptor is further than this
    # from its source's is an identity leak, dropped too (0.6 = dlib's same-person threshold; 0 = not checked)
    max_identity_distance: float = 0.6


@dataclass
class Config:
    profile: str = "fast"
    seed: int = 0
    device: str = "auto"
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    ganimation: GanimationConfig = field(default_factory=GanimationConfig)
    singan: SinganConfig = field(default_factory=SinganConfig)
    expand: ExpandConfig = field(default_factory=ExpandConfig)
    patch: PatchConfig = field(default_factory=PatchConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SECTIONS = ("preprocess", "ganimation", "singan", "expand", "patch")

#: `paper` = the published hyperparameters (for GPUs); `fast` = CPU-feasible. Only differences from the
#: dataclass defaults (which are the paper's) are listed.
PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {},
    "fast": {
        # CPU-feasible settings chosen by measurement; what was measured and not kept: docs/results.md.
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
            # a step budget, not epochs: 100 faces get the ~9,000 steps that train 1,700 synthetic faces in 15 CPU
            # minutes (32 + 13 epochs = 9,360 steps there), not 540 (docs/results.md)
            "steps": 9000,
            "decay_fraction": 0.3,
            # and a time budget, so that `faceaug train` on a laptop ends (decayed) in 15 minutes whatever the step
            # rate: 9,000 steps take ~43 min on today's 2-core machine (0.29 s a step), ~13 min on the one the
            # step budget was tuned on (docs/results.md)
            "max_minutes": 14.0,
            "n_critic": 2,
            "gp_every": 4,
            "au_pretrain_steps": 1000,
            "critic_warmup_steps": 100,
            "lr": 5e-4,
            # 300 on measured AUs (OpenFace, the synthetic world): on 2,048 synthetic faces 50 recognises as well
            # (96.5% vs 97.3%) but edits less (attention 0.97 over the crop, past the 0.95 bar of the edit-quality
            # acceptance). On label prototypes (FER2013 --aus-from-labels) 300 paints a striped box over every face
            # and 50 learns mouth and brow edits (docs/results.md, 2026-12-02 and 2026-12-03).
            "lambda_au": 300.0,
            "lambda_au_prototypes": 50.0,
            "lambda_mask": 0.5,
            "ema_decay": 0.999,
            "checkpoint_every": 100,
        },
        # 16 channels, 1 + 1 steps, r 0.6, 150 iterations per scale: docs/results.md ("SinGAN").
        "singan": {
            "iters_per_scale": 150,
            "scale_factor": 0.6,
            "max_size": 128,
            "nfc": 16,
            "max_nfc": 64,
            "d_steps": 1,
            "g_steps": 1,
            "inject_noise_amp": 0.06,
            "target_pairwise_ssim": 0.88,
        },
        # the training-free patch regenerator: on 104 FER2013 faces it gave the same FER gain as SinGAN (inject, N-2)
        # for 13 s of expand instead of ~16 minutes, with more variety (docs/results.md); SinGAN's settings
        # stay for `--regenerator singan`: inject mode and small shards (docs/results.md, "expand").
        # edits first: on FER2013, 30 distinct edits per class beat 6 edits × 5 variants by 3.4 accuracy points
        # (docs/results.md, 2026-12-02)
        # the expression gate: with the bundled editor on FER2013 few-shot faces it never saw, faceaug + classic
        # over classic went from +7.9 (gate off) to +11.6 (0.4) and +11.7 (0.5), on LFW faces from −2.8 to +0.7
        # (0.4) and +2.0 (0.5); 5 seeds each, the LFW step within its noise (docs/bundled-editor.md)
        "expand": {
            "samples_per_edit": 4,
            "shard_size": 2,
            "singan_mode": "inject",
            "regenerator": "patch",
            "edits_first": True,
            "min_target_probability": 0.5,
        },
    },
}
PROFILE_NAMES = tuple(PROFILES)
DEFAULT_PROFILE = "fast"
#: `faceaug train --init` without --steps: the fine-tuning budget that measured best of 1,000 and 3,000 on both real
#: development domains (docs/bundled-editor.md)
FINE_TUNE_STEPS = 3000


def _apply(cfg: Config, section: str, values: dict[str, Any], origin: str) -> None:
    if (
        section == "ganimation"
        and isinstance(values, dict)
        and {"epochs", "epochs_decay"} & values.keys()
        and "steps" not in values
    ):
        values = {**values, "steps": 0}  # asking for epochs means counting epochs, not a profile's step budget
    if (
        section == "ganimation"
        and isinstance(values, dict)
        and "lambda_au" in values
        and "lambda_au_prototypes" not in values
    ):
        values = {**values, "lambda_au_prototypes": 0.0}  # an AU weight asked for is the weight, whatever the AUs
    _apply_to(getattr(cfg, section), section, values, origin)


def _apply_to(target: Any, section: str, values: Any, origin: str) -> None:
    for key, value in _checked_values(target, section, values, origin).items():
        setattr(target, key, value)


def _checked_values(target: Any, section: str, values: Any, origin: str) -> dict[str, Any]:
    """`values` checked against the dataclass `target`: the one rule for every config read from a file (TOML, model
    files, checkpoints): unknown keys are a UserError naming them, values must have the field's type."""
    check_known_keys([f.name for f in dataclasses.fields(target)], section, values, origin)
    return {
        key: _coerce(value, type(getattr(target, key)), f"{section}.{key}", origin) for key, value in values.items()
    }


def check_known_keys(known: Iterable[str], section: str, values: Any, origin: str) -> None:
    """The rule for stored settings: a table whose keys are all known; otherwise a UserError naming the rest."""
    if not isinstance(values, dict):
        raise UserError(f"'{section}' in {origin} must be a table of settings, got {type(values).__name__}.")
    known = sorted(known)
    unknown = sorted(set(values) - set(known))
    if unknown:
        names = ", ".join(f"'{section}.{key}'" for key in unknown)
        raise UserError(
            f"Unknown setting{'s' if len(unknown) > 1 else ''} {names} in {origin}. Known: {', '.join(known)}."
        )


def section_from_dict(kind: type[T], section: str, values: Any, origin: str) -> T:
    """A config section or architecture (e.g. GanimationConfig, GeneratorConfig) from stored values: defaults for
    missing keys, the TOML rule for the rest (`origin` names the file in the message)."""
    default = kind()
    return dataclasses.replace(default, **_checked_values(default, section, values, origin))


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
    validate(cfg)
    return cfg


#: Allowed names and ranges of the settings, checked whenever a Config is built: (lowest, highest, whether the
#: bounds themselves are allowed); None = unbounded. Every field not listed here is free (seed, device, flags).
_NAMES: dict[str, tuple[str, ...]] = {
    "preprocess.split_by": SPLIT_BY,
    "ganimation.upsample": UPSAMPLINGS,
    "ganimation.condition": CONDITIONS,
    "expand.singan_mode": SINGAN_MODES,
    "expand.regenerator": REGENERATORS,
    "ganimation.au_judge": AU_JUDGES,
}
_AT_LEAST_0 = (0, None, True)
_AT_LEAST_1 = (1, None, True)
_POSITIVE = (0, None, False)
_FRACTION = (0, 1, True)
_RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    "preprocess.size": (8, None, True),
    "preprocess.min_confidence": _FRACTION,
    "preprocess.test_fraction": (0, 1, "low"),
    "preprocess.min_source_side": _AT_LEAST_1,
    "preprocess.workers": _AT_LEAST_0,
    **{
        f"ganimation.{k}": _AT_LEAST_1
        for k in (
            "image_size",
            "conv_dim",
            "critic_dim",
            "critic_layers",
            "batch_size",
            "n_critic",
            "gp_every",
            "au_pretrain_batch",
            "checkpoint_every",
        )
    },
    "ganimation.decay_fraction": _FRACTION,
    "ganimation.au_pretrain_share": _FRACTION,
    "ganimation.au_pretrain_holdout": (0, 1, "low"),
    **{
        f"ganimation.{k}": _AT_LEAST_0
        for k in (
            "repeat_num",
            "epochs",
            "epochs_decay",
            "steps",
            "max_minutes",
            "critic_warmup_steps",
            "au_pretrain_steps",
            "lambda_gp",
            "lambda_au",
            "lambda_au_prototypes",
            "lambda_cyc",
            "lambda_mask",
            "lambda_tv",
            "target_noise",
        )
    },
    "ganimation.lr": _POSITIVE,
    "ganimation.beta1": (0, 1, "low"),
    "ganimation.beta2": (0, 1, "low"),
    "ganimation.ema_decay": (0, 1, "low"),
    "ganimation.photometric_jitter": (0, 0.5, True),
    "singan.scale_factor": (0, 1, False),
    "singan.lr_decay_at": _FRACTION,
    "singan.lr": _POSITIVE,
    "singan.beta1": (0, 1, "low"),
    "singan.beta2": (0, 1, "low"),
    **{
        f"singan.{k}": _AT_LEAST_1
        for k in ("min_size", "max_size", "nfc", "max_nfc", "num_layers", "iters_per_scale", "d_steps", "g_steps")
    },
    **{f"singan.{k}": _AT_LEAST_0 for k in ("lambda_gp", "alpha", "noise_amp", "cpu_threads", "inject_noise_amp")},
    "singan.inject_jitter": (0, 0.5, True),
    "singan.target_pairwise_ssim": (0, 1, "low"),
    "singan.max_inject_noise_amp": _AT_LEAST_0,
    "patch.noise": _AT_LEAST_0,
    "patch.coarse_size": (4, None, True),
    "patch.warp": _AT_LEAST_0,
    "patch.warp_grid": (2, None, True),
    "patch.scale_factor": (0, 1, False),
    "patch.patch_size": (1, None, True),
    "patch.coarse_iters": _AT_LEAST_0,
    "patch.fine_iters": _AT_LEAST_0,
    "patch.search_radius": _POSITIVE,
    "patch.fine_search_radius": _AT_LEAST_0,
    "patch.completeness": _AT_LEAST_0,
    "expand.samples_per_edit": _AT_LEAST_0,
    "expand.start_scale": _AT_LEAST_0,
    "expand.shard_size": _AT_LEAST_1,
    "expand.face_redraws": _AT_LEAST_0,
    "expand.continuous_steps": _AT_LEAST_1,
    "expand.min_edit_score": _FRACTION,
    "expand.min_target_probability": _FRACTION,
    "expand.continuous_label_threshold": _FRACTION,
    "expand.max_identity_distance": _AT_LEAST_0,
}


def _range_problem(value: float, low: float | None, high: float | None, inclusive: bool | str) -> str | None:
    """Why `value` is outside the range (`inclusive`: True both bounds allowed, "low" only the lower, False none)."""
    low_ok = low is None or (value >= low if inclusive in (True, "low") else value > low)
    high_ok = high is None or (value <= high if inclusive is True else value < high)
    if low_ok and high_ok:
        return None
    if high is None:
        return f"must be {low:g} or more" if inclusive in (True, "low") else f"must be more than {low:g}"
    left, right = "[" if inclusive in (True, "low") else "(", "]" if inclusive is True else ")"
    return f"must be in {left}{low:g}, {high:g}{right}"


def validate(cfg: Config) -> None:
    """Check every named and ranged setting of `cfg`; the first problem is a UserError naming the setting."""
    for dotted, names in _NAMES.items():
        section, key = dotted.split(".")
        value = getattr(getattr(cfg, section), key)
        if value not in names:
            raise UserError(f"Setting {dotted} must be one of {', '.join(names)}, got {value!r}.")
    for dotted, bounds in _RANGES.items():
        section, key = dotted.split(".")
        value = getattr(getattr(cfg, section), key)
        problem = _range_problem(value, *bounds)
        if problem:
            raise UserError(f"Setting {dotted} {problem}, got {value!r}.")
    if cfg.singan.max_size < cfg.singan.min_size or cfg.singan.max_nfc < cfg.singan.nfc:
        raise UserError("Settings singan.max_size and singan.max_nfc must not be below singan.min_size and singan.nfc.")


def config_from_dict(data: dict[str, Any]) -> Config:
    """Rebuild a Config from `Config.to_dict()` output (e.g. a resolved-config JSON), with the TOML rule."""
    cfg = Config(profile=data.get("profile", "fast"), seed=data.get("seed", 0), device=data.get("device", "auto"))
    for section in SECTIONS:
        if section in data:
            _apply(cfg, section, data[section], "a stored config")
    validate(cfg)
    return cfg


def write_resolved_config(cfg: Config, path: Path, **extra: Any) -> Path:
    """Write the resolved config (plus e.g. counts, timings) as JSON, atomically."""
    from faceaug.io.atomic import write_json_atomic

    payload = {"faceaug_version": __version__, "config": cfg.to_dict(), **extra}
    write_json_atomic(payload, path)
    return path


def dumps(cfg: Config) -> str:
    return json.dumps(cfg.to_dict(), indent=2)
