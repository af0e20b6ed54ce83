"""`faceaug train-au` and `faceaug report` on a tiny blob-face report_world: what a user sees and what is written.

A 32-px blob-face work folder (tests/ganimation_fixtures.py: the mouth opening follows AU25/26), an untrained small
GANimation generator and a few SinGAN iterations keep the expansion to seconds; the AU estimator is trained for a
few hundred steps, enough to read AU25 from the mouth.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from faceaug.aus import AU_NAMES
from faceaug.cli import app
from faceaug.commands.report import ReportRequest, run_report
from faceaug.fer.au_estimator import AuEstimator
from faceaug.io.images import read_image, write_png_atomic
from faceaug.io.openface_writer import OpenFaceRow, write_openface_csv
from faceaug.report.checks import Finding, image_findings, variant_maker, variants_caption
from faceaug.report.verdict import judge
from faceaug.schema import read_table
from tests.report_fixtures import as_manifest_format_1

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_train_au_learns_the_mouth_au_and_records_its_heldout_error(report_world):
    work, _ = report_world
    est = AuEstimator.load(work / "models" / "au_estimator.safetensors")
    held = est.heldout
    assert held["n"] == 12 and "test split" in held["how"]
    # the blob mouth carries AU25: the estimator must beat always answering the mean on it, clearly
    assert held["mae_AU25"] < 0.6 * held["baseline"]["mae_AU25"]
    assert json.loads((work / "models" / "au_estimator.json").read_text())["heldout"]["mae"] == held["mae"]
    faces = read_table(work / "faces.parquet", "faces")
    test = faces[faces["split"] == "test"]
    predicted = est.predict(np.stack([read_image(work / p) for p in test["image_path"]]))
    assert predicted.shape == (len(test), len(AU_NAMES)) and 0 <= predicted.min() and predicted.max() <= 1
    assert np.corrcoef(predicted[:, AU_NAMES.index("AU25")], test["AU25"])[0, 1] > 0.8


def test_report_on_an_expansion_scores_every_image_and_leaves_the_manifest_alone(report_world, runner):
    _, out = report_world
    before = _sha(out / "manifest.parquet")
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert "verdict:" in result.output and "report.html" in result.output
    assert _sha(out / "manifest.parquet") == before
    manifest = read_table(out / "manifest.parquet", "manifest")
    metrics = read_table(out / "metrics.parquet", "metrics")
    assert list(metrics["id"]) == list(manifest["id"])
    edits = metrics[metrics["stage"] == "ganimation"]
    assert edits["au_error"].notna().all() and edits["unedited_au_error"].notna().all()
    assert (metrics["au_measured_by"] == "faceaug-au-estimator").all()
    assert edits["diversity"].notna().any() and metrics.loc[metrics["stage"] == "variant", "ssim_to_edit"].notna().all()
    assert metrics["sifid"].isna().all()  # no InceptionV3 weights here: left empty, never made up
    # recorded by expand in the manifest, and what the expansion's editor gives when it is recomputed
    recorded = manifest.set_index("id").loc[edits["id"], "face_attention"].to_numpy()
    assert np.allclose(edits["face_attention"], recorded) and ((recorded > 0) & (recorded < 1)).all()
    summary = json.loads((out / "report.json").read_text())
    assert summary["verdict"]["level"] in ("good", "usable", "poor")
    assert any("SIFID was not computed" in n for n in summary["notes"])
    page = (out / "report.html").read_text()
    assert page.count('class="contact-sheet"') == 2  # one per generated class: happy, surprise
    assert 'src="http' not in page and "<script" not in page  # self-contained
    assert "held-out" in page and "Resolved settings" in page


def test_an_expansion_without_recorded_attention_has_it_recomputed_by_the_editor(report_world, tmp_path):
    import pyarrow.parquet as pq

    _, out = report_world
    older = tmp_path / "older"
    shutil.copytree(out, older)
    table = pq.read_table(older / "manifest.parquet")  # as expand wrote it before it recorded attention
    pq.write_table(table.drop_columns(["face_attention"]), older / "manifest.parquet")
    run_report(ReportRequest(path=older, html=None, metrics=True))
    again = read_table(older / "metrics.parquet", "metrics").set_index("id")
    recorded = read_table(out / "manifest.parquet", "manifest").set_index("id")["face_attention"].dropna()
    assert np.allclose(again.loc[recorded.index, "face_attention"], recorded, atol=1e-4)


def test_an_expansion_of_manifest_format_1_reads_like_a_new_one(report_world, tmp_path):
    _, out = report_world
    older = tmp_path / "older"
    shutil.copytree(out, older)
    as_manifest_format_1(older / "manifest.parquet")
    assert "singan" in set(pd.read_parquet(older / "manifest.parquet")["stage"])
    summary = run_report(ReportRequest(path=older, html=None, metrics=True))
    manifest = read_table(out / "manifest.parquet", "manifest")
    variants = manifest[manifest["stage"] == "variant"]
    assert len(variants) and set(variants["regenerator"]) == {"singan"}
    assert sum(row["variants"] for row in summary["counts"].values()) == len(variants)
    assert "SinGAN variants." in (older / "report.html").read_text()
    metrics = read_table(older / "metrics.parquet", "metrics").set_index("id")
    assert set(metrics["stage"]) == {"original", "ganimation", "variant"}
    assert metrics.loc[variants["id"], "ssim_to_edit"].notna().all()
    again = read_table(older / "manifest.parquet", "manifest")
    pd.testing.assert_frame_equal(again, manifest)


def test_report_on_a_work_dir_without_an_expansion_summarises_the_dataset(report_world, tmp_path, runner):
    work, _ = report_world
    alone = tmp_path / "work"
    shutil.copytree(work, alone, ignore=shutil.ignore_patterns("expanded"))
    result = runner.invoke(app, ["report", str(alone)])
    assert result.exit_code == 0, result.output
    summary = json.loads((alone / "report.json").read_text())
    assert summary["verdict"]["level"] == "no expansion" and summary["metrics"] is None
    assert summary["counts"]["happy"]["original train"] > 0
    assert 'class="contact-sheet"' not in (alone / "report.html").read_text()


def test_report_never_overwrites_a_file_it_did_not_write(report_world, tmp_path, runner):
    _, out = report_world
    mine = tmp_path / "notes.html"
    mine.write_text("<html>my notes</html>")
    result = runner.invoke(app, ["report", str(out), "--html", str(mine), "--no-metrics"])
    assert result.exit_code == 2 and "not a faceaug report" in result.output
    assert mine.read_text() == "<html>my notes</html>"


def test_report_takes_openface_measurements_instead_of_the_estimator(report_world, tmp_path):
    _, out = report_world
    manifest = read_table(out / "manifest.parquet", "manifest")
    edit = manifest[manifest["stage"] == "ganimation"].iloc[0]
    aus = np.zeros(len(AU_NAMES), np.float32)
    aus[AU_NAMES.index("AU12")] = 0.8
    csvs = tmp_path / "openface"
    write_openface_csv(csvs / f"{edit['id']}.csv", [OpenFaceRow(aus=aus, landmarks=np.zeros((68, 2)))])
    copy = tmp_path / "expanded"
    shutil.copytree(out, copy)
    run_report(ReportRequest(path=copy, openface_dir=csvs))
    metrics = read_table(copy / "metrics.parquet", "metrics").set_index("id")
    assert metrics.loc[edit["id"], "achieved_AU12"] == pytest.approx(0.8, abs=0.01)
    assert metrics.drop(index=edit["id"])["au_error"].isna().all()  # no CSV: not measured


def _metrics(stage_rows: list[dict]) -> pd.DataFrame:
    base = {
        "id": "x",
        "label": "happy",
        "target": "happy",
        "source_id": "f0",
        "face_detected": True,
        "colour_spread": 0,
        "grey": True,
        "au_error": np.nan,
        "unedited_au_error": np.nan,
        "diversity": np.nan,
        "pairwise_ssim": np.nan,
        "ssim_to_edit": np.nan,
        "sifid": np.nan,
    }
    return pd.DataFrame([{**base, **row} for row in stage_rows])


def test_greyscale_sources_with_colour_outputs_are_a_warning_and_a_poor_verdict():
    rows = [{"id": "orig_f0", "stage": "original"}] + [
        {
            "id": f"e{i}",
            "stage": "ganimation",
            "colour_spread": 40,
            "grey": False,
            "au_error": 0.05,
            "unedited_au_error": 0.3,
        }
        for i in range(5)
    ]
    metrics = _metrics(rows)
    findings = image_findings(metrics)
    assert [f.code for f in findings] == ["colour_outputs"]
    assert "greyscale" in findings[0].message and "40" in findings[0].message
    verdict = judge(metrics, findings, None)
    assert verdict.level == "poor" and "colour" in verdict.text
    metrics["grey"], metrics["colour_spread"] = True, 0
    assert judge(metrics, image_findings(metrics), None).level == "good"


def test_colour_sources_tinted_outside_the_face_are_a_warning_and_a_poor_verdict():
    rows = [{"id": "orig_f0", "stage": "original", "colour_spread": 60, "grey": False}] + [
        {
            "id": f"e{i}",
            "stage": "ganimation",
            "colour_spread": 60,
            "grey": False,
            "au_error": 0.05,
            "unedited_au_error": 0.3,
            "colour_shift_outside_face": 9.0,
        }
        for i in range(5)
    ]
    metrics = _metrics(rows)
    findings = image_findings(metrics)
    assert [f.code for f in findings] == ["colour_shift"] and "9.0" in findings[0].message
    assert judge(metrics, findings, None).level == "poor"
    metrics["colour_shift_outside_face"] = np.where(metrics["stage"] == "original", np.nan, 0.5)
    assert image_findings(metrics) == [] and judge(metrics, [], None).level == "good"


def test_report_measures_the_tint_outside_the_face():
    """An edit tinted everywhere has a colour shift outside the face near the tint; a brightness change has 0."""
    from faceaug.report.scoring import score_manifest

    face = np.full((32, 32, 3), 120, np.uint8)
    images = {
        "o.png": face,
        "tinted.png": np.clip(face.astype(int) + [12, 0, -12], 0, 255).astype(np.uint8),
        "brighter.png": face + 20,
    }
    manifest = pd.DataFrame(
        {
            "id": ["orig_f0", "e_tinted_edit", "e_brighter_edit"],
            "path": ["o.png", "tinted.png", "brighter.png"],
            "label": "happy",
            "stage": ["original", "ganimation", "ganimation"],
            "target": "happy",
            "source_id": "f0",
            "is_generated": [False, True, True],
            **{au: 0.0 for au in AU_NAMES},
        }
    )
    shift = score_manifest(manifest, images.__getitem__, au_source=None)["colour_shift_outside_face"]
    assert np.isnan(shift[0]) and shift[1] == pytest.approx(8.0) and shift[2] == 0.0


def test_edits_that_do_not_reach_their_target_make_a_poor_verdict():
    rows = [{"id": "orig_f0", "stage": "original"}] + [
        {"id": f"e{i}", "stage": "ganimation", "au_error": 0.28, "unedited_au_error": 0.3} for i in range(5)
    ]
    verdict = judge(_metrics(rows), [], None)
    assert verdict.level == "poor" and "barely reach" in verdict.text and "0.280" in verdict.text
    no_aus = judge(
        _metrics([{"id": "orig_f0", "stage": "original"}, {"id": "e", "stage": "ganimation"}]),
        [Finding("x", "y")],
        None,
    )
    assert no_aus.level == "not judged" and "train-au" in no_aus.text


def test_sifid_with_weights_fills_the_column(report_world, tmp_path):
    from faceaug.metrics.sifid import InceptionStem

    _, out = report_world
    weights = tmp_path / "pt_inception.pth"
    torch.manual_seed(0)
    torch.save({**InceptionStem(192).state_dict(), "fc.weight": torch.zeros(2, 2)}, weights)
    copy = tmp_path / "expanded"
    shutil.copytree(out, copy)
    # 32-px samples are too small for the stem at its own stride: the report scores at the images' size, so
    # feed it 64-px copies
    for path in (copy / "images").rglob("*.png"):
        write_png_atomic(path, np.kron(read_image(path), np.ones((2, 2, 1), np.uint8)))
    run_report(ReportRequest(path=copy, inception_weights=weights))
    metrics = read_table(copy / "metrics.parquet", "metrics")
    singan = metrics[metrics["stage"] == "variant"]
    assert singan["sifid"].notna().all() and (singan["sifid"] >= -1e-6).all()


def test_a_model_trained_on_other_framings_is_a_warning():
    from faceaug.report.checks import model_findings

    found = model_findings("abc", "abc", "m1", {"openface": 100}, ["haar", "haar", "dlib"])
    assert [f.code for f in found] == ["landmark_method"] and "2 haar" in found[0].message
    assert model_findings("abc", "abc", "m1", {"openface": 100}, ["dlib", "openface"]) == []
    assert [f.code for f in model_findings("old", "abc", "m1")] == ["crop_template"]


def test_edits_that_repaint_the_face_make_a_poor_verdict():
    rows = [{"id": "orig_f0", "stage": "original"}] + [
        {"id": f"e{i}", "stage": "ganimation", "au_error": 0.05, "unedited_au_error": 0.3, "face_attention": 0.12}
        for i in range(5)
    ]
    verdict = judge(_metrics(rows), [], None)
    assert verdict.level == "poor" and "repainted" in verdict.text and "12%" in verdict.text


def test_the_report_finds_the_work_dir_and_model_from_another_working_directory(report_world, tmp_path, monkeypatch):
    """An expansion made with relative paths (as `make demo` does) reports from any working directory."""
    from faceaug.commands.expand import ExpandRequest, run_expand
    from faceaug.config import resolve_config
    from tests.report_fixtures import TINY

    work, _ = report_world
    monkeypatch.chdir(work.parent)
    run_expand(
        ExpandRequest(work_dir=Path(work.name), au_preset="happy", per_class=4, out_dir=Path("rel-out"), workers=1),
        resolve_config("fast", None, TINY, seed=0, device="cpu"),
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    summary = run_report(ReportRequest(path=work.parent / "rel-out"))
    assert not any("not at hand" in n for n in summary["notes"])
    metrics = read_table(work.parent / "rel-out" / "metrics.parquet", "metrics")
    assert metrics["face_attention"].notna().any() and metrics["au_error"].notna().any()
    shutil.rmtree(work.parent / "rel-out")


def test_the_report_names_what_made_the_variants():
    """An expansion made with `--regenerator patch` is not described as SinGAN's."""
    manifest = pd.DataFrame(
        {"stage": ["original", "ganimation", "variant", "variant"], "regenerator": [None, None, "patch", "patch"]}
    )
    assert variant_maker(manifest) == "patch regenerator"
    assert variant_maker(manifest.assign(regenerator=[None, None, "singan", "singan"])) == "SinGAN"
    assert variant_maker(manifest.assign(regenerator=[None, None, "singan", "patch"])) == "SinGAN and patch regenerator"
    assert variants_caption(manifest) == "patch regenerator variants."
    assert variants_caption(manifest.iloc[:2]).startswith("no variants")  # edits only
    rows = [{"id": "orig_f0", "stage": "original"}, {"id": "e0", "stage": "ganimation"}] + [
        {"id": f"e0_v{i}", "stage": "variant", "diversity": 0.01, "pairwise_ssim": 0.99, "ssim_to_edit": 0.99}
        for i in range(2)
    ]
    metrics = _metrics(rows)
    findings = image_findings(metrics, "patch regenerator")
    assert "the patch regenerator variants" in findings[0].message
    text = judge(metrics, findings, None, "patch regenerator").text
    assert "patch regenerator diversity" in text and "SinGAN" not in text
