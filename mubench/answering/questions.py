"""Which of a subset's questions a model is asked: one-image models skip multi-image questions, contrastive models
skip questions without a caption set; every question carries its image's attributes."""

from __future__ import annotations

import logging

import pandas as pd

from mubench.benchmark.tables import IMAGE_ATTRIBUTES

log = logging.getLogger(__name__)


def answerable(spec, questions: pd.DataFrame) -> pd.DataFrame:
    """The questions the model can be asked: a model that takes one image skips questions with several (MicroVQA),
    counted and named in the log; they are absent from its predictions, so its ``n`` is smaller."""
    several = questions["extra_image_ids"].map(len) > 0
    if spec.takes_several_images or not several.any():
        return questions
    skipped = questions.loc[several, "question_id"]
    log.warning("model %s takes one image per question: skipping %d of %d questions that have several (e.g. %s)",
                spec.name, len(skipped), len(questions), list(skipped[:3]))
    return questions[~several].reset_index(drop=True)


def has_captions(questions: pd.DataFrame) -> pd.Series:
    """Questions a contrastive model can score: cognition (question + option) or a non-empty caption set."""
    return (questions["subset"] == "cognition") | (questions["captions"].map(len) > 0)


def subset_questions(bench, spec, subset: str) -> pd.DataFrame:
    """The questions of ``subset`` that ``spec`` answers, with their image's attributes (IMAGE_ATTRIBUTES).

    Questions with several images are skipped by one-image models (``answerable``); contrastive models also skip
    questions without a caption set (logged); generative models and Random answer the rest.
    """
    questions = bench.questions
    questions = answerable(spec, questions[questions["subset"] == subset].reset_index(drop=True))
    attributes = bench.images.set_index("image_id")[list(IMAGE_ATTRIBUTES)]
    missing = sorted(set(questions["image_id"].tolist()) - set(attributes.index.tolist()))
    if missing:
        raise KeyError(f"{len(missing)} {subset} questions refer to images absent from images.parquet, "
                       f"e.g. {missing[:3]}")
    questions = questions.join(attributes, on="image_id")
    if spec.kind == "contrastive":
        scorable = has_captions(questions)
        if not scorable.all():
            log.info("model %s, subset %s: %d questions have no caption set; contrastive models skip them",
                     spec.name, subset, int((~scorable).sum()))
        questions = questions[scorable].reset_index(drop=True)
    return questions
