"""Figures of the statistics tables: the paired-significance matrix and the caption/matching sensitivity plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize, to_rgba  # noqa: E402

from mubench.figures.style import fit_titles  # noqa: E402

# No version or date stamps: the same table gives the same bytes.
_METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None, "Creator": None}}


NOT_SIGNIFICANT = "#E6E6E6"  # a neutral cell: the difference is within what chance explains
SIGNIFICANCE_PERCENT = ["acc_a", "acc_b", "diff", "diff_ci_low", "diff_ci_high"]
SENSITIVITY_PERCENT = ["accuracy", "default_accuracy", "difference", "spread"]


def save(fig: plt.Figure, path: str | Path, fmt: str) -> None:
    fig.savefig(path, format=fmt, dpi=150, metadata=_METADATA[fmt], bbox_inches="tight")


def in_percent(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The table with ``columns`` (fractions) in percent, 2 decimals, as Table 1 prints them."""
    return table.assign(**{c: (100 * table[c]).round(2) for c in columns})


def significance_matrix(significance: pd.DataFrame, subsets: Sequence[str], alpha: float) -> plt.Figure:
    """Per subset, a models × models matrix of accuracy differences (row − column, percentage points), models
    ordered best first. Only a difference whose Holm-corrected McNemar p is below ``alpha`` is coloured (red-blue by
    size and sign, in bold); the others sit on a light grey cell, so no untested-as-real gap looks stronger than a
    significant one. Every value's text colour is chosen for contrast with its cell."""
    subsets = [s for s in subsets if s in set(significance["subset"])]
    if not subsets:
        return _note("Paired comparisons need at least two models")
    n = max(len(_ranked(significance[significance["subset"] == s])) for s in subsets)
    fig, axes = plt.subplots(1, len(subsets), figsize=(len(subsets) * (0.7 * n + 2.5), 0.6 * n + 2.5), squeeze=False,
                             layout="constrained")
    significant = significance[significance["p_holm"] < alpha]
    limit = max(100 * significant["diff"].abs().max(), 1.0) if len(significant) else 1.0
    norm = Normalize(vmin=-limit, vmax=limit)
    cmap = plt.get_cmap("RdBu")
    for ax, subset in zip(axes[0], subsets):
        pairs = significance[significance["subset"] == subset]
        models = _ranked(pairs)
        index = {m: i for i, m in enumerate(models)}
        cells = np.ones((len(models), len(models), 4))  # RGBA; the diagonal and untested pairs stay white
        for r in pairs.itertuples():
            i, j = index[r.model_a], index[r.model_b]
            for row, col, value in ((i, j, 100 * r.diff), (j, i, -100 * r.diff)):
                significant = r.p_holm < alpha
                colour = cmap(norm(value)) if significant else to_rgba(NOT_SIGNIFICANT)
                cells[row, col] = colour
                ax.text(col, row, f"{value:+.1f}", ha="center", va="center", fontsize=7,
                        fontweight="bold" if significant else "normal", color=text_colour(colour))
        ax.imshow(cells, interpolation="nearest")
        ax.set_xticks(range(len(models)), models, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(models)), models, fontsize=7)
        ax.grid(False)
        ax.set_title(f"{subset}: row − column (pp)", fontsize=9)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes[0].tolist(), shrink=0.8,
                 label="significant difference (pp)")
    fig.suptitle(f"Paired comparisons — coloured and bold: Holm-corrected McNemar p < {alpha:g}; grey: not "
                 f"significant", fontsize=9)
    fit_titles(fig)
    return fig


def text_colour(background) -> str:
    """Black or white, whichever contrasts more with ``background`` (WCAG relative luminance)."""
    return "black" if relative_luminance(background) > 0.179 else "white"


def relative_luminance(colour) -> float:
    """WCAG 2 relative luminance of a colour (0 black … 1 white)."""
    channels = np.asarray(to_rgba(colour)[:3])
    linear = np.where(channels <= 0.03928, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    return float(linear @ [0.2126, 0.7152, 0.0722])


def _ranked(pairs: pd.DataFrame) -> list[str]:
    """Models best first: by the number of pairs in which each is the more accurate one, then by name."""
    wins = pd.concat([pairs["model_a"], pairs["model_b"]]).drop_duplicates()
    count = pairs["model_a"].value_counts()
    return sorted(wins, key=lambda m: (-count.get(m, 0), m))


def sensitivity_plot(sensitivity: pd.DataFrame, subsets: Sequence[str], labels: dict[str, str]) -> plt.Figure:
    """Per subset, each model's change in accuracy (percentage points, on the same questions) under every
    alternative caption set or matching rule; the default is at 0 and the bar spans the spread."""
    subsets = [s for s in subsets if s in set(sensitivity["subset"])]
    if not subsets:
        return _note("No model has an alternative caption set or matching rule")
    variants = sorted(set(sensitivity.loc[~sensitivity["is_default"].astype(bool), "variant"]))
    markers = dict(zip(variants, "osD^v<>ph*"))
    n = max(sensitivity[sensitivity["subset"] == s]["model"].nunique() for s in subsets)
    fig, axes = plt.subplots(1, len(subsets), figsize=(4.2 * len(subsets), 0.45 * n + 1.6), squeeze=False,
                             layout="constrained")
    for ax, subset in zip(axes[0], subsets):
        rows = sensitivity[sensitivity["subset"] == subset]
        models = sorted(rows["model"].unique(), key=lambda m: labels.get(m, m))
        for y, model in enumerate(models):
            own = rows[rows["model"] == model]
            low, high = min(own["difference"].min(), 0.0), max(own["difference"].max(), 0.0)
            ax.plot([100 * low, 100 * high], [y, y], color="0.7", linewidth=4, solid_capstyle="round")
            ax.plot([0], [y], marker="|", color="black", markersize=12)
            for r in own[~own["is_default"].astype(bool)].itertuples():
                ax.plot([100 * r.difference], [y], marker=markers.get(r.variant, "o"), linestyle="none",
                        color="C0" if r.factor == "caption_set" else "C3", label=f"{r.factor}: {r.variant}")
        ax.set_yticks(range(len(models)), [labels.get(m, m) for m in models], fontsize=7)
        ax.set_ylim(-0.6, len(models) - 0.4)
        ax.axvline(0, color="black", linewidth=0.5)
        ax.set_xlabel("accuracy − default on the same questions (pp)", fontsize=8)
        ax.set_title(subset, fontsize=9)
    handles = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=min(len(handles), 4),
                   fontsize=7, frameon=False)
    fig.suptitle("Sensitivity to caption wording and answer matching (bar: spread)", fontsize=9)
    fit_titles(fig)
    return fig


def _note(text: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(4, 1))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9)
    return fig
