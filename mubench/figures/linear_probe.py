"""Table 13 and Fig. 8: the linear probe's macro F1 per task beside the paper's, and a bar chart of it."""

from __future__ import annotations

import numpy as np
import pandas as pd

PERCENT_COLUMNS = ["val_macro_f1", "macro_f1", "balanced_accuracy", "dummy_macro_f1", "dummy_balanced_accuracy"]
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


def plot_fig8(table: pd.DataFrame, path, title: str) -> pd.DataFrame:
    """Horizontal bars per task: our probe, the best dummy and (where the paper has the task) the paper's.

    Returns the drawn values (macro F1 in percent, the x axis from 0 to 100): one row per task from top to
    bottom, one column per series named as in the legend; a missing value is drawn as 0 and left empty here."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table[table["status"] == "ok"].iloc[::-1]
    labels = [f"{r.subset}: {r.task}" for r in rows.itertuples()]
    y = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.42 * max(len(rows), 1)))
    bars = [("macro_f1", "linear probe (ours)", "tab:blue"), ("dummy_macro_f1", "best dummy (ours)", "tab:gray")]
    if rows["paper_macro_f1"].notna().any():
        bars.append(("paper_macro_f1", "linear probe (paper)", "tab:orange"))
    height = 0.8 / len(bars)
    drawn = {"task": labels}
    for i, (column, name, color) in enumerate(bars):
        offset = (len(bars) - 1) / 2 - i  # first series on top within each task's group
        drawn[name] = rows[column].astype(float).to_numpy()
        ax.barh(y + offset * height, np.nan_to_num(drawn[name]), height, label=name, color=color)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("macro F1 (%)")
    ax.set_title(title, fontsize=9, wrap=True)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=len(bars), fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120, metadata={"Software": None})  # no version stamp: same inputs, same bytes
    plt.close(fig)
    return pd.DataFrame(drawn).iloc[::-1].reset_index(drop=True)  # top to bottom, as read
