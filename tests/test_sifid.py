"""SIFID: the Fréchet math against a direct computation, the feature extractor's shapes, and its weights file."""

import numpy as np
import pytest
import torch
from scipy import linalg

from faceaug.errors import UserError
from faceaug.metrics.sifid import (
    InceptionStem,
    find_inception_weights,
    frechet_distance,
    load_inception_stem,
    sifid,
    statistics,
)


def _direct(a: np.ndarray, b: np.ndarray) -> float:
    """FD via the symmetric form Tr(Σ1 + Σ2 − 2 (Σ1^½ Σ2 Σ1^½)^½), computed by eigendecomposition."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.T
    w2 = np.linalg.eigvalsh(root1 @ s2 @ root1)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(w2, 0, None)).sum())


def test_frechet_distance_matches_a_direct_computation_on_random_features():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 8))
    b = rng.normal(0.5, 2.0, size=(300, 8)) @ rng.normal(size=(8, 8))
    assert frechet_distance(*statistics(a), *statistics(b)) == pytest.approx(_direct(a, b), rel=1e-6)
    assert frechet_distance(*statistics(a), *statistics(a)) == pytest.approx(0.0, abs=1e-8)
    # identical covariances: the distance is the squared distance of the means
    shift = np.full(8, 3.0)
    assert frechet_distance(*statistics(a), *statistics(a + shift)) == pytest.approx(72.0, rel=1e-6)
    assert linalg.norm(shift) ** 2 == pytest.approx(72.0)


@pytest.mark.parametrize("dims,size,positions", [(64, 64, 14 * 14), (192, 128, 13 * 13)])
def test_the_extractor_gives_one_feature_vector_per_position(dims, size, positions):
    torch.manual_seed(0)
    stem = InceptionStem(dims)
    images = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    features = stem.features(images)
    assert features.shape == (2, positions, dims)
    values = sifid(stem, images, images[0])
    assert values.shape == (2,) and values[0] == pytest.approx(0.0, abs=1e-6) and values[1] > 0


def test_weights_load_by_pytorch_fid_names_and_a_wrong_file_is_refused(tmp_path, monkeypatch):
    torch.manual_seed(1)
    reference = InceptionStem(64)
    path = tmp_path / "w.pth"
    torch.save({**reference.state_dict(), "Mixed_5b.branch1x1.conv.weight": torch.zeros(1)}, path)
    loaded = load_inception_stem(path, 64)
    x = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    assert np.allclose(loaded.features(x), reference.features(x))
    torch.save({"something": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(UserError, match="not the pytorch-fid InceptionV3 file"):
        load_inception_stem(tmp_path / "bad.pth")
    with pytest.raises(UserError, match="is not a file"):
        find_inception_weights(tmp_path / "missing.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub-home"))
    assert find_inception_weights() is None
