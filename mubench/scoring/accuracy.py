"""Accuracy tables from prediction rows: per type, per dataset, pooled and macro totals, with CIs.

One prediction row is one question, the unit the paper aggregates over. Every group is reduced to
(k correct, n rows) counts first; the bootstrap then only needs those counts (see mubench.scoring.bootstrap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, NamedTuple

import numpy as np
import pandas as pd

from mubench.benchmark.tables import IMAGE_ATTRIBUTES
from mubench.scoring.bootstrap import group_seed, macro_mean_ci

# Left out in the authors' rebuttal; the "without_excluded" scope drops them.
EULENBERG_DATASETS = ("eulenberg_et_al_2017_darkfield", "eulenberg_et_al_2017_epifluorescence")
SCOPES = ("all", "without_excluded")  # then one "domain=<domain>" scope per domain (the biology/pathology split)
# What prediction rows say about their image; when present, each is a level (accuracy per modality, stain, ...).
LEVELS = ("total", "question_type", "dataset", "macro_question_type", "macro_dataset", *IMAGE_ATTRIBUTES)
UNKNOWN_ATTRIBUTE = "n/a"  # an image with no value for an attribute (e.g. an expert cognition image)
TABLE_COLUMNS = (
    "model", "subset", "scope", "level", "group",
    "n", "n_correct", "accuracy", "ci_low", "ci_high", "ci_halfwidth",
)  # fmt: skip
_KEYS = ("model", "subset", "question_type", "dataset")


@dataclass(frozen=True)
class BootstrapSettings:
    """CI settings; the defaults are what the authors' code ran (basic, 95 %, 9,999 resamples)."""

    method: str = "basic"
    confidence: float = 0.95
    n_resamples: int = 9999
    seed: int = 0


class _Group(NamedTuple):
    model: str
    subset: str
    scope: str
    level: str
    group: str
    k: list[int]  # correct answers per component (one component unless a macro level)
    n: list[int]  # rows per component


def accuracy_table(
    predictions: pd.DataFrame,
    *,
    bootstrap: BootstrapSettings = BootstrapSettings(),
    excluded_datasets: Iterable[str] = EULENBERG_DATASETS,
) -> pd.DataFrame:
    """Long table with TABLE_COLUMNS: one row per (model, subset, scope, level, group).

    ``total`` is the pooled (micro) accuracy over all rows of the subset, the paper's official
    number; ``macro_*`` rows are unweighted means of the question-type or dataset accuracies, with
    ``n``/``n_correct`` summed over their components. Both scopes are always emitted so downstream
    tables keep a fixed shape; a total with no rows left gets NaN accuracy and CI. Accuracies are
    fractions; ``ci_halfwidth`` = ci_high - accuracy is the paper's "±".

    When the rows carry the image attributes (IMAGE_ATTRIBUTES), every scope also gets one level per
    attribute, and each domain gets its own scope ``domain=<domain>`` (lower case) with every level
    restricted to that domain's rows: Table 20 is the ``domain=pathology`` totals.
    """
    cells = _cell_counts(predictions)
    pairs = cells[["model", "subset"]].drop_duplicates()
    excluded = cells["dataset"].isin(set(excluded_datasets))
    groups = _groups(cells, pairs, "all") + _groups(cells[~excluded], pairs, "without_excluded")
    if "domain" in cells.columns:
        domains = cells["domain"].str.strip().str.casefold()
        for domain in sorted(set(domains) - {UNKNOWN_ATTRIBUTE}):
            groups += _groups(cells[domains == domain], pairs, domain_scope(domain))

    seeds = [
        group_seed(bootstrap.seed, g.model, g.subset, g.scope, g.level, g.group) for g in groups
    ]
    ci_low, ci_high = macro_mean_ci(
        [g.k for g in groups],
        [g.n for g in groups],
        seeds=seeds,
        method=bootstrap.method,
        confidence=bootstrap.confidence,
        n_resamples=bootstrap.n_resamples,
    )
    table = pd.DataFrame(
        {
            "model": [g.model for g in groups],
            "subset": [g.subset for g in groups],
            "scope": [g.scope for g in groups],
            "level": [g.level for g in groups],
            "group": [g.group for g in groups],
            "n": np.array([sum(g.n) for g in groups], dtype=np.int64),
            "n_correct": np.array([sum(g.k) for g in groups], dtype=np.int64),
            "accuracy": [_mean_accuracy(g.k, g.n) for g in groups],
            "ci_low": ci_low,
            "ci_high": ci_high,
        }
    )
    table["ci_halfwidth"] = table["ci_high"] - table["accuracy"]
    return _sorted(table)[list(TABLE_COLUMNS)]


def domain_scope(domain: str) -> str:
    """The scope holding one domain's rows, e.g. ``domain=pathology``."""
    return f"domain={domain.strip().casefold()}"


def _cell_counts(predictions: pd.DataFrame) -> pd.DataFrame:
    """(k, n) per (model, subset, question_type, dataset[, attributes]): every level is a sum of these cells."""
    attributes = [a for a in IMAGE_ATTRIBUTES if a in predictions.columns]
    if attributes and len(attributes) < len(IMAGE_ATTRIBUTES):
        raise ValueError(f"prediction rows carry only some image attributes {attributes}: need all of "
                         f"{list(IMAGE_ATTRIBUTES)} or none")
    predictions = predictions.assign(**{a: predictions[a].fillna(UNKNOWN_ATTRIBUTE) for a in attributes})
    keys = [*_KEYS, *attributes]
    missing = [c for c in (*_KEYS, "correct") if c not in predictions.columns]
    if missing:
        raise ValueError(f"prediction rows lack columns {missing}")
    if predictions[list(_KEYS)].isna().any().any():
        raise ValueError(f"prediction rows have missing values in {list(_KEYS)}")
    correct = predictions["correct"]
    if correct.isna().any() or not correct.isin([0, 1]).all():
        raise ValueError("'correct' must be boolean (or 0/1) with no missing values")
    cells = (
        predictions.assign(correct=correct.astype(np.int64))
        .groupby(keys, observed=True)["correct"]
        .agg(n="size", n_correct="sum")
        .reset_index()
    )
    return cells.astype({key: str for key in keys})


def _groups(cells: pd.DataFrame, pairs: pd.DataFrame, scope: str) -> list[_Group]:
    """Every group of one scope; (model, subset) pairs with no rows left still get their totals."""
    groups = []
    by_pair = dict(tuple(cells.groupby(["model", "subset"], sort=False)))
    for model, subset in pairs.itertuples(index=False):
        pair_cells = by_pair.get((model, subset), cells.iloc[:0])
        k_total, n_total = int(pair_cells["n_correct"].sum()), int(pair_cells["n"].sum())
        groups.append(_Group(model, subset, scope, "total", "all", [k_total], [n_total]))
        for column in ("question_type", "dataset"):
            counts = pair_cells.groupby(column, sort=True)[["n_correct", "n"]].sum()
            for name, k, n in counts.itertuples():
                groups.append(_Group(model, subset, scope, column, name, [k], [n]))
            k_parts, n_parts = list(counts["n_correct"]), list(counts["n"])
            groups.append(_Group(model, subset, scope, f"macro_{column}", "all", k_parts, n_parts))
        for column in (a for a in IMAGE_ATTRIBUTES if a in cells.columns):
            counts = pair_cells.groupby(column, sort=True)[["n_correct", "n"]].sum()
            groups += [_Group(model, subset, scope, column, name, [k], [n]) for name, k, n in counts.itertuples()]
    return groups


def _mean_accuracy(k: list[int], n: list[int]) -> float:
    """Unweighted mean of the component accuracies; NaN when there is nothing to average."""
    if not n or 0 in n:
        return float("nan")
    return float(np.mean(np.divide(k, n)))


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    order = table.assign(
        _scope=table["scope"].map(lambda s: SCOPES.index(s) if s in SCOPES else len(SCOPES)),
        _level=table["level"].map(LEVELS.index),
    ).sort_values(["model", "subset", "_scope", "scope", "_level", "group"], kind="stable")
    return order.drop(columns=["_scope", "_level"]).reset_index(drop=True)
