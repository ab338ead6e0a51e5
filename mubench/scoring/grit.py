"""GRIT localization score (appendix Table 18): boxes matched one-to-one by IoU, unmatched boxes penalised.

Boxes are [x1, y1, x2, y2] in pixels. Per (image, class) the score is Σ IoU over matched pairs divided by
|P| + |G| − |M|, so every missed object and every spurious prediction lowers it (DESIGN §2).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

EPS = 1e-6  # the GRIT code's guard against a zero union


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Area of each [x1, y1, x2, y2] row; 0 for a box whose corners are inverted or coincide."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def iou_matrix(pred: Sequence, gt: Sequence) -> np.ndarray:
    """IoU of every predicted box (rows) with every ground-truth box (columns)."""
    p = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    g = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(p[:, None, :2], g[None, :, :2])
    bottom_right = np.minimum(p[:, None, 2:], g[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    return inter / (box_area(p)[:, None] + box_area(g)[None, :] - inter + EPS)


def localization_score(pred: Sequence, gt: Sequence) -> float:
    """GRIT score of one (image, class): 1 when both sides are empty, 0 when exactly one is."""
    n_pred, n_gt = len(pred), len(gt)
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0
    ious = iou_matrix(pred, gt)
    rows, cols = linear_sum_assignment(1.0 - ious)
    matched = ious[rows, cols]
    matched = matched[matched > 0]
    return float(matched.sum() / (n_pred + n_gt - len(matched)))


def score_rows(detections: pd.DataFrame) -> pd.Series:
    """Per row (one image × class) of a table with ``pred_boxes`` and ``gt_boxes`` list columns."""
    return pd.Series([localization_score(list(p), list(g))
                      for p, g in zip(detections["pred_boxes"], detections["gt_boxes"])],
                     index=detections.index, dtype=np.float64)


def aggregate(scored: pd.DataFrame, by: Sequence[str] = ("model", "difficulty", "dataset", "class_name")) -> pd.DataFrame:
    """Mean score per class over its images, reported per dataset and easy/hard split (``grit`` in [0, 1])."""
    return (scored.groupby(list(by), sort=True)
            .agg(grit=("grit", "mean"), n_images=("grit", "size"), n_unparsed=("parsed", lambda s: int((~s).sum())))
            .reset_index())
