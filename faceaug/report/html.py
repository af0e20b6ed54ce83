"""The report as one self-contained HTML file: every image and plot embedded as a data URI, no scripts, no links
out, so it opens anywhere (and can be mailed). `GENERATOR` marks the files faceaug wrote (an existing file without
it is never overwritten)."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from faceaug import __version__
from faceaug.report.checks import Finding
from faceaug.report.verdict import Verdict

GENERATOR = "faceaug report"
_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;color:#222;
padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
.verdict{padding:1em;border-radius:6px;border-left:6px solid #888;background:#f6f6f6}
.verdict.good{border-color:#2a8a3a}.verdict.usable{border-color:#c99a00}.verdict.poor{border-color:#c0392b}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em}
th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}
.warn{color:#a04000}figure{margin:1em 0}figcaption{font-size:.85em;color:#555}
img{max-width:100%}pre{background:#f6f6f6;padding:.6em;overflow:auto;font-size:.8em}
"""


@dataclass
class Sheet:
    label: str
    png: bytes
    columns: str  # what the columns show
    rows: list[str] = field(default_factory=list)  # one line per row of tiles


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _img(png: bytes, alt: str, cls: str = "") -> str:
    return f'<img class="{cls}" alt="{html.escape(alt)}" src="{data_uri(png)}">'


def table_html(df: pd.DataFrame, float_format: str = "{:.3f}") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [df.index.name or "", *df.columns])
    body = []
    for index, *row in df.itertuples(index=True, name=None):
        cells = [f"<th>{html.escape(str(index))}</th>"]
        for value in row:
            if isinstance(value, (float, np.floating)):
                text = "" if pd.isna(value) else float_format.format(value)
                cells.append(f'<td class="n">{text}</td>')
            elif isinstance(value, (int, np.integer)):
                cells.append(f'<td class="n">{value}</td>')
            else:
                cells.append(f"<td>{html.escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def render_html(
    *,
    title: str,
    verdict: Verdict,
    findings: list[Finding],
    counts: pd.DataFrame,
    plots: dict[str, bytes],
    sheets: list[Sheet],
    sections: list[tuple[str, str]],
    settings: dict[str, Any],
) -> str:
    """The page. `sections` are (heading, inner HTML) pairs placed after the contact sheets."""
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='generator' content='{GENERATOR} {html.escape(__version__)}'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<div class='verdict {verdict.level.replace(' ', '-')}' id='verdict'><strong>Verdict: "
        f"{html.escape(verdict.level)}.</strong> {html.escape(verdict.text)}</div>",
    ]
    if findings:
        parts.append(
            "<h2>Warnings</h2><ul>"
            + "".join(
                f"<li class='warn'><code>{html.escape(f.code)}</code> {html.escape(f.message)}</li>" for f in findings
            )
            + "</ul>"
        )
    parts.append("<h2>Counts</h2>" + table_html(counts))
    if "balance" in plots:
        parts.append(f"<figure>{_img(plots['balance'], 'class balance', 'plot')}</figure>")
    if sheets:
        parts.append("<h2>Contact sheets</h2>")
        for sheet in sheets:
            rows = "".join(f"<li>{html.escape(r)}</li>" for r in sheet.rows)
            parts.append(
                f"<figure id='sheet-{html.escape(sheet.label)}'><h3>{html.escape(sheet.label)}</h3>"
                f"{_img(sheet.png, f'contact sheet {sheet.label}', 'contact-sheet')}"
                f"<figcaption>{html.escape(sheet.columns)}<ol>{rows}</ol></figcaption></figure>"
            )
    for key, heading in (("au_heatmap", "AUs: target vs achieved"), ("distributions", "Metric distributions")):
        if key in plots:
            parts.append(f"<h2>{heading}</h2><figure>{_img(plots[key], heading, 'plot')}</figure>")
    for heading, inner in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{inner}")
    if settings:
        parts.append("<h2>Resolved settings of every stage</h2>")
        for stage, value in settings.items():
            parts.append(
                f"<details><summary>{html.escape(stage)}</summary><pre>"
                f"{html.escape(json.dumps(value, indent=2, default=str))}</pre></details>"
            )
    parts.append(f"<p><small>Written by faceaug {html.escape(__version__)}.</small></p></body></html>")
    return "\n".join(parts)


def is_faceaug_report(text_head: str) -> bool:
    return f"content='{GENERATOR}" in text_head
