"""How much a model's accuracy depends on choices the benchmark makes for it: caption wording, answer matching.

Contrastive models (and the Random row) are scored under every caption set a question has; generative models
under every answer-matching rule. Each alternative is compared with the default on the same questions, and the
spread (largest minus smallest change, the default counting as 0) says how much the choice alone moves the number.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from mubench.answering.generative import matching_sensitivity

SENSITIVITY_COLUMNS = [
    "model", "subset", "factor", "variant", "is_default", "n", "n_correct", "n_unparseable", "n_bad_microvqa_scorer",
    "accuracy", "default_accuracy", "difference", "spread",
]  # fmt: skip
# n_unparseable: answers the matching rule could not read (blank for caption sets); n_bad_microvqa_scorer: beside it
# for the microvqa rule, the "bad responses" MicroVQA's own scorer counts (no digit, or one outside 1–5)
DEFAULT = "default"


def caption_set_name(caption_key: str, question_type: str) -> str:
    """A caption key with its question type replaced by ``<type>``, so one set spans the coarse types:
    ``modality_1`` and ``stain_1`` are both set ``<type>_1``."""
    return re.sub(rf"^{re.escape(question_type)}", "<type>", caption_key)


def sensitivity_table(predictions: pd.DataFrame, variants: pd.DataFrame) -> pd.DataFrame:
    """SENSITIVITY_COLUMNS per (model, subset, factor, variant); accuracies are fractions.

    ``factor`` is ``caption_set`` for models with caption-variant rows (``variants``, from
    mubench.answering.caption_variants) and ``matching_rule`` for generative rows. ``default_accuracy`` is the
    default's accuracy on the questions the variant covers; ``difference`` = accuracy − default_accuracy.
    """
    parts = [part for part in (_caption_rows(predictions, variants), _matching_rows(predictions)) if len(part)]
    if not parts:
        return pd.DataFrame(columns=SENSITIVITY_COLUMNS)
    table = pd.concat(parts, ignore_index=True)
    table["spread"] = table.groupby(["model", "subset", "factor"])["difference"].transform(
        lambda d: max(d.max(), 0.0) - min(d.min(), 0.0))
    return table[SENSITIVITY_COLUMNS].sort_values(["model", "subset", "factor", "is_default", "variant"],
                                                  ascending=[True, True, True, False, True]).reset_index(drop=True)


def _caption_rows(predictions: pd.DataFrame, variants: pd.DataFrame) -> pd.DataFrame:
    rows = []
    if variants.empty:
        return pd.DataFrame(rows)
    default = predictions.set_index(["model", "subset", "question_id"])["correct"].astype(bool)
    for (model, subset), part in variants.groupby(["model", "subset"], sort=True):
        own = predictions[(predictions["model"] == model) & (predictions["subset"] == subset)]
        rows.append(_row(model, subset, "caption_set", DEFAULT, True, own["correct"], own["correct"]))
        names = [caption_set_name(k, t) for k, t in zip(part["caption_key"], part["question_type"])]
        for name, group in part.groupby(np.asarray(names), sort=True):
            baseline = default.reindex(list(zip(group["model"], group["subset"], group["question_id"])))
            if baseline.isna().any():
                raise ValueError(f"model {model!r}, subset {subset!r}: caption-variant rows for questions without "
                                 "a default prediction, e.g. " + str(group["question_id"].iloc[0]))
            rows.append(_row(model, subset, "caption_set", name, False, group["correct"], baseline))
    return pd.DataFrame(rows)


def _matching_rows(predictions: pd.DataFrame) -> pd.DataFrame:
    """Generative rows under each matching rule; the default is the model's configured rule (its parser_version
    ends in ``:<rule>``)."""
    table = matching_sensitivity(predictions)
    if table.empty:
        return table
    configured = predictions.groupby(["model", "subset"])["parser_version"].first().str.rsplit(":", n=1).str[-1]
    table["is_default"] = [configured[(m, s)] == rule for m, s, rule in zip(table.model, table.subset, table.rule)]
    default = table[table["is_default"]].set_index(["model", "subset"])["accuracy"]
    table["default_accuracy"] = [default[(m, s)] for m, s in zip(table.model, table.subset)]
    return table.assign(factor="matching_rule", variant=table["rule"],
                        difference=table["accuracy"] - table["default_accuracy"])


def _row(model, subset, factor, variant, is_default, correct: pd.Series, baseline: pd.Series) -> dict:
    correct, baseline = correct.astype(bool), baseline.astype(bool)
    accuracy, default_accuracy = float(correct.mean()), float(baseline.mean())
    return dict(model=model, subset=subset, factor=factor, variant=variant, is_default=is_default, n=len(correct),
                n_correct=int(correct.sum()), n_unparseable=None, n_bad_microvqa_scorer=None, accuracy=accuracy,
                default_accuracy=default_accuracy, difference=accuracy - default_accuracy)


def pooled_with_variants(predictions: pd.DataFrame, variants: pd.DataFrame, subset: str = "coarse") -> pd.DataFrame:
    """The authors' coarse aggregation for caption-scored models: each question's row plus its ``<type>_1``
    variant row, as eval_posthoc.py pools the question classes ``<type>`` and ``<type>_1``. The extra rows get
    question ids ``<id>#<key>``; other subsets and keys are left as they are."""
    extra = variants[(variants["subset"] == subset)
                     & (variants["caption_key"] == variants["question_type"] + "_1")]
    if extra.empty:
        return predictions
    extra = extra.assign(question_id=extra["question_id"] + "#" + extra["caption_key"])
    return pd.concat([predictions, extra[list(predictions.columns)]], ignore_index=True)
