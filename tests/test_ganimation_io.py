"""GANimation model files: weights_only loading, the editor API, and importing ganimation_replicate weights."""

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from faceaug.aus import AU_NAMES, N_AUS
from faceaug.cli import app
from faceaug.commands.import_ganimation import import_ganimation
from faceaug.config import GanimationConfig
from faceaug.errors import UserError
from faceaug.fer.expression_judge import ExpressionJudge
from faceaug.inference.editor import GanimationEditor
from faceaug.io.torch_files import load_torch_safely
from faceaug.models.ganimation import Generator
from faceaug.models.ganimation_file import GanimationModel
from faceaug.preprocess.align import crop_template_id
from tests.ganimation_fixtures import save_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


CPU = torch.device("cpu")
SMALL = GanimationConfig(image_size=32, conv_dim=8, repeat_num=2)


class _RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


class _WritesFile:
    """Unpickling it creates the file `path`: proof that a loader ran code from the file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_model_file_with_pickled_code_is_refused_and_never_run(tmp_path):
    path, marker = tmp_path / "evil.pt", tmp_path / "ran"
    with open(path, "wb") as fh:
        pickle.dump({"format": "faceaug-ganimation", "generator": _WritesFile(marker)}, fh)
    with pytest.raises(UserError, match="GANimation model .*evil.pt could not be read"):
        GanimationEditor.load(path, CPU)
    torch.save({"format": "faceaug-ganimation", "generator": {}, "payload": _RunsCode()}, tmp_path / "evil2.pt")
    with pytest.raises(UserError, match="cannot be loaded safely"):
        load_torch_safely(tmp_path / "evil2.pt", "GANimation model")
    assert not marker.exists()


def test_missing_or_foreign_model_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist .*faceaug train"):
        GanimationEditor.load(tmp_path / "none.safetensors", CPU)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="could not be read: .*faceaug import-ganimation"):
        GanimationEditor.load(tmp_path / "other.pt", CPU)
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(UserError):
        GanimationEditor.load(tmp_path / "text.pt", CPU)
    save_file({"w": torch.zeros(3)}, str(tmp_path / "bare.safetensors"))
    with pytest.raises(UserError, match="not a faceaug GANimation model .*no faceaug header"):
        GanimationEditor.load(tmp_path / "bare.safetensors", CPU)
    judge = ExpressionJudge.new(("happy", "sad")).save(tmp_path / "judge.safetensors")
    with pytest.raises(UserError, match="not a faceaug GANimation model .*its format is None"):
        GanimationEditor.load(judge, CPU)


def test_editor_runs_at_its_size_and_returns_the_faces_size(tmp_path):
    path = save_model(tmp_path / "g.safetensors", SMALL)
    editor = GanimationEditor.load(path, CPU)
    assert editor.image_size == 32 and editor.au_names == AU_NAMES and editor.crop_template == crop_template_id()
    rgb = np.random.default_rng(0).integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)
    out, attention = editor.edit(rgb, np.zeros((3, N_AUS), np.float32))
    assert out.shape == (3, 48, 48, 3) and out.dtype == np.uint8  # the faces' size, not the model's
    assert attention.shape == (3, 48, 48) and attention.dtype == np.float32
    assert 0 <= attention.min() and attention.max() <= 1
    grey = rgb[..., :1].repeat(3, axis=3)  # greyscale stored as RGB, and plain 2-D greyscale
    assert editor.edit(grey, np.zeros((3, N_AUS), np.float32))[0].shape == (3, 48, 48, 3)
    assert editor.edit(rgb[..., 0], np.zeros((3, N_AUS), np.float32))[0].shape == (3, 48, 48, 3)
    small = editor.edit(rgb[:, ::2, ::2], np.zeros((3, N_AUS), np.float32))  # smaller than the model: 24 px out
    assert small[0].shape == (3, 24, 24, 3) and small[1].shape == (3, 24, 24)
    # a batch edits each face independently: same result alone or in a batch
    alone = editor.edit(rgb[1:2], np.full((1, N_AUS), 0.5, np.float32))[0]
    batched = editor.edit(rgb, np.full((3, N_AUS), 0.5, np.float32))[0]
    assert np.abs(alone[0].astype(int) - batched[1].astype(int)).max() <= 1  # float rounding of the batch size
    with pytest.raises(ValueError):
        editor.edit(rgb, np.zeros((3, 5), np.float32))


def test_relative_model_is_given_target_minus_source_aus(tmp_path):
    """A `condition = "relative"` model edits with the change from the face's own AUs to the target: the editor
    hands its generator target − source (so equal source and target mean 'no change asked'), and refuses to guess
    when the source AUs are missing. Absolute models (the paper's) ignore the source AUs."""
    relative = GanimationConfig(image_size=32, conv_dim=8, repeat_num=2, condition="relative")
    generator = Generator(relative.generator_config(), init_generator=torch.Generator().manual_seed(3))
    editor = GanimationEditor.load(save_model(tmp_path / "r.safetensors", generator), CPU)
    editor.bf16 = False  # compared with an fp32 forward pass below, to a grey level
    assert editor.needs_source_aus
    rng = np.random.default_rng(1)
    faces = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    target, source = rng.random((4, N_AUS), dtype=np.float32), rng.random((4, N_AUS), dtype=np.float32)
    out, _ = editor.edit(faces, target, source)
    x = torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    with torch.no_grad():
        expected = generator.edit(x, torch.from_numpy(target - source))[0]
        unchanged = generator.edit(x, torch.zeros(4, N_AUS))[0]
    assert np.abs(out.astype(int) - (expected.permute(0, 2, 3, 1).numpy() + 1) * 127.5).max() <= 1
    same = editor.edit(faces, target, target)[0]
    assert np.abs(same.astype(int) - (unchanged.permute(0, 2, 3, 1).numpy() + 1) * 127.5).max() <= 1
    with pytest.raises(ValueError, match="source_aus"):
        editor.edit(faces, target)
    with pytest.raises(ValueError, match="source"):
        editor.edit(faces, target, source[:3])
    absolute = GanimationEditor.load(save_model(tmp_path / "a.safetensors", SMALL), CPU)
    assert not absolute.needs_source_aus
    assert np.array_equal(absolute.edit(faces, target, source)[0], absolute.edit(faces, target)[0])


# --- ganimation_replicate import -----------------------------------------------------------------------------


def _replicate_state(ngf: int, blocks: int, seed: int = 0) -> dict:
    """A state dict with the names and shapes of ganimation_replicate's SplitGenerator (InstanceNorm without
    affine, conv biases, zero-padded residual blocks), as saved from nn.DataParallel."""
    g = torch.Generator().manual_seed(seed)
    rnd = lambda *shape: torch.randn(*shape, generator=g) * 0.05  # noqa: E731
    sd = {"model.0.weight": rnd(ngf, 3 + N_AUS, 7, 7), "model.0.bias": rnd(ngf)}
    sd.update(
        {
            "model.3.weight": rnd(2 * ngf, ngf, 4, 4),
            "model.3.bias": rnd(2 * ngf),
            "model.6.weight": rnd(4 * ngf, 2 * ngf, 4, 4),
            "model.6.bias": rnd(4 * ngf),
        }
    )
    for i in range(blocks):
        for j in (0, 3):
            sd[f"model.{9 + i}.conv_block.{j}.weight"] = rnd(4 * ngf, 4 * ngf, 3, 3)
            sd[f"model.{9 + i}.conv_block.{j}.bias"] = rnd(4 * ngf)
    up = 9 + blocks
    sd.update(
        {
            f"model.{up}.weight": rnd(4 * ngf, 2 * ngf, 4, 4),
            f"model.{up}.bias": rnd(2 * ngf),
            f"model.{up + 3}.weight": rnd(2 * ngf, ngf, 4, 4),
            f"model.{up + 3}.bias": rnd(ngf),
            "color_top.0.weight": rnd(3, ngf, 7, 7),
            "au_top.0.weight": rnd(1, ngf, 7, 7),
        }
    )
    return {f"module.{k}": v for k, v in sd.items()}


def _replicate_forward(sd: dict, img: torch.Tensor, aus: torch.Tensor, blocks: int) -> torch.Tensor:
    """Their forward pass written out functionally (independent of faceaug's modules)."""
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    norm = lambda x: F.instance_norm(x)  # noqa: E731  (affine=False, no running stats)
    x = torch.cat([img, aus[:, :, None, None].expand(-1, -1, *img.shape[2:])], 1)
    x = F.relu(norm(F.conv2d(x, sd["model.0.weight"], sd["model.0.bias"], padding=3)))
    for i in (3, 6):
        x = F.relu(norm(F.conv2d(x, sd[f"model.{i}.weight"], sd[f"model.{i}.bias"], stride=2, padding=1)))
    for i in range(9, 9 + blocks):
        y = F.relu(
            norm(F.conv2d(x, sd[f"model.{i}.conv_block.0.weight"], sd[f"model.{i}.conv_block.0.bias"], padding=1))
        )
        x = x + norm(F.conv2d(y, sd[f"model.{i}.conv_block.3.weight"], sd[f"model.{i}.conv_block.3.bias"], padding=1))
    for i in (9 + blocks, 12 + blocks):
        x = F.relu(norm(F.conv_transpose2d(x, sd[f"model.{i}.weight"], sd[f"model.{i}.bias"], stride=2, padding=1)))
    color = torch.tanh(F.conv2d(x, sd["color_top.0.weight"], padding=3))
    attention = torch.sigmoid(F.conv2d(x, sd["au_top.0.weight"], padding=3))
    return attention * img + (1 - attention) * color


def test_import_replicate_weights_reproduces_their_generator(tmp_path, runner):
    blocks = 2
    theirs = _replicate_state(ngf=8, blocks=blocks)
    ckpt = tmp_path / "30_net_gen.pth"
    torch.save(theirs, ckpt)
    out = tmp_path / "models" / "ganimation.safetensors"
    result = runner.invoke(app, ["import-ganimation", str(ckpt), "--out", str(out), "--image-size", "32"])
    assert result.exit_code == 0, result.output
    editor = GanimationEditor.load(out, CPU)
    editor.bf16 = False  # compared with their generator in fp32 below, to a grey level
    assert editor.image_size == 32 and editor.generator.n_aus == N_AUS
    assert GanimationModel.load(out).origin == "imported"
    rng = np.random.default_rng(1)
    faces = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    aus = rng.uniform(0, 1, (2, N_AUS)).astype(np.float32)
    ours, _ = editor.edit(faces, aus)
    img = torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 127.5 - 1
    reference = _replicate_forward(theirs, img, torch.from_numpy(aus), blocks)
    reference = ((reference.clamp(-1, 1) + 1) * 127.5).round().permute(0, 2, 3, 1).numpy()
    assert np.abs(ours.astype(int) - reference.astype(int)).max() <= 1


def test_import_refuses_other_files(tmp_path):
    torch.save({"conv.weight": torch.zeros(2, 2)}, tmp_path / "x.pth")
    with pytest.raises(UserError, match="ganimation_replicate generator"):
        import_ganimation(tmp_path / "x.pth", tmp_path / "o.pt", image_size=128)
    bad = _replicate_state(ngf=8, blocks=1)
    bad["module.model.0.weight"] = torch.zeros(8, 3 + 5, 7, 7)
    torch.save(bad, tmp_path / "y.pth")
    with pytest.raises(UserError, match="5 AUs"):
        import_ganimation(tmp_path / "y.pth", tmp_path / "o.pt", image_size=128)
    assert not (tmp_path / "o.pt").exists()


def test_a_refused_file_is_never_advised_to_be_loaded_with_weights_only_false(tmp_path):
    """PyTorch's message advises `weights_only=False` (or allow-listing the classes) when it refuses a file: that
    would run the code the file carries, so faceaug's message gives the reason only."""
    from faceaug.inference.singan import SinganModel
    from faceaug.training.ganimation_checkpoint import load_checkpoint

    zipped, pickled = tmp_path / "evil.pt", tmp_path / "evil_pickle.pt"
    torch.save({"format": "faceaug-ganimation", "generator": {}, "payload": _RunsCode()}, zipped)
    with open(pickled, "wb") as fh:
        pickle.dump({"format": "faceaug-ganimation", "generator": _RunsCode()}, fh)
    for path in (zipped, pickled):
        for load in (
            lambda p: GanimationModel.load(p),
            lambda p: load_torch_safely(p, "GANimation model"),
            load_checkpoint,
            lambda p: SinganModel.load(p),
        ):
            with pytest.raises(UserError) as info:
                load(path)
            message = str(info.value)
            assert str(path) in message
            for advice in (
                "weights_only=False",
                "weights_only",
                "set to `False`",
                "can still be loaded",
                "trust",
                "safe_globals",
                "\x1b[",
            ):
                assert advice not in message, (path.name, message)


def test_the_editor_edits_in_bf16_where_it_pays_off_within_3_grey_levels_of_fp32(tmp_path):
    from faceaug.inference.editor import bf16_edits_pay_off

    editor = GanimationEditor.load(save_model(tmp_path / "m.safetensors", SMALL), CPU)
    assert editor.bf16 == bf16_edits_pay_off(CPU)
    if not editor.bf16:
        pytest.skip("this CPU runs bf16 emulated: the editor stays in fp32")
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    aus = rng.random((8, N_AUS)).astype(np.float32)
    fast, fast_masks = editor.edit(faces, aus)
    editor.bf16 = False
    exact, exact_masks = editor.edit(faces, aus)
    difference = np.abs(fast.astype(int) - exact.astype(int))
    assert 0 < difference.max() <= 3  # bf16 really ran, and stayed within the stated tolerance
    assert np.abs(fast_masks - exact_masks).max() < 0.02
