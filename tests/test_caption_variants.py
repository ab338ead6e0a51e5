"""Caption-set sensitivity: alternative caption sets scored from the same caches, skipped questions, the table."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from conftest import tiny_open_clip, tiny_open_clip_spec

from mubench.answering.caption_variants import VARIANT_COLUMNS, predict_caption_variants, variant_questions
from mubench.answering.generative import GENERATIVE_COLUMNS
from mubench.answering.predict import predict_subset
from mubench.benchmark.tables import Benchmark, write_table
from mubench.models import ModelSpec
from mubench.scoring.sensitivity import SENSITIVITY_COLUMNS, caption_set_name, pooled_with_variants, sensitivity_table

@pytest.fixture(scope="module")
def tiny_model():
    return tiny_open_clip()


class Counting:
    """A contrastive model that counts what it encodes."""

    def __init__(self, model):
        self.model, self.logit_scale, self.images, self.texts = model, model.logit_scale, 0, []

    def encode_images(self, images):
        self.images += len(images)
        return self.model.encode_images(images)

    def encode_texts(self, texts):
        self.texts += list(texts)
        return self.model.encode_texts(texts)


def with_variants(root):
    """The tiny benchmark with a `<type>_1` set (bare option text) on every coarse question, a classification_0
    set on the fine ones, and image img000's modality question left without any caption set."""
    bench = Benchmark(root)
    questions = bench.questions
    variants, captions = [], []
    for q in questions.itertuples():
        if q.subset == "coarse":
            variants.append({f"{q.question_type}_1": list(q.options)})
        elif q.subset == "fine":
            variants.append({"classification_0": [f"{o} cells" for o in q.options]})
        else:
            variants.append({})
        captions.append([] if q.question_id == "img000:modality" else list(q.captions))
    questions["caption_variants"], questions["captions"] = variants, captions
    questions.loc[questions.question_id == "img000:modality", "caption_variants"] = [{}]
    write_table(questions, "questions", root / "questions.parquet")
    return root


def test_variant_rows_are_scored_like_the_question_with_that_caption_set_without_reencoding_images(
        tiny_benchmark, tiny_model, tmp_path):
    root = with_variants(tiny_benchmark)
    spec = tiny_open_clip_spec()
    counting = Counting(tiny_model)
    default = predict_subset(spec, root, "coarse", cache_dir=tmp_path / "cache", batch_size=8, model=counting)
    assert counting.images == 12 and "img000:modality" not in set(default.question_id)  # no captions: skipped
    texts_before = len(counting.texts)

    variants = predict_caption_variants(spec, root, "coarse", cache_dir=tmp_path / "cache", batch_size=8,
                                        model=counting)
    assert counting.images == 12  # image vectors came from the cache
    assert len(counting.texts) - texts_before == 4  # only the four new texts (bare option names)
    assert list(variants.columns[:len(VARIANT_COLUMNS)]) == VARIANT_COLUMNS
    assert len(variants) == 12 * 5 - 1 and set(variants.caption_key) == {f"{t}_1" for t in
                                                                          ("modality", "submodality", "domain",
                                                                           "subdomain", "stain")}

    # the same scores as the default path gives a benchmark whose captions ARE the variant set
    other = tmp_path / "swapped"
    other.mkdir()
    for name in ("images.parquet", "detection.parquet", "manifest.json"):
        (other / name).write_bytes((root / name).read_bytes())
    (other / "images").symlink_to(root / "images")
    questions = Benchmark(root).questions
    swapped = questions[questions.subset == "coarse"].copy()
    swapped["captions"] = [v[next(iter(v))] if v else c for v, c in zip(swapped.caption_variants, swapped.captions)]
    write_table(swapped, "questions", other / "questions.parquet")
    direct = predict_subset(spec, other, "coarse", cache_dir=tmp_path / "other", batch_size=8, model=tiny_model)
    direct = direct.set_index("question_id").loc[variants.question_id]
    np.testing.assert_allclose(np.stack(variants.scores), np.stack(direct.scores), rtol=1e-5, atol=1e-7)
    assert (variants.prediction.to_numpy() == direct.prediction.to_numpy()).all()


def test_skipped_questions_are_logged(tiny_benchmark, tiny_model, tmp_path, caplog):
    root = with_variants(tiny_benchmark)
    with caplog.at_level(logging.INFO):
        predict_subset(tiny_open_clip_spec(), root, "coarse", cache_dir=tmp_path, batch_size=8,
                       model=tiny_model)
    assert "1 questions have no caption set; contrastive models skip them" in caplog.text


def test_random_variant_rows_are_seeded_per_caption_set_and_generative_models_have_none(tiny_benchmark, tmp_path):
    root = with_variants(tiny_benchmark)
    spec = ModelSpec.from_config(dict(name="Random", family="random", seed=3))
    first = predict_caption_variants(spec, root, "fine", cache_dir=tmp_path, batch_size=4)
    again = predict_caption_variants(spec, root, "fine", cache_dir=tmp_path, batch_size=1)
    pd.testing.assert_frame_equal(first, again)
    assert len(first) == 12 and set(first.caption_key) == {"classification_0"}
    default = predict_subset(spec, root, "fine", cache_dir=tmp_path, batch_size=4)
    assert len(default) == 12  # Random answers every question, captions or not
    assert (first.prediction.to_numpy() != default.prediction.to_numpy()).any()

    generative = ModelSpec.from_config(dict(name="vlm", family="hf_vlm", model_id="/nowhere"))
    none = predict_caption_variants(generative, root, "fine", cache_dir=tmp_path, batch_size=4)
    assert none.empty and list(none.columns[:len(VARIANT_COLUMNS)]) == VARIANT_COLUMNS


def test_a_caption_set_of_the_wrong_length_is_refused():
    questions = pd.DataFrame([dict(question_id="q1", options=["a", "b"], caption_variants={"x_1": ["only one"]})])
    with pytest.raises(ValueError, match=r"question q1: caption set 'x_1' has 1 captions for 2 options"):
        variant_questions(questions)


def _rows(model, correct, subset="coarse", qtype="modality", key=None, ids=None):
    ids = ids or [f"q{i}" for i in range(len(correct))]
    table = pd.DataFrame({"model": model, "subset": subset, "question_type": qtype, "question_id": ids,
                          "image_id": ids, "dataset": "d", "correct": correct, "prediction": 0, "answer_idx": 0})
    if key:
        table["caption_key"] = key
    return table


def test_sensitivity_table_by_hand():
    predictions = pd.concat([
        _rows("clip", [True, True, False, False]),
        _rows("clip", [True, False], subset="fine", qtype="classification"),
    ]).assign(**dict.fromkeys(GENERATIVE_COLUMNS))
    variants = pd.concat([
        _rows("clip", [True, True, True], key="modality_1", ids=["q0", "q2", "q3"]),
        _rows("clip", [False, False], subset="fine", qtype="classification", key="classification_0"),
    ])
    vlm = _rows("vlm", [True, False, False, True]).assign(**dict.fromkeys(GENERATIVE_COLUMNS)).assign(
        parsed_code=[0, 1, -1, 0], parsed_paper_text=[0, 1, 1, 0], parsed_strict=[0, -1, -1, -1],
        correct_code=[True, False, False, True], correct_paper_text=[True, False, False, True],
        correct_strict=[True, False, False, False], parser_version="match-v1:code")
    table = sensitivity_table(pd.concat([predictions.assign(parser_version="argmax-v1"), vlm]), variants)
    assert list(table.columns) == SENSITIVITY_COLUMNS
    got = {(r.model, r.subset, r.variant): r for r in table.itertuples()}
    coarse_default = got["clip", "coarse", "default"]
    assert (coarse_default.n, coarse_default.accuracy, coarse_default.is_default) == (4, 0.5, True)
    alt = got["clip", "coarse", "<type>_1"]  # q0, q2, q3: 3/3 under the variant, 1/3 under the default
    assert (alt.n, alt.accuracy, alt.is_default) == (3, 1.0, False)
    assert alt.default_accuracy == pytest.approx(1 / 3) and alt.difference == pytest.approx(2 / 3)
    assert alt.spread == pytest.approx(2 / 3) and coarse_default.spread == pytest.approx(2 / 3)
    fine = got["clip", "fine", "<type>_0"]
    assert fine.difference == pytest.approx(-0.5) and fine.spread == pytest.approx(0.5)
    strict, code = got["vlm", "coarse", "strict"], got["vlm", "coarse", "code"]
    assert code.is_default and not strict.is_default and strict.factor == "matching_rule"
    assert strict.difference == pytest.approx(-0.25) and code.spread == pytest.approx(0.25)


def test_pooled_coarse_totals_add_the_type_1_rows_only():
    predictions = _rows("clip", [True, False])
    variants = pd.concat([_rows("clip", [False, False], key="modality_1"),
                          _rows("clip", [True, True], key="modality_2"),
                          _rows("clip", [True], subset="fine", qtype="classification", key="classification_0")])
    pooled = pooled_with_variants(predictions, variants)
    assert list(pooled.question_id) == ["q0", "q1", "q0#modality_1", "q1#modality_1"]
    assert list(pooled.columns) == list(predictions.columns) and pooled.correct.sum() == 1
    assert caption_set_name("classification_0", "classification") == "<type>_0"
