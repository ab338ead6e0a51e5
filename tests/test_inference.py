"""Inference engine: unique encoding gives the per-question scores, caches resume, random baseline is stable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import tiny_open_clip, tiny_open_clip_spec

from mubench.benchmark.tables import Benchmark, BenchmarkImageError, load_image
from mubench.answering.contrastive import option_texts, softmax, softmax_rows
from mubench.answering.predict import predict_subset
from mubench.models import ModelSpec

@pytest.fixture(scope="module")
def tiny_model():
    return tiny_open_clip()


class CountingModel:
    """Wraps a contrastive model and records what it was asked to encode (and can fail on demand)."""

    def __init__(self, model, fail_after_batches: int | None = None):
        self.model, self.logit_scale = model, model.logit_scale
        self.images_encoded, self.texts_encoded, self.batches = 0, [], 0
        self.fail_after_batches = fail_after_batches

    def _tick(self):
        self.batches += 1
        if self.fail_after_batches is not None and self.batches > self.fail_after_batches:
            raise KeyboardInterrupt("simulated kill")

    def encode_images(self, images):
        self._tick()
        self.images_encoded += len(images)
        return self.model.encode_images(images)

    def encode_texts(self, texts):
        self._tick()
        self.texts_encoded += list(texts)
        return self.model.encode_texts(texts)


def run(bench_root, subset, model, cache_dir, batch_size=4):
    spec = tiny_open_clip_spec()
    return predict_subset(spec, bench_root, subset, cache_dir=cache_dir, batch_size=batch_size, model=model)


def test_scores_equal_direct_per_question_computation(tiny_benchmark, tiny_model, tmp_path):
    bench = Benchmark(tiny_benchmark)
    paths = bench.image_paths()
    for subset in ("coarse", "fine", "cognition"):
        preds = run(tiny_benchmark, subset, tiny_model, tmp_path / "cache")
        questions = bench.questions.set_index("question_id")
        for row in preds.itertuples():
            q = questions.loc[row.question_id]
            image = tiny_model.encode_images([load_image(paths[q.image_id])])[0]
            texts = tiny_model.encode_texts(option_texts(q.question, q.subset, q.options, q.captions))
            expected = softmax(tiny_model.logit_scale * texts @ image)
            np.testing.assert_allclose(row.scores, expected, rtol=1e-4, atol=1e-6)
            assert row.prediction == int(np.argmax(expected))
            assert row.correct == (row.prediction == q.answer_idx)


def test_softmax_of_all_questions_at_once_equals_each_questions_softmax_bit_for_bit():
    """Scores are stored: computing them per option count must not move a single bit (byte-identical tables)."""
    rng = np.random.default_rng(0)
    logits = [(rng.standard_normal(n) * 30).astype(np.float32) for n in rng.integers(1, 21, size=2000)]
    for got, vector in zip(softmax_rows(logits), logits, strict=True):
        assert got.dtype == softmax(vector).dtype and got.tobytes() == softmax(vector).tobytes()


def test_each_image_and_text_encoded_once(tiny_benchmark, tiny_model, tmp_path):
    counting = CountingModel(tiny_model)
    preds = run(tiny_benchmark, "coarse", counting, tmp_path / "cache")
    assert len(preds) == 12 * 5
    assert counting.images_encoded == 12
    assert sorted(counting.texts_encoded) == sorted(set(counting.texts_encoded))
    assert len(counting.texts_encoded) == 4  # four caption strings shared by all 60 questions

    again = CountingModel(tiny_model)  # a second job of the same model reuses the on-disk cache
    run(tiny_benchmark, "fine", again, tmp_path / "cache")
    assert again.images_encoded == 0 and len(again.texts_encoded) == 3


def test_killed_job_resumes_without_recomputing(tiny_benchmark, tiny_model, tmp_path):
    reference = run(tiny_benchmark, "cognition", tiny_model, tmp_path / "fresh", batch_size=4)

    # 17 unique texts = 5 batches of 4; the kill comes while encoding the second of 3 image batches
    killed = CountingModel(tiny_model, fail_after_batches=6)
    with pytest.raises(KeyboardInterrupt):
        run(tiny_benchmark, "cognition", killed, tmp_path / "resumed", batch_size=4)
    assert len(killed.texts_encoded) == 17 and killed.images_encoded == 4

    resumed = CountingModel(tiny_model)
    final = run(tiny_benchmark, "cognition", resumed, tmp_path / "resumed", batch_size=4)
    assert resumed.texts_encoded == [] and resumed.images_encoded == 12 - 4  # finished batches not redone
    pd.testing.assert_frame_equal(final.drop(columns="mubench_version"),
                                  reference.drop(columns="mubench_version"))


def test_random_baseline_is_seeded_and_order_free(tiny_benchmark, tmp_path):
    spec = ModelSpec.from_config(dict(name="Random", family="random", seed=3))
    a = predict_subset(spec, tiny_benchmark, "coarse", cache_dir=tmp_path, batch_size=8)
    b = predict_subset(spec, tiny_benchmark, "coarse", cache_dir=tmp_path, batch_size=1)
    pd.testing.assert_frame_equal(a, b)
    other = predict_subset(ModelSpec.from_config(dict(name="Random", family="random", seed=4)),
                           tiny_benchmark, "coarse", cache_dir=tmp_path, batch_size=8)
    assert (a["prediction"] != other["prediction"]).any()
    assert set(a["prediction"]) <= {0, 1, 2, 3} and a["prediction"].nunique() > 1


def test_random_baseline_is_uniform():
    from mubench.models.random_baseline import random_scores

    picks = np.array([np.argmax(random_scores(0, f"q{i}", 5)) for i in range(20000)])
    freq = np.bincount(picks, minlength=5) / len(picks)
    assert np.all(np.abs(freq - 0.2) < 0.015)


def test_missing_image_is_named(tiny_benchmark, tiny_model, tmp_path):
    (tiny_benchmark / "images" / "img003.png").unlink()
    with pytest.raises(BenchmarkImageError, match="img003.png is missing"):  # checked before any image is read
        run(tiny_benchmark, "coarse", tiny_model, tmp_path / "cache")
