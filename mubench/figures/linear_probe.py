"""Table 13 and Fig. 8: the linear probe's macro F1 per task beside the paper's, and a bar chart of it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mubench.figures.paper_table import PaperTable, Show, format_value, layout, show
from mubench.figures.style import PAPER_WIDTH_IN, ROLE_COLOURS, group_colour, paper_style, save_figure

PERCENT_COLUMNS = ["val_macro_f1", "macro_f1", "macro_f1_ci_low", "macro_f1_ci_high", "balanced_accuracy",
                   "dummy_macro_f1", "dummy_balanced_accuracy"]
PAPER_COLUMNS = {"macro_f1": "paper_macro_f1", "difficulty_mean": "paper_difficulty_mean",
                 "difficulty_median": "paper_difficulty_median"}


def read_reference(path) -> pd.DataFrame:
    """The paper's Table 13: subset, task, macro_f1 (percent), difficulty_mean, difficulty_median."""
    return pd.read_csv(path, comment="#")


def build_table13(results: pd.DataFrame, reference: pd.DataFrame, feature_label: str) -> pd.DataFrame:
    """Our rows (percent, 2 decimals) with the paper's value for the same (subset, task) beside them."""
    paper = reference.rename(columns=PAPER_COLUMNS)[["subset", "task", *PAPER_COLUMNS.values()]]
    table = results.merge(paper, on=["subset", "task"], how="left", validate="one_to_one")
    table[PERCENT_COLUMNS] = (100 * table[PERCENT_COLUMNS].astype(float)).round(2)
    table["C"] = table["C"].map(lambda c: float(f"{c:.4g}") if pd.notna(c) else c)
    table.insert(2, "features", feature_label)
    return table


def printed_table13(table: pd.DataFrame, title: str, notes, source: str) -> PaperTable:
    """Table 13 as a paper prints it: per subset, each task's split sizes, our macro F1 with its CI beside the best
    dummy's and the paper's; a task the probe skipped says why."""
    def f1(row):
        if row["status"] != "ok":
            return str(row["status"])
        return f"{row['macro_f1']:.2f} [{row['macro_f1_ci_low']:.2f}, {row['macro_f1_ci_high']:.2f}]"

    specs = [
        show("task", "Task"), show("n_classes", "Classes"),
        Show("Train/val/test", ("n_train", "n_val", "n_test"),
             lambda r: "/".join(format_value(r[c]) for c in ("n_train", "n_val", "n_test")), "r"),
        Show(("Macro F1", "[95 % CI]"), ("macro_f1", "macro_f1_ci_low", "macro_f1_ci_high", "status"), f1, "r"),
        show("dummy_macro_f1", ("Dummy", "macro F1")), show("paper_macro_f1", ("Paper", "macro F1")),
    ]
    return layout(table, specs, title, notes, group_by="subset", source=source,
                  group_names=lambda s: {"coarse": "Coarse-grained", "fine": "Fine-grained"}.get(s, s))


def plot_fig8(table: pd.DataFrame, png, pdf, title: str) -> pd.DataFrame:
    """Horizontal bars per task: our probe (error bar: percentile bootstrap CI of the test images' macro F1), the
    best dummy and, where the paper has the task, the paper's value (it publishes no CI). Returns the bars drawn."""
    rows = table[table["status"] == "ok"].iloc[::-1]
    labels = [f"{r.subset}: {r.task}" for r in rows.itertuples()]
    series = [("macro_f1", "linear probe (ours, 95 % CI)", group_colour("general_contrastive")),
              ("dummy_macro_f1", "best dummy (ours)", group_colour("baseline"))]
    if rows["paper_macro_f1"].notna().any():
        series.append(("paper_macro_f1", "linear probe (paper)", ROLE_COLOURS["merged"]))
    drawn = []
    y = np.arange(len(rows))
    height = 0.8 / len(series)
    with paper_style():
        fig, ax = plt.subplots(figsize=(PAPER_WIDTH_IN, 1.2 + 0.3 * len(series) * max(len(rows), 1) / 2),
                               layout="constrained")
        for i, (column, name, colour) in enumerate(series):
            offset = (len(series) - 1) / 2 - i  # first series on top within each task's group
            values = rows[column].astype(float)
            error = None
            if column == "macro_f1":
                error = np.vstack([values - rows["macro_f1_ci_low"].astype(float),
                                   rows["macro_f1_ci_high"].astype(float) - values])
            ax.barh(y + offset * height, values.fillna(0), height, xerr=error, label=name, color=colour,
                    error_kw={"elinewidth": 0.7})
            drawn.append(pd.DataFrame({"series": name, "subset": rows["subset"], "task": rows["task"],
                                       "value": values,
                                       "ci_low": rows["macro_f1_ci_low"] if error is not None else np.nan,
                                       "ci_high": rows["macro_f1_ci_high"] if error is not None else np.nan}))
        ax.set_yticks(y, labels)
        ax.set_xlim(0, 100)
        ax.set_xlabel("macro F1 (%)")
        ax.grid(axis="y", visible=False)
        ax.set_title(title)
        fig.legend(loc="outside lower center", ncol=len(series), frameon=False)
        save_figure(fig, png, pdf)
    return pd.concat(drawn, ignore_index=True)
