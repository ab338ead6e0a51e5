"""Table 14 beside the paper's values (its robustness check, Table 1 re-scored without near-duplicate datasets, is
computed by mubench.scoring.robustness)."""

from __future__ import annotations

import pandas as pd

from mubench.analyses.phash import with_averages


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
