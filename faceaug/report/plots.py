"""The report's pictures as PNG bytes: matplotlib plots (Agg, no screen) and contact sheets (numpy image grids)."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pandas as pd

from faceaug.aus import AU_NAMES
from faceaug.io.images import encode_png
from faceaug.report.scoring import ACHIEVED

TILE = 96  # contact-sheet tile side, px
GAP = 4


def _figure_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def class_balance(counts: pd.DataFrame) -> bytes:
    """Grouped bars per label; `counts` has one column per group (e.g. original train / original test / generated)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(counts) + 2), 3.2))
    width = 0.8 / max(1, len(counts.columns))
    x = np.arange(len(counts))
    for k, column in enumerate(counts.columns):
        ax.bar(x + (k - (len(counts.columns) - 1) / 2) * width, counts[column], width, label=str(column))
    ax.set_xticks(x, [str(i) for i in counts.index], rotation=30, ha="right")
    ax.set_ylabel("images")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("Class balance before / after expansion")
    return _figure_png(fig)


def au_heatmap(targets: pd.DataFrame, achieved: pd.DataFrame) -> bytes:
    """Per class (rows, in pairs: target then achieved mean) × the 17 AUs, 0–1."""
    plt = _pyplot()
    rows, names = [], []
    for label in targets.index:
        rows += [targets.loc[label].to_numpy(float), achieved.loc[label].to_numpy(float)]
        names += [f"{label} target", f"{label} achieved"]
    grid = np.array(rows)
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.4))
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="magma", aspect="auto")
    ax.set_xticks(range(len(AU_NAMES)), [a.split("_")[0] for a in AU_NAMES], rotation=90, fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.03, label="intensity (0–1)")
    ax.set_title("Target vs achieved AUs per generated class (mean over its images)")
    return _figure_png(fig)


def distributions(metrics: pd.DataFrame, maker: str = "SinGAN") -> bytes | None:
    """Histograms of the per-image metrics that were measured."""
    plt = _pyplot()
    panels = [
        (
            "AU error to target",
            [
                ("edits", metrics.loc[metrics["stage"] == "ganimation", "au_error"]),
                ("unedited sources", metrics["unedited_au_error"]),
            ],
        ),
        (f"{maker} diversity per edit", [("", metrics["diversity"])]),
        ("SSIM of a variant to its edit", [("", metrics["ssim_to_edit"])]),
        ("SIFID", [("", metrics["sifid"])]),
    ]
    panels = [(title, [(n, s.dropna()) for n, s in series if s.notna().any()]) for title, series in panels]
    panels = [p for p in panels if p[1]]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.6), squeeze=False)
    for ax, (title, series) in zip(axes[0], panels):
        for name, values in series:
            ax.hist(values, bins=20, alpha=0.6, label=name or None)
        if any(name for name, _ in series):
            ax.legend(frameon=False, fontsize=7)
        ax.set_title(title, fontsize=9)
    return _figure_png(fig)


def _tile(image: np.ndarray | None) -> np.ndarray:
    if image is None:
        return np.full((TILE, TILE, 3), 255, np.uint8)
    if image.ndim == 2:  # attention: 1 = kept from the source → white
        image = cv2.cvtColor((np.clip(image, 0, 1) * 255).astype(np.uint8), cv2.COLOR_GRAY2RGB)
    return cv2.resize(np.ascontiguousarray(image), (TILE, TILE), interpolation=cv2.INTER_LINEAR)


def contact_sheet(rows: list[list[np.ndarray | None]]) -> bytes:
    """A grid of tiles (each row: source, edit, attention, variants...; None = blank) as PNG bytes."""
    width = max(len(r) for r in rows)
    sheet = np.full((len(rows) * (TILE + GAP) + GAP, width * (TILE + GAP) + GAP, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            y, x = GAP + i * (TILE + GAP), GAP + j * (TILE + GAP)
            sheet[y : y + TILE, x : x + TILE] = _tile(image)
    return encode_png(sheet)


def achieved_means(metrics: pd.DataFrame, manifest: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(target means, achieved means) per generated label, columns = AU_NAMES."""
    generated = metrics["stage"] != "original"
    m = metrics[generated].set_index("id")
    targets = manifest.set_index("id").loc[m.index, list(AU_NAMES)].groupby(m["label"]).mean()
    achieved = m[ACHIEVED].groupby(m["label"]).mean()
    achieved.columns = list(AU_NAMES)
    return targets, achieved
