"""The Prior row: what answering without the image, from the benchmark's answer statistics alone, scores.

Per question type, each option is ranked by how often its text is the gold answer among the *fitting* questions of
that type, then by how often its position is the gold position (among fitting questions with as many options),
then by a seeded coin per question (``random_baseline.question_rng``). Option texts are compared after collapsing
whitespace and case.

No question's own answer is ever used to answer it (cross-fitting in two folds):
- questions on images outside the benchmark's train split (images ``split`` ≠ ``train``) are answered from the
  train-split questions of their type — the option most often gold on the train split;
- questions on train-split images are answered from the other splits' questions of their type.
Fallback, where a question type has no train-split question or only train-split ones (uBench's expert cognition
set; MicroVQA, whose one split is named ``train``): two seeded halves of the type's questions (by image), each
answered from the other. Its answers then come from the evaluation set itself, so that row measures the
benchmark's label imbalance rather than a model built without its answers; the log and ``fit`` say which applied.
Leave-one-out is not used: on a balanced label set it is wrong by construction (removing a question's own answer
makes another label the majority), and in-sample counting would read a unique option text as the answer.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mubench.models.random_baseline import question_rng

log = logging.getLogger(__name__)

FIT_SPLIT = "train"
SPLIT_FIT = "train split (train-split questions: from the other splits)"
HALVES_FIT = "fallback: two seeded halves of the benchmark, each answered from the other (no separate train split)"
DECIDED_BY = ("option text", "option position", "seeded tie-break")
FIT_COLUMNS = ["question_type", "fit", "n_questions", "n_fit_train", "n_fit_other", "top_answer", "top_answer_share",
               "decided_by_option_text", "decided_by_option_position", "decided_by_tie_break"]


def normalised(text: str) -> str:
    return " ".join(str(text).split()).casefold()


@dataclass(frozen=True)
class PriorAnswers:
    predictions: list[int]
    scores: list[np.ndarray]  # per option: share of the question's fitting questions whose gold is that option text
    decided_by: list[str]  # which rank settled each choice (DECIDED_BY)
    fits: pd.DataFrame  # FIT_COLUMNS, one row per question type answered


def half(seed: int, image_id: str) -> int:
    """The fallback's fold of an image (0 or 1), from a seeded hash: independent of order and of other images."""
    return hashlib.sha256(f"{seed}\x00prior-fold\x00{image_id}".encode()).digest()[0] & 1


def _folds(candidates: pd.DataFrame, seed: int) -> tuple[pd.Series, str]:
    """Each candidate question's fold; a question is answered from the questions of the other fold."""
    on_train = candidates["split"] == FIT_SPLIT
    if on_train.any() and not on_train.all():
        return on_train.map({True: FIT_SPLIT, False: "other"}), SPLIT_FIT
    return candidates["image_id"].map(lambda image_id: half(seed, image_id)), HALVES_FIT


@dataclass(frozen=True)
class _Counts:
    texts: Counter
    positions: Counter
    n: int

    @classmethod
    def of(cls, rows: pd.DataFrame) -> "_Counts":
        return cls(Counter(rows["gold_text"]), Counter(zip(rows["options"].map(len), rows["answer_idx"])), len(rows))


def prior_answers(benchmark_questions: pd.DataFrame, image_splits: pd.Series, questions: pd.DataFrame,
                  seed: int) -> PriorAnswers:
    """The prior's choice for each row of ``questions``, a part of ``benchmark_questions`` (the whole benchmark,
    from which the fitting questions are taken); ``image_splits``: image_id → split."""
    pool = benchmark_questions.assign(
        split=benchmark_questions["image_id"].map(image_splits).fillna(""),
        gold_text=[normalised(o[a]) for o, a in zip(benchmark_questions["options"], benchmark_questions["answer_idx"])])
    predictions, scores, decided_by = [None] * len(questions), [None] * len(questions), [None] * len(questions)
    row_of = {qid: i for i, qid in enumerate(questions["question_id"])}
    fits = []
    for qtype, part in questions.groupby("question_type", sort=True):
        candidates = pool[pool["question_type"] == qtype]
        fold, fit = _folds(candidates, seed)
        counts = {key: _Counts.of(candidates[fold != key]) for key in fold.unique()}
        fold_of = dict(zip(candidates["question_id"], fold))
        chosen = Counter()
        for q in part.itertuples():
            c = counts[fold_of[q.question_id]]
            n_options = len(q.options)
            text = np.array([c.texts[normalised(o)] for o in q.options], dtype=float)
            position = np.array([c.positions[(n_options, j)] for j in range(n_options)], dtype=float)
            order = np.lexsort((question_rng(seed, q.question_id).random(n_options), position, text))
            best = int(order[-1])  # lexsort: the last key (text) ranks first
            reason = (DECIDED_BY[0] if np.sum(text == text[best]) == 1
                      else DECIDED_BY[1] if np.sum((text == text[best]) & (position == position[best])) == 1
                      else DECIDED_BY[2])
            row = row_of[q.question_id]
            predictions[row], decided_by[row], scores[row] = best, reason, text / max(c.n, 1)
            chosen[reason] += 1
        train = candidates[candidates["split"] == FIT_SPLIT] if fit == SPLIT_FIT else candidates.iloc[:0]
        top, top_count = Counter(train["gold_text"] if len(train) else candidates["gold_text"]).most_common(1)[0]
        top = next(o[a] for o, a, g in zip(candidates["options"], candidates["answer_idx"], candidates["gold_text"])
                   if g == top)  # as the benchmark spells it
        fits.append(dict(question_type=qtype, fit=fit, n_questions=len(part), n_fit_train=len(train),
                         n_fit_other=len(candidates) - len(train), top_answer=top,
                         top_answer_share=top_count / (len(train) or len(candidates)),
                         **dict(zip(FIT_COLUMNS[-3:], (chosen[d] for d in DECIDED_BY)))))
        log.info("prior, %s: %s; most common gold %r (%.1f %%); %d questions decided by option text, %d by option "
                 "position, %d by the seeded tie-break", qtype, fit, top, 100 * fits[-1]["top_answer_share"],
                 *(chosen[d] for d in DECIDED_BY))
        if fit == HALVES_FIT:
            log.warning("prior, %s: no separate %r split for this question type; %s", qtype, FIT_SPLIT, HALVES_FIT)
    return PriorAnswers(predictions, scores, decided_by, pd.DataFrame(fits, columns=FIT_COLUMNS))
