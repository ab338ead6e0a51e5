"""Accuracy on slices of the benchmark's datasets (the merging analysis: pathology, H&E, the rest), with CIs.

Rows can be restricted to some image splits (``eval_splits``): the demo's trained models saw its train split, so
the demo scores them on val + test only; on uBench every image is test and nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from mubench.scoring.accuracy import BootstrapSettings
from mubench.scoring.bootstrap import proportion_ci

PATHOLOGY, HE, NON_PATHOLOGY, ALL = "pathology", "he", "non_pathology", "all"


def held_out(predictions: pd.DataFrame, images: pd.DataFrame, eval_splits: Sequence[str] | None) -> pd.DataFrame:
    """Prediction rows whose image is in ``eval_splits`` (None keeps every row)."""
    if eval_splits is None:
        return predictions
    keep = set(images.loc[images["split"].isin(eval_splits), "image_id"])
    return predictions[predictions["image_id"].isin(keep)].reset_index(drop=True)


def slice_accuracy(predictions: pd.DataFrame, slices: dict[str, Sequence[str]],
                   bootstrap: BootstrapSettings) -> pd.DataFrame:
    """Pooled accuracy (percent, with its bootstrap CI) per (model, subset) on every slice, the complement of the
    pathology slice, and all rows."""
    masks = {ALL: pd.Series(True, index=predictions.index)}
    for name, datasets in slices.items():
        masks[name] = predictions["dataset"].isin(datasets)
    masks[NON_PATHOLOGY] = ~masks[PATHOLOGY]
    rows = []
    for name, mask in masks.items():
        grouped = predictions[mask].groupby(["model", "subset"])["correct"].agg(["size", "sum"])
        for (model, subset), r in grouped.iterrows():
            rows.append({"model": model, "subset": subset, "slice": name, "n": int(r["size"]),
                         "n_correct": int(r["sum"])})
    table = pd.DataFrame(rows, columns=["model", "subset", "slice", "n", "n_correct"])
    low, high = proportion_ci(table["n_correct"], table["n"], seed=bootstrap.seed, method=bootstrap.method,
                              confidence=bootstrap.confidence, n_resamples=bootstrap.n_resamples)
    table["accuracy"] = 100 * table["n_correct"] / table["n"]
    table["ci_low"], table["ci_high"] = 100 * low, 100 * high
    return table.drop(columns="n_correct")
