"""How much of a score needs the image: each model's accuracy with and without it, on the same questions.

A blind run (answering/blind.py) asks every question again with the image taken away. The difference with − without
is paired question by question (mubench.scoring.paired): an image-paired bootstrap interval and the exact McNemar
test on the questions whose correctness changed. A model that ignores its image changes no answer (difference 0,
p = 1); the Random and Prior rows read no image, so their blind answers are their answers by construction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mubench.scoring.accuracy import BootstrapSettings
from mubench.scoring.paired import paired_difference

VISION_COLUMNS = [
    "model", "ablation", "subset", "n", "acc_image", "acc_blind", "diff", "diff_ci_low", "diff_ci_high",
    "n_image_only", "n_blind_only", "p_mcnemar",
]  # fmt: skip; accuracies and differences are fractions; n_image_only: right with the image only
VISION_PERCENT = ["acc_image", "acc_blind", "diff", "diff_ci_low", "diff_ci_high"]
BY_CONSTRUCTION = "reads no image"  # the ablation named for the baselines' rows


def vision_dependence(with_image: pd.DataFrame, blind: Mapping[tuple[str, str], pd.DataFrame],
                      models: Sequence[tuple[str, str]], subsets: Sequence[str],
                      bootstrap: BootstrapSettings) -> pd.DataFrame:
    """VISION_COLUMNS per (model, ablation, subset), models in config order (``models``: (name, label)).

    ``blind`` maps (model name, ablation) → that blind run's prediction rows; only questions present in both runs
    count (``n``). ``model`` is the label."""
    rows = []
    for name, label in models:
        for (model, ablation), blind_rows in blind.items():
            if model != name:
                continue
            for subset in subsets:
                own = with_image[(with_image["model"] == name) & (with_image["subset"] == subset)]
                other = blind_rows[blind_rows["subset"] == subset].set_index("question_id")["correct"]
                paired = own.assign(blind=own["question_id"].map(other)).dropna(subset=["blind"])
                result = paired_difference(paired["correct"].to_numpy(bool), paired["blind"].to_numpy(bool),
                                           paired["image_id"].to_numpy(), bootstrap)
                rows.append(dict(model=label, ablation=ablation, subset=subset, n=result["n"],
                                 acc_image=result["acc_a"], acc_blind=result["acc_b"], diff=result["diff"],
                                 diff_ci_low=result["diff_ci_low"], diff_ci_high=result["diff_ci_high"],
                                 n_image_only=result["n_a_only"], n_blind_only=result["n_b_only"],
                                 p_mcnemar=result["p_mcnemar"]))
    table = pd.DataFrame(rows, columns=VISION_COLUMNS)
    return table.astype({"n": np.int64, "n_image_only": np.int64, "n_blind_only": np.int64})
