"""The named profiles: `paper` = the published hyperparameters (for GPUs), `fast` = CPU-feasible settings chosen by
measurement. A profile lists only its differences from the section defaults (which are the paper's); what was
measured and not kept is in docs/results.md."""

from __future__ import annotations

from typing import Any

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {},
    "fast": {
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
            # a step budget, not epochs: a small dataset trains as many steps as a large one (docs/results.md)
            "steps": 9000,
            "decay_fraction": 0.3,
            # and a time budget: `faceaug train` on a laptop ends, decayed, within 15 minutes (docs/results.md)
            "max_minutes": 14.0,
            "n_critic": 2,
            "gp_every": 4,
            "au_pretrain_steps": 1000,
            "critic_warmup_steps": 100,
            "lr": 5e-4,
            # 300 on measured AUs; on label prototypes 300 paints a box over the faces, 50 learns edits
            # (docs/results.md, "The AU weight on label prototypes")
            "lambda_au": 300.0,
            "lambda_au_prototypes": 50.0,
            "lambda_mask": 0.5,
            "ema_decay": 0.999,
            "checkpoint_every": 100,
            # bf16 autocast where the CPU has native bf16: 1.3x the step rate, loss curves within the seed-to-seed
            # spread (docs/results.md, "where preprocess and training spend their time")
            "cpu_amp": True,
        },
        # docs/results.md ("SinGAN `fast` profile", "SinGAN variety")
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
        # the patch regenerator: SinGAN's FER gain in seconds instead of minutes (docs/results.md); SinGAN's
        # settings stay for `--regenerator singan`. Distinct edits before variants and the expression gate: the
        # larger classifier gains measured (docs/results.md, docs/bundled-editor.md).
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
