"""Table 14 beside the paper's values (its robustness check, Table 1 re-scored without near-duplicate datasets, is
computed by mubench.scoring.robustness)."""

from __future__ import annotations

import pandas as pd

from mubench.analyses.phash import with_averages
from mubench.figures.paper_table import PaperTable, layout, show


def read_reference(path) -> pd.DataFrame:
    """The paper's Table 14 rows: dataset, similar_images, total_images, percent_similar."""
    return pd.read_csv(path, comment="#")


def build_table14(ours: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Ours with averages, the paper's (with averages computed from its rows) beside, on the dataset name."""
    paper = with_averages(reference).rename(columns=lambda c: c if c == "dataset" else f"paper_{c}")
    table = with_averages(ours).merge(paper, on="dataset", how="left", validate="one_to_one")
    for column in ("percent_similar", "paper_percent_similar"):
        table[column] = table[column].round(2)
    return table


def printed_table14(table: pd.DataFrame, title: str, notes, source: str) -> PaperTable:
    specs = [show("dataset", "Dataset"), show("similar_images", "Similar"), show("total_images", "Images"),
             show("percent_similar", "%"), show("paper_similar_images", ("Paper", "similar")),
             show("paper_total_images", ("Paper", "images")), show("paper_percent_similar", ("Paper", "%"))]
    return layout(table, specs, title, notes, source=source)


def printed_robustness(table: pd.DataFrame, title: str, notes, source: str) -> PaperTable:
    specs = [show("model", "Model"), show("accuracy", "Accuracy"),
             show("accuracy_without_similar", ("Without", "similar")), show("change", "Change"),
             show("rank", "Rank"), show("rank_without_similar", ("Rank", "without"))]
    return layout(table, specs, title, notes, group_by="subset", source=source, group_names=str.capitalize)


def printed_summary(table: pd.DataFrame, title: str, notes, source: str) -> PaperTable:
    specs = [show("subset", "Subset"), show("n_models", "Models"), show("excluded_datasets", "Excluded datasets"),
             show("mean_abs_change", ("Mean", "|change|")), show("max_abs_change", ("Max", "|change|")),
             show("ranking_changed", ("Ranking", "changed"))]
    return layout(table, specs, title, notes, source=source)
