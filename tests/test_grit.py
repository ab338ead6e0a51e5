"""GRIT localization on hand-computed boxes: areas, IoU, one-to-one matching, empty sides, aggregation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mubench.scoring.grit import (
    EPS,
    aggregate,
    box_area,
    iou_matrix,
    localization_score,
    score_rows,
)

A, B = [0, 0, 4, 1], [4, 0, 8, 1]  # two adjacent unit-height boxes


def test_box_area_is_zero_for_inverted_or_flat_boxes():
    assert box_area([[0, 0, 2, 3], [2, 0, 1, 3], [0, 5, 4, 5]]).tolist() == [6.0, 0.0, 0.0]


def test_iou_uses_the_epsilon_guarded_union():
    assert iou_matrix([[0, 0, 2, 2]], [[1, 1, 3, 3]])[0, 0] == pytest.approx(1 / (7 + EPS), rel=1e-12)
    assert iou_matrix([[0, 0, 2, 2]], [[0, 0, 2, 2], [5, 5, 6, 6]]).round(6).tolist() == [[1.0, 0.0]]


def test_empty_sides():
    assert localization_score([], []) == 1.0
    assert localization_score([], [A]) == 0.0
    assert localization_score([A], []) == 0.0


def test_unmatched_boxes_lower_the_score():
    # one pair with IoU 1/7, one spurious prediction: (1/7) / (2 + 1 − 1)
    assert localization_score([[0, 0, 2, 2], [10, 10, 12, 12]], [[1, 1, 3, 3]]) == pytest.approx(1 / 14, rel=1e-5)


def test_matching_is_optimal_not_greedy():
    # p1 overlaps A by 0.6 and B by 1/7, p2 overlaps only A (0.5): greedy p1→A scores 0.6 / 3 = 0.2, the optimal
    # assignment p1→B, p2→A scores (1/7 + 0.5) / 2.
    p1, p2 = [1, 0, 5, 1], [0, 0, 2, 1]
    assert localization_score([p1, p2], [A, B]) == pytest.approx((1 / 7 + 0.5) / 2, rel=1e-5)


def test_pairs_with_zero_overlap_are_not_matched():
    # the assignment pairs [0,0,1,1] with the far box (IoU 0): only the exact pair counts, 1 / (2 + 2 − 1)
    score = localization_score([[0, 0, 1, 1], [5, 5, 6, 6]], [[5, 5, 6, 6], [20, 20, 21, 21]])
    assert score == pytest.approx(1 / 3, rel=1e-5)


def test_aggregate_averages_images_per_class():
    rows = pd.DataFrame(dict(
        model="m", difficulty=["easy", "easy", "easy", "hard"], dataset=["d1", "d1", "d1", "d2"],
        class_name=["cell", "cell", "cell", "nucleus"],
        pred_boxes=[[A], [], [A, B], []], gt_boxes=[[A], [A], [A], []], parsed=[True, False, True, False],
    ))
    rows["grit"] = score_rows(rows)
    assert rows["grit"].round(5).tolist() == [1.0, 0.0, 0.5, 1.0]
    table = aggregate(rows)
    assert table[["difficulty", "dataset", "class_name", "n_images", "n_unparsed"]].values.tolist() == [
        ["easy", "d1", "cell", 3, 1], ["hard", "d2", "nucleus", 1, 1]]
    np.testing.assert_allclose(table["grit"], [0.5, 1.0], rtol=1e-5)
