"""The report in the terminal (rich): the verdict first, then warnings, counts and the per-class metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
from rich.panel import Panel
from rich.table import Table

from faceaug.console import console
from faceaug.report.checks import Finding
from faceaug.report.verdict import Verdict

_STYLE = {"good": "green", "usable": "yellow", "poor": "red"}


def _table(df: pd.DataFrame, title: str) -> Table:
    table = Table(title=title)
    table.add_column(df.index.name or "")
    for column in df.columns:
        table.add_column(str(column), justify="right")
    for index, *row in df.itertuples(index=True, name=None):
        cells = []
        for value in row:
            if isinstance(value, (float, np.floating)):
                cells.append("" if pd.isna(value) else f"{value:.3f}")
            else:
                cells.append(str(value))
        table.add_row(str(index), *cells)
    return table


def print_report(
    verdict: Verdict, findings: list[Finding], counts: pd.DataFrame, metrics: pd.DataFrame | None, notes: list[str]
) -> None:
    console.print(
        Panel(verdict.text, title=f"verdict: {verdict.level}", border_style=_STYLE.get(verdict.level, "white"))
    )
    for finding in findings:
        console.print(f"[yellow]warning[/] ({finding.code}): {finding.message}", markup=True, highlight=False)
    console.print(_table(counts, "images per class"))
    if metrics is not None:
        generated = metrics[metrics["stage"] != "original"]
        if len(generated):
            per_class = generated.groupby("label").agg(
                face_detected=("face_detected", "mean"),
                au_error=("au_error", "mean"),
                unedited=("unedited_au_error", "mean"),
                diversity=("diversity", "mean"),
                pairwise_ssim=("pairwise_ssim", "mean"),
                ssim_to_edit=("ssim_to_edit", "mean"),
            )
            console.print(_table(per_class, "generated images per class (means)"))
    for note in notes:
        console.print(f"note: {note}", highlight=False)
