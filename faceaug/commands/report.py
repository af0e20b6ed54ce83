"""`faceaug report PATH`: what a dataset or an expansion holds and whether the generated images are any good.

PATH = a WORK_DIR, an expand OUT_DIR or a manifest file. Writes, next to the manifest (or into WORK_DIR without
an expansion): report.html (one self-contained page), report.json (verdict, numbers, warnings) and, for an
expansion, metrics.parquet (per-image metrics; the manifest is never rewritten). Prints the summary.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from faceaug.aus import AU_NAMES, LABEL_PROTOTYPE
from faceaug.console import info, progress
from faceaug.errors import UserError
from faceaug.fer.au_estimator import AuEstimator, default_au_estimator_path, trained_against
from faceaug.inference.au_coherence import coherent_sources
from faceaug.io.atomic import write_bytes_atomic, write_json_atomic
from faceaug.io.images import read_image, refuse_damaged_images
from faceaug.preprocess.align import crop_template_id
from faceaug.report import plots
from faceaug.report.checks import (
    Finding,
    dataset_findings,
    image_findings,
    model_findings,
    variant_maker,
    variants_caption,
)
from faceaug.report.html import Sheet, is_faceaug_report, render_html, table_html
from faceaug.report.inputs import MANIFEST, ReportInputs, load_inputs
from faceaug.report.scoring import edit_id_of, estimator_source, load_from, openface_source, score_manifest
from faceaug.report.verdict import Verdict, judge
from faceaug.schema import write_table_atomic

HTML_FILE = "report.html"
JSON_FILE = "report.json"
METRICS_FILE = "metrics.parquet"
SHEET_ROWS = 4  # edits shown per class


@dataclass
class ReportRequest:
    path: Path
    html: Path | None = None
    metrics: bool = True
    au_estimator: Path | None = None
    inception_weights: Path | None = None
    openface_dir: Path | None = None
    sifid_dims: int = 64
    device: str = "cpu"


def _counts(inputs: ReportInputs) -> pd.DataFrame:
    originals, generated = inputs.originals, inputs.generated
    labels = sorted(set(originals["label"]) | set(generated["label"]))
    table = pd.DataFrame(index=pd.Index(labels, name="label"))
    for split in ("train", "test"):
        table[f"original {split}"] = originals[originals["split"] == split]["label"].value_counts()
    for stage in ("ganimation", "singan"):
        table[stage] = generated[generated["stage"] == stage]["label"].value_counts()
    table = table.fillna(0).astype(int)
    table["total"] = table.sum(axis=1)
    train = table["original train"].replace(0, np.nan)
    table["generated / original train"] = ((table["ganimation"] + table["singan"]) / train).round(2)
    return table


def _estimator(request: ReportRequest, inputs: ReportInputs) -> AuEstimator | None:
    if request.au_estimator is not None:
        return AuEstimator.load(Path(request.au_estimator))
    if inputs.work_dir is not None and default_au_estimator_path(inputs.work_dir).is_file():
        return AuEstimator.load(default_au_estimator_path(inputs.work_dir))
    return None


def _sifid_stem(request: ReportRequest, notes: list[str]):
    from faceaug.metrics.sifid import WEIGHTS_FILE, find_inception_weights, load_inception_stem

    path = find_inception_weights(request.inception_weights)
    if path is None:
        notes.append(
            f"SIFID was not computed: it needs the pytorch-fid InceptionV3 weights ({WEIGHTS_FILE}), which "
            "cannot be downloaded here; pass --inception-weights FILE or put the file in the torch hub "
            "cache."
        )
        return None
    return load_inception_stem(path, request.sifid_dims)


def _editor(inputs: ReportInputs, device: str):
    """The expansion's GANimation editor, for the attention masks of the contact sheets (None if unavailable)."""
    model = inputs.settings.get("expand", {}).get("ganimation_model", {}).get("path")
    if not model or not Path(model).is_file():
        return None
    from faceaug.inference.editor import GanimationEditor

    try:
        return GanimationEditor.load(Path(model), device)
    except (UserError, OSError, ValueError, RuntimeError):
        return None


class _Attention:
    """Attention masks of edit rows from the expansion's editor, each computed once (scoring, then the sheets)."""

    def __init__(self, editor, faces: pd.DataFrame):
        self.editor, self.own, self.masks = editor, faces.set_index("face_id")[list(AU_NAMES)], {}

    def __call__(self, sources: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
        source_aus = self.own.reindex(rows["source_id"]).fillna(0.0).to_numpy(np.float32)
        masks = self.editor.edit(sources, rows[list(AU_NAMES)].to_numpy(np.float32), source_aus)[1]
        self.masks.update(zip(rows["id"], masks))
        return masks

    def of(self, edit: pd.Series, source: np.ndarray) -> np.ndarray:
        if edit["id"] not in self.masks:
            self(source[None], edit.to_frame().T)
        return self.masks[edit["id"]]


def _attention_of(editor, inputs: ReportInputs) -> _Attention | None:
    """The masks as expand made them: with the source AUs it gave the editor (inference.au_coherence)."""
    if editor is None or inputs.faces is None:
        return None
    try:
        faces = coherent_sources(inputs.faces, editor.condition, editor.provenance).sources
    except UserError:  # expand would have refused these sources: its masks cannot be recomputed faithfully
        return None
    return _Attention(editor, faces)


def _sheets(inputs: ReportInputs, metrics: pd.DataFrame | None, attention: _Attention | None) -> list[Sheet]:
    manifest = inputs.manifest
    by_id = manifest.set_index("id")
    scores = metrics.set_index("id") if metrics is not None else None
    samples = manifest[manifest["stage"] == "singan"]
    variants_of = dict(list(samples.groupby(samples["id"].map(edit_id_of))["path"]))
    sheets = []
    for label in sorted(manifest.loc[manifest["is_generated"], "label"].unique()):
        edits = manifest[(manifest["stage"] == "ganimation") & (manifest["label"] == label)]
        edits = edits.drop_duplicates("source_id").head(SHEET_ROWS)
        tiles, lines = [], []
        for _, edit in edits.iterrows():
            source_id = f"orig_{edit['source_id']}"
            source = read_image(inputs.out_dir / by_id.loc[source_id, "path"]) if source_id in by_id.index else None
            mask = attention.of(edit, source) if attention is not None and source is not None else None
            tiles.append(
                [
                    source,
                    read_image(inputs.out_dir / edit["path"]),
                    mask,
                    *[read_image(inputs.out_dir / p) for p in variants_of.get(edit["id"], [])],
                ]
            )
            line = f"source {edit['source_id']} ({by_id.loc[source_id, 'label'] if source_id in by_id.index else '?'})"
            if scores is not None and edit["id"] in scores.index:
                row = scores.loc[edit["id"]]
                if pd.notna(row["au_error"]):
                    line += f": AU error to target {row['unedited_au_error']:.3f} before → {row['au_error']:.3f} after"
                if pd.notna(row["diversity"]):
                    line += f"; variants: diversity {row['diversity']:.3f}, pairwise SSIM {row['pairwise_ssim']:.3f}"
            lines.append(line)
        if tiles:
            columns = (
                "Columns: source face · GANimation edit · attention mask (white = kept from the source"
                + ("" if attention is not None else "; not shown: the GANimation model file is not at hand")
                + f") · {variants_caption(manifest)}"
            )
            sheets.append(Sheet(label, plots.contact_sheet(tiles), columns, lines))
    return sheets


def _estimator_section(est: AuEstimator | None, measured_by: str | None) -> str:
    if measured_by == "openface":
        return "<p>Achieved AUs were measured by OpenFace on the generated images (--openface-dir).</p>"
    if est is None:
        return (
            "<p class='warn'>No AU estimator: achieved AUs were not measured. Run <code>faceaug train-au "
            "WORK_DIR</code> (or pass --au-estimator FILE / --openface-dir DIR).</p>"
        )
    held = est.heldout
    rows = pd.DataFrame(
        {
            "held-out MAE": [held.get(f"mae_{au}") for au in AU_NAMES],
            "always the mean": [held.get("baseline", {}).get(f"mae_{au}") for au in AU_NAMES],
        },
        index=pd.Index(AU_NAMES, name="AU"),
    )
    text = (
        f"<p>Achieved AUs come from faceaug's AU estimator (a CNN trained by <code>faceaug train-au</code> on "
        f"{est.training.get('n_train', '?')} real training faces, independent of GANimation's critic). Its own "
        f"error on {held.get('n', '?')} held-out faces ({held.get('how', '')}): MAE <b>{held.get('mae', 0):.3f}"
        f"</b> against {held.get('baseline', {}).get('mae', 0):.3f} for always answering the training mean — "
        "read the achieved-AU errors below with this in mind.</p>"
    )
    if est.training.get("synthetic_truth"):
        text += (
            "<p>This is a synthetic world: the held-out AUs are the renderer's exact values, so the MAE above "
            "is the estimator's agreement with the synth oracle's ground truth.</p>"
        )
    if LABEL_PROTOTYPE in est.training.get("au_source", []):
        text += (
            "<p class='warn'>The training faces' AUs are label prototypes: the estimator only learned one AU "
            "vector per class, so it tells whether an image looks like a class, not its AU intensities.</p>"
        )
    return text + table_html(rows)


def _fer_eval_section(inputs: ReportInputs) -> str | None:
    result = inputs.fer_eval
    if not result or not isinstance(result.get("arms"), dict):
        return None
    gains = result.get("gains", {}).get("accuracy", {})
    rows = {}
    for arm, value in result["arms"].items():
        acc = value.get("accuracy", {}) if isinstance(value, dict) else {}
        rows[arm] = {
            "accuracy": acc.get("mean"),
            "std": acc.get("std"),
            **{
                f"gain vs {base}": (gains.get(arm, {}).get(f"vs_{base}") or {}).get("gain", {}).get("mean")
                for base in ("original", "classic")
            },
        }
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "arm"
    html = "<p>From fer-eval.json (<code>faceaug fer-eval</code>): a compact CNN trained per arm and seed.</p>"
    html += table_html(df)
    png = (inputs.out_dir or inputs.work_dir) / "fer-eval.png"
    if png.is_file():
        from faceaug.report.html import data_uri

        html += f"<figure><img class='plot' alt='fer-eval' src='{data_uri(png.read_bytes())}'></figure>"
    return html


def _per_class(metrics: pd.DataFrame) -> pd.DataFrame:
    generated = metrics[metrics["stage"] != "original"]
    table = generated.groupby("label").agg(
        images=("id", "size"),
        face_detected=("face_detected", "mean"),
        grey=("grey", "mean"),
        au_error=("au_error", "mean"),
        unedited_au_error=("unedited_au_error", "mean"),
        diversity=("diversity", "mean"),
        pairwise_ssim=("pairwise_ssim", "mean"),
        ssim_to_edit=("ssim_to_edit", "mean"),
        sifid=("sifid", "mean"),
    )
    return table.astype({"images": int})


def _html_path(request: ReportRequest, inputs: ReportInputs) -> Path:
    path = Path(request.html) if request.html else (inputs.out_dir or inputs.work_dir) / HTML_FILE
    if path.exists():
        head = path.read_text(errors="replace")[:2000] if path.is_file() else ""
        if not is_faceaug_report(head):
            raise UserError(f"{path} exists and is not a faceaug report; choose another --html (nothing written).")
    return path


def _gate_notes(inputs: ReportInputs) -> list[str]:
    """What expand's quality gate (--min-edit-score) did, from expand.json."""
    gate = inputs.settings.get("expand", {}).get("quality_gate")
    if not isinstance(gate, dict):
        return []
    dropped = gate.get("dropped", {})
    reasons = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in dropped.items()) or "none"
    rules = [
        f"{name} {gate[key]:g}"
        for key, name in (
            ("min_edit_score", "min edit score"),
            ("min_target_probability", "min target probability"),
            ("max_identity_distance", "max identity distance"),
        )
        if isinstance(gate.get(key), (int, float))
    ]
    return [
        f"Quality gate ({', '.join(rules) or 'no rule'}): {gate.get('judged', 0)} edits judged, "
        f"{sum(dropped.values())} dropped ({reasons}) and drawn again from other sources."
    ]


def _editor_of(inputs: ReportInputs) -> dict[str, Any] | None:
    """Which editor made the expansion (expand.json's ganimation_model: name, id, bundled or not), or None."""
    model = inputs.settings.get("expand", {}).get("ganimation_model") if inputs.has_expansion else None
    if not isinstance(model, dict):
        return None
    return {
        "name": model.get("name") or model.get("path"),
        "id": model.get("id"),
        "bundled": bool(model.get("bundled", False)),
    }


def _editor_note(editor: dict[str, Any] | None) -> list[str]:
    if editor is None:
        return []
    kind = "the editor bundled with faceaug, trained on FER2013" if editor["bundled"] else "a model file"
    return [f"Edited by {editor['name']} ({kind}; weights {editor['id']})."]


def _check_images(inputs: ReportInputs, html_path: Path) -> None:
    """Every image the manifest lists exists inside OUT_DIR (no link out of it) and decodes, before anything is
    scored or written; otherwise a UserError that names them and says which earlier report is still there."""
    earlier = [path for path in (html_path, html_path.parent / JSON_FILE) if path.is_file()]
    note = (
        f"{' and '.join(str(path) for path in earlier)} {'are' if len(earlier) > 1 else 'is'} from an earlier "
        "run, not about these images."
        if earlier
        else ""
    )
    table = inputs.path if inputs.path.is_file() else inputs.out_dir / MANIFEST
    refuse_damaged_images(
        inputs.out_dir, inputs.manifest["path"], table=table, writer="the same `faceaug expand` command", note=note
    )


def run_report(request: ReportRequest) -> dict[str, Any]:
    started = time.perf_counter()
    inputs = load_inputs(Path(request.path))
    html_path = _html_path(request, inputs)
    if inputs.has_expansion:
        _check_images(inputs, html_path)
    findings: list[Finding] = dataset_findings(inputs)
    editor_used = _editor_of(inputs)
    notes: list[str] = _editor_note(editor_used) + _gate_notes(inputs)
    est = None if request.openface_dir else _estimator(request, inputs)
    metrics, editor, attention = None, None, None
    maker = variant_maker(inputs.manifest) if inputs.has_expansion else "SinGAN"
    if inputs.has_expansion:
        editor = _editor(inputs, request.device)
        attention = _attention_of(editor, inputs)
        if editor is not None:
            sources = set(inputs.generated["source_id"])
            methods = (
                inputs.faces.loc[inputs.faces["face_id"].isin(sources), "landmark_method"]
                if inputs.faces is not None
                else []
            )
            trained = (editor.provenance.get("training") or {}).get("landmark_methods")
            findings += model_findings(editor.crop_template, crop_template_id(), str(editor.model_id), trained, methods)
            judge_problem = trained_against(editor.provenance, est) if est is not None else None
            if judge_problem:
                findings.append(Finding("au_judge", f"{judge_problem}."))
    if inputs.has_expansion and request.metrics:
        if request.openface_dir is not None and not Path(request.openface_dir).is_dir():
            raise UserError(f"--openface-dir {request.openface_dir} is not a folder.")
        source = (
            openface_source(Path(request.openface_dir))
            if request.openface_dir
            else estimator_source(est, request.device)
            if est is not None
            else None
        )
        stem = _sifid_stem(request, notes)
        with progress() as bar:
            task = bar.add_task("score images", total=len(inputs.manifest))
            metrics = score_manifest(
                inputs.manifest,
                load_from(inputs.out_dir),
                au_source=source,
                sifid_stem=stem,
                attention_of=attention,
                on_progress=lambda n: bar.advance(task, n),
            )
        write_table_atomic(metrics, inputs.out_dir / METRICS_FILE, "metrics")
        findings += image_findings(metrics, maker)
    elif inputs.has_expansion:
        notes.append("Per-image metrics were skipped (--no-metrics).")
    verdict = judge(
        metrics,
        findings,
        est.heldout | {"au_source": est.training.get("au_source", [])} if est is not None else None,
        maker,
    )
    counts = _counts(inputs)
    page = _page(inputs, verdict, findings, counts, metrics, attention, est, notes)
    write_bytes_atomic(page.encode(), html_path)
    summary = {
        "verdict": {"level": verdict.level, "text": verdict.text, "numbers": verdict.numbers},
        "editor": editor_used,
        "findings": [f.__dict__ for f in findings],
        "notes": notes,
        "counts": json.loads(counts.to_json(orient="index")),
        "html": str(html_path),
        "metrics": str(inputs.out_dir / METRICS_FILE) if metrics is not None else None,
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_json_atomic(summary, html_path.parent / JSON_FILE)
    from faceaug.report.terminal import print_report

    print_report(verdict, findings, counts, metrics, notes)
    info(f"report: {html_path} ({summary['seconds']:.0f} s)")
    return summary


def _page(inputs, verdict: Verdict, findings, counts, metrics, attention, est, notes) -> str:
    plot_pngs: dict[str, bytes] = {}
    balance = counts[["original train", "original test"]].copy()
    if inputs.has_expansion:
        balance["generated"] = counts["ganimation"] + counts["singan"]
    plot_pngs["balance"] = plots.class_balance(balance)
    sections: list[tuple[str, str]] = []
    sheets: list[Sheet] = []
    if inputs.has_expansion:
        sheets = _sheets(inputs, metrics, attention)
    if metrics is not None:
        if metrics["au_error"].notna().any():
            plot_pngs["au_heatmap"] = plots.au_heatmap(*plots.achieved_means(metrics, inputs.manifest))
        dist = plots.distributions(metrics)
        if dist:
            plot_pngs["distributions"] = dist
        sections.append(("Per generated class", table_html(_per_class(metrics))))
    if inputs.has_expansion:
        sections.append(
            (
                "AU estimator",
                _estimator_section(
                    est, metrics["au_measured_by"].iloc[0] if metrics is not None and len(metrics) else None
                ),
            )
        )
    fer = _fer_eval_section(inputs)
    if fer:
        sections.append(("Does it help a classifier? (fer-eval)", fer))
    if notes:
        sections.append(("Notes", "<ul>" + "".join(f"<li>{n}</li>" for n in notes) + "</ul>"))
    title = f"faceaug report — {inputs.path}"
    return render_html(
        title=title,
        verdict=verdict,
        findings=findings,
        counts=counts,
        plots=plot_pngs,
        sheets=sheets,
        sections=sections,
        settings=inputs.settings,
    )


__all__ = ["ReportRequest", "run_report"]
