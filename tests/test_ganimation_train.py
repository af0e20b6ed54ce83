"""`faceaug train`: outputs, resume equivalence, Ctrl-C, user errors, CLI; a slow check that training learns."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from ganimation_fixtures import draw_face, make_work_dir

from faceaug.aus import AU_INDEX, N_AUS, PRESET_NAMES
from faceaug.cli import app
from faceaug.commands.train import run_train
from faceaug.config import resolve_config
from faceaug.errors import UserError
from faceaug.inference.editor import GanimationEditor
from faceaug.io.images import colour_spread, read_image, to_grey_rgb, write_png_atomic
from faceaug.models.ganimation_file import GanimationModel
from faceaug.schema import read_table, write_table_atomic
from faceaug.training.ganimation_checkpoint import load_checkpoint
from faceaug.training.ganimation_data import geometric_draws, load_faces
from faceaug.training.ganimation_trainer import GanimationTrainer, heldout_split, step_generator

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = {
    "ganimation.image_size": 32,
    "ganimation.batch_size": 4,
    "ganimation.conv_dim": 8,
    "ganimation.critic_dim": 8,
    "ganimation.repeat_num": 1,
    "ganimation.critic_layers": 4,
    "ganimation.n_critic": 2,
    "ganimation.epochs": 1,
    "ganimation.epochs_decay": 1,
    "ganimation.critic_warmup_steps": 0,
    "ganimation.checkpoint_every": 2,
    "ganimation.au_pretrain_steps": 2,
    "ganimation.au_pretrain_batch": 4,
}


def _cfg(**extra):
    return resolve_config("fast", None, {**TINY, **extra}, device="cpu")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return make_work_dir(tmp_path_factory.mktemp("gan_work"), n=24, size=40)


def _copy(work, tmp_path, name):
    dst = tmp_path / name
    shutil.copytree(work, dst)
    return dst


def test_training_writes_model_checkpoint_metrics_samples_and_config(work, tmp_path):
    wd = _copy(work, tmp_path, "w")
    model = run_train(wd, _cfg(), resume=False)  # 20 train faces / batch 4 = 5 steps per epoch, 2 epochs
    assert model == wd / "models" / "ganimation.safetensors" and model.is_file()
    ckpt = load_checkpoint(wd / "models" / "checkpoints" / "last.pt")
    assert ckpt["step"] == 10 and ckpt["image_size"] == 32 and len(ckpt["au_names"]) == N_AUS
    records = [json.loads(line) for line in (wd / "models" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(10))
    g_records = [r for r in records if "g_loss" in r]
    assert len(g_records) == 5  # n_critic = 2
    for key in ("d_adv", "d_au", "g_adv", "g_au", "g_cyc", "g_mask", "g_tv", "attention_mean", "lr"):
        assert all(np.isfinite(r[key]) for r in g_records), key
    gp_every = _cfg().ganimation.gp_every
    assert [r["step"] for r in records if "d_gp" in r] == list(range(0, 10, gp_every))
    assert all(np.isfinite(r["d_gp"]) for r in records if "d_gp" in r)
    assert records[-1]["lr"] < records[0]["lr"]  # second epoch decays linearly
    grid = read_image(wd / "models" / "samples" / "epoch_002.png")
    # 4 sources; columns: source + one edit and one attention mask per preset
    assert grid.shape == (4 * 32, (1 + 2 * len(PRESET_NAMES)) * 32, 3)
    assert json.loads((wd / "models" / "train_config.json").read_text())["config"]["ganimation"]["image_size"] == 32
    editor = GanimationEditor.load(model, torch.device("cpu"))
    assert editor.image_size == 32 and len(editor.model_id) == 12
    # how the training faces were aligned, for expand's check of its source faces
    assert editor.provenance["training"]["landmark_methods"] == {"none": 20}
    assert editor.provenance["training"]["au_sources"] == {"openface": 20}  # expand checks its sources against it


def test_critic_warmup_delays_generator_updates(work, tmp_path):
    wd = _copy(work, tmp_path, "w")
    run_train(wd, _cfg(**{"ganimation.critic_warmup_steps": 3}), resume=False, max_steps=10)
    records = [json.loads(line) for line in (wd / "models" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "g_loss" in r] == [3, 5, 7, 9]  # then every n_critic = 2 steps


def test_lazy_gradient_penalty_every_kth_step_weighted_by_k(work, tmp_path):
    wd = _copy(work, tmp_path, "w")
    cfg = _cfg(**{"ganimation.gp_every": 3})
    run_train(wd, cfg, resume=False, max_steps=7)
    records = [json.loads(line) for line in (wd / "models" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "d_gp" in r] == [0, 3, 6]
    g = cfg.ganimation
    for r in records:
        penalty = g.lambda_gp * 3 * r["d_gp"] if "d_gp" in r else 0.0
        assert r["d_loss"] == pytest.approx(r["d_adv"] + g.lambda_au * r["d_au"] + penalty, rel=1e-4, abs=1e-5)


def test_faces_with_label_prototype_aus_train_with_the_prototype_au_weight(work, tmp_path, capsys):
    """In-the-wild FER sets get their AUs from label prototypes; the `fast` profile's 300 paints a box over them,
    so most-prototype training sets train with lambda_au_prototypes (50), and the run says so and records it."""
    wd = _copy(work, tmp_path, "w")
    table = read_table(wd / "faces.parquet", "faces")
    table["au_source"] = ["label_prototype"] * (len(table) - 1) + ["openface"]
    write_table_atomic(table, wd / "faces.parquet", "faces")
    cfg = _cfg(**{"ganimation.gp_every": 1})
    assert cfg.ganimation.lambda_au == 300 and cfg.ganimation.lambda_au_prototypes == 50
    run_train(wd, cfg, resume=False, max_steps=3)
    assert "label prototypes: AU weight 50" in " ".join(capsys.readouterr().err.split())
    assert json.loads((wd / "models" / "train_config.json").read_text())["config"]["ganimation"]["lambda_au"] == 50
    records = [json.loads(line) for line in (wd / "models" / "metrics.jsonl").read_text().splitlines()]
    for r in records:  # the critic's loss is weighted with 50, not 300
        penalty = cfg.ganimation.lambda_gp * r["d_gp"]
        assert r["d_loss"] == pytest.approx(r["d_adv"] + 50 * r["d_au"] + penalty, rel=1e-4, abs=1e-5)
    run_train(wd, cfg, resume=True, max_steps=4)  # the same weight again: the resume goes on
    # a weight the user chose is the weight, prototypes or not
    own = _cfg(**{"ganimation.lambda_au": 120.0})
    assert own.ganimation.lambda_au_prototypes == 0
    wd2 = _copy(wd, tmp_path, "w2")
    shutil.rmtree(wd2 / "models")
    run_train(wd2, own, resume=False, max_steps=1)
    assert json.loads((wd2 / "models" / "train_config.json").read_text())["config"]["ganimation"]["lambda_au"] == 120


def test_au_pretraining_teaches_the_critic_to_read_aus_once(work, tmp_path):
    """Before the GAN starts, the critic's AU head learns from real faces alone (so the generator's AU loss means
    something from its first step); a resumed run does not pre-train again."""
    wd = _copy(work, tmp_path, "w")
    cfg = _cfg(**{"ganimation.au_pretrain_steps": 60, "ganimation.au_pretrain_batch": 16})
    cache = load_faces(wd, 32)
    trainer = GanimationTrainer(cfg, cache, torch.device("cpu"))
    images = cache.images.float() / 127.5 - 1

    def critic_au_mse() -> float:
        with torch.no_grad():
            return float(((trainer.critic(images)[1] - cache.aus) ** 2).mean())

    before = critic_au_mse()
    losses = trainer.pretrain_au_head(60)
    assert len(losses) == 60 and critic_au_mse() < 0.5 * before
    run_train(wd, cfg, resume=False, max_steps=2)
    log = json.loads((wd / "models" / "au_pretrain.json").read_text())
    assert log["steps"] == 60 and log["batch"] == 16 and log["au_mse"][-1] < log["au_mse"][0]
    (wd / "models" / "au_pretrain.json").unlink()
    run_train(wd, cfg, resume=True, max_steps=4)
    assert not (wd / "models" / "au_pretrain.json").exists()


@pytest.mark.parametrize("condition", ["absolute", "relative"])
def test_generator_is_conditioned_on_the_target_or_the_change(work, condition):
    """absolute (paper): G(real, target) then G(fake, real AUs) for the cycle; relative: G(real, target − real AUs)
    then G(fake, real AUs − target)."""
    trainer = GanimationTrainer(_cfg(**{"ganimation.condition": condition}), load_faces(work, 32), torch.device("cpu"))
    calls, generator = [], trainer.G
    trainer.G = lambda image, aus: calls.append(aus.clone()) or generator(image, aus)
    _, real_aus, target = trainer._batch(0, step_generator(trainer.cfg.seed, 0, 0))
    trainer.train_step()  # step 0 trains the generator too (no warm-up in TINY)
    assert len(calls) == 2
    if condition == "absolute":
        assert torch.equal(calls[0], target) and torch.equal(calls[1], real_aus)
    else:
        assert torch.allclose(calls[0], target - real_aus) and torch.allclose(calls[1], real_aus - target)
        assert (calls[0] < 0).any()  # a change, not a clipped AU vector


def test_resume_continues_exactly(work, tmp_path):
    straight, split = _copy(work, tmp_path, "a"), _copy(work, tmp_path, "b")
    run_train(straight, _cfg(), resume=False, max_steps=6)
    run_train(split, _cfg(), resume=False, max_steps=3)
    run_train(split, _cfg(), resume=True, max_steps=6)
    a = load_checkpoint(straight / "models" / "checkpoints" / "last.pt")
    b = load_checkpoint(split / "models" / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 6
    for part in ("generator", "critic"):
        for key, value in a[part].items():
            assert torch.equal(value, b[part][key]), f"{part}.{key} differs after resume"
    steps = [json.loads(line)["step"] for line in (split / "models" / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(6))


def test_weight_average_is_the_saved_model_and_resumes_exactly(work, tmp_path):
    """With `ema_decay` the model file (what expand edits with) holds the running average of the generator's
    weights, not its last weights; the checkpoint keeps the average, so a resumed run averages on exactly."""
    cfg = _cfg(**{"ganimation.ema_decay": 0.9})
    straight, split = _copy(work, tmp_path, "a"), _copy(work, tmp_path, "b")
    run_train(straight, cfg, resume=False, max_steps=8)
    run_train(split, cfg, resume=False, max_steps=4)
    run_train(split, cfg, resume=True, max_steps=8)
    a = load_checkpoint(straight / "models" / "checkpoints" / "last.pt")
    b = load_checkpoint(split / "models" / "checkpoints" / "last.pt")
    saved = GanimationModel.load(straight / "models" / "ganimation.safetensors").generator.state_dict()
    for key, value in a["generator_ema"].items():
        assert torch.equal(value, b["generator_ema"][key]), f"{key} differs after resume"
        assert torch.equal(value, saved[key])
    assert any(not torch.equal(a["generator_ema"][k], a["generator"][k]) for k in saved)


def test_resume_refuses_other_architecture(work, tmp_path):
    wd = _copy(work, tmp_path, "w")
    run_train(wd, _cfg(), resume=False, max_steps=2)
    with pytest.raises(UserError, match="conv_dim"):
        run_train(wd, _cfg(**{"ganimation.conv_dim": 16}), resume=True)
    with pytest.raises(UserError, match="condition=relative, not absolute"):  # same shapes, other meaning
        run_train(wd, _cfg(**{"ganimation.condition": "absolute"}), resume=True)


def test_ctrl_c_saves_a_checkpoint(work, tmp_path, monkeypatch):
    wd = _copy(work, tmp_path, "w")
    original = GanimationTrainer.train_step

    def interrupted(self):
        if self.step == 3:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(GanimationTrainer, "train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_train(wd, _cfg(**{"ganimation.checkpoint_every": 100}), resume=False)
    assert load_checkpoint(wd / "models" / "checkpoints" / "last.pt")["step"] == 3
    assert not (wd / "models" / "ganimation.safetensors").exists()


def test_missing_faces_and_empty_train_split_are_user_errors(work, tmp_path):
    with pytest.raises(UserError, match="faceaug preprocess"):
        run_train(tmp_path / "nowhere", _cfg(), resume=False)
    wd = _copy(work, tmp_path, "w")
    faces = read_table(wd / "faces.parquet", "faces")
    faces["split"] = "test"
    write_table_atomic(faces, wd / "faces.parquet", "faces")
    with pytest.raises(UserError, match="no faces in the 'train' split"):
        run_train(wd, _cfg(), resume=False)
    with pytest.raises(UserError, match="Nothing to resume"):
        run_train(wd, _cfg(), resume=True)


def test_cli_train_on_a_tiny_dataset(work, tmp_path, runner):
    wd = _copy(work, tmp_path, "w")
    toml = tmp_path / "tiny.toml"
    toml.write_text(
        "seed = 7\n[ganimation]\n"
        + "".join(
            f"{k.split('.')[1]} = {v}\n"
            for k, v in TINY.items()
            if k.split(".")[1] not in ("epochs", "batch_size", "image_size")
        )
    )
    result = runner.invoke(
        app,
        [
            "train",
            str(wd),
            "--config",
            str(toml),
            "--epochs",
            "1",
            "--epochs-decay",
            "0",
            "--batch-size",
            "5",
            "--image-size",
            "32",
            "--device",
            "cpu",
            "--max-minutes",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (wd / "models" / "ganimation.safetensors").is_file()
    # --max-minutes 0 lifts the fast profile's 14-minute budget
    assert json.loads((wd / "models" / "train_config.json").read_text())["config"]["ganimation"]["max_minutes"] == 0
    negative = runner.invoke(app, ["train", str(wd), "--max-minutes", "-1", "--device", "cpu"])
    assert negative.exit_code == 2 and "--max-minutes must be 0 (no limit) or more" in negative.output
    assert (wd / "models" / "samples" / "epoch_001.png").is_file()
    # the file's seed holds when --seed is not given
    assert json.loads((wd / "models" / "train_config.json").read_text())["config"]["seed"] == 7
    bad = runner.invoke(app, ["train", str(wd), "--image-size", "50", "--device", "cpu"])
    assert bad.exit_code == 2 and "multiple of" in bad.output and "Traceback" not in bad.output


def test_torchrun_ranks_train_stop_together_and_resume(work, tmp_path):
    """`torchrun --nproc_per_node 2` on CPU (gloo): DistributedDataParallel with AU-head pre-training, frozen-critic
    generator passes and a time budget must neither crash nor leave one rank waiting for the other; rank 0 alone
    writes and draws the progress bars, and the run resumes to the end."""
    wd = _copy(work, tmp_path, "w")
    toml = tmp_path / "ddp.toml"
    settings = {**TINY, "ganimation.batch_size": 2, "ganimation.epochs": 3, "ganimation.checkpoint_every": 100}
    toml.write_text("[ganimation]\n" + "".join(f"{k.split('.')[1]} = {v}\n" for k, v in settings.items()))

    def torchrun(*extra: str) -> str:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "faceaug",
            "train",
            str(wd),
            "--config",
            str(toml),
            "--device",
            "cpu",
            *extra,
        ]
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout + done.stderr

    # 20 train faces / (2 faces × 2 ranks) = 5 steps per epoch, 4 epochs; the ranks compare clocks every 10 steps
    output = torchrun("--max-minutes", "0.0001")
    assert output.count("pre-train critic AU head") == 1 and output.count("train GANimation") == 1, output[-3000:]
    assert load_checkpoint(wd / "models" / "checkpoints" / "last.pt")["step"] == 10
    assert json.loads((wd / "models" / "au_pretrain.json").read_text())["steps"] == 2
    torchrun("--resume")
    assert load_checkpoint(wd / "models" / "checkpoints" / "last.pt")["step"] == 20
    steps = [json.loads(line)["step"] for line in (wd / "models" / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(20))  # one writer: every step once
    assert (wd / "models" / "ganimation.safetensors").is_file()


def _mouth_darkness(images: np.ndarray) -> np.ndarray:
    """Fraction of dark-red mouth pixels in the fixture faces' mouth box."""
    s = images.shape[1]
    box = images[:, int(s * 0.55) : int(s * 0.85), int(s * 0.3) : int(s * 0.7)].astype(np.int32)
    mouthish = (box[..., 0] < 140) & (box[..., 1] < 90) & (box[..., 0] > box[..., 1] + 20)
    return mouthish.reshape(len(images), -1).mean(1)


def _mouth_aus(n: int, mouth: float) -> np.ndarray:
    """The fixture's AUs for a mouth opening (make_work_dir: AU25 = mouth, AU26 = 0.8 × mouth)."""
    aus = np.zeros((n, N_AUS), np.float32)
    aus[:, AU_INDEX["AU25"]], aus[:, AU_INDEX["AU26"]] = mouth, 0.8 * mouth
    return aus


def _open_closed_gap(editor: GanimationEditor, faces: np.ndarray, mouth: float) -> float:
    source = _mouth_aus(len(faces), mouth)  # the faces' own AUs (used by relative-conditioned models)
    edited_open, _ = editor.edit(faces, _mouth_aus(len(faces), 1.0), source)
    edited_closed, attention = editor.edit(faces, _mouth_aus(len(faces), 0.0), source)
    assert 0.02 < attention.mean() < 0.98
    return float((_mouth_darkness(edited_open) - _mouth_darkness(edited_closed)).mean())


@pytest.mark.slow
def test_short_training_learns_au_conditioning(tmp_path):
    """~30 s on 2 cores: the `fast` profile (at 32 px, 100 steps of AU-head pre-training, then 480 steps of batch 8
    with 10 critic-only warm-up steps) must learn that AU25/26 open the mouth: edits of half-open mouths toward
    'open' show more dark-red mouth pixels than edits toward 'closed'. An untrained generator (or one that ignores
    the AU input) gives no gap; the profile before the first fix (lr 2e-4, AU weight 160, no warm-up) gave -0.011.
    With relative conditioning (the `fast` default) seeds 0-3 give 0.154, 0.099, 0.147, 0.131 (untrained: -0.021
    to 0.027); 6 epochs were enough for absolute conditioning (0.124-0.158) but not for relative (0.028 / 0.049 on
    seeds 1 / 3): the generator must read the mouth it is given before it can open it further.
    """
    wd = make_work_dir(tmp_path / "w", n=240, size=32, test_every=1000)
    cfg = resolve_config(
        "fast",
        None,
        {
            "ganimation.image_size": 32,
            "ganimation.critic_layers": 4,
            "ganimation.epochs": 16,
            "ganimation.epochs_decay": 0,
            "ganimation.critic_warmup_steps": 10,
            "ganimation.au_pretrain_steps": 100,
            "ganimation.sample_every_epoch": False,
            "ganimation.checkpoint_every": 10_000,
        },
        device="cpu",
    )
    assert cfg.ganimation.batch_size == 8  # 240 faces → 30 steps per epoch
    rng = np.random.default_rng(5)
    faces = np.stack([draw_face(32, 0.5, rng) for _ in range(12)])
    untrained = GanimationEditor.load(run_train(wd, cfg, resume=False, max_steps=1), torch.device("cpu"))
    gap_untrained = _open_closed_gap(untrained, faces, 0.5)
    trained = GanimationEditor.load(run_train(wd, cfg, resume=True), torch.device("cpu"))
    gap_trained = _open_closed_gap(trained, faces, 0.5)
    assert abs(gap_untrained) < 0.03
    assert gap_trained > 0.08, (gap_trained, gap_untrained)


def test_cpu_bf16_autocast_only_where_the_cpu_runs_it_natively(work, monkeypatch):
    """`cpu_amp` trains in bf16 on CPUs with native bf16 (finite losses, weights stay fp32) and is ignored on CPUs
    that would emulate it (slower than fp32)."""
    import faceaug.training.ganimation_trainer as T  # its own reference to cpu_has_native_bf16

    cache = load_faces(work, 32)
    cfg = _cfg(**{"ganimation.cpu_amp": True})
    monkeypatch.setattr(T, "cpu_has_native_bf16", lambda: False)
    assert not GanimationTrainer(cfg, cache, torch.device("cpu")).amp
    monkeypatch.setattr(T, "cpu_has_native_bf16", lambda: True)
    trainer = GanimationTrainer(cfg, cache, torch.device("cpu"))
    assert trainer.amp
    for _ in range(2):
        losses = trainer.train_step()
    assert all(torch.isfinite(v) for v in losses.values())
    assert {p.dtype for p in trainer.generator.parameters()} == {torch.float32}
    assert GanimationTrainer(_cfg(), cache, torch.device("cpu")).amp  # the `fast` profile asks for it
    assert not GanimationTrainer(_cfg(**{"ganimation.cpu_amp": False}), cache, torch.device("cpu")).amp


def test_a_step_budget_trains_the_same_steps_whatever_the_dataset_size(tmp_path):
    """`ganimation.steps` (the `fast` profile's budget): 12 faces and 40 faces get the same step count, and the
    learning rate reaches 0 at the end of the budget."""
    from faceaug.training.ganimation_trainer import lr_factor

    budget = {"ganimation.steps": 12, "ganimation.decay_fraction": 0.5}
    for n in (15, 48):
        wd = make_work_dir(tmp_path / f"w{n}", n=n, size=40)
        run_train(wd, _cfg(**budget), resume=False)
        assert load_checkpoint(wd / "models" / "checkpoints" / "last.pt")["step"] == 12
    cfg = resolve_config("fast", None, {}).ganimation
    assert cfg.schedule(steps_per_epoch=12) == cfg.schedule(steps_per_epoch=250) == (9000, 6300)
    assert [lr_factor(s, 100, 50) for s in (0, 49, 75, 100)] == [1.0, 1.0, 0.5, 0.0]
    # epochs asked for (flag or file) mean counting epochs again, not the profile's budget
    assert resolve_config("fast", None, {"ganimation.epochs": 3}).ganimation.schedule(10) == (3 * 10 + 130, 30)


def test_a_time_budget_decays_the_learning_rate_inside_it():
    """A run stopped by --max-minutes still ends with its learning rate decayed: the schedule follows the larger of
    the steps done and the time spent."""
    from faceaug.training.ganimation_trainer import lr_factor

    assert lr_factor(10, 9000, 6300, time_progress=0.5) == 1.0
    assert lr_factor(10, 9000, 6300, time_progress=0.85) == pytest.approx(0.5)
    assert lr_factor(10, 9000, 6300, time_progress=1.2) == 0.0
    assert lr_factor(8000, 9000, 6300, time_progress=0.1) == pytest.approx(1 - (8000 / 9000 - 0.7) / 0.3)


def test_on_a_greyscale_dataset_the_generator_paints_grey(tmp_path):
    wd = make_work_dir(tmp_path / "w", n=24, size=40)
    faces = read_table(wd / "faces.parquet", "faces")
    for rel in faces["image_path"]:
        write_png_atomic(wd / rel, to_grey_rgb(read_image(wd / rel)))
    run_train(wd, _cfg(), resume=False)
    grid = read_image(sorted((wd / "models" / "samples").glob("*.png"))[-1])
    assert colour_spread(grid) <= 1  # the training grid's edits (and sources) are grey


def test_training_with_diffaugment_runs_and_a_seed_repeats_it(work, tmp_path):
    weights = []
    for name in ("a", "b"):
        wd = _copy(work, tmp_path, name)
        run_train(wd, _cfg(**{"ganimation.diffaugment": "color,translation,cutout"}), resume=False)
        weights.append(GanimationModel.load(wd / "models" / "ganimation.safetensors").generator.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    plain = _copy(work, tmp_path, "plain")
    run_train(plain, _cfg(), resume=False)
    other = GanimationModel.load(plain / "models" / "ganimation.safetensors").generator.state_dict()
    assert not all(torch.equal(weights[0][k], other[k]) for k in other)


def test_geometric_jitter_moves_each_training_face_and_keeps_its_aus(work):
    cache = load_faces(work, 32)
    index, no_flip = torch.arange(8), torch.zeros(8, dtype=torch.bool)
    plain, aus = cache.batch(index, no_flip)
    assert geometric_draws(8, 0.0, torch.Generator().manual_seed(0)) is None
    draws = geometric_draws(8, 1.0, torch.Generator().manual_seed(0))
    moved, moved_aus = cache.batch(index, no_flip, None, draws)
    assert torch.equal(moved_aus, aus)
    shift = (moved - plain).abs().mean(dim=(1, 2, 3))
    assert (shift > 0.01).all(), shift  # every face moved, none was left in place
    again = cache.batch(index, no_flip, None, geometric_draws(8, 1.0, torch.Generator().manual_seed(0)))[0]
    assert torch.equal(moved, again)
    # at most ± 20° and ± 20 % of zoom: the face's mean brightness stays near the original's
    assert (moved.mean(dim=(1, 2, 3)) - plain.mean(dim=(1, 2, 3))).abs().max() < 0.2


def test_training_with_geometric_jitter_repeats_with_its_seed_and_differs_from_none(work, tmp_path):
    weights = []
    for name, jitter in (("a", 0.5), ("b", 0.5), ("none", 0.0)):
        wd = _copy(work, tmp_path, name)
        run_train(wd, _cfg(**{"ganimation.geometric_jitter": jitter}), resume=False)
        weights.append(GanimationModel.load(wd / "models" / "ganimation.safetensors").generator.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[2])


def test_the_fast_time_budget_bounds_the_au_pretraining_to_its_share(work, tmp_path):
    """`fast` ends a laptop run in 15 minutes whatever the step rate (pre-training included): the AU head's
    pre-training stops at its share of the budget instead of running all its steps first."""
    fast = resolve_config("fast", None, {}).ganimation
    assert 0 < fast.max_minutes <= 15 and fast.au_pretrain_share == 0.15
    wd = _copy(work, tmp_path, "budget")
    run_train(wd, _cfg(**{"ganimation.au_pretrain_steps": 3000, "ganimation.max_minutes": 0.02}), resume=False)
    steps = json.loads((wd / "models" / "au_pretrain.json").read_text())["steps"]
    assert 0 < steps < 3000
    assert (wd / "models" / "ganimation.safetensors").is_file()  # and the run still ends with a model


def test_heldout_split_keeps_each_subject_on_one_side():
    subjects = [f"s{i % 7}" for i in range(70)]
    fit, held = heldout_split(subjects, 0.2, seed=0)
    assert {subjects[i] for i in fit}.isdisjoint({subjects[i] for i in held})
    assert sorted(fit.tolist() + held.tolist()) == list(range(70)) and len(held) == 10  # 0.2 × 7 subjects → 1
    assert len(heldout_split(subjects, 0.45, seed=0)[1]) == 30
    assert heldout_split(subjects, 0.2, seed=0)[1].tolist() == held.tolist()  # seeded
    assert len(heldout_split(["a"] * 5, 0.5, seed=0)[1]) == 0  # one subject: nothing to hold out
    assert len(heldout_split(subjects, 0.0, seed=0)[1]) == 0


def test_frozen_au_judge_is_the_best_heldout_copy_and_never_trains(work, tmp_path):
    """au_judge frozen: the pre-training keeps the critic at its lowest AU error on held-out subjects, a frozen
    copy of it reads the generator's AUs for the whole run (the live critic goes on training), and resume keeps it."""
    wd = _copy(work, tmp_path, "w")
    cfg = _cfg(
        **{
            "ganimation.au_judge": "frozen",
            "ganimation.au_pretrain_steps": 40,
            "ganimation.au_pretrain_batch": 8,
            "ganimation.au_pretrain_holdout": 0.3,
            "ganimation.cpu_amp": False,  # fp32: the error recomputed below matches the logged one to rounding
        }
    )
    run_train(wd, cfg, resume=False, max_steps=4)
    log = json.loads((wd / "models" / "au_pretrain.json").read_text())
    assert log["au_judge"] == "frozen" and len(log["heldout_au_mse"]) >= 5
    ckpt = load_checkpoint(wd / "models" / "checkpoints" / "last.pt")
    cache = load_faces(wd, 32)
    trainer = GanimationTrainer(cfg, cache, torch.device("cpu"))
    trainer.load_state_dict(ckpt)
    _, held = heldout_split(cache.subjects, 0.3, cfg.seed)
    real, aus = cache.batch(held, torch.zeros(len(held), dtype=torch.bool))
    with torch.no_grad():
        judged = float(((trainer.au_judge(real)[1] - aus) ** 2).mean())
    assert judged == pytest.approx(min(r["au_mse"] for r in log["heldout_au_mse"]), rel=1e-4)
    judge_before = {k: v.clone() for k, v in trainer.au_judge.state_dict().items()}
    critic_before = {k: v.clone() for k, v in trainer.critic.state_dict().items()}
    judged_batches = []
    trainer.au_judge.register_forward_hook(lambda module, args, out: judged_batches.append(args[0].shape[0]))
    g_steps = sum("g_au" in trainer.train_step() for _ in range(4))
    assert g_steps >= 1 and judged_batches == [cfg.ganimation.batch_size] * g_steps  # the judge reads every fake
    assert all(torch.equal(v, trainer.au_judge.state_dict()[k]) for k, v in judge_before.items())
    assert not all(torch.equal(v, trainer.critic.state_dict()[k]) for k, v in critic_before.items())


def test_frozen_au_judge_needs_a_pretraining():
    with pytest.raises(UserError, match="au_pretrain_steps"):
        run_train("unused", _cfg(**{"ganimation.au_judge": "frozen", "ganimation.au_pretrain_steps": 0}), resume=False)


def test_the_au_estimator_can_judge_the_generator(work, tmp_path):
    """au_judge estimator: the frozen AU estimator of `faceaug train-au` reads every fake (as it reads a face: grey,
    at its own side) and never trains; without its file, training stops with a clear error."""
    from faceaug.fer.au_estimator import AuEstimator, default_au_estimator_path
    from faceaug.training.au_judge import EstimatorJudge

    wd = _copy(work, tmp_path, "w")
    cfg = _cfg(**{"ganimation.au_judge": "estimator"})
    with pytest.raises(UserError, match="train-au"):
        run_train(wd, cfg, resume=False, max_steps=2)
    torch.manual_seed(0)
    estimator = AuEstimator.new(24)
    estimator.save(default_au_estimator_path(wd))
    cache = load_faces(wd, 32)
    images = cache.images.permute(0, 2, 3, 1).numpy()[:6]
    with torch.no_grad():
        judged = EstimatorJudge(AuEstimator.load(default_au_estimator_path(wd)))(
            torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
        )[1].numpy()
    assert np.abs(judged - estimator.predict(images)).max() < 0.03  # the same reading as the report's
    trainer = GanimationTrainer(cfg, cache, torch.device("cpu"), au_estimator=default_au_estimator_path(wd))
    before = {k: v.clone() for k, v in trainer.au_judge.state_dict().items()}
    judged_batches = []
    trainer.au_judge.register_forward_hook(lambda module, args, out: judged_batches.append(args[0].shape[0]))
    g_steps = sum("g_au" in trainer.train_step() for _ in range(4))
    assert g_steps >= 1 and judged_batches == [cfg.ganimation.batch_size] * g_steps
    assert all(torch.equal(v, trainer.au_judge.state_dict()[k]) for k, v in before.items())
    run_train(wd, cfg, resume=False, max_steps=2)
    training = GanimationModel.load(wd / "models" / "ganimation.safetensors").provenance["training"]
    assert training["au_judge"] == "estimator" and training["au_judge_id"] == estimator.model_id


def test_an_estimator_the_generator_was_trained_against_is_named_as_not_independent():
    """The report and the quality gate say so when they are handed the generator's own training judge, and only
    then (another estimator, or a model trained with the critic's AU head, is independent)."""
    from faceaug.fer.au_estimator import AuEstimator, trained_against

    torch.manual_seed(0)
    judge = AuEstimator.new(24)
    torch.manual_seed(1)
    other = AuEstimator.new(24)
    provenance = {"training": {"au_judge": "estimator", "au_judge_id": judge.model_id}}
    assert "trained against" in trained_against(provenance, judge)
    assert trained_against(provenance, other) is None
    assert trained_against({"training": {"au_judge": "critic"}}, judge) is None
    assert trained_against({}, judge) is None
