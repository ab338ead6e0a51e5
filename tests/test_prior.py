"""The Prior baseline: the most common gold answer per question type, never a question's own answer."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from mubench.answering.predict import predict_subsets
from mubench.benchmark.tables import Benchmark, write_table
from mubench.models import ModelSpec
from mubench.models.prior_baseline import HALVES_FIT, SPLIT_FIT, prior_answers

from conftest import make_tiny_benchmark

PRIOR = ModelSpec.from_config({"name": "Prior", "family": "prior", "seed": 0})
DOMAINS = ["biology", "pathology", "cytology", "none of the above"]


def _questions(golds: list[str], splits: list[str], options=DOMAINS, qtype="domain") -> tuple[pd.DataFrame, pd.Series]:
    """One question per image, options in one fixed order, gold ``golds[i]`` on an image of split ``splits[i]``."""
    ids = [f"img{i:03d}" for i in range(len(golds))]
    questions = pd.DataFrame(dict(
        question_id=[f"{i}:{qtype}" for i in ids], image_id=ids, question_type=qtype,
        options=[list(options) if isinstance(options[0], str) else list(options[i]) for i in range(len(ids))],
        answer_idx=[(options if isinstance(options[0], str) else options[i]).index(g) for i, g in enumerate(golds)]))
    return questions, pd.Series(splits, index=ids)


def test_non_train_questions_get_the_train_splits_most_common_answer():
    golds = ["biology"] * 7 + ["pathology"] * 3 + ["pathology"] * 5  # train: biology 7/10; test: pathology
    questions, splits = _questions(golds, ["train"] * 10 + ["test"] * 5)
    answers = prior_answers(questions, splits, questions, seed=0)
    assert [DOMAINS[p] for p in answers.predictions[10:]] == ["biology"] * 5  # the train majority, wrong on all five
    assert answers.decided_by[10:] == ["option text"] * 5
    assert np.allclose(answers.scores[10], [0.7, 0.3, 0, 0])  # the share of train questions per option text
    fit = answers.fits.iloc[0]
    assert fit["fit"] == SPLIT_FIT and fit["top_answer"] == "biology" and fit["top_answer_share"] == 0.7


def test_train_questions_are_answered_from_the_other_splits():
    golds = ["biology"] * 6 + ["pathology"] * 4
    questions, splits = _questions(golds, ["train"] * 6 + ["test"] * 4)
    answers = prior_answers(questions, splits, questions, seed=0)
    assert [DOMAINS[p] for p in answers.predictions[:6]] == ["pathology"] * 6  # the test split's answers
    assert [DOMAINS[p] for p in answers.predictions[6:]] == ["biology"] * 4


def test_a_unique_option_text_is_never_read_as_the_answer():
    """MicroVQA-like: every question has its own options, all in one split. In-sample counting would find each gold
    text once and score 100 %; the prior must not."""
    rng = np.random.default_rng(0)
    options = [[f"q{i} option {k}" for k in range(4)] for i in range(40)]
    golds = [o[int(rng.integers(4))] for o in options]
    questions, splits = _questions(golds, ["train"] * 40, options=options, qtype="hypothesis_generation")
    answers = prior_answers(questions, splits, questions, seed=0)
    assert answers.fits.iloc[0]["fit"] == HALVES_FIT
    assert set(answers.decided_by) <= {"option position", "seeded tie-break"}
    accuracy = np.mean(np.array(answers.predictions) == questions["answer_idx"].to_numpy())
    assert accuracy < 0.5


def test_fallback_is_logged_and_ties_follow_the_seed(caplog):
    golds = ["biology", "pathology"] * 10  # balanced: with seed 1 both halves hold as many of each
    questions, splits = _questions(golds, ["test"] * 20)
    with caplog.at_level(logging.WARNING, logger="mubench"):
        first = prior_answers(questions, splits, questions, seed=1)
    assert "no separate 'train' split" in caplog.text
    assert first.decided_by == ["seeded tie-break"] * 20
    assert prior_answers(questions, splits, questions, seed=1).predictions == first.predictions
    assert len(set(first.predictions)) > 1  # a coin per question, not one answer for all
    assert prior_answers(questions, splits, questions, seed=3).predictions != first.predictions


def test_prior_runs_as_a_model_and_reads_no_image(tmp_path):
    root = make_tiny_benchmark(tmp_path / "bench")
    images = Benchmark(root).images
    images["split"] = ["train"] * 8 + ["test"] * 4
    write_table(images, "images", root / "images.parquet")
    for path in (root / "images").iterdir():
        path.unlink()  # a model that reads no image needs none
    tables, info = predict_subsets(PRIOR, root, ["coarse", "fine", "cognition"], cache_dir=tmp_path / "cache",
                                   batch_size=4)
    assert info["kind"] == "prior" and info["n_parameters"] is None
    for subset, table in tables.items():
        assert table["prediction"].between(0, table["scores"].map(len) - 1).all()
        assert (table["correct"] == (table["prediction"] == table["answer_idx"])).all()
    assert PRIOR.group == "baseline" and PRIOR.is_baseline and not PRIOR.uses_accelerator


@pytest.mark.parametrize("entry", [{"name": "P", "family": "prior"}])
def test_prior_needs_a_seed(entry):
    from conftest import workflow_config
    from mubench.errors import ConfigError

    config = workflow_config()
    config["models"].append(entry)
    with pytest.raises((ConfigError, SystemExit), match="seed"):
        workflow_config(config)
