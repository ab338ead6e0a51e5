"""Image-prefix reuse gives the answers of the full prefill, on tiny Qwen2.5-VL and PaliGemma built here.

The models' weights are drawn wide (``weight_std``) so that their answers depend on the image, the text and the
positions: a prefix continued at a wrong position, or a pad that leaks into attention, changes letters and
generations (checked by hand while writing these tests by shifting the suffix positions by 3).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
from PIL import Image

from mubench.answering.generative import generative_answers
from mubench.answering.prompting import build_prompt
from mubench.benchmark.tables import Benchmark, load_image
from mubench.models import ModelSpec, load_model
from mubench.models.prefix_reuse import PrefillStats, common_prefix_length, image_key, plan_groups
from tiny_vlms import save_tiny_paligemma, save_tiny_qwen25_vl

SCORE_ATOL = 1e-5  # letter probabilities, float32: observed differences are ~1e-6


@pytest.fixture(scope="module")
def sensitive_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sensitive_vlms")
    return {"hf_vlm": save_tiny_qwen25_vl(root / "qwen", weight_std=0.3),
            "paligemma": save_tiny_paligemma(root / "paligemma", weight_std=0.3)}


def loaded(dirs, family, **extra):
    spec = ModelSpec.from_config(dict(name=f"tiny-{family}", family=family, model_id=str(dirs[family]),
                                      dtype="float32", max_new_tokens=6, **extra))
    return spec, load_model(spec)


def without_reuse(spec, model):
    model.spec, model.stats = dataclasses.replace(spec, prefix_reuse=False), PrefillStats()
    return model


def answer_both_ways(spec, model, bench_root, cache_root, batch_size=30):
    """Coarse + fine questions asked together (six per image), with and without prefix reuse."""
    bench = Benchmark(bench_root)
    questions = bench.questions.query("subset != 'cognition'").reset_index(drop=True)
    ask = lambda m, folder: generative_answers(spec, questions, *bench.image_index(), m, cache_root / folder,  # noqa: E731
                                               batch_size)
    shared = ask(model, "shared")
    shared_stats = model.stats
    full = ask(without_reuse(spec, model), "full")
    full_stats, model.spec = model.stats, spec
    return questions, shared, shared_stats, full, full_stats


@pytest.mark.parametrize("scoring", ["letter_logits", "generate"])
def test_qwen_shared_prefix_answers_equal_the_full_prefill(scoring, sensitive_dirs, tiny_benchmark, tmp_path):
    spec, model = loaded(sensitive_dirs, "hf_vlm", scoring=scoring)
    questions, shared, stats, full, full_stats = answer_both_ways(spec, model, tiny_benchmark, tmp_path)

    assert shared["response"].nunique() > 1  # the model reads its input, so equality below means something
    assert shared["response"].tolist() == full["response"].tolist()  # same letters / identical greedy text
    if scoring == "letter_logits":
        np.testing.assert_allclose(np.concatenate(shared["scores"]), np.concatenate(full["scores"]),
                                   atol=SCORE_ATOL, rtol=0)
    n_images = questions["image_id"].nunique()
    assert stats.shared_questions == stats.questions == len(questions) == 6 * n_images
    assert (stats.image_encodings, full_stats.image_encodings) == (n_images, len(questions))
    assert stats.full_prefill == {} and full_stats.full_prefill == {"disabled": len(questions)}
    # Every image has the same size and question texts, so the same shared prefix: prefilled once instead of 6x.
    bench = Benchmark(tiny_benchmark)
    first = questions[questions["image_id"] == questions["image_id"].iloc[0]]
    image = load_image(bench.image_paths()[first["image_id"].iloc[0]])
    (group,) = model.prepare([[image]] * 6, [build_prompt(q.question, q.options) for q in first.itertuples()]).groups
    assert full_stats.prefill_tokens - stats.prefill_tokens == n_images * 5 * group.prefix_len == stats.reused_tokens
    assert full_stats.image_tokens == 6 * stats.image_tokens > 0


def test_qwen_prefix_holds_the_image_and_instruction_and_counts_exactly(sensitive_dirs):
    spec, model = loaded(sensitive_dirs, "hf_vlm")
    image = Image.fromarray(np.arange(48 * 48 * 3, dtype=np.uint8).reshape(48, 48, 3))
    prompts = [build_prompt(q, ["round", "elongated"]) for q in ("What is the stain?", "How many?", "Which shape?")]
    batch = model.prepare([[image]] * 3, prompts)
    (group,) = batch.groups
    prefix = model.tokenizer.decode(batch.shared["prefix"]["input_ids"][0])
    assert prefix.startswith("<|im_start|>user\n<|vision_start|><|image_pad|>")
    assert prefix.endswith("<|vision_end|>Answer with a single letter, no extra details.\nQuestion:")
    full_lengths = batch.shared["full"]["attention_mask"].sum(1).tolist()
    list(model.answer(batch, [2, 2, 2]))
    assert model.stats.prefill_tokens == group.prefix_len + sum(n - group.prefix_len for n in full_lengths)
    assert model.stats.image_encodings == 1 and model.stats.shared_questions == 3


def test_paligemma_says_it_cannot_share_and_answers_as_before(sensitive_dirs, tiny_benchmark, tmp_path, caplog):
    spec, model = loaded(sensitive_dirs, "paligemma", scoring="letter_logits")
    with caplog.at_level(logging.INFO, logger="mubench"):
        questions, shared, stats, full, _ = answer_both_ways(spec, model, tiny_benchmark, tmp_path)
    assert stats.full_prefill == {"attention": len(questions)} and stats.shared_questions == 0
    assert "attends bidirectionally over image and prompt (prefix-LM)" in caplog.text
    assert f"prefilled in full: {len(questions)} (the model attends bidirectionally" in caplog.text
    assert shared["response"].tolist() == full["response"].tolist()


def test_a_template_with_text_before_the_image_falls_back_and_counts(sensitive_dirs, monkeypatch):
    spec, model = loaded(sensitive_dirs, "hf_vlm", scoring="letter_logits")
    text_first = lambda prompt, n_images=1: model.processor.apply_chat_template(  # noqa: E731
        [{"role": "user", "content": [{"type": "text", "text": prompt}, {"type": "image"}]}],
        add_generation_prompt=True, tokenize=False)
    monkeypatch.setattr(model, "format_prompt", text_first)
    image = Image.fromarray(np.full((48, 48, 3), 7, np.uint8))
    prompts = ["Question one?", "Another question?"]  # differ before the image
    batch = model.prepare([[image], [image]], prompts)
    assert batch.groups == [] and batch.full_reasons == {0: "layout", 1: "layout"}
    answers = sorted(model.answer(batch, [3, 3]))
    assert [a[0] for a in answers] == [0, 1] and model.stats.full_prefill == {"layout": 2}


@pytest.mark.parametrize("scoring", ["letter_logits", "generate"])
def test_padding_and_batching_do_not_change_answers(scoring, sensitive_dirs):
    """Images of three sizes (prefixes of different lengths) and prompts of different lengths in one batch give
    each question the answer it gets alone (no padding, no sharing)."""
    spec, model = loaded(sensitive_dirs, "hf_vlm", scoring=scoring)
    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in
              ((28, 28), (56, 28), (56, 56))]
    questions = [("What is the stain?", ["H&E", "DAPI", "none of the above"]),
                 ("How many nuclei are visible in the field of view?", list("123456")),
                 ("Which shape?", ["round", "elongated"])]
    batch_images, prompts, n_options = [], [], []
    for i, image in enumerate(images):
        for question, options in questions[:2 + i % 2]:
            batch_images.append([image])
            prompts.append(build_prompt(question, options))
            n_options.append(len(options))
    together = dict((pos, (text, scores)) for pos, text, scores in model.generate(batch_images, prompts, n_options))
    assert len({len(model.prepare([im], [p]).full["input_ids"][0]) for im, p in zip(batch_images, prompts)}) > 3
    unpadded = [list(model.generate([im], [p], [n])) for im, p, n in zip(batch_images, prompts, n_options)]
    without_reuse(spec, model)
    padded_full = dict((pos, (text, scores)) for pos, text, scores in model.generate(batch_images, prompts, n_options))
    for position, alone in enumerate(unpadded):
        ((_, text, scores),) = alone
        for other in (together, padded_full):
            assert other[position][0] == text
            if scores is not None:
                np.testing.assert_allclose(other[position][1], scores, atol=SCORE_ATOL, rtol=0)


def test_plan_groups_requires_every_image_token_inside_the_prefix():
    image = 9
    keys = [("a",), ("a",), ("b",), ("c",), ("c",)]
    rows = [[1, 9, 9, 2, 3, 4], [1, 9, 9, 2, 5], [1, 9, 2, 6], [1, 7, 9, 8], [1, 6, 9, 8]]
    groups, full = plan_groups(keys, rows, image)
    assert [(g.members, g.prefix_len) for g in groups] == [((0, 1), 4)]
    assert full == {2: "alone", 3: "layout", 4: "layout"}
    assert plan_groups(keys, rows, image, unshareable="attention")[1] == dict.fromkeys(range(5), "attention")
    same = [[1, 9, 2], [1, 9, 2]]  # identical inputs still leave each question its last token
    assert plan_groups([("a",)] * 2, same, image)[0][0].prefix_len == 2
    assert common_prefix_length([[1, 2, 3], [1, 2], [1, 2, 4]]) == 2


def test_image_key_follows_pixels_not_objects():
    a = Image.fromarray(np.zeros((4, 4, 3), np.uint8))
    assert image_key(a) == image_key(a.copy()) and len(image_key([a, a])) == 2
    assert image_key(a) != image_key(Image.fromarray(np.ones((4, 4, 3), np.uint8)))


def test_switching_prefix_reuse_keeps_the_response_cache():
    entry = dict(name="q", family="hf_vlm", model_id="Qwen/Qwen2.5-VL-7B-Instruct")
    on, off = ModelSpec.from_config(entry), ModelSpec.from_config(dict(entry, prefix_reuse=False))
    assert on.prefix_reuse and not off.prefix_reuse and on.fingerprint == off.fingerprint


def test_questions_with_the_same_two_images_share_both(sensitive_dirs):
    spec, model = loaded(sensitive_dirs, "hf_vlm", scoring="letter_logits")
    rng = np.random.default_rng(2)
    pair = [Image.fromarray(rng.integers(0, 255, (28, 56, 3), dtype=np.uint8)) for _ in range(2)]
    prompts = [build_prompt("Which image is brighter?", ["first", "second"]),
               build_prompt("How many cells in total?", list("1234"))]
    shared = sorted(model.generate([pair, pair], prompts, [2, 4]))
    assert model.stats.shared_questions == 2 and model.stats.image_encodings == 2
    full = sorted(without_reuse(spec, model).generate([pair, pair], prompts, [2, 4]))
    assert [a[1] for a in shared] == [b[1] for b in full] and model.stats.image_encodings == 4
    np.testing.assert_allclose([s for a in shared for s in a[2]], [s for b in full for s in b[2]],
                               atol=SCORE_ATOL, rtol=0)
