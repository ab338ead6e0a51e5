"""The paper's robustness check (appendix E.5): Table 1 re-scored without the near-duplicate datasets.

The paper re-scored Table 1 without the datasets where more than half of the images have a perceptual
near-duplicate and found a mean absolute change of 1.2 points and unchanged model rankings.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import pandas as pd

from mubench.scoring.accuracy import BootstrapSettings, accuracy_table

ROBUSTNESS_COLUMNS = ["subset", "model", "accuracy", "accuracy_without_similar", "change", "rank",
                      "rank_without_similar"]
SUMMARY_COLUMNS = ["subset", "n_models", "excluded_datasets", "mean_abs_change", "max_abs_change",
                   "ranking_changed"]


def robustness_check(predictions: pd.DataFrame, excluded: Iterable[str], labels: Mapping[str, str],
                     bootstrap: BootstrapSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 1's pooled accuracy per (subset, model) with and without ``excluded`` datasets (percent points).

    Scored by mubench.scoring.accuracy.accuracy_table, whose ``without_excluded`` scope is exactly this re-scoring.
    Returns the per-model table and a per-subset summary (plus an ``all`` row) with the mean absolute change and
    whether the order of the models changed.
    """
    excluded = sorted(excluded)
    scores = accuracy_table(predictions, bootstrap=bootstrap, excluded_datasets=excluded)
    totals = scores[scores["level"] == "total"].pivot(index=["subset", "model"], columns="scope", values="accuracy")
    table = pd.DataFrame({"accuracy": 100 * totals["all"], "accuracy_without_similar": 100 * totals["without_excluded"]})
    table = table.reset_index()
    table["change"] = table["accuracy_without_similar"] - table["accuracy"]
    for column, rank in (("accuracy", "rank"), ("accuracy_without_similar", "rank_without_similar")):
        table[rank] = table.groupby("subset")[column].rank(method="min", ascending=False).astype("Int64")
    table["model"] = table["model"].map(lambda name: labels.get(name, name))
    table = table.sort_values(["subset", "rank", "model"], kind="stable", ignore_index=True)[ROBUSTNESS_COLUMNS]

    def summarise(subset: str, rows: pd.DataFrame) -> dict:
        return {"subset": subset, "n_models": rows["model"].nunique(), "excluded_datasets": ";".join(excluded),
                "mean_abs_change": rows["change"].abs().mean(), "max_abs_change": rows["change"].abs().max(),
                "ranking_changed": bool((rows["rank"] != rows["rank_without_similar"]).any())}

    summary = [summarise(subset, rows) for subset, rows in table.groupby("subset", sort=True)]
    summary.append(summarise("all", table))
    rounded = {"accuracy": 2, "accuracy_without_similar": 2, "change": 2}
    return table.round(rounded), pd.DataFrame(summary, columns=SUMMARY_COLUMNS).round(
        {"mean_abs_change": 2, "max_abs_change": 2})
