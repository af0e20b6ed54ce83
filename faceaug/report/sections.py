"""The sections of the report's HTML page: the counts table, a contact sheet per generated class, the per-class
metrics, the AU estimator's own error, fer-eval's results and the notes, assembled by `page`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from faceaug.aus import AU_NAMES, LABEL_PROTOTYPE
from faceaug.fer.au_estimator import AuEstimator
from faceaug.io.images import read_image
from faceaug.report import plots
from faceaug.report.attention import Attention
from faceaug.report.checks import Finding, variants_caption
from faceaug.report.html import Sheet, data_uri, render_html, table_html
from faceaug.report.inputs import ReportInputs
from faceaug.report.scoring import edit_id_of
from faceaug.report.verdict import Verdict
from faceaug.schema import EDIT, VARIANT

SHEET_ROWS = 4  # edits shown per class
#: the counts table's column of each generated stage (also report.json's `counts`)
STAGE_COLUMNS = {EDIT: "ganimation", VARIANT: "variants"}


def counts_table(inputs: ReportInputs) -> pd.DataFrame:
    """Images per class: the originals by split, the generated ones by stage (edits, variants), and their ratio."""
    originals, generated = inputs.originals, inputs.generated
    labels = sorted(set(originals["label"]) | set(generated["label"]))
    table = pd.DataFrame(index=pd.Index(labels, name="label"))
    for split in ("train", "test"):
        table[f"original {split}"] = originals[originals["split"] == split]["label"].value_counts()
    for stage, column in STAGE_COLUMNS.items():
        table[column] = generated[generated["stage"] == stage]["label"].value_counts()
    table = table.fillna(0).astype(int)
    table["total"] = table.sum(axis=1)
    train = table["original train"].replace(0, np.nan)
    table["generated / original train"] = (table[list(STAGE_COLUMNS.values())].sum(axis=1) / train).round(2)
    return table


def contact_sheets(inputs: ReportInputs, metrics: pd.DataFrame | None, attention: Attention | None) -> list[Sheet]:
    """A contact sheet per generated class: up to `SHEET_ROWS` edits, each with its source, mask and variants."""
    manifest = inputs.manifest
    by_id = manifest.set_index("id")
    scores = metrics.set_index("id") if metrics is not None else None
    samples = manifest[manifest["stage"] == VARIANT]
    variants_of = dict(list(samples.groupby(samples["id"].map(edit_id_of))["path"]))
    sheets = []
    for label in sorted(manifest.loc[manifest["is_generated"], "label"].unique()):
        edits = manifest[(manifest["stage"] == EDIT) & (manifest["label"] == label)]
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


def estimator_section(est: AuEstimator | None, measured_by: str | None) -> str:
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


def fer_eval_section(inputs: ReportInputs) -> str | None:
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
        html += f"<figure><img class='plot' alt='fer-eval' src='{data_uri(png.read_bytes())}'></figure>"
    return html


def per_class(metrics: pd.DataFrame) -> pd.DataFrame:
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


def page(
    inputs: ReportInputs,
    verdict: Verdict,
    findings: list[Finding],
    counts: pd.DataFrame,
    metrics: pd.DataFrame | None,
    attention: Attention | None,
    est: AuEstimator | None,
    notes: list[str],
) -> str:
    """The whole HTML page."""
    plot_pngs: dict[str, bytes] = {}
    balance = counts[["original train", "original test"]].copy()
    if inputs.has_expansion:
        balance["generated"] = counts[list(STAGE_COLUMNS.values())].sum(axis=1)
    plot_pngs["balance"] = plots.class_balance(balance)
    sections: list[tuple[str, str]] = []
    sheets: list[Sheet] = []
    if inputs.has_expansion:
        sheets = contact_sheets(inputs, metrics, attention)
    if metrics is not None:
        if metrics["au_error"].notna().any():
            plot_pngs["au_heatmap"] = plots.au_heatmap(*plots.achieved_means(metrics, inputs.manifest))
        dist = plots.distributions(metrics)
        if dist:
            plot_pngs["distributions"] = dist
        sections.append(("Per generated class", table_html(per_class(metrics))))
    if inputs.has_expansion:
        sections.append(
            (
                "AU estimator",
                estimator_section(
                    est, metrics["au_measured_by"].iloc[0] if metrics is not None and len(metrics) else None
                ),
            )
        )
    fer = fer_eval_section(inputs)
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
