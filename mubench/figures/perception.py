"""Perception results broken down by axis (Fig. 4, 11, 12, 13, 14), from the long score table of accuracy_table.

Every plot function draws from one tidy frame and returns it (percent, with the CI bounds of the score table; a
bound outside 0–100 % is drawn at the edge), so what a figure shows can be checked without reading pixels.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mubench.benchmark.tables import COARSE_TYPES
from mubench.figures.style import (
    GROUP_LABELS, NEUTRAL, PAPER_WIDTH_IN, group_colour, group_legend_handles, note_figure, paper_style,
    save_figure,
)
from mubench.models.spec import ModelSpec
from mubench.scoring.accuracy import domain_scope

PERCEPTION_SUBSETS = ("coarse", "fine")
# Fig. 4's panels: (title, subset, level) — the coarse questions by the image's attribute, the fine ones by task.
FIG4_AXES = [(attribute, "coarse", attribute) for attribute in ("modality", "submodality", "domain", "subdomain",
                                                                 "stain")] + [("fine-grained task", "fine", "dataset")]
ALL_SCOPE, PATHOLOGY_SCOPE, BIOLOGY_SCOPE = "all", domain_scope("pathology"), domain_scope("biology")
PLOT_COLUMNS = ["panel", "category", "model", "label", "group", "n", "accuracy", "ci_low", "ci_high"]


def selection_score(scores: pd.DataFrame) -> pd.Series:
    """Per model: the mean of its official coarse and fine totals (each subset counts once), the ranking used to
    pick the best model of a group and the radar's top models."""
    totals = scores[(scores["scope"] == ALL_SCOPE) & (scores["level"] == "total")
                    & scores["subset"].isin(PERCEPTION_SUBSETS)]
    return totals.groupby("model")["accuracy"].mean()


def ranked_models(scores: pd.DataFrame, models: Sequence[ModelSpec]) -> list[ModelSpec]:
    """Models with scores, best first by selection_score; ties by name, so the order never depends on input order."""
    score = selection_score(scores)
    scored = [m for m in models if m.name in score.index and not np.isnan(score[m.name])]
    return sorted(scored, key=lambda m: (-score[m.name], m.name))


def best_per_group(scores: pd.DataFrame, models: Sequence[ModelSpec]) -> list[ModelSpec]:
    """The best model (selection_score) of each family group present, in the legend's group order."""
    best: dict[str, ModelSpec] = {}
    for spec in ranked_models(scores, models):
        best.setdefault(spec.group, spec)
    return [best[g] for g in GROUP_LABELS if g in best] + [s for g, s in best.items() if g not in GROUP_LABELS]


def plot_rows(scores: pd.DataFrame, models: Sequence[ModelSpec], scope: str, subset: str, level: str,
              panel: str | None = None) -> pd.DataFrame:
    """PLOT_COLUMNS rows (percent) of ``models`` at one scope/subset/level, one per (category, model), categories
    sorted and models in the given order; ``panel`` names where they are drawn (None: one panel per category)."""
    rows = scores[(scores["scope"] == scope) & (scores["subset"] == subset) & (scores["level"] == level)
                  & (scores["n"] > 0)]
    by_name = {m.name: m for m in models}
    order = {m.name: i for i, m in enumerate(models)}
    rows = rows[rows["model"].isin(by_name)]
    rows = rows.assign(_order=rows["model"].map(order)).sort_values(["group", "_order"], kind="stable")
    data = pd.DataFrame({
        "panel": panel,
        "category": rows["group"].to_numpy(),  # the score table's group: a question type, dataset, modality...
        "model": rows["model"].to_numpy(),
        "label": [by_name[m].label for m in rows["model"]],
        "group": [by_name[m].group for m in rows["model"]],  # the model's family group
        "n": rows["n"].to_numpy(),
        **{c: 100 * rows[c].to_numpy(dtype=float) for c in ("accuracy", "ci_low", "ci_high")},
    }, columns=PLOT_COLUMNS)
    if panel is None:
        data["panel"] = data["category"]
    return data.reset_index(drop=True)


def fig4_data(scores: pd.DataFrame, models: Sequence[ModelSpec]) -> pd.DataFrame:
    """The best model of each group on every perception axis, for all of the benchmark and its pathology part."""
    best = best_per_group(scores, models)
    frames = []
    for scope in (ALL_SCOPE, PATHOLOGY_SCOPE):
        for title, subset, level in FIG4_AXES:
            frames.append(plot_rows(scores, best, scope, subset, level, title).assign(scope=scope))
    return pd.concat(frames, ignore_index=True)[["scope", *PLOT_COLUMNS]]


def plot_fig4(scores: pd.DataFrame, models: Sequence[ModelSpec], png, pdf) -> pd.DataFrame:
    """Fig. 4: top row all questions, bottom row pathology-domain questions; one panel per axis, one bar (± CI) per
    best-of-group model and category."""
    data = fig4_data(scores, models)
    best = best_per_group(scores, models)
    widths = [max(2, data.loc[data["panel"] == title, "category"].nunique()) for title, _, _ in FIG4_AXES]
    bar = 0.8 / max(len(best), 1)
    # paper width for a few categories; wider (up to 20 in, the PDF zooms) for uBench's 70-odd axis values
    width_in = min(20.0, max(PAPER_WIDTH_IN, 0.11 * len(best) * sum(widths) + 1.5))
    with paper_style():
        fig, axes = plt.subplots(2, len(FIG4_AXES), figsize=(width_in, 7.0), squeeze=False, layout="constrained",
                                 gridspec_kw={"width_ratios": widths}, sharey=True)
        for row, (scope, scope_title) in enumerate([(ALL_SCOPE, "all of the benchmark"),
                                                    (PATHOLOGY_SCOPE, "pathology domain only")]):
            for col, (title, _, _) in enumerate(FIG4_AXES):
                ax = axes[row][col]
                rows = data[(data["scope"] == scope) & (data["panel"] == title)]
                categories = sorted(rows["category"].unique())
                if not categories:
                    ax.text(0.5, 0.5, "no questions", ha="center", va="center", transform=ax.transAxes,
                            color=NEUTRAL)
                for i, spec in enumerate(best):
                    mine = rows[rows["model"] == spec.name].set_index("category").reindex(categories)
                    x = np.arange(len(categories)) + (i - (len(best) - 1) / 2) * bar
                    _bars(ax, x, mine, spec.group, bar, vertical=True)
                ax.set_xticks(np.arange(len(categories)), categories, rotation=90)
                ax.set_ylim(0, 100)
                ax.set_title(title if row == 0 else "")
                ax.grid(axis="x", visible=False)
            axes[row][0].set_ylabel(f"accuracy (%)\n{scope_title}")
        fig.legend(handles=[_model_patch(spec) for spec in best], loc="outside lower center", ncol=min(len(best), 3),
                   frameon=False)
        fig.suptitle("Fig. 4 — best model of each group per perception axis (bars: basic-bootstrap 95 % CI)")
        save_figure(fig, png, pdf)
    return data


def plot_model_bars(scores: pd.DataFrame, models: Sequence[ModelSpec], scope: str, subset: str, level: str,
                    title: str, png, pdf, empty_message: str, ncols: int = 3) -> pd.DataFrame:
    """One panel per group of ``level`` (question type, task): a horizontal bar (± CI) per model, models in one
    order (best first) in every panel. Writes a note figure with ``empty_message`` when there is nothing to draw."""
    ranked = ranked_models(scores, models)
    data = plot_rows(scores, ranked, scope, subset, level)
    data = data.sort_values("panel", key=lambda p: p.map(_category_order), kind="stable", ignore_index=True)
    panels = list(dict.fromkeys(data["panel"]))
    if data.empty:
        note_figure(png, pdf, title, empty_message)
        return data
    ncols = min(ncols, len(panels))
    nrows = -(-len(panels) // ncols)
    height = 0.9 + nrows * (0.5 + 0.16 * len(ranked))
    with paper_style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(PAPER_WIDTH_IN, height), squeeze=False, sharey=True,
                                 sharex=True, layout="constrained")
        y = np.arange(len(ranked))[::-1]  # best model on top
        for ax, panel in zip(axes.flat, panels):
            mine = data[data["panel"] == panel].set_index("model").reindex([m.name for m in ranked])
            for spec, yi in zip(ranked, y):
                _bars(ax, np.array([yi]), mine.loc[[spec.name]], spec.group, 0.75, vertical=False)
            ax.set_title(f"{_wrap(panel)}\nn = {int(mine['n'].max())}", fontsize=7)
            ax.set_xlim(0, 100)
            ax.set_yticks(y, [m.label for m in ranked])
            ax.grid(axis="y", visible=False)
        for ax in axes.flat[len(panels):]:
            ax.axis("off")
        for ax in axes.flat[max(0, len(panels) - ncols):len(panels)]:  # the lowest panel of each column
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("accuracy (%)")
        groups = [m.group for m in ranked]
        fig.legend(handles=group_legend_handles(groups), loc="outside lower center", ncol=5, frameon=False)
        fig.suptitle(f"{title} (bars: basic-bootstrap 95 % CI)")
        save_figure(fig, png, pdf)
    return data


def plot_fig12(scores, models, png, pdf) -> pd.DataFrame:
    """Fig. 12: coarse-grained accuracy per question type."""
    return plot_model_bars(scores, models, ALL_SCOPE, "coarse", "question_type",
                           "Fig. 12 — coarse-grained perception by question type", png, pdf,
                           "no coarse-grained questions were scored", ncols=3)


def plot_fig13(scores, models, png, pdf) -> pd.DataFrame:
    """Fig. 13: fine-grained accuracy per task (dataset) on biology-domain images."""
    return plot_model_bars(scores, models, BIOLOGY_SCOPE, "fine", "dataset",
                           "Fig. 13 — fine-grained perception by task, biology", png, pdf,
                           "no fine-grained question of this benchmark is on a biology-domain image", ncols=3)


def plot_fig14(scores, models, png, pdf) -> pd.DataFrame:
    """Fig. 14: fine-grained accuracy per task (dataset) on pathology-domain images."""
    return plot_model_bars(scores, models, PATHOLOGY_SCOPE, "fine", "dataset",
                           "Fig. 14 — fine-grained perception by task, pathology", png, pdf,
                           "no fine-grained question of this benchmark is on a pathology-domain image", ncols=3)


def radar_data(scores: pd.DataFrame, models: Sequence[ModelSpec], n_models: int) -> pd.DataFrame:
    """The top ``n_models`` (selection_score) on every axis: each coarse question type, and the fine and cognition
    totals (cognition where it was scored)."""
    top = ranked_models(scores, models)[:n_models]
    coarse = plot_rows(scores, top, ALL_SCOPE, "coarse", "question_type")
    frames = [coarse.sort_values("category", key=lambda c: c.map(_category_order), kind="stable")]
    for subset in ("fine", "cognition"):
        frames.append(plot_rows(scores, top, ALL_SCOPE, subset, "total").assign(category=subset))
    return pd.concat(frames, ignore_index=True).assign(panel="radar")


def plot_fig11(scores: pd.DataFrame, models: Sequence[ModelSpec], n_models: int, png, pdf) -> pd.DataFrame:
    """Fig. 11: radar of the top models across all axes; the shaded band is each model's 95 % CI."""
    data = radar_data(scores, models, n_models)
    spokes = list(dict.fromkeys(data["category"]))
    if len(spokes) < 3:
        note_figure(png, pdf, "Fig. 11 — radar of the top models", f"a radar needs at least 3 axes; this run has "
                    f"{len(spokes)} ({', '.join(spokes) or 'none'})")
        return data
    angles = np.linspace(0, 2 * np.pi, len(spokes), endpoint=False)
    closed = np.append(angles, angles[0])
    top = ranked_models(scores, models)[:n_models]
    styles = ["-", "--", ":", "-."]
    with paper_style():
        fig, ax = plt.subplots(figsize=(PAPER_WIDTH_IN * 0.75, PAPER_WIDTH_IN * 0.8),
                               subplot_kw={"projection": "polar"}, layout="constrained")
        for i, spec in enumerate(top):
            mine = data[data["model"] == spec.name].set_index("category").reindex(spokes)
            colour = group_colour(spec.group)
            values = mine[["accuracy", "ci_low", "ci_high"]].to_numpy(dtype=float).clip(0.0, 100.0)
            values = np.vstack([values, values[:1]])
            ax.fill_between(closed, values[:, 1], values[:, 2], color=colour, alpha=0.15, linewidth=0)
            ax.plot(closed, values[:, 0], styles[i % len(styles)], color=colour, marker="o", markersize=3,
                    label=spec.label)
        ax.set_xticks(angles, spokes)
        ax.tick_params(axis="x", pad=8)  # axis names clear of the outer circle
        ax.set_ylim(0, 100)
        ax.set_yticks([20, 40, 60, 80, 100])  # no "0": at the centre every spoke would cross it
        ax.set_rlabel_position(radial_label_angle(len(spokes)))
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2, frameon=False)
        ax.set_title(f"Fig. 11 — top {len(top)} models across all axes (band: 95 % CI)", pad=18)
        save_figure(fig, png, pdf)
    return data


def radial_label_angle(n_spokes: int) -> float:
    """Degrees halfway between the first two spokes: the radial tick labels sit in a gap, never on a spoke."""
    return 180.0 / n_spokes


def _wrap(name: str, width: int = 26) -> str:
    """A task name over lines of at most ``width`` characters, broken after underscores where it has no spaces."""
    return textwrap.fill(name.replace("_", "_ "), width).replace("_ ", "_")


def _category_order(category: str) -> tuple:
    """Question types in the paper's order (modality … stain), anything else alphabetically after them."""
    return (COARSE_TYPES.index(category), "") if category in COARSE_TYPES else (len(COARSE_TYPES), category)


def _bars(ax, positions, rows: pd.DataFrame, group: str, width: float, vertical: bool) -> None:
    """Bars at ``positions`` with asymmetric CI whiskers cut at 0–100 % (rows: accuracy, ci_low, ci_high). A bar of
    0 % would be invisible and read as missing, so it gets a stub across its width and a "0" beyond its whisker; a
    missing value (NaN) is written "n/a" instead of leaving a gap."""
    values = rows["accuracy"].to_numpy(dtype=float)
    low, high = (np.clip(rows[c].to_numpy(dtype=float), 0.0, 100.0) for c in ("ci_low", "ci_high"))  # 0–100 %
    errors = np.vstack([values - low, high - values])
    colour = group_colour(group)
    draw = ax.bar if vertical else ax.barh
    extent = {"width": width} if vertical else {"height": width}
    error = {"yerr": errors} if vertical else {"xerr": errors}
    draw(positions, np.nan_to_num(values), color=colour, **extent, **error,
         error_kw={"elinewidth": 0.7, "ecolor": "black"})
    for position, value, top in zip(positions, values, high):
        if value == 0 or np.isnan(value):
            across = [position - width / 2, position + width / 2]
            if value == 0:
                ax.plot(*(([across, [0, 0]]) if vertical else ([0, 0], across)), color=colour, linewidth=1.5,
                        solid_capstyle="butt", clip_on=False, gid="zero-stub")
            end = top if np.isfinite(top) else 0.0
            ax.annotate("0" if value == 0 else "n/a", (position, end) if vertical else (end, position),
                        xytext=(0, 1.5) if vertical else (1.5, 0), textcoords="offset points", fontsize=6.5,
                        ha="center" if vertical else "left", va="bottom" if vertical else "center", color=NEUTRAL,
                        gid="zero-label" if value == 0 else "missing-label")


def _model_patch(spec: ModelSpec):
    from matplotlib.patches import Patch

    return Patch(color=group_colour(spec.group), label=f"{spec.label} ({GROUP_LABELS.get(spec.group, spec.group)})")
