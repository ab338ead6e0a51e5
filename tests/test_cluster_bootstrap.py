"""Image-clustered bootstrap: exact in distribution, wider than the row CI only when answers on an image go together."""

import numpy as np
import pandas as pd
import pytest

from conftest import bootstrap_settings, scores_table

from mubench.scoring.bootstrap import METHODS, proportion_ci
from mubench.scoring.cluster_bootstrap import cluster_ci, image_categories, resample_images, stratified


def _width(ci):
    return ci[1] - ci[0]


def test_category_draw_has_the_distribution_of_resampling_images():
    """Collapsing equal images into categories must not change the bootstrap distribution: compare its spread and
    centre with plain index resampling of the images."""
    rng = np.random.default_rng(5)
    k = rng.binomial(4, rng.beta(1, 2, 500))
    n = np.full(500, 4)
    ours = resample_images(k, n, seed=1, n_resamples=20_000).resampled
    picks = rng.integers(0, 500, (20_000, 500))
    naive = k[picks].sum(axis=1) / n[picks].sum(axis=1)
    assert ours.mean() == pytest.approx(naive.mean(), abs=3e-4)
    assert ours.std() == pytest.approx(naive.std(), rel=0.03)


def test_categories_are_the_distinct_image_rows_with_counts():
    k_u, n_u, counts = image_categories([[1, 0], [0, 1], [1, 0], [2, 1]], [[1, 1], [1, 1], [1, 1], [2, 1]])
    assert k_u.tolist() == [[0, 1], [1, 0], [2, 1]] and n_u.tolist() == [[1, 1], [1, 1], [2, 1]]
    assert counts.tolist() == [1, 2, 1]
    with pytest.raises(ValueError, match=r"\|k\| <= n"):
        image_categories([3], [2])


def test_clustered_ci_is_wider_when_answers_on_an_image_go_together():
    """Five questions per image, all right or all wrong: the effective sample is the images, √5 × wider."""
    image_right = np.random.default_rng(0).random(400) < 0.5
    k, n = 5 * image_right.astype(int), np.full(400, 5)
    clustered = cluster_ci(k, n, seed=3)
    rows = proportion_ci([k.sum()], [n.sum()], seed=3)
    assert 1.9 < _width(clustered) / (rows[1][0] - rows[0][0]) < 2.6


def test_clustered_ci_equals_the_row_ci_in_expectation_when_answers_are_independent():
    rng = np.random.default_rng(1)
    ratios = []
    for seed in range(40):
        k = rng.binomial(5, 0.4, 300)
        rows = proportion_ci([k.sum()], [1500], seed=seed)
        ratios.append(_width(cluster_ci(k, np.full(300, 5), seed=seed)) / (rows[1][0] - rows[0][0]))
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("method", METHODS)
def test_one_question_per_image_gives_the_row_interval_within_monte_carlo_error(method):
    k = (np.random.default_rng(2).random(600) < 0.3).astype(int)
    clustered = cluster_ci(k, np.ones(600, int), seed=4, method=method)
    rows = proportion_ci([k.sum()], [600], seed=4, method=method)
    assert clustered == pytest.approx((rows[0][0], rows[1][0]), abs=0.006)


def test_stratified_mean_averages_the_components():
    a = resample_images([1, 0, 1], [2, 2, 2], seed=0, n_resamples=99)
    b = resample_images([3, 3], [3, 3], seed=1, n_resamples=99)
    both = stratified([a, b])
    assert both.estimate == pytest.approx((2 / 6 + 1.0) / 2)
    np.testing.assert_allclose(both.resampled, (a.resampled + b.resampled) / 2)


def _coarse_predictions(correlated: bool, images=300, seed=0) -> pd.DataFrame:
    """Five coarse questions per image over two datasets, plus one fine question per image."""
    rng = np.random.default_rng(seed)
    image_p = rng.beta(0.5, 0.5, images) if correlated else np.full(images, 0.45)
    coarse = rng.random((images, 5)) < image_p[:, None]
    fine = rng.random(images) < 0.4
    types = ["modality", "submodality", "domain", "subdomain", "stain"]
    dataset = np.where(np.arange(images) % 3 == 0, "d1", "d2")
    rows = [dict(model="m", subset="coarse", question_type=t, dataset=dataset[i], image_id=f"i{i}",
                 question_id=f"i{i}:{t}", correct=bool(coarse[i, j]))
            for i in range(images) for j, t in enumerate(types)]
    rows += [dict(model="m", subset="fine", question_type="classification", dataset=dataset[i], image_id=f"i{i}",
                  question_id=f"i{i}:classification", correct=bool(fine[i])) for i in range(images)]
    return pd.DataFrame(rows)


def _width_ratio(table, subset, level, group="all", scope="all"):
    row = table[(table.subset == subset) & (table.level == level) & (table.group == group)
                & (table.scope == scope)].iloc[0]
    return (row.images_ci_high - row.images_ci_low) / (row.rows_ci_high - row.rows_ci_low)


def test_accuracy_table_reports_both_widths_and_uses_the_configured_one():
    predictions = _coarse_predictions(correlated=True)
    settings = bootstrap_settings(n_resamples=1999, seed=2)
    rows = scores_table(predictions, bootstrap=settings)
    images = scores_table(predictions, bootstrap=bootstrap_settings(n_resamples=1999, seed=2, resample="images"))
    pd.testing.assert_frame_equal(rows.drop(columns=["ci_low", "ci_high", "ci_halfwidth"]),
                                  images.drop(columns=["ci_low", "ci_high", "ci_halfwidth"]))
    np.testing.assert_array_equal(rows.ci_low, rows.rows_ci_low)
    np.testing.assert_array_equal(images.ci_low, images.images_ci_low)
    np.testing.assert_array_equal(images.ci_halfwidth, images.ci_high - images.accuracy)

    for level, group in (("total", "all"), ("dataset", "d1"), ("macro_dataset", "all"),
                         ("macro_question_type", "all")):
        assert _width_ratio(rows, "coarse", level, group) > 1.5, level
    # one question per image in the group: resampling images is resampling rows, the same interval
    fine = rows[rows.subset == "fine"]
    np.testing.assert_array_equal(fine.images_ci_low, fine.rows_ci_low)
    per_type = rows[(rows.subset == "coarse") & (rows.level == "question_type")]
    np.testing.assert_array_equal(per_type.images_ci_high, per_type.rows_ci_high)
    assert (rows.images_ci_low <= rows.accuracy).all() and (rows.accuracy <= rows.images_ci_high).all()


def test_independent_answers_give_image_widths_close_to_row_widths():
    ratios = [_width_ratio(scores_table(_coarse_predictions(correlated=False, seed=s),
                                          bootstrap=bootstrap_settings(n_resamples=1999, seed=s)), "coarse", "total")
              for s in range(8)]
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.06)


@pytest.mark.parametrize("method", METHODS)
def test_image_intervals_are_deterministic_and_independent_of_row_order(method):
    predictions = _coarse_predictions(correlated=True, images=90)
    settings = bootstrap_settings(method=method, n_resamples=499, seed=7, resample="images")
    first = scores_table(predictions, bootstrap=settings)
    pd.testing.assert_frame_equal(first, scores_table(predictions.sample(frac=1, random_state=3),
                                                        bootstrap=settings))
    assert first[["images_ci_low", "images_ci_high"]].notna().all().all()
    # both scopes resample the same dataset once: identical dataset rows
    d2 = first[(first.level == "dataset") & (first.group == "d2") & (first.subset == "coarse")]
    assert d2.images_ci_low.nunique() == 1 and len(d2) == 2


def test_unknown_resampling_unit_is_refused():
    with pytest.raises(ValueError, match="bootstrap.resample"):
        bootstrap_settings(resample="questions")
