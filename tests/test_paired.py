"""Paired model comparisons: McNemar, Holm, the image-paired bootstrap difference, and the significance table."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import bootstrap_settings

from mubench.scoring.cluster_bootstrap import cluster_ci
from mubench.scoring.paired import SIGNIFICANCE_COLUMNS, holm, mcnemar_exact, paired_comparisons, tied_with_best

FAST = bootstrap_settings(n_resamples=999, seed=1)


def _predictions(correct: dict[str, list[bool]], subset="coarse", per_image=5, dataset="d1") -> pd.DataFrame:
    frames = []
    for model, answers in correct.items():
        frames.append(pd.DataFrame({
            "model": model, "subset": subset, "dataset": dataset, "correct": answers,
            "question_id": [f"{subset}:q{i}" for i in range(len(answers))],
            "image_id": [f"img{i // per_image}" for i in range(len(answers))],
        }))
    return pd.concat(frames, ignore_index=True)


def test_mcnemar_p_is_the_binomial_test_on_the_discordant_questions():
    rng = np.random.default_rng(0)
    a = rng.random(300) < 0.6
    b = np.where(rng.random(300) < 0.7, a, ~a)  # agree on most questions
    table = paired_comparisons(_predictions({"A": list(a), "B": list(b)}), [("A", "A"), ("B", "B")],
                               subsets=["coarse"], bootstrap=FAST)
    row = table.iloc[0]
    n_a_only, n_b_only = int(np.sum(a & ~b)), int(np.sum(~a & b))
    better_first = (n_a_only, n_b_only) if a.mean() >= b.mean() else (n_b_only, n_a_only)
    assert (row.n_a_only, row.n_b_only) == better_first
    expected = stats.binomtest(better_first[0], n_a_only + n_b_only, 0.5).pvalue
    assert row.p_mcnemar == pytest.approx(expected, rel=1e-12)
    assert mcnemar_exact(12, 3) == pytest.approx(stats.binomtest(12, 15, 0.5).pvalue, rel=1e-12)
    assert mcnemar_exact(3, 12) == mcnemar_exact(12, 3)
    assert mcnemar_exact(0, 0) == 1.0


def test_holm_on_known_p_values():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.6, np.nan]), [1.0, 1.0, np.nan])  # capped at 1; NaN not a test
    np.testing.assert_allclose(holm([0.2]), [0.2])
    assert holm([]).size == 0


def test_table_counts_shared_questions_and_orders_each_pair_better_first():
    a = [True] * 8 + [False] * 2  # 0.8
    b = [True] * 5 + [False] * 5  # 0.5
    c = [False] * 3 + [True] * 7  # 0.7
    predictions = _predictions({"A": a, "B": b, "C": c}, per_image=2)
    predictions = predictions.drop(predictions.index[(predictions.model == "C") & (predictions.question_id
                                                                                    == "coarse:q9")])
    table = paired_comparisons(predictions, [("A", "Model A"), ("B", "Model B"), ("C", "Model C")],
                               subsets=["coarse"], bootstrap=FAST)
    assert list(table.columns) == SIGNIFICANCE_COLUMNS
    rows = {(r.model_a, r.model_b): r for r in table.itertuples()}
    assert set(rows) == {("Model A", "Model B"), ("Model A", "Model C"), ("Model C", "Model B")}
    ab = rows["Model A", "Model B"]
    assert (ab.n, ab.acc_a, ab.acc_b, ab.n_a_only, ab.n_b_only) == (10, 0.8, 0.5, 3, 0)
    assert ab.diff == pytest.approx(0.3) and ab.diff_ci_low <= ab.diff <= ab.diff_ci_high
    ac = rows["Model A", "Model C"]  # C did not answer q9: 9 shared questions
    assert (ac.n, ac.n_a_only, ac.n_b_only) == (9, 3, 1)
    assert ac.diff == pytest.approx(8 / 9 - 6 / 9)
    np.testing.assert_allclose(table.p_holm, holm(table.p_mcnemar))


def test_breakdown_is_per_dataset_with_holm_within_each():
    rng = np.random.default_rng(3)
    frames = [_predictions({m: list(rng.random(40) < p) for m, p in (("A", 0.7), ("B", 0.4), ("C", 0.5))},
                           dataset=d).assign(question_id=lambda f, d=d: d + f.question_id,
                                             image_id=lambda f, d=d: d + f.image_id)
              for d in ("d1", "d2")]
    predictions = pd.concat(frames, ignore_index=True)
    models = [("A", "A"), ("B", "B"), ("C", "C")]
    table = paired_comparisons(predictions, models, subsets=["coarse"], bootstrap=FAST, by_dataset=True)
    assert list(table.columns) == SIGNIFICANCE_COLUMNS[:1] + ["dataset"] + SIGNIFICANCE_COLUMNS[1:]
    assert list(table.dataset) == ["d1"] * 3 + ["d2"] * 3 and set(table.n) == {40}
    for _, part in table.groupby("dataset"):
        np.testing.assert_allclose(part.p_holm, holm(part.p_mcnemar))
    again = paired_comparisons(predictions.sample(frac=1, random_state=0), models, subsets=["coarse"],
                               bootstrap=FAST, by_dataset=True)
    pd.testing.assert_frame_equal(table, again)


def test_paired_difference_ci_covers_the_true_difference_at_about_the_nominal_rate():
    """Images differ in difficulty (shared by both models) and in how much model A's advantage helps on them, so
    the per-question differences are correlated within an image. Resampling images covers the true difference
    about 95 % of the time; resampling question rows does not."""
    rng = np.random.default_rng(2024)
    images, per_image, simulations = 200, 5, 300
    strength_a, strength_b, sd_difficulty, sd_advantage = 0.3, 0.0, 1.0, 1.5

    def answers(n):
        difficulty, advantage = rng.normal(0, sd_difficulty, n), rng.normal(0, sd_advantage, n)
        return stats.norm.cdf(strength_a + difficulty + advantage), stats.norm.cdf(strength_b + difficulty)

    p_a, p_b = answers(2_000_000)
    true_diff = np.mean(p_a - p_b)
    covered = {"images": 0, "rows": 0}
    for s in range(simulations):
        p_a, p_b = (np.repeat(p, per_image) for p in answers(images))
        d = (rng.random(p_a.size) < p_a).astype(int) - (rng.random(p_b.size) < p_b).astype(int)
        clustered = cluster_ci(d.reshape(images, per_image).sum(axis=1), np.full(images, per_image), seed=s,
                               n_resamples=999, bounds=(-1, 1))
        by_row = cluster_ci(d, np.ones(d.size, int), seed=s, n_resamples=999, bounds=(-1, 1))
        covered["images"] += clustered[0] <= true_diff <= clustered[1]
        covered["rows"] += by_row[0] <= true_diff <= by_row[1]
    coverage = {k: v / simulations for k, v in covered.items()}
    assert 0.91 <= coverage["images"] <= 0.99, coverage  # ±3 SE (0.013) around 0.95, plus the basic CI's bias
    assert coverage["rows"] < 0.88, coverage


def test_models_tied_with_the_best_are_those_with_p_holm_at_or_above_alpha():
    significance = pd.DataFrame({
        "subset": ["coarse"] * 3 + ["fine"],
        "model_a": ["A", "A", "B", "B"], "model_b": ["B", "C", "C", "A"],
        "p_holm": [0.2, 0.001, 0.04, 0.05],
    })
    assert tied_with_best(significance, {"coarse": "A", "fine": "B"}, alpha=0.05) == {"coarse": {"B"},
                                                                                       "fine": {"A"}}
