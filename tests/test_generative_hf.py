"""Local generative families through the registry: tiny PaliGemma and Qwen2.5-VL saved like hub snapshots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mubench.answering.generative import GenerationError, matching_sensitivity
from mubench.answering.predict import predict_subset
from mubench.models import ModelLoadError, ModelSpec, load_model
from tiny_vlms import save_tiny_paligemma, save_tiny_qwen25_vl


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("vlms")
    return {"paligemma": save_tiny_paligemma(root / "paligemma"), "hf_vlm": save_tiny_qwen25_vl(root / "qwen")}


def spec_for(family, folder, **extra):
    return ModelSpec.from_config(dict(name=f"tiny-{family}", family=family, model_id=str(folder),
                                      dtype="float32", max_new_tokens=6, **extra))


class Counting:
    """Wraps a generative model: counts the prompts it is asked and can die after some batches."""

    def __init__(self, model, die_after_batches=None):
        self.model, self.asked, self.batches, self.die_after = model, [], 0, die_after_batches

    def generate(self, images, prompts, n_options):
        self.batches += 1
        if self.die_after is not None and self.batches > self.die_after:
            raise KeyboardInterrupt("simulated kill")
        self.asked += list(prompts)
        return self.model.generate(images, prompts, n_options)


@pytest.mark.parametrize("family", ["paligemma", "hf_vlm"])
def test_generate_through_registry_is_deterministic_and_resumes(family, tiny_dirs, tiny_benchmark, tmp_path):
    spec = spec_for(family, tiny_dirs[family])
    model = load_model(spec)
    run = lambda m, cache: predict_subset(spec, tiny_benchmark, "cognition", cache_dir=cache, batch_size=4, model=m)

    first = run(model, tmp_path / "a")
    assert len(first) == 12 and first["response"].map(type).eq(str).all()
    assert first["prediction"].between(-1, 5).all()
    assert (first["correct"] == first["correct_code"]).all()
    assert first["prompt_version"].iloc[0] == "letter-mcq-v1:generate"

    killed = Counting(load_model(spec), die_after_batches=2)
    with pytest.raises(KeyboardInterrupt):
        run(killed, tmp_path / "b")
    resumed = Counting(model)
    again = run(resumed, tmp_path / "b")
    assert len(killed.asked) == 8 and len(resumed.asked) == 4  # finished batches are never asked again
    pd.testing.assert_frame_equal(first.drop(columns="mubench_version"), again.drop(columns="mubench_version"))

    cached = Counting(model)
    run(cached, tmp_path / "b")
    assert cached.asked == []


def test_chat_template_and_paligemma_prompt_layout(tiny_dirs):
    qwen = load_model(spec_for("hf_vlm", tiny_dirs["hf_vlm"]))
    assert qwen.format_prompt("Q") == "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Q<|im_end|>\n" \
                                      "<|im_start|>assistant\n"
    pali = load_model(spec_for("paligemma", tiny_dirs["paligemma"]))
    assert pali.format_prompt("Q") == "<image>Q"
    with pytest.raises(ModelLoadError, match="not PaliGemma"):
        load_model(spec_for("paligemma", tiny_dirs["hf_vlm"]))


def test_letter_logits_scores_match_single_question_passes(tiny_dirs, tiny_benchmark, tmp_path):
    spec = spec_for("hf_vlm", tiny_dirs["hf_vlm"], scoring="letter_logits")
    model = load_model(spec)
    batched = predict_subset(spec, tiny_benchmark, "fine", cache_dir=tmp_path / "a", batch_size=6, model=model)
    single = predict_subset(spec, tiny_benchmark, "fine", cache_dir=tmp_path / "b", batch_size=1, model=model)
    for a, b in zip(batched.itertuples(), single.itertuples()):
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-4, atol=1e-6)
        assert len(a.scores) == 3 and abs(sum(a.scores) - 1) < 1e-6
        assert a.response == "ABC"[int(np.argmax(a.scores))] and a.prediction == int(np.argmax(a.scores))


def test_matching_switch_changes_only_correct_and_keeps_the_cache(tiny_dirs, tiny_benchmark, tmp_path):
    base = spec_for("hf_vlm", tiny_dirs["hf_vlm"], scoring="letter_logits")
    strict = spec_for("hf_vlm", tiny_dirs["hf_vlm"], scoring="letter_logits", matching="strict")
    assert base.fingerprint == strict.fingerprint
    model = Counting(load_model(base))
    a = predict_subset(base, tiny_benchmark, "coarse", cache_dir=tmp_path, batch_size=30, model=model)
    b = predict_subset(strict, tiny_benchmark, "coarse", cache_dir=tmp_path, batch_size=30, model=model)
    assert len(model.asked) == 60 and (b["correct"] == b["correct_strict"]).all()
    table = matching_sensitivity(pd.concat([a, b]).drop_duplicates("question_id"))
    assert list(table["rule"]) == ["code", "paper_text", "strict"] and (table["n"] == 60).all()


def test_unanswered_questions_stop_the_job_after_caching_the_rest(tiny_benchmark, tmp_path):
    class HalfAnswering:
        def generate(self, images, prompts, n_options):
            return ((i, "A", None) for i in range(0, len(prompts), 2))

    spec = ModelSpec.from_config(dict(name="half", family="hf_vlm", model_id="unused"))
    with pytest.raises(GenerationError, match="6 questions got no response"):
        predict_subset(spec, tiny_benchmark, "fine", cache_dir=tmp_path, batch_size=4, model=HalfAnswering())


def test_missing_weights_offline_fail_at_once_naming_the_model():
    spec = ModelSpec.from_config(dict(name="PaliGemma", family="paligemma", model_id="mubench-absent/paligemma"))
    with pytest.raises(ModelLoadError, match=r"'PaliGemma'.*mubench-absent/paligemma.*HF_HOME"):
        load_model(spec)


def test_remote_code_needs_consent_and_an_old_transformers():
    entry = dict(name="Qwen-VL-Chat", family="hf_remote_code", model_id="Qwen/Qwen-VL-Chat")
    with pytest.raises(ModelLoadError, match="trust_remote_code: true"):
        load_model(ModelSpec.from_config(entry))
    with pytest.raises(ModelLoadError, match=r"needs transformers >=4.32.0,<4.40.0 .*legacy-remote-code"):
        load_model(ModelSpec.from_config(dict(entry, trust_remote_code=True)))


def test_family_defaults():
    assert ModelSpec.from_config(dict(name="p", family="paligemma", model_id="x")).dtype == "bfloat16"
    api = ModelSpec.from_config(dict(name="g", family="openai_api", api_model="gpt-4o"))
    assert (api.max_new_tokens, api.temperature, api.seed, api.matching) == (2048, 1.0, 0, "code")
