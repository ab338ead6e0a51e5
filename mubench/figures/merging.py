"""Weight-merging outputs: Table 19 (Table 1 plus merged rows), Fig. 5 (pathology H&E vs μ-Bench accuracy, arrows
base → tuned → merged) and the accuracy-vs-α curve, from the slice accuracies of mubench.scoring.slices.
"""

from __future__ import annotations

from collections.abc import Sequence

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mubench.figures.table1 import build_table1
from mubench.analyses.merging.plan import MergePlan
from mubench.models.spec import ModelSpec
from mubench.figures.labels import PointLabel, place_labels
from mubench.figures.style import (
    NEUTRAL, PAPER_WIDTH_IN, ROLE_COLOURS, fit_titles, group_colour, paper_style, save_figure,
)
from mubench.scoring.accuracy import BootstrapSettings, accuracy_table
from mubench.scoring.slices import ALL, HE, NON_PATHOLOGY, PATHOLOGY

CURVE_COLUMNS = ["pair", "alpha", "model", "subset", "slice", "n", "accuracy", "ci_low", "ci_high"]
FIG5_COLUMNS = ["source", "subset", "pair", "role", "model", "label", "x", "x_low", "x_high", "y", "y_low", "y_high"]


def alpha_curve(accuracy: pd.DataFrame, plan: MergePlan) -> pd.DataFrame:
    """Accuracy per (pair, α, subset, slice); α = 1 is the base model and α = 0 the tuned one, as merged."""
    merged = pd.DataFrame([{"pair": m.pair, "alpha": m.alpha, "model": name} for name, m in plan.merged.items()])
    table = merged.merge(accuracy, on="model")
    return table[CURVE_COLUMNS].sort_values(["pair", "subset", "slice", "alpha"]).reset_index(drop=True)


def table19(predictions: pd.DataFrame, models: Sequence[ModelSpec], plan: MergePlan, subsets: Sequence[str],
            reference: pd.DataFrame, pathology_reference: pd.DataFrame, accuracy: pd.DataFrame,
            bootstrap: BootstrapSettings) -> pd.DataFrame:
    """Table 1's columns for every model (merged ones included) plus pair, α and the slice accuracies."""
    scores = accuracy_table(predictions, bootstrap=bootstrap, excluded_datasets=[])
    table = build_table1(scores, models, subsets, reference)
    by_label = {spec.label: spec for spec in models}
    table["pair"] = [plan.merged[by_label[m].name].pair if by_label[m].name in plan.merged else "" for m in
                     table["model"]]
    table["alpha"] = [plan.merged[by_label[m].name].alpha if by_label[m].name in plan.merged else None for m in
                      table["model"]]
    wide = accuracy.pivot_table(index=["model", "subset"], columns="slice", values="accuracy")
    for name in (PATHOLOGY, HE, NON_PATHOLOGY):
        table[f"{name}_accuracy"] = [round(wide[name].get((by_label[m].name, s), float("nan")), 2)
                                     for m, s in zip(table["model"], table["subset"])]
    paper = pathology_reference.set_index(["subset", "model"])["accuracy"]
    table["paper_pathology_accuracy"] = [paper.get((s, by_label[m].paper_name)) for m, s in
                                         zip(table["model"], table["subset"])]
    return table


ROLES = ("base", "tuned", "merged")
_MARKERS = ["o", "s", "^", "D", "v", "P"]


def _pair_models(plan: MergePlan, pair: dict) -> list[str]:
    from mubench.analyses.merging.plan import merged_name

    return [pair["base"], pair["tuned"], merged_name(pair["name"], plan.report_alpha)]


def fig5_points(accuracy: pd.DataFrame, models: Sequence[ModelSpec], plan: MergePlan, subsets: Sequence[str],
                table1_reference: pd.DataFrame, pathology_reference: pd.DataFrame) -> pd.DataFrame:
    """FIG5_COLUMNS: x = pathology-slice accuracy, y = accuracy on every question, each with its CI.

    ``ours`` rows: every Table 1 model (role ``model``) and each pair's base, tuned and merged (report α) model.
    ``paper`` rows: the same pair members' published values, x from the paper's Table 20 (pathology only) and y
    from Table 1/19; their CI is the published "±". A paper point is drawn only where both are published.
    """
    wide = accuracy.set_index(["model", "subset", "slice"])
    by_name = {spec.name: spec for spec in models}
    paper_y = table1_reference.set_index(["subset", "model"])
    paper_x = pathology_reference.set_index(["subset", "model"])
    in_pairs = {m for pair in plan.pairs for m in _pair_models(plan, pair)}
    rows = []

    def ours(subset, pair, role, name):
        if (name, subset, PATHOLOGY) not in wide.index:
            return
        x, y = wide.loc[(name, subset, PATHOLOGY)], wide.loc[(name, subset, ALL)]
        rows.append({"source": "ours", "subset": subset, "pair": pair, "role": role, "model": name,
                     "label": by_name[name].label, "x": x["accuracy"], "x_low": x["ci_low"], "x_high": x["ci_high"],
                     "y": y["accuracy"], "y_low": y["ci_low"], "y_high": y["ci_high"]})

    for subset in subsets:
        for name in by_name:
            if name not in plan.merged and name not in plan.trained and name not in in_pairs:
                ours(subset, "", "model", name)
        for pair in plan.pairs:
            for role, name in zip(ROLES, _pair_models(plan, pair)):
                ours(subset, pair["name"], role, name)
                paper_name = by_name[name].paper_name
                if (subset, paper_name) in paper_x.index and (subset, paper_name) in paper_y.index:
                    px, py = paper_x.loc[(subset, paper_name)], paper_y.loc[(subset, paper_name)]
                    rows.append({"source": "paper", "subset": subset, "pair": pair["name"], "role": role,
                                 "model": name, "label": paper_name, "x": px["accuracy"],
                                 "x_low": px["accuracy"] - px["ci"], "x_high": px["accuracy"] + px["ci"],
                                 "y": py["accuracy"], "y_low": py["accuracy"] - py["ci"],
                                 "y_high": py["accuracy"] + py["ci"]})
    return pd.DataFrame(rows, columns=FIG5_COLUMNS)


def plot_fig5(points: pd.DataFrame, subsets: Sequence[str], note: str, png, pdf) -> pd.DataFrame:
    """Per subset: Table 1's models as grey dots; per pair arrows base → tuned → merged in the role colours, ours
    filled and the paper's hollow (dashed arrows) where it publishes both values, every point with its CI (cut at
    the possible range, 0–100 %); labels placed without overlap inside the axes."""
    points = points.assign(**{c: points[c].clip(0.0, 100.0) for c in ("x_low", "x_high", "y_low", "y_high")})
    labels = {}
    with paper_style():
        fig, axes = plt.subplots(1, len(subsets), figsize=(PAPER_WIDTH_IN, PAPER_WIDTH_IN / max(len(subsets), 1.5)),
                                 squeeze=False, layout="constrained")
        for ax, subset in zip(axes[0], subsets):
            rows = points[points["subset"] == subset]
            _limits(ax, rows)
            mine = labels.setdefault(ax, [])  # the pairs' labels first: they get the nearest free spots
            others = [_point(ax, row, NEUTRAL, "o", filled=True, size=3)
                      for _, row in rows[rows["role"] == "model"].iterrows()]
            pairs = list(dict.fromkeys(rows.loc[rows["role"] != "model", "pair"]))
            for marker, pair in zip(itertools.cycle(_MARKERS), pairs):
                for source, filled, style in (("ours", True, "-"), ("paper", False, "--")):
                    members = rows[(rows["pair"] == pair) & (rows["source"] == source)].set_index("role")
                    members = members.reindex([r for r in ROLES if r in members.index])
                    for (_, a), (_, b) in itertools.pairwise(members.iterrows()):
                        ax.annotate("", (b["x"], b["y"]), (a["x"], a["y"]), annotation_clip=True,
                                    arrowprops={"arrowstyle": "->", "color": ROLE_COLOURS[b.name], "lw": 1,
                                                "linestyle": style, "shrinkA": 3, "shrinkB": 3})
                    for role, row in members.iterrows():
                        if source == "paper":
                            row = row.copy()
                            row["label"] = f"paper: {row['label']}"
                        mine.append(_point(ax, row, ROLE_COLOURS[role], marker, filled, size=5))
            mine.extend(others)
            ax.set(title=subset, xlabel="pathology accuracy (%)", ylabel="accuracy on all questions (%)")
        handles = [plt.Line2D([], [], color=ROLE_COLOURS[r], marker="o", linestyle="", label=r) for r in ROLES]
        handles.append(plt.Line2D([], [], color=NEUTRAL, marker="o", linestyle="", label="other models"))
        if (points["source"] == "paper").any():  # the hollow key only where hollow points are drawn
            handles.append(plt.Line2D([], [], color=NEUTRAL, marker="o", markerfacecolor="none", linestyle="--",
                                      label="paper (x: Table 20, y: Table 1/19)"))
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
        fig.suptitle(f"Fig. 5 — weight merging base → tuned → merged; {note}")
        fit_titles(fig)
        fig.canvas.draw()  # the final layout: labels are placed in display coordinates
        for ax, mine in labels.items():
            place_labels(ax, mine)
        save_figure(fig, png, pdf)
    return points


def _limits(ax, rows: pd.DataFrame) -> None:
    """Axes that hold every point and CI with a margin, within the possible range 0–100 %."""
    for axis, (low, high) in (("x", ("x_low", "x_high")), ("y", ("y_low", "y_high"))):
        values = rows[[low, high]].to_numpy(dtype=float)
        lo, hi = (np.nanmin(values), np.nanmax(values)) if np.isfinite(values).any() else (0.0, 100.0)
        pad = max(2.0, 0.08 * (hi - lo))
        getattr(ax, f"set_{axis}lim")(max(0.0, lo - pad), min(100.0, hi + pad))


def _point(ax, row, colour: str, marker: str, filled: bool, size: float) -> PointLabel:
    """One point with x and y CI whiskers (markers are not clipped, so a point at 0 or 100 % shows whole); returns
    its label, placed later with the others."""
    x, y = float(row["x"]), float(row["y"])
    ax.errorbar(x, y, xerr=[[x - row["x_low"]], [row["x_high"] - x]], yerr=[[y - row["y_low"]], [row["y_high"] - y]],
                fmt=marker, color=colour, markersize=size, markerfacecolor=colour if filled else "none",
                elinewidth=0.6, capsize=1.5, zorder=3, clip_on=False)
    return PointLabel(x, y, row["label"], colour)


def plot_alpha_curve(curve: pd.DataFrame, subsets: Sequence[str], note: str, png, pdf) -> pd.DataFrame:
    """Accuracy (± CI band, cut at 0–100 %) against α per subset: pathology, non-pathology and all rows, one line
    style per pair; the key sits under the panels."""
    styles = ["-", "--", ":", "-."]
    colours = {PATHOLOGY: group_colour("pathology_contrastive"), NON_PATHOLOGY: group_colour("general_contrastive"),
               ALL: NEUTRAL}
    with paper_style():
        fig, axes = plt.subplots(1, len(subsets), figsize=(PAPER_WIDTH_IN, 3.2), squeeze=False, layout="constrained")
        for ax, subset in zip(axes[0], subsets):
            for style, (pair, rows) in zip(itertools.cycle(styles), curve[curve["subset"] == subset].groupby(
                    "pair", sort=False)):
                for slice_name, line in rows.groupby("slice"):
                    if slice_name == HE:
                        continue
                    ax.fill_between(line["alpha"], line["ci_low"].clip(0, 100), line["ci_high"].clip(0, 100),
                                    color=colours[slice_name], alpha=0.15, linewidth=0)
                    ax.plot(line["alpha"], line["accuracy"], style, marker="o", markersize=3,
                            color=colours[slice_name], label=f"{pair}: {slice_name}")
            ax.set(title=subset, xlabel="α  (1 = base, 0 = tuned)", ylabel="accuracy (%)")
        handles = {}  # one key for all panels, under them: a legend inside an axes covers a curve
        for ax in axes[0]:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(label, handle)
        fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=min(len(handles), 3),
                   frameon=False)
        fig.suptitle(f"accuracy vs merging weight α (band: 95 % CI); {note}")
        save_figure(fig, png, pdf)
    return curve
