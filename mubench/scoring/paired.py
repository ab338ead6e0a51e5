"""Paired model comparisons on the questions both models answered: is model A really better than model B?

Two models scored on the same questions are compared question by question, not through their separate CIs:
- the accuracy difference with a paired bootstrap interval that resamples images with all their questions (answers
  about one image go together, and both models see the same resampled images);
- an exact McNemar test: only the discordant questions (one model right, the other wrong) carry information, and
  under "no difference" each is equally likely to favour either model, so the count A-right-B-wrong is
  Binomial(discordant, 1/2) (two-sided binomial test);
- Holm's step-down correction over all pairs of one subset (or of one subset and dataset), which keeps the chance
  of any false "significant" among them at the nominal level.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from mubench.scoring.accuracy import BootstrapSettings
from mubench.scoring.cluster_bootstrap import cluster_ci

SIGNIFICANCE_COLUMNS = [
    "subset", "model_a", "model_b", "n", "acc_a", "acc_b", "diff", "diff_ci_low", "diff_ci_high",
    "n_a_only", "n_b_only", "p_mcnemar", "p_holm",
]  # fmt: skip


def mcnemar_exact(n_a_only: int, n_b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts; 1 when there is no discordant question."""
    discordant = int(n_a_only) + int(n_b_only)
    if discordant == 0:
        return 1.0
    return float(binomtest(int(n_a_only), discordant, 0.5).pvalue)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values (same order as given); NaN stays NaN and does not count as a test."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def paired_comparisons(
    predictions: pd.DataFrame,
    models: Sequence[tuple[str, str]],
    *,
    subsets: Sequence[str],
    bootstrap: BootstrapSettings,
    by_dataset: bool = False,
) -> pd.DataFrame:
    """One row per pair of ``models`` ((name, label) in config order) and subset, or subset and dataset.

    Rows follow ``subsets`` (then dataset names, then pairs in config order).
    Only the questions both models answered count (``n``); ``model_a`` is the more accurate of the two on them
    (config order on a tie), so ``diff`` = acc_a − acc_b ≥ 0. Columns: SIGNIFICANCE_COLUMNS, with ``dataset``
    after ``subset`` when ``by_dataset``. Accuracies and differences are fractions.
    """
    labels = dict(models)
    rows = predictions[predictions["model"].isin(labels) & predictions["subset"].isin(subsets)]
    rows = rows.assign(subset=pd.Categorical(rows["subset"], categories=list(subsets)))
    keys = ["subset", "dataset"] if by_dataset else ["subset"]
    out = []
    for key, part in rows.groupby(keys, sort=True, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        wide = part.pivot(index="question_id", columns="model", values="correct")
        image = pd.factorize(part.drop_duplicates("question_id").set_index("question_id")["image_id"]
                             .reindex(wide.index))[0]
        present = [name for name, _ in models if name in wide.columns]
        pairs = [_compare(wide[a], wide[b], image, bootstrap, labels[a], labels[b])
                 for a, b in combinations(present, 2)]
        for pair, p_holm in zip(pairs, holm([pair["p_mcnemar"] for pair in pairs])):
            out.append({**dict(zip(keys, map(str, key))), **pair, "p_holm": p_holm})
    columns = SIGNIFICANCE_COLUMNS[:1] + ["dataset"] * by_dataset + SIGNIFICANCE_COLUMNS[1:]
    table = pd.DataFrame(out, columns=columns)
    return table.astype({"n": np.int64, "n_a_only": np.int64, "n_b_only": np.int64})


def _compare(a: pd.Series, b: pd.Series, image: np.ndarray, bootstrap: BootstrapSettings, label_a: str,
             label_b: str) -> dict:
    both = (a.notna() & b.notna()).to_numpy()
    a, b, image = a.to_numpy()[both].astype(bool), b.to_numpy()[both].astype(bool), image[both]
    if not both.any():
        return dict(model_a=label_a, model_b=label_b, n=0, acc_a=np.nan, acc_b=np.nan, diff=np.nan,
                    diff_ci_low=np.nan, diff_ci_high=np.nan, n_a_only=0, n_b_only=0, p_mcnemar=np.nan)
    if b.mean() > a.mean():
        a, b, label_a, label_b = b, a, label_b, label_a
    per_image_n = np.bincount(image)
    keep = per_image_n > 0
    per_image_diff = np.bincount(image, weights=a.astype(int) - b.astype(int)).astype(np.int64)
    low, high = cluster_ci(
        per_image_diff[keep], per_image_n[keep], seed=bootstrap.seed, method=bootstrap.method,
        confidence=bootstrap.confidence, n_resamples=bootstrap.n_resamples, bounds=(-1.0, 1.0))
    n_a_only, n_b_only = int(np.sum(a & ~b)), int(np.sum(~a & b))
    return dict(model_a=label_a, model_b=label_b, n=int(both.sum()), acc_a=float(a.mean()), acc_b=float(b.mean()),
                diff=float(a.mean() - b.mean()), diff_ci_low=low, diff_ci_high=high, n_a_only=n_a_only,
                n_b_only=n_b_only, p_mcnemar=mcnemar_exact(n_a_only, n_b_only))


def tied_with_best(significance: pd.DataFrame, best: dict[str, str], alpha: float) -> dict[str, set[str]]:
    """Per subset: the models not significantly different from the subset's best model (p_holm ≥ ``alpha``).

    ``best`` maps subset → the label of its best model (Table 1's first row); the best itself is not in the set.
    """
    tied = {}
    for subset, label in best.items():
        pairs = significance[(significance["subset"] == subset)
                             & ((significance["model_a"] == label) | (significance["model_b"] == label))]
        others = pairs["model_b"].where(pairs["model_a"] == label, pairs["model_a"])
        tied[subset] = set(others[pairs["p_holm"] >= alpha])
    return tied
