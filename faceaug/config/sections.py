"""The sections of the configuration (one dataclass each, the paper's values as defaults), each field's allowed
values beside it (`limit`), and the names users choose from."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from faceaug.aus import LABEL_PROTOTYPE, N_AUS
from faceaug.config.validation import limit
from faceaug.models.ganimation_config import CONDITIONS, UPSAMPLINGS, CriticConfig, GeneratorConfig

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
    size: int = limit(128, ge=8)  # side of the aligned face crop (px)
    min_confidence: float = limit(0.8, ge=0, le=1)  # OpenFace rows below this are rejected
    test_fraction: float = limit(0.2, ge=0, lt=1)
    split_by: str = limit("subject", one_of=SPLIT_BY)
    # sources with a shorter side are counted as upscaled in the summary (e.g. 48-px FER)
    min_source_side: int = limit(64, ge=1)
    workers: int = limit(0, ge=0)  # process-pool size; 0 = number of CPU cores


@dataclass
class GanimationConfig:
    image_size: int = limit(128, ge=1)
    conv_dim: int = limit(64, ge=1)  # generator base channels
    critic_dim: int = limit(64, ge=1)  # critic base channels
    repeat_num: int = limit(6, ge=0)  # residual blocks
    critic_layers: int = limit(6, ge=1)  # stride-2 convs in the critic
    # generator ×2 upsampling: transpose (paper) | resize (nearest + 3×3 conv)
    upsample: str = limit("transpose", one_of=UPSAMPLINGS)
    # what the generator is told: absolute = the target AUs (paper); relative = target − the source face's AUs
    # (the edit to make; the source AUs come from faces.parquet, so the generator needn't read them off the face)
    condition: str = limit("absolute", one_of=CONDITIONS)
    batch_size: int = limit(25, ge=1)
    epochs: int = limit(20, ge=0)  # epochs at constant learning rate
    epochs_decay: int = limit(10, ge=0)  # then linear decay to 0 over this many epochs
    # A step budget instead of epochs (0 = count epochs, as the paper): the run lasts `steps` steps whatever the
    # dataset size, the last `decay_fraction` of them with the learning rate decaying linearly to 0.
    steps: int = limit(0, ge=0)
    decay_fraction: float = limit(0.3, ge=0, le=1)
    # DiffAugment of every critic input (real and fake), comma list of color, translation, cutout ("" = off, paper)
    diffaugment: str = ""
    # per-face contrast gain 1 ± x and brightness offset ± x/2 of the generator's training faces (0 = off, paper):
    # an editor meant for other datasets' faces sees other exposures while it learns
    photometric_jitter: float = limit(0.0, ge=0, le=0.5)
    # per-face rotation ± 20°·x, scale ×(1 ± 0.2·x) and shift ± 0.1·x of the side of the generator's training faces
    # (0 = off, paper): faces of other datasets sit less exactly on the crop template than aligned training faces
    geometric_jitter: float = limit(0.0, ge=0, le=1)
    max_minutes: float = limit(0.0, ge=0, zero_means="no limit")  # stop after this wall-clock budget (0 = no limit)
    lr: float = limit(1e-4, gt=0)
    beta1: float = limit(0.5, ge=0, lt=1)
    beta2: float = limit(0.999, ge=0, lt=1)
    n_critic: int = limit(5, ge=1)  # critic updates per generator update
    critic_warmup_steps: int = limit(0, ge=0)  # critic-only steps before the first generator update (0 = paper)
    au_pretrain_steps: int = limit(0, ge=0)  # AU-head pre-training on real faces before the GAN starts (0 = paper)
    au_pretrain_batch: int = limit(64, ge=1)  # real faces per AU pre-training step
    # with max_minutes: at most this share of the budget goes to AU pre-training
    au_pretrain_share: float = limit(0.15, ge=0, le=1)
    # What reads the generator's AUs: critic = the critic's own AU head, trained all along (paper); frozen = a
    # copy of the critic taken during the AU pre-training at its lowest AU error on held-out subjects, never
    # trained again (with one face per person the live head learns who a face is, not its expression:
    # docs/results.md); estimator = the frozen AU estimator of `faceaug train-au` (faceaug.training.au_judge),
    # from `au_estimator` ("" = WORK_DIR/models/au_estimator.safetensors)
    au_judge: str = limit("critic", one_of=AU_JUDGES)
    au_estimator: str = ""
    # au_judge frozen: share of the training subjects held out to choose the copy
    au_pretrain_holdout: float = limit(0.2, ge=0, lt=1)
    # the saved generator is an average of its weights over updates (0 = off, as the paper)
    ema_decay: float = limit(0.0, ge=0, lt=1)
    lambda_gp: float = limit(10.0, ge=0)
    gp_every: int = limit(1, ge=1)  # gradient penalty on every k-th critic step, weighted ×k ("lazy", StyleGAN2)
    lambda_au: float = limit(160.0, ge=0)  # effective AU weight (paper 4000 / batch 25 on a mean-reduced MSE)
    # the AU weight instead of lambda_au when most training faces' AUs are label prototypes (`preprocess
    # --aus-from-labels`, in-the-wild FER sets); 0 = lambda_au. Setting lambda_au sets this to 0
    # (faceaug.config.rules).
    lambda_au_prototypes: float = limit(0.0, ge=0)
    lambda_cyc: float = limit(10.0, ge=0)
    lambda_mask: float = limit(0.1, ge=0)
    lambda_tv: float = limit(4.1, ge=0)  # on the per-pixel mean TV; = official 1e-5 on a batch sum at batch 25, 128 px
    target_noise: float = limit(0.1, ge=0)  # U(-x, x) added to the target AUs during training
    checkpoint_every: int = limit(500, ge=1)  # steps
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
        """Why these settings cannot train (one sentence), or None: what the trainer checks on top of the limits,
        for settings built in code as well as resolved ones."""
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
    scale_factor: float = limit(0.75, gt=0, lt=1)
    min_size: int = limit(25, ge=1)  # coarsest short side
    max_size: int = limit(250, ge=1, not_below="min_size")  # finest long side
    nfc: int = limit(32, ge=1)  # channels at the coarsest scale, doubled every 4 scales
    max_nfc: int = limit(128, ge=1, not_below="nfc")
    num_layers: int = limit(5, ge=1)  # conv blocks per generator / critic
    iters_per_scale: int = limit(2000, ge=1)
    d_steps: int = limit(3, ge=1)
    g_steps: int = limit(3, ge=1)
    lr: float = limit(5e-4, gt=0)
    lr_decay_at: float = limit(0.8, ge=0, le=1)  # fraction of iters_per_scale at which lr is multiplied by 0.1
    beta1: float = limit(0.5, ge=0, lt=1)
    beta2: float = limit(0.999, ge=0, lt=1)
    lambda_gp: float = limit(0.1, ge=0)
    alpha: float = limit(10.0, ge=0)  # reconstruction weight
    noise_amp: float = limit(0.1, ge=0)  # noise amplitude = noise_amp * RMSE
    # inject mode, sampling: the start scale's noise amplitude of its own, in the [-1, 1] image range (0 = the
    # amplitude it was trained with, which gives near-copies: docs/results.md "SinGAN variety"). Training keeps
    # the RMSE rule: a start scale trained with the larger noise learns to remove it.
    inject_noise_amp: float = limit(0.0, ge=0)
    # inject mode: raise that amplitude per edit (up to max_inject_noise_amp) until probe samples have a mean pairwise
    # SSIM of at most this (faceaug.inference.singan.start_noise_for_variety; 0 = the fixed amplitude)
    target_pairwise_ssim: float = limit(0.0, ge=0, lt=1)
    max_inject_noise_amp: float = limit(0.24, ge=0)
    # inject mode: train the start scale on perturbed injected images (random affine warp and colour change of
    # strength x: shift ±x·side/2, rotation ±x rad, scale and colour gain 1 ± x, colour offset ±x); 0 = off
    inject_jitter: float = limit(0.0, ge=0, le=0.5)
    # torch threads while SinGAN trains/samples on CPU (0 = leave torch's setting): its ops are tiny, so more
    # threads are slower (benchmarks/bench_singan.py); use processes for more cores
    cpu_threads: int = limit(1, ge=0)


@dataclass
class PatchConfig:
    """The training-free patch regenerator (faceaug.inference.patch_regen, GPNN-style)."""

    noise: float = limit(0.25, ge=0)  # std of the noise added to the coarsest level ([-1, 1] range): a variety knob
    # std of the coarsest level's smooth random displacement (±1 = half the side): a variety knob
    warp: float = limit(0.09, ge=0)
    warp_grid: int = limit(3, ge=2)  # the displacement field's control points per side
    coarse_size: int = limit(16, ge=4)  # short side of the coarsest level (px)
    scale_factor: float = limit(0.75, gt=0, lt=1)  # ratio between levels
    patch_size: int = limit(7, ge=1)
    coarse_iters: int = limit(4, ge=0)  # nearest-neighbour passes at the coarsest level
    fine_iters: int = limit(1, ge=0)  # ... and at every finer level
    search_radius: float = limit(0.25, gt=0)  # a patch is searched within this fraction of the level's side
    # ... at the coarsest level; the finer levels only sharpen a guess that already has the face's layout, so they
    # search within this fraction of their side (0 = search_radius everywhere; docs/results.md)
    fine_search_radius: float = limit(0.03, ge=0)
    # GPNN's normalised score d / (completeness + min d); 0 = plain nearest neighbour
    completeness: float = limit(0.0, ge=0)


@dataclass
class ExpandConfig:
    samples_per_edit: int = limit(4, ge=0)  # M: SinGAN samples per GANimation edit (at most, with edits_first)
    # one edit of as many different sources as per_class allows before any variants (faceaug.pipeline.plan);
    # False = every edit gets M variants (the paper's N × M)
    edits_first: bool = False
    start_scale: int = limit(2, ge=0)  # SinGAN gen_start_scale (0 = N, 1 = N-1, 2 = N-2)
    singan_mode: str = limit("reconstruct", one_of=SINGAN_MODES)
    # singan (trained per edit) | patch (training-free, PatchConfig)
    regenerator: str = limit("singan", one_of=REGENERATORS)
    shard_size: int = limit(4, ge=1)  # edit jobs per shard
    continuous_steps: int = limit(5, ge=1)
    continuous_label_threshold: float = limit(0.5, ge=0, le=1)  # alpha >= this → target label, else source label
    # the edit quality gate (faceaug.pipeline.gate): drop edits whose AU gain, judged by the AU estimator of
    # `faceaug train-au`, is below this, and draw the target from another source (0 = off)
    min_edit_score: float = limit(0.0, ge=0, le=1)
    # the gate's expression judge (shipped with faceaug, faceaug.fer.expression_judge): drop edits to a class it
    # gives less than this probability of showing that class, and draw the target from another source (0 = off)
    min_target_probability: float = limit(0.0, ge=0, le=1)
    # variants in which the Haar detector lost the face are replaced from M × this spare draws (pipeline.variants)
    face_redraws: int = limit(1, ge=0)
    # with the gate on and the landmarks extra installed: an edit whose dlib face descriptor is further than this
    # from its source's is an identity leak, dropped too (0.6 = dlib's same-person threshold; 0 = not checked)
    max_identity_distance: float = limit(0.6, ge=0)
    # when a class has fewer usable edits (sources, or edits passing the gate) than it needs, each edit takes at
    # most this many variants and the class gets fewer than per_class images (expand says how many); 0 = as many
    # variants as per_class needs (a class with one passing edit gets per_class - 1 variants of it)
    max_variants_per_edit: int = limit(0, ge=0)
    # after the editor's edit, move the face's geometry toward the target AUs with a smooth warp of this strength
    # (faceaug.inference.warp: the landmarks move by the face model's AU motion times this; 0 = no warp)
    warp: float = limit(0.0, ge=0, le=3)


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
