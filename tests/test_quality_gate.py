"""The edit quality gate (`expand --min-edit-score`): edits that miss are not planned, their targets are drawn from
other sources so the counts stay exact, the manifest records each edit's score, and the summary says what was
dropped and why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from faceaug.aus import parse_au_spec
from faceaug.cli import app
from faceaug.commands.expand import ExpandRequest, run_expand
from faceaug.config import GanimationConfig, resolve_config
from faceaug.errors import UserError
from faceaug.fer.au_estimator import AuEstimator, default_au_estimator_path
from faceaug.pipeline import gate as gate_mod
from faceaug.pipeline.gate import EditGate, Judgement
from faceaug.pipeline.plan import discrete_targets, plan_jobs
from faceaug.pipeline.sources import hint_more_sources
from faceaug.schema import read_table
from tests.ganimation_fixtures import make_work_dir, save_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# untrained tiny editors: the expression gate (on in `fast`) would drop their edits; tests that want it say so
TINY = {
    "expand.min_target_probability": 0.0,
    "singan.iters_per_scale": 2,
    "singan.nfc": 8,
    "singan.max_nfc": 8,
    "singan.min_size": 12,
    "expand.samples_per_edit": 1,
    "expand.shard_size": 4,
    "expand.regenerator": "patch",
}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = make_work_dir(tmp_path_factory.mktemp("gate") / "work", n=24, size=32)
    torch.manual_seed(0)
    save_model(root / "models" / "ganimation.safetensors", GanimationConfig(image_size=32, conv_dim=8, repeat_num=2))
    AuEstimator.new(32).save(default_au_estimator_path(root))
    return root


#: the expression gate on, the identity check off (no dlib descriptor needed)
JUDGE_ONLY = {"expand.min_target_probability": 0.5, "expand.max_identity_distance": 0.0}


def _fast(overrides: dict):
    return resolve_config("fast", None, {**TINY, **overrides}, seed=0, device="cpu")


def _odd(job) -> Judgement:
    """A judge that fails every source with an odd face number."""
    odd = int(job.source_id[1:]) % 2 == 1
    return Judgement(not odd, 0.1 if odd else 0.8, "missed_target" if odd else None)


def test_the_plan_skips_failed_edits_and_keeps_the_counts_exact(work):
    faces = read_table(work / "faces.parquet", "faces")
    sources = faces[faces["split"] == "train"].reset_index(drop=True)
    targets = discrete_targets(parse_au_spec("happy,sad"))
    jobs = plan_jobs(sources, targets, per_class=9, samples_per_edit=2, seed=0, accept=_odd)
    plain = plan_jobs(sources, targets, per_class=9, samples_per_edit=2, seed=0)
    assert [j.n_samples for j in jobs] == [j.n_samples for j in plain]  # 3 edits × 3 images per class
    assert all(int(j.source_id[1:]) % 2 == 0 for j in jobs) and {j.edit_score for j in jobs} == {0.8}
    assert [j.index for j in jobs] == list(range(len(jobs)))
    with pytest.raises(UserError, match="passes the quality gate"):
        plan_jobs(
            sources,
            targets,
            per_class=9,
            samples_per_edit=2,
            seed=0,
            accept=lambda job: Judgement(False, 0.0, "missed_target"),
        )


def _plan_half_passing(work: Path, per_class_per_passing: int, **kw):
    """(train sources, how many edits pass `_odd`, per_class, jobs) of one happy target planned with M = 2."""
    faces = read_table(work / "faces.parquet", "faces")
    sources = faces[faces["split"] == "train"].reset_index(drop=True)
    passing = sum(int(face[1:]) % 2 == 0 for face in sources["face_id"])
    per_class = per_class_per_passing * passing
    jobs = plan_jobs(
        sources,
        discrete_targets(parse_au_spec("happy")),
        per_class=per_class,
        samples_per_edit=2,
        seed=0,
        accept=_odd,
        **kw,
    )
    return sources, passing, per_class, jobs


def test_when_few_edits_pass_they_take_more_variants_instead_of_repeating(work):
    for edits_first in (False, True):
        # 4 images per passing source: with M = 2 that needs more edits than there are passing sources
        _, passing, per_class, jobs = _plan_half_passing(work, 4, edits_first=edits_first)
        assert sorted(j.source_id for j in jobs) == sorted(set(j.source_id for j in jobs))  # each edit once
        assert len(jobs) == passing and sum(j.n_samples + 1 for j in jobs) == per_class
        assert {j.n_samples for j in jobs} == {3}  # spread evenly, above M
        assert [j.index for j in jobs] == list(range(len(jobs)))


def test_a_variant_cap_fills_a_short_class_with_its_own_faces_and_says_what_is_missing(work, capsys):
    """With --max-variants-per-edit, a class whose edits mostly fail the gate gets at most `cap` variants of each
    passing edit, then its own source faces edited to their own class (label-keeping, not judged) with variants,
    and expand says how many images it could make when even those run out."""
    sources, passing, per_class, jobs = _plan_half_passing(work, 10, edits_first=True, max_variants=4)
    judged = [j for j in jobs if j.target_probability is not None or j.edit_score is not None]
    own = [j for j in jobs if j not in judged]
    assert len(judged) == passing and {j.n_samples for j in judged} == {4}
    happy_sources = set(sources.loc[sources["label"] == "happy", "face_id"])
    assert own and {j.source_id for j in own} <= happy_sources - {j.source_id for j in judged}
    assert all(j.source_label == "happy" and j.label == "happy" and j.n_samples <= 4 for j in own)
    made = sum(j.n_samples + 1 for j in jobs)
    assert made == min(per_class, 5 * passing + 5 * len(happy_sources - {j.source_id for j in judged}))
    hint_more_sources(jobs, len(sources), 2, per_class)
    said = " ".join(capsys.readouterr().err.split())
    assert made < per_class and f"gets {made} of the {per_class} images asked for" in said


def test_expand_with_the_gate_records_scores_and_what_it_dropped(work, tmp_path, monkeypatch):
    def judge(self, job):
        verdict = _odd(job)
        if not verdict.passed:
            self.dropped[verdict.reason] += 1
        self.judged += 1
        return verdict

    monkeypatch.setattr(EditGate, "__call__", judge)
    out = tmp_path / "expanded"
    cfg = resolve_config("fast", None, {**TINY, "expand.min_edit_score": 0.5}, seed=0, device="cpu")
    summary = run_expand(ExpandRequest(work_dir=work, au_preset="happy,sad", per_class=6, out_dir=out, workers=1), cfg)
    manifest = read_table(out / "manifest.parquet", "manifest")
    generated = manifest[manifest["is_generated"]]
    assert generated["label"].value_counts().to_dict() == {"happy": 6, "sad": 6}
    assert generated["edit_score"].eq(np.float32(0.8)).all()
    assert manifest.loc[~manifest["is_generated"], "edit_score"].isna().all()
    assert (generated["source_id"].str[1:].astype(int) % 2 == 0).all()
    gate = json.loads((out / "expand.json").read_text())["quality_gate"]
    assert gate["dropped"]["missed_target"] > 0 and gate["min_edit_score"] == 0.5
    assert summary["quality_gate"] == gate


def test_the_real_judge_scores_au_gain_and_calls_a_repainted_face_a_miss(work, monkeypatch):
    from faceaug.inference.editor import GanimationEditor

    editor = GanimationEditor.load(work / "models" / "ganimation.safetensors", torch.device("cpu"))
    faces = read_table(work / "faces.parquet", "faces")
    job = plan_jobs(faces, discrete_targets(parse_au_spec("happy")), per_class=1, samples_per_edit=0, seed=0)[0]
    estimator = AuEstimator.new(32)
    gate = EditGate(editor, estimator, work, min_score=0.5, attention_floor=0.0)
    verdict = gate(job)
    assert np.isfinite(verdict.score) and verdict.passed == (verdict.score >= 0.5)
    repainting = EditGate(editor, estimator, work, min_score=-10.0, attention_floor=1.01)
    assert repainting(job) == Judgement(False, repainting(job).score, "repainted")
    assert repainting.dropped["repainted"] == 2 and gate_mod.ATTENTION_FLOOR == 0.5


def test_the_gate_without_an_estimator_is_a_clear_error(work, tmp_path, runner):
    bare = tmp_path / "bare"
    make_work_dir(bare, n=24, size=32)
    (bare / "models").mkdir()
    (bare / "models" / "ganimation.safetensors").write_bytes((work / "models" / "ganimation.safetensors").read_bytes())
    result = runner.invoke(
        app,
        [
            "expand",
            str(bare),
            "--au-preset",
            "happy",
            "--per-class",
            "2",
            "--min-edit-score",
            "0.3",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2 and "faceaug train-au" in result.output
    assert not (tmp_path / "o" / "manifest.parquet").exists()


def test_the_report_says_what_the_gate_dropped(work, tmp_path, monkeypatch):
    from faceaug.commands.report import ReportRequest, run_report

    def judge(self, job):  # every face whose number is not a multiple of 3 is a repaint
        passed = int(job.source_id[1:]) % 3 == 0
        if not passed:
            self.dropped["repainted"] += 1
        return Judgement(passed, 0.7, None if passed else "repainted")

    monkeypatch.setattr(EditGate, "__call__", judge)
    out = tmp_path / "expanded"
    cfg = resolve_config("fast", None, {**TINY, "expand.min_edit_score": 0.5}, seed=0, device="cpu")
    run_expand(ExpandRequest(work_dir=work, au_preset="happy", per_class=4, out_dir=out, workers=1), cfg)
    summary = run_report(ReportRequest(path=out, metrics=False))
    assert any("Quality gate" in n and "repainted" in n for n in summary["notes"]), summary["notes"]


def test_a_judge_the_generator_was_trained_against_is_flagged_by_expand_and_report(work, tmp_path, monkeypatch):
    """A model trained with `--au-judge estimator` and the same estimator handed to the gate: expand warns and
    records judge_independent false; the report names it as a finding."""
    from faceaug.commands.report import ReportRequest, run_report

    estimator = AuEstimator.load(default_au_estimator_path(work))
    model = tmp_path / "judged.safetensors"
    torch.manual_seed(0)
    save_model(
        model,
        GanimationConfig(image_size=32, conv_dim=8, repeat_num=2),
        provenance={"training": {"au_judge": "estimator", "au_judge_id": estimator.model_id}},
    )
    monkeypatch.setattr(EditGate, "__call__", lambda self, job: Judgement(True, 0.9))
    out = tmp_path / "expanded"
    cfg = resolve_config("fast", None, {**TINY, "expand.min_edit_score": 0.5}, seed=0, device="cpu")
    run_expand(ExpandRequest(work_dir=work, au_preset="happy", per_class=2, out_dir=out, workers=1, model=model), cfg)
    assert json.loads((out / "expand.json").read_text())["quality_gate"]["judge_independent"] is False
    summary = run_report(ReportRequest(path=out, metrics=False))
    assert [f for f in summary["findings"] if f["code"] == "au_judge" and "trained against" in f["message"]]


class _MeanDescriptor:
    """A stand-in for dlib's descriptor: the image's mean grey level in every dimension (no dlib needed)."""

    def __call__(self, images):
        return np.repeat(np.asarray(images, np.float32).mean(axis=(1, 2, 3))[:, None] / 255.0, 128, axis=1)


def test_an_edit_that_moved_away_from_its_person_is_an_identity_leak(work):
    from faceaug.inference.editor import GanimationEditor

    editor = GanimationEditor.load(work / "models" / "ganimation.safetensors", torch.device("cpu"))
    faces = read_table(work / "faces.parquet", "faces")
    job = plan_jobs(faces, discrete_targets(parse_au_spec("happy")), per_class=1, samples_per_edit=0, seed=0)[0]
    estimator = AuEstimator.new(32)
    strict = EditGate(
        editor,
        estimator,
        work,
        min_score=-10.0,
        attention_floor=0.0,
        descriptor=_MeanDescriptor(),
        max_identity_distance=1e-6,
    )
    verdict = strict(job)
    assert verdict.reason == "identity_leak" and verdict.identity_distance > 1e-6
    assert strict.dropped == {"identity_leak": 1} and strict.summary()["max_identity_distance"] == 1e-6
    lenient = EditGate(
        editor,
        estimator,
        work,
        min_score=-10.0,
        attention_floor=0.0,
        descriptor=_MeanDescriptor(),
        max_identity_distance=100.0,
    )
    assert lenient(job) == Judgement(True, verdict.score, None, verdict.identity_distance)
    unchecked = EditGate(editor, estimator, work, min_score=-10.0, attention_floor=0.0)
    assert unchecked(job).identity_distance is None and unchecked.summary()["max_identity_distance"] is None


def test_expand_records_each_edit_s_identity_distance(work, tmp_path, monkeypatch):
    import faceaug.metrics.identity as identity

    monkeypatch.setattr(identity, "FaceDescriptor", _MeanDescriptor)
    monkeypatch.setattr(identity, "identity_problem", lambda: None)
    out = tmp_path / "expanded"
    cfg = resolve_config(
        "fast",
        None,
        {**TINY, "expand.min_edit_score": 0.001, "expand.max_identity_distance": 50.0},
        seed=0,
        device="cpu",
    )
    monkeypatch.setattr(gate_mod, "au_gain", lambda after, before: 1.0)  # the untrained editor passes the rest
    monkeypatch.setattr(gate_mod, "face_attention", lambda attention: 1.0)
    summary = run_expand(ExpandRequest(work_dir=work, au_preset="happy", per_class=4, out_dir=out, workers=1), cfg)
    generated = read_table(out / "manifest.parquet", "manifest").query("is_generated")
    assert generated["identity_distance"].notna().all() and (generated["identity_distance"] >= 0).all()
    assert summary["quality_gate"]["max_identity_distance"] == 50.0


def test_dlib_s_descriptor_tells_the_same_face_from_another():
    """The real descriptor (faceaug[landmarks], in the dev extra) on the public-domain astronaut crop: her flipped
    or brightened copy stays under dlib's same-person threshold, a cat's face does not."""
    from skimage import data

    from faceaug.io.images import resize_face
    from faceaug.metrics.identity import SAME_PERSON, FaceDescriptor, identity_distance, identity_problem

    if identity_problem():
        pytest.skip(identity_problem())
    face = resize_face(data.astronaut()[0:240, 120:360], 64)
    brighter = np.clip(face.astype(int) + 25, 0, 255).astype(np.uint8)
    cat = resize_face(data.chelsea()[0:300, 100:400], 64)
    descriptor = FaceDescriptor()
    ref = descriptor(face[None])
    distances = identity_distance(np.repeat(ref, 3, axis=0), descriptor(np.stack([face[:, ::-1], brighter, cat])))
    assert distances[0] < SAME_PERSON and distances[1] < SAME_PERSON, distances
    assert distances[2] > SAME_PERSON, distances


def test_the_expression_judge_keeps_edits_it_reads_as_their_target(work):
    from faceaug.fer.expression_judge import ExpressionJudge
    from faceaug.inference.editor import GanimationEditor
    from faceaug.pretrained import bundled_judge_path

    editor = GanimationEditor.load(work / "models" / "ganimation.safetensors", torch.device("cpu"))
    judge = ExpressionJudge.load(bundled_judge_path())
    faces = read_table(work / "faces.parquet", "faces")
    jobs = plan_jobs(
        faces, discrete_targets(parse_au_spec("happy;smile:AU12=1")), per_class=3, samples_per_edit=0, seed=0
    )
    for threshold in (0.0, 1.0):
        gate = EditGate(
            editor,
            None,
            work,
            min_score=0.0,
            expression_judge=judge,
            min_target_probability=threshold,
            attention_floor=0.0,
        )
        verdicts = [gate(job) for job in jobs]
        for job, verdict in zip(jobs, verdicts):
            if job.label == "happy":
                assert 0.0 <= verdict.target_probability <= 1.0 and verdict.score is None
                assert verdict.passed == (verdict.target_probability >= threshold)
            else:  # a custom AU vector is no class the judge knows: not judged, not dropped for it
                assert verdict.target_probability is None and verdict.passed
        assert gate.dropped.get("not_read_as_target", 0) == (3 if threshold == 1.0 else 0)


def test_a_target_no_edit_passes_gets_no_images_and_expand_says_so(work, tmp_path, monkeypatch, capsys):
    from faceaug.fer.expression_judge import ExpressionJudge

    def reads(self, images, targets, device="cpu"):  # sad is never read; happy only on bright-mouthed faces
        return np.asarray([0.0 if t == "sad" else 0.9 for t in targets], np.float32)

    monkeypatch.setattr(ExpressionJudge, "target_probability", reads)
    out = tmp_path / "expanded"
    cfg = _fast(JUDGE_ONLY)
    summary = run_expand(ExpandRequest(work_dir=work, au_preset="happy,sad", per_class=6, out_dir=out, workers=1), cfg)
    err = " ".join(capsys.readouterr().err.split())
    assert "No edit to sad passed the quality gate" in err
    assert "dropped" in err and "not read as target" in err
    manifest = read_table(out / "manifest.parquet", "manifest")
    generated = manifest[manifest["is_generated"]]
    assert generated["label"].value_counts().to_dict() == {"happy": 6}
    assert generated["target_probability"].eq(np.float32(0.9)).all()
    gate = summary["quality_gate"]
    assert gate["min_target_probability"] == 0.5 and gate["min_edit_score"] is None
    assert gate["dropped"]["not_read_as_target"] > 0


def test_the_gate_judges_candidates_in_batches_and_plans_as_one_at_a_time_would(work, monkeypatch):
    from faceaug.fer.expression_judge import ExpressionJudge
    from faceaug.inference.editor import GanimationEditor
    from faceaug.pretrained import bundled_judge_path

    editor = GanimationEditor.load(work / "models" / "ganimation.safetensors", torch.device("cpu"))
    calls = []
    real_edit = editor.edit
    monkeypatch.setattr(editor, "edit", lambda faces, *a: calls.append(len(faces)) or real_edit(faces, *a))
    faces = read_table(work / "faces.parquet", "faces")
    targets = discrete_targets(parse_au_spec("happy,sad,surprise"))

    def gate():
        return EditGate(
            editor,
            None,
            work,
            min_score=0.0,
            expression_judge=ExpressionJudge.load(bundled_judge_path()),
            min_target_probability=0.15,
            attention_floor=0.0,
            descriptor=_MeanDescriptor(),
            max_identity_distance=0.4,
        )

    batched, single = gate(), gate()
    plan = plan_jobs(faces, targets, per_class=6, samples_per_edit=1, seed=0, accept=batched)
    batched_calls, calls[:] = list(calls), []
    alone = plan_jobs(faces, targets, per_class=6, samples_per_edit=1, seed=0, accept=lambda job: single(job))
    assert set(calls) == {1} and max(batched_calls) > 1  # one edit per call, against batches
    assert len(batched_calls) < len(calls)
    assert [(j.source_id, j.target, j.index, j.n_samples, j.seed) for j in plan] == [
        (j.source_id, j.target, j.index, j.n_samples, j.seed) for j in alone
    ]
    assert np.allclose([j.target_probability for j in plan], [j.target_probability for j in alone], atol=1e-4)
    assert batched.summary() == single.summary() and sum(batched.dropped.values()) > 0


def test_expand_and_report_say_when_the_judge_cannot_read_the_user_s_own_faces(work, tmp_path, monkeypatch, capsys):
    """The judge's verdicts on edits mean something only on faces it can read: expand measures how many of the
    sources it reads as their own label, records it, and says plainly (expand and report) when that is low."""
    from faceaug.commands.report import ReportRequest, run_report
    from faceaug.fer.expression_judge import ExpressionJudge

    def reads_as(label):
        def probabilities(self, images, device="cpu"):
            out = np.zeros((len(images), len(self.labels)), np.float32)
            out[:, self.labels.index(label)] = 1.0
            return out

        return probabilities

    monkeypatch.setattr(  # the edits themselves pass, whatever the sources are read as
        ExpressionJudge, "target_probability", lambda self, images, targets, device="cpu": np.full(len(targets), 0.9)
    )
    train = read_table(work / "faces.parquet", "faces").query("split == 'train'")
    cfg = _fast(JUDGE_ONLY)
    said = {}
    for label in ("happy", "surprise"):  # surprise: a label no source has
        monkeypatch.setattr(ExpressionJudge, "probabilities", reads_as(label))
        out = tmp_path / label
        request = ExpandRequest(work_dir=work, au_preset="happy", per_class=4, out_dir=out, workers=1)
        reading = run_expand(request, cfg)["quality_gate"]["judge_reads_sources"]
        assert reading["faces"] == len(train)
        assert reading["accuracy"] == pytest.approx(float((train["label"] == label).mean()))
        assert reading["per_class"]["neutral"] == 0.0
        notes = run_report(ReportRequest(path=out, metrics=False))["notes"]
        said[label] = (" ".join(capsys.readouterr().err.split()), [n for n in notes if "expression judge read" in n])
    happy_share = float((train["label"] == "happy").mean())
    assert 0.4 <= happy_share < 1  # the fixture's sources: a judge reading all as happy reads enough of them
    assert "reads only" not in said["happy"][0] and "say little" not in said["happy"][1][0]
    assert f"reads only 0% of your {len(train)} labelled source faces" in said["surprise"][0]
    assert "say little" in said["surprise"][1][0]
