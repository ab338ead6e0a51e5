"""CoCa through the open_clip family (tiny CoCa config), and CONCH's messages when its package or weights are missing."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from mubench.benchmark.tables import Benchmark, load_image
from mubench.answering.contrastive import option_texts, softmax
from mubench.answering.predict import predict_subset
from mubench.models import ModelLoadError, ModelSpec, load_model

TINY_COCA = {  # the layout of open_clip's coca_ViT-B-32.json, scaled down
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8,
                   "attentional_pool": True, "attn_pooler_heads": 2, "attn_pooler_queries": 8,
                   "output_tokens": True},
    "text_cfg": {"context_length": 76, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1,
                 "embed_cls": True, "output_tokens": True},
    "multimodal_cfg": {"context_length": 76, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1,
                       "attn_pooler_heads": 2},
    "custom_text": True,
}


def test_tiny_coca_loads_and_scores_like_a_direct_computation(tiny_benchmark, tmp_path):
    import open_clip

    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "test-tiny-coca.json").write_text(json.dumps(TINY_COCA))
    open_clip.add_model_config(tmp_path / "configs")
    entry = ModelSpec.from_config(dict(name="CoCa-tiny", family="open_clip", architecture="test-tiny-coca",
                                       pretrained=None, seed=3))
    preds = predict_subset(entry, tiny_benchmark, "cognition", cache_dir=tmp_path / "cache", batch_size=4,
                           device="cpu")
    model = load_model(entry)  # the same seeded random initialisation
    assert type(model.model).__name__ == "CoCa"
    bench = Benchmark(tiny_benchmark)
    paths, questions = bench.image_paths(), bench.questions.set_index("question_id")
    assert len(preds) == (questions["subset"] == "cognition").sum()
    for row in preds.itertuples():
        q = questions.loc[row.question_id]
        image = model.encode_images([load_image(paths[q.image_id])])[0]
        texts = model.encode_texts(option_texts(q.question, q.subset, q.options, q.captions))
        np.testing.assert_allclose(row.scores, softmax(model.logit_scale * texts @ image), atol=1e-5)


def conch_spec(**kw) -> ModelSpec:
    return ModelSpec.from_config(dict(name="CONCH", family="conch", architecture="conch_ViT-B-16", **kw))


def test_conch_without_its_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "conch", None)  # import fails as if the package were not installed
    with pytest.raises(ModelLoadError) as err:
        load_model(conch_spec(model_id="MahmoodLab/conch"))
    message = str(err.value)
    assert "'CONCH'" in message and "not installed" in message and "mahmoodlab/CONCH" in message


@pytest.fixture
def conch_package(monkeypatch):
    """Stands in for the installed package; its model builder must never be reached without weights."""
    def unreachable(*args, **kwargs):
        raise AssertionError("the model was built without weights")

    package, api = types.ModuleType("conch"), types.ModuleType("conch.open_clip_custom")
    api.create_model_from_pretrained = api.get_tokenizer = unreachable
    monkeypatch.setitem(sys.modules, "conch", package)
    monkeypatch.setitem(sys.modules, "conch.open_clip_custom", api)


def test_conch_gated_weights_missing_offline_name_model_and_remedy(conch_package):
    with pytest.raises(ModelLoadError) as err:
        load_model(conch_spec(model_id="MahmoodLab/conch", revision="0" * 40))
    message = str(err.value)
    assert "'CONCH'" in message and "MahmoodLab/conch@" + "0" * 40 in message
    assert "HF_TOKEN" in message and "HF_HOME" in message


def test_conch_local_folder_without_checkpoint_is_named(conch_package, tmp_path):
    with pytest.raises(ModelLoadError, match="has no pytorch_model.bin"):
        load_model(conch_spec(model_id=str(tmp_path)))


def test_conch_tokens_match_the_trained_layout_without_batch_encode_plus():
    """transformers 5 has no ``batch_encode_plus`` (which the package's ``tokenize`` calls): the adapter's own
    tokenization gives CONCH's layout — <start> words <end>, padded to 127, then one <pad> for the model's <cls>."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    from mubench.models.conch_family import CONTEXT_LENGTH, conch_tokens

    vocab = {"<pad>": 0, "<start_of_text>": 1, "<end_of_text>": 2, "[UNK]": 3, "an": 4, "h&e": 5, "image": 6}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(
        single="<start_of_text> $A <end_of_text>", special_tokens=[("<start_of_text>", 1), ("<end_of_text>", 2)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<start_of_text>",
                                        eos_token="<end_of_text>", pad_token="<pad>")

    tokens = conch_tokens(tokenizer, ["an h&e image", "image " * 400])
    assert tokens.shape == (2, CONTEXT_LENGTH)
    assert tokens[0, :6].tolist() == [1, 4, 5, 6, 2, 0] and not tokens[0, 5:].any()
    assert tokens[1, 0] == 1 and tokens[1, CONTEXT_LENGTH - 2] == 2 and tokens[1, -1] == 0  # truncated, then <pad>
