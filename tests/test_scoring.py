"""Accuracy tables: hand-computed micro/macro numbers, scopes, fixed shape and determinism."""

import numpy as np
import pandas as pd
import pytest

from conftest import EXCLUDED_DATASETS, bootstrap_settings, scores_table

from mubench.scoring.accuracy import TABLE_COLUMNS, accuracy_table

DARK = "eulenberg_et_al_2017_darkfield"
EPI = "eulenberg_et_al_2017_epifluorescence"

# (question_type, dataset, correct) for one model on the coarse subset:
# type A: d1 ✓✓, darkfield ✓✗ -> 3/4; type B: d1 ✓, d2 ✗ -> 1/2.
HAND_MADE = [
    ("A", "d1", True), ("A", "d1", True), ("A", DARK, True), ("A", DARK, False),
    ("B", "d1", True), ("B", "d2", False),
]  # fmt: skip


def _predictions(cells, model="m", subset="coarse"):
    return pd.DataFrame(
        {
            "model": model,
            "subset": subset,
            "question_type": [t for t, _, _ in cells],
            "dataset": [d for _, d, _ in cells],
            "image_id": [f"img{i // 2}" for i in range(len(cells))],
            "question_id": [f"{model}-{subset}-q{i}" for i in range(len(cells))],
            "correct": [c for _, _, c in cells],
        }
    )


def _row(table, scope, level, group="all"):
    match = table[(table.scope == scope) & (table.level == level) & (table.group == group)]
    assert len(match) == 1, (scope, level, group)
    return match.iloc[0]


def test_micro_and_macro_numbers_by_hand():
    table = scores_table(_predictions(HAND_MADE))
    assert list(table.columns) == list(TABLE_COLUMNS)
    expected = {
        ("all", "total", "all"): (6, 4, 4 / 6),
        ("all", "question_type", "A"): (4, 3, 3 / 4),
        ("all", "question_type", "B"): (2, 1, 1 / 2),
        ("all", "dataset", "d1"): (3, 3, 1.0),
        ("all", "dataset", "d2"): (1, 0, 0.0),
        ("all", "dataset", DARK): (2, 1, 0.5),
        ("all", "macro_question_type", "all"): (6, 4, (3 / 4 + 1 / 2) / 2),  # 0.625, not 4/6
        ("all", "macro_dataset", "all"): (6, 4, (1.0 + 0.0 + 0.5) / 3),
        ("without_excluded", "total", "all"): (4, 3, 3 / 4),
        ("without_excluded", "question_type", "A"): (2, 2, 1.0),
        ("without_excluded", "question_type", "B"): (2, 1, 0.5),
        ("without_excluded", "dataset", "d1"): (3, 3, 1.0),
        ("without_excluded", "dataset", "d2"): (1, 0, 0.0),
        ("without_excluded", "macro_question_type", "all"): (4, 3, 0.75),
        ("without_excluded", "macro_dataset", "all"): (4, 3, 0.5),
    }
    assert len(table) == len(expected)  # in particular: no darkfield row without the excluded
    for (scope, level, group), (n, n_correct, accuracy) in expected.items():
        row = _row(table, scope, level, group)
        assert (row.n, row.n_correct) == (n, n_correct)
        assert row.accuracy == pytest.approx(accuracy, abs=1e-15)
    np.testing.assert_array_equal(table.ci_halfwidth, table.ci_high - table.accuracy)
    assert (table.ci_low <= table.accuracy).all() and (table.accuracy <= table.ci_high).all()


def test_all_correct_group_has_a_zero_width_interval():
    row = _row(scores_table(_predictions(HAND_MADE)), "all", "dataset", "d1")
    assert (row.ci_low, row.ci_high, row.ci_halfwidth) == (1.0, 1.0, 0.0)


def test_subset_with_only_excluded_rows_keeps_its_shape_with_nan():
    cells = [("classification", DARK, True), ("classification", EPI, False)]
    table = scores_table(_predictions(cells, subset="fine"))
    assert set(table.scope) == {"all", "without_excluded"}
    empty = table[table.scope == "without_excluded"]
    assert list(empty.level) == ["total", "macro_question_type", "macro_dataset"]
    assert (empty.n == 0).all()
    assert empty[["accuracy", "ci_low", "ci_high", "ci_halfwidth"]].isna().all().all()


def test_excluded_datasets_are_a_parameter():
    table = scores_table(_predictions(HAND_MADE), excluded_datasets=["d2"])
    scoped = table[table.scope == "without_excluded"]
    assert "d2" not in set(scoped.group) and DARK in set(scoped.group)
    assert _row(table, "without_excluded", "total").n == 5


@pytest.mark.parametrize("method", ["basic", "percentile", "bca"])
def test_same_input_gives_identical_tables_whatever_the_row_order(method):
    rng = np.random.default_rng(0)
    datasets = ("d1", "d2", DARK)
    cells = [(t, d, bool(rng.random() < 0.6)) for t in "ABC" for d in datasets for _ in range(7)]
    pairs = [(m, s) for m in ("m1", "m2") for s in ("coarse", "fine")]
    frames = [_predictions(cells, model=m, subset=s) for m, s in pairs]
    predictions = pd.concat(frames, ignore_index=True)
    settings = bootstrap_settings(method=method, n_resamples=999, seed=3)
    first = scores_table(predictions, bootstrap=settings)
    pd.testing.assert_frame_equal(first, scores_table(predictions, bootstrap=settings))
    shuffled = predictions.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(first, scores_table(shuffled, bootstrap=settings))

    # ... nor on how many groups are resampled at once (each draws from its own seeded stream); images
    # resampled too: the coarse rows put several questions on one image
    for resample in ("rows", "images"):
        chosen = bootstrap_settings(method=method, n_resamples=999, seed=3, resample=resample)
        one = accuracy_table(predictions, bootstrap=chosen, excluded_datasets=EXCLUDED_DATASETS)
        pd.testing.assert_frame_equal(one, accuracy_table(predictions, bootstrap=chosen,
                                                          excluded_datasets=EXCLUDED_DATASETS, threads=3))

    # A group's CI does not depend on which other models or subsets are in the table.
    alone = scores_table(frames[0], bootstrap=settings)
    same = first[(first.model == "m1") & (first.subset == "coarse")].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, same)


def test_bad_prediction_rows_are_rejected():
    predictions = _predictions(HAND_MADE)
    with pytest.raises(ValueError, match="lack columns"):
        scores_table(predictions.drop(columns="dataset"))
    with pytest.raises(ValueError, match="'correct'"):
        scores_table(predictions.assign(correct=[True, None, True, False, True, False]))


def _spec(name, label=None, paper_name=None):
    from mubench.models.spec import ModelSpec

    entry = {"name": name, "family": "random", "seed": 0}
    entry.update({k: v for k, v in (("label", label), ("paper_name", paper_name)) if v})
    return ModelSpec.from_config(entry)


def test_table1_joins_the_paper_by_subset_and_paper_name():
    from mubench.figures.table1 import build_table1

    predictions = pd.concat([_predictions(HAND_MADE, model="ours"), _predictions(HAND_MADE, model="ours", subset="fine")])
    scores = scores_table(predictions, bootstrap=bootstrap_settings(n_resamples=99))
    reference = pd.DataFrame({"subset": ["coarse", "fine", "coarse"], "model": ["CLIP", "CLIP", "PLIP"],
                              "accuracy": [11.0, 22.0, 33.0], "ci": [0.1, 0.2, 0.3]})
    table = build_table1(scores, [_spec("ours", label="Ours", paper_name="CLIP")], ["fine", "coarse"], reference)
    assert table[["subset", "model", "paper_accuracy"]].values.tolist() == [["fine", "Ours", 22.0],
                                                                            ["coarse", "Ours", 11.0]]


def test_table1_refuses_two_models_with_one_label():
    """Table 19 maps Table 1's label column back to models: a shared label would join the wrong model's values."""
    from mubench.figures.table1 import build_table1

    predictions = pd.concat([_predictions(HAND_MADE, model="a"), _predictions(HAND_MADE, model="b")])
    scores = scores_table(predictions, bootstrap=bootstrap_settings(n_resamples=99))
    with pytest.raises(ValueError, match=r"share the label\(s\) \['CLIP'\]"):
        build_table1(scores, [_spec("a", label="CLIP"), _spec("b", label="CLIP")], ["coarse"], pd.DataFrame(
            columns=["subset", "model", "accuracy", "ci"]))


@pytest.mark.parametrize("resample", ["rows", "images"])
def test_groups_holding_the_same_questions_get_the_same_interval(resample):
    """15 questions of one dataset, two per image, the first type ten of them: the subset's total, its only dataset
    and its macro over datasets are the same rows, and so are the dataset in both scopes; none differs in its CI.
    Every interval stays inside [0, 1]."""
    cells = [("A" if i < 10 else "B", "d1", i % 5 == 0) for i in range(15)]
    table = scores_table(_predictions(cells), bootstrap=bootstrap_settings(resample=resample))
    same = [_row(table, scope, level, group) for scope, level, group in [
        ("all", "total", "all"), ("all", "dataset", "d1"), ("all", "macro_dataset", "all"),
        ("without_excluded", "total", "all"), ("without_excluded", "dataset", "d1")]]
    intervals = {(row.ci_low, row.ci_high, row.images_ci_low, row.images_ci_high) for row in same}
    assert len(intervals) == 1, intervals
    assert table["ci_low"].between(0, 1).all() and table["ci_high"].between(0, 1).all()
    assert (table[["rows_ci_low", "images_ci_low"]] >= 0).all().all()
