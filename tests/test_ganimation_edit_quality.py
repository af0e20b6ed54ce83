"""faceaug.metrics.edit_quality: the numbers an editor gets from the oracles, with stand-in editors and oracles."""

import numpy as np
import pytest

from faceaug.aus import N_AUS, PRESET_NAMES, preset_vector
from faceaug.metrics.edit_quality import SourceFaces, evaluate_edits, face_region_masks, format_table

SIZE = 16


class PaintOracle:
    """Reads the 'expression' a stand-in editor paints into the top-left pixel (index into PRESET_NAMES)."""

    classes = list(PRESET_NAMES)

    def _index(self, images):
        return np.asarray(images)[:, 0, 0, 0].astype(int) % 32

    def predict(self, images):  # AU oracle interface
        idx = self._index(images)
        return np.stack(
            [preset_vector(PRESET_NAMES[i]) if i < len(PRESET_NAMES) else np.zeros(N_AUS, np.float32) for i in idx]
        ).astype(np.float32)

    def predict_emotion(self, images):
        idx = self._index(images)
        return np.asarray([PRESET_NAMES[i] if i < len(PRESET_NAMES) else "?" for i in idx], dtype=object)


class EmotionView:
    def __init__(self, oracle):
        self.classes, self.predict = oracle.classes, oracle.predict_emotion


class IdentityEditor:
    image_size = SIZE

    def edit(self, faces, aus, source_aus=None):
        return faces.copy(), np.ones(faces.shape[:3], np.float32)


class PerfectEditor:
    """Writes the target preset's index into the top-left pixel; changes nothing else."""

    image_size = SIZE

    def edit(self, faces, aus, source_aus=None):
        out = faces.copy()
        for i, a in enumerate(aus):
            out[i, 0, 0, :] = [j for j, n in enumerate(PRESET_NAMES) if np.allclose(preset_vector(n), a)][0]
        attention = np.ones(faces.shape[:3], np.float32)
        attention[:, 0, 0] = 0.0
        return out, attention * 0.5


@pytest.fixture
def sources():
    faces = np.full((4, SIZE, SIZE, 3), 200, np.uint8)
    faces[:, 0, 0, :] = 31  # an index no preset has: the unedited faces read as "?" / all-zero AUs
    masks = np.zeros((4, SIZE, SIZE), bool)
    masks[:, 4:12, 4:12] = True
    return SourceFaces(
        images=faces,
        aus=np.zeros((4, N_AUS), np.float32),
        labels=["neutral"] * 4,
        subjects=["a", "a", "b", "b"],
        face_masks=masks,
    )


def test_identity_editor_scores_like_the_unedited_faces_and_misses_the_bars(sources):
    oracle = PaintOracle()
    r = evaluate_edits(IdentityEditor(), sources, oracle, EmotionView(oracle))
    assert r["edits"] == 4 * len(PRESET_NAMES)
    assert r["au_error"] == pytest.approx(r["au_error_unedited"]) and r["au_error"] > 0.1
    assert r["recognition"] == 0.0 and r["change_inside_face"] == 0.0 and r["change_outside_face"] == 0.0
    assert r["attention_mean"] == 1.0 and r["attention_mean_face"] == 1.0
    assert r["face_fraction"] == pytest.approx(64 / 256)
    assert r["passes"] == {"au_error": False, "recognition": False, "attention": False}


def test_perfect_editor_passes_and_its_change_is_counted_outside_the_face(sources):
    oracle = PaintOracle()
    r = evaluate_edits(PerfectEditor(), sources, oracle, EmotionView(oracle))
    assert r["au_error"] == pytest.approx(0.0, abs=1e-6) and r["recognition"] == 1.0
    assert r["passes"] == {"au_error": True, "recognition": True, "attention": True}
    assert r["change_inside_face"] == 0.0 and r["change_outside_face"] > 0.0  # pixel (0, 0) lies outside
    assert r["attention_mean_face"] == 0.5 and r["attention_mean"] == pytest.approx(0.5 - 0.5 / 256)
    assert set(r["per_preset"]) == set(PRESET_NAMES)
    assert "recognition ≥ 85%: ok" in format_table(r)


def test_face_region_masks_follow_landmarks_and_transform():
    xs = [10.0 + 20.0 * np.cos(t) for t in np.linspace(0, 2 * np.pi, 68, endpoint=False)]
    ys = [30.0 + 20.0 * np.sin(t) for t in np.linspace(0, 2 * np.pi, 68, endpoint=False)]
    shift = [1, 0, 22, 0, 1, 2]  # source → crop: x + 22, y + 2 → circle centred at (32, 32) in a 64 px crop
    mask = face_region_masks([xs + ys, None], [shift, shift], 64)
    assert mask[0, 32, 32] and not mask[0, 2, 2] and mask[0].mean() == pytest.approx(np.pi * 400 / 4096, rel=0.1)
    assert mask[1].all()  # no landmarks: everything counts as face


class RecordingEditor(IdentityEditor):
    def __init__(self):
        self.given = []

    def edit(self, faces, aus, source_aus=None):
        self.given.append(source_aus)
        return super().edit(faces, aus)


def test_relative_editors_get_the_table_aus_or_the_oracle_estimate(sources):
    """A relative-conditioned editor needs the sources' own AUs: the table's by default, or (`source_aus="oracle"`)
    the AU oracle's reading of each face, which is what an editor fed by an imperfect AU estimator sees."""
    oracle = PaintOracle()
    sources.aus[:, 3] = 0.7
    table, estimated = RecordingEditor(), RecordingEditor()
    assert evaluate_edits(table, sources, oracle, EmotionView(oracle))["source_aus"] == "table"
    assert all(np.array_equal(g, sources.aus) for g in table.given)
    evaluate_edits(estimated, sources, oracle, EmotionView(oracle), source_aus="oracle")
    assert all(np.array_equal(g, oracle.predict(sources.images)) for g in estimated.given)
    assert not np.array_equal(estimated.given[0], sources.aus)
    with pytest.raises(ValueError, match="source_aus"):
        evaluate_edits(table, sources, oracle, EmotionView(oracle), source_aus="guess")


class TintEditor:
    """Brightens every pixel by 20 grey levels, and tints the top row (outside the face) red by 30."""

    image_size = SIZE

    def edit(self, faces, aus, source_aus=None):
        out = faces.astype(np.int16) + 20
        out[:, 0, :, 0] += 30
        return np.clip(out, 0, 255).astype(np.uint8), np.zeros(faces.shape[:3], np.float32)


def test_colour_shift_outside_the_face_counts_a_tint_and_not_a_brightness_change(sources):
    oracle = PaintOracle()
    assert evaluate_edits(IdentityEditor(), sources, oracle, EmotionView(oracle))["colour_shift_outside_face"] == 0
    r = evaluate_edits(TintEditor(), sources, oracle, EmotionView(oracle))
    outside_pixels = SIZE * SIZE - 64
    # a +30 red tint on SIZE pixels: |30 - 10| + 2 x |0 - 10| = 40 over 3 channels, per tinted pixel
    assert r["colour_shift_outside_face"] == pytest.approx(40 / 3 * SIZE / outside_pixels, rel=1e-3)
    assert r["change_outside_face"] > r["colour_shift_outside_face"]  # the brightening counts as change only
