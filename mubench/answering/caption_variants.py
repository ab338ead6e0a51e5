"""Caption sensitivity: every question scored again under each alternative caption set it has (``caption_variants``).

A contrastive model answers by comparing the image with one caption per option, so its accuracy depends on the
wording of the captions. uBench ships more than one caption set per question type (``modality`` and
``modality_1``, ``classification_0`` and ``classification_1``); the default set is what Table 1 scores
(DESIGN §4), the others are scored here, only for sensitivity analyses. Images are not encoded again: their
vectors come from the same per-model embedding cache the default predictions filled, and only texts not seen
before are encoded. The Random baseline, which the authors ran like a contrastive model, draws one choice per
(question, caption set). Generative models read the question, not captions: they have no variant rows (their
sensitivity is the answer-matching rule, ``mubench.answering.generative.matching_sensitivity``); nor has the Prior,
which ranks option texts.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from mubench.answering.contrastive import contrastive_scores
from mubench.answering.predict import PREDICTION_COLUMNS, model_provenance, prediction_table
from mubench.answering.questions import subset_questions
from mubench.benchmark.tables import Benchmark
from mubench.models.random_baseline import random_scores

log = logging.getLogger(__name__)

VARIANT_COLUMNS = PREDICTION_COLUMNS[:PREDICTION_COLUMNS.index("prediction")] + ["caption_key"] + \
    PREDICTION_COLUMNS[PREDICTION_COLUMNS.index("prediction"):]


def variant_questions(questions: pd.DataFrame) -> pd.DataFrame:
    """One row per (question, alternative caption set): the question with ``captions`` = that set and
    ``caption_key`` = its key, in question order then key order. Sets whose length differs from the options
    cannot be scored and are refused with the question named."""
    rows = []
    for question in questions.itertuples(index=False):
        for key, captions in sorted(question.caption_variants.items()):
            if len(captions) != len(question.options):
                raise ValueError(f"question {question.question_id}: caption set {key!r} has {len(captions)} "
                                 f"captions for {len(question.options)} options")
            rows.append({**question._asdict(), "captions": list(captions), "caption_key": key})
    return pd.DataFrame(rows, columns=questions.columns)


def predict_caption_variants(
    spec, benchmark_root: str | Path, subset: str, *, cache_dir: str | Path, batch_size: int, model=None
) -> pd.DataFrame:
    """Prediction rows (VARIANT_COLUMNS + provenance) of ``subset`` under every alternative caption set.

    ``model`` is the adapter already loaded for the default predictions (contrastive models need it).
    """
    bench = Benchmark(Path(benchmark_root))
    questions = subset_questions(bench, spec, subset)
    reads_captions = spec.kind in ("contrastive", "random")  # generative models and the Prior read the options
    variants = variant_questions(questions if reads_captions else questions.iloc[:0])
    log.info("model %s, subset %s: %d (question, alternative caption set) rows, keys %s", spec.name, subset,
             len(variants), sorted(set(variants["caption_key"])))
    if variants.empty:
        scores = []
    elif spec.kind == "random":
        scores = [random_scores(spec.seed, f"{q.question_id}#{q.caption_key}", len(q.options))
                  for q in variants.itertuples()]
    else:
        scores = contrastive_scores(variants, *bench.image_index(), model, cache_dir, batch_size)
    table = prediction_table(variants, scores, spec.name, model_provenance(spec, bench.manifest))
    table.insert(VARIANT_COLUMNS.index("caption_key"), "caption_key", variants["caption_key"].to_numpy())
    return table
