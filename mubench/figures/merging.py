"""Weight-merging outputs: Table 19 (Table 1 plus merged rows), Fig. 5 (pathology H&E vs μ-Bench accuracy, arrows
base → tuned → merged) and the accuracy-vs-α curve, all from prediction rows.

Rows can be restricted to some image splits (``eval_splits``): the demo's trained models saw its train split, so
the demo scores them on val + test only; on uBench every image is test and nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import itertools

import matplotlib.pyplot as plt
import pandas as pd

from mubench.figures.table1 import build_table1
from mubench.analyses.merging.plan import MergePlan
from mubench.models.spec import ModelSpec
from mubench.scoring.accuracy import BootstrapSettings, accuracy_table

PATHOLOGY, HE, NON_PATHOLOGY, ALL = "pathology", "he", "non_pathology", "all"
CURVE_COLUMNS = ["pair", "alpha", "model", "subset", "slice", "n", "accuracy"]


def held_out(predictions: pd.DataFrame, images: pd.DataFrame, eval_splits: Sequence[str] | None) -> pd.DataFrame:
    """Prediction rows whose image is in ``eval_splits`` (None keeps every row)."""
    if eval_splits is None:
        return predictions
    keep = set(images.loc[images["split"].isin(eval_splits), "image_id"])
    return predictions[predictions["image_id"].isin(keep)].reset_index(drop=True)


def slice_accuracy(predictions: pd.DataFrame, slices: dict[str, Sequence[str]]) -> pd.DataFrame:
    """Pooled accuracy per (model, subset) on every slice, its complement for pathology, and all rows."""
    masks = {ALL: pd.Series(True, index=predictions.index)}
    for name, datasets in slices.items():
        masks[name] = predictions["dataset"].isin(datasets)
    masks[NON_PATHOLOGY] = ~masks[PATHOLOGY]
    rows = []
    for name, mask in masks.items():
        grouped = predictions[mask].groupby(["model", "subset"])["correct"].agg(["size", "mean"])
        for (model, subset), r in grouped.iterrows():
            rows.append({"model": model, "subset": subset, "slice": name, "n": int(r["size"]),
                         "accuracy": 100 * float(r["mean"])})
    return pd.DataFrame(rows, columns=["model", "subset", "slice", "n", "accuracy"])


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


def _pair_models(plan: MergePlan, pair: dict) -> list[str]:
    from mubench.analyses.merging.plan import merged_name

    return [pair["base"], pair["tuned"], merged_name(pair["name"], plan.report_alpha)]


def plot_fig5(accuracy: pd.DataFrame, models: Sequence[ModelSpec], plan: MergePlan, subsets: Sequence[str],
              note: str, path) -> None:
    """Per subset: every Table 1 model as a grey dot; per pair arrows base → tuned → merged (report α)."""
    wide = accuracy.pivot_table(index=["model", "subset"], columns="slice", values="accuracy")
    labels = {spec.name: spec.label for spec in models}
    fig, axes = plt.subplots(1, len(subsets), figsize=(6 * len(subsets), 5), squeeze=False)
    for ax, subset in zip(axes[0], subsets):
        for name, label in labels.items():
            if (name, subset) in wide.index and name not in plan.merged and name not in plan.trained:
                x, y = wide.loc[(name, subset), HE], wide.loc[(name, subset), ALL]
                ax.scatter(x, y, color="0.6", s=18)
                ax.annotate(label, (x, y), fontsize=7, color="0.4", xytext=(3, 3), textcoords="offset points")
        for color, pair in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], plan.pairs):
            points = [(wide.loc[(m, subset), HE], wide.loc[(m, subset), ALL]) for m in _pair_models(plan, pair)]
            for (x0, y0), (x1, y1) in itertools.pairwise(points):
                ax.annotate("", (x1, y1), (x0, y0), arrowprops={"arrowstyle": "->", "color": color, "lw": 1.5})
            for (x, y), role in zip(points, ("base", "tuned", f"merged α={plan.report_alpha:g}")):
                ax.scatter(x, y, color=color, s=30, zorder=3)
                ax.annotate(f"{pair['name']}: {role}", (x, y), fontsize=7, color=color, xytext=(3, -9),
                            textcoords="offset points")
        ax.set(title=f"{subset}", xlabel="pathology H&E accuracy (%)", ylabel="μ-Bench accuracy (%)")
        ax.grid(alpha=0.3)
    fig.suptitle(f"Fig. 5 — weight merging; {note}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=150, format="png")
    plt.close(fig)


def plot_alpha_curve(curve: pd.DataFrame, subsets: Sequence[str], note: str, path) -> None:
    """Accuracy against α per subset: pathology, non-pathology and all rows, one line style per pair."""
    fig, axes = plt.subplots(1, len(subsets), figsize=(6 * len(subsets), 4.5), squeeze=False)
    styles = ["-", "--", ":", "-."]
    for ax, subset in zip(axes[0], subsets):
        for style, (pair, rows) in zip(styles, curve[curve["subset"] == subset].groupby("pair", sort=False)):
            for slice_name, line in rows.groupby("slice"):
                if slice_name == HE:
                    continue
                ax.plot(line["alpha"], line["accuracy"], style, marker="o", label=f"{pair}: {slice_name}")
        ax.set(title=subset, xlabel="α  (1 = base, 0 = tuned)", ylabel="accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"accuracy vs merging weight α; {note}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=150, format="png")
    plt.close(fig)
