"""transformers contrastive families (CLIP/PLIP, ALIGN, BLIP-ITC) with tiny random models of the real classes.

Each tiny model is saved with its processor (a real tokenizer built offline) exactly as a hub repo holds them,
loaded through the registry (model=None), and its scores are compared with the raw transformers model run per
question the way its model card does it.
"""

from __future__ import annotations

import functools
import gzip
import json
import shutil
import string
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import hub_snapshot

from mubench.benchmark.tables import Benchmark, load_image
from mubench.answering.contrastive import option_texts
from mubench.answering.predict import predict_subset
from mubench.models import ModelLoadError, ModelSpec, load_model
from mubench.models.hf_contrastive import HFClipModel

REVISION = "89abcdef0123456789abcdef0123456789abcdef"
VISION = dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
              num_attention_heads=2)
BERT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            max_position_embeddings=64)


def clip_tokenizer(folder: Path):
    """OpenAI CLIP's real BPE (shipped inside open_clip) in transformers' vocab.json/merges.txt layout."""
    from open_clip.tokenizer import SimpleTokenizer, default_bpe
    from transformers import CLIPTokenizer

    specials = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {specials.get(token, token): i for token, i in SimpleTokenizer().encoder.items()}
    with gzip.open(default_bpe(), "rt", encoding="utf-8") as bpe:
        merges = bpe.read().split("\n")[1:len(vocab) - 256 * 2 - 2 + 1]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


def wordpiece_tokenizer(folder: Path):
    """A small uncased WordPiece vocabulary: every word splits into known pieces, so nothing maps to [UNK]."""
    from transformers import BertTokenizer

    chars = string.ascii_lowercase + string.digits
    words = "a an the of with image microscopy light fluorescence electron cell shape round how many nuclei".split()
    vocab = dict.fromkeys(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *string.punctuation,
                           *("##" + c for c in chars), *words])  # unique: a line's index is its token id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return BertTokenizer(str(folder / "vocab.txt"), model_max_length=64)


def build_clip(folder: Path) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tokenizer = clip_tokenizer(folder / "tok")
    config = CLIPConfig(text_config=dict(BERT, vocab_size=len(tokenizer), max_position_embeddings=77),
                        vision_config=VISION, projection_dim=16)
    torch.manual_seed(1)
    CLIPModel(config).save_pretrained(folder)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def build_align(folder: Path) -> Path:
    from transformers import (
        AlignConfig,
        AlignModel,
        AlignProcessor,
        EfficientNetImageProcessor,
    )

    tokenizer = wordpiece_tokenizer(folder / "tok")
    vision = dict(image_size=32, width_coefficient=1.0, depth_coefficient=1.0, kernel_sizes=[3, 3],
                  in_channels=[32, 16], out_channels=[16, 16], strides=[1, 2], num_block_repeats=[1, 1],
                  expand_ratios=[1, 2], hidden_dim=16)
    config = AlignConfig(text_config=dict(BERT, vocab_size=len(tokenizer)), vision_config=vision,
                         projection_dim=16, temperature_init_value=0.5)
    torch.manual_seed(2)
    AlignModel(config).save_pretrained(folder)
    images = EfficientNetImageProcessor(size={"height": 32, "width": 32}, crop_size={"height": 32, "width": 32},
                                        include_top=False, do_normalize=False)  # like kakaobrain/align-base
    AlignProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def build_blip(folder: Path) -> Path:
    from transformers import (
        BlipConfig,
        BlipForImageTextRetrieval,
        BlipImageProcessor,
        BlipProcessor,
    )

    tokenizer = wordpiece_tokenizer(folder / "tok")
    text = dict(BERT, vocab_size=len(tokenizer), encoder_hidden_size=32, bos_token_id=2, sep_token_id=3,
                pad_token_id=0)
    config = BlipConfig(text_config=text, vision_config=VISION, image_text_hidden_size=16)
    torch.manual_seed(3)
    BlipForImageTextRetrieval(config).save_pretrained(folder)
    BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}),
                  tokenizer=tokenizer).save_pretrained(folder)
    return folder


BUILDERS = {"hf_clip": build_clip, "hf_align": build_align, "hf_blip": build_blip}


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf_models")
    return {family: build(root / family) for family, build in BUILDERS.items()}


def spec(family: str, model_id: str, **kw) -> ModelSpec:
    return ModelSpec.from_config(dict(name=f"tiny-{family}", family=family, model_id=model_id, **kw))


RAW_CLASSES = {"hf_clip": ("CLIPProcessor", "CLIPModel"), "hf_align": ("AlignProcessor", "AlignModel"),
               "hf_blip": ("BlipProcessor", "BlipForImageTextRetrieval")}


@functools.cache
def raw_model(family: str, folder: Path):
    import transformers

    processor_cls, model_cls = (getattr(transformers, name) for name in RAW_CLASSES[family])
    return processor_cls.from_pretrained(folder), model_cls.from_pretrained(folder).eval()


@functools.cache
def direct_scores(family: str, folder: Path, image_path: Path, texts: tuple[str, ...]) -> np.ndarray:
    """One question scored the model card's way with the raw transformers classes (memoised: the five coarse
    questions of an image share their captions)."""
    processor, model = raw_model(family, folder)
    image, texts = load_image(image_path), list(texts)
    if family == "hf_blip":
        inputs = processor(images=image, text=texts, return_tensors="pt", padding=True)
        with torch.no_grad():
            similarity = model(**inputs, use_itm_head=False).itm_score  # (1 image, n texts) ITC cosine
        logits = np.exp(model.config.logit_scale_init_value) * similarity
    else:
        padding = {"padding": True} if family == "hf_clip" else {}
        inputs = processor(images=image, text=texts, return_tensors="pt", **padding)
        with torch.no_grad():
            logits = model(**inputs).logits_per_image
    return torch.softmax(logits, dim=-1)[0].numpy()


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_registry_scores_equal_direct_per_question_computation(family, saved, tiny_benchmark, tmp_path):
    bench = Benchmark(tiny_benchmark)
    paths = bench.image_paths()
    questions = bench.questions.set_index("question_id")
    entry = spec(family, str(saved[family]))
    for subset in ("coarse", "cognition"):
        preds = predict_subset(entry, tiny_benchmark, subset, cache_dir=tmp_path / subset, batch_size=5,
                               device="cpu")
        assert len(preds) == (questions["subset"] == subset).sum()
        assert (preds["model_id"] == str(saved[family])).all()
        for row in preds.itertuples():
            q = questions.loc[row.question_id]
            texts = option_texts(q.question, q.subset, q.options, q.captions)
            expected = direct_scores(family, saved[family], paths[q.image_id], tuple(texts))
            assert len(row.scores) == len(q.options)
            np.testing.assert_allclose(row.scores, expected, atol=2e-5, err_msg=f"{family} {row.question_id}")
            assert row.prediction == int(np.argmax(expected))
        again = predict_subset(entry, tiny_benchmark, subset, cache_dir=tmp_path / f"{subset}-again",
                               batch_size=5, device="cpu")
        assert again["scores"].tolist() == preds["scores"].tolist()  # deterministic, bit for bit


def test_embeddings_are_unit_norm_and_batch_independent(saved, tiny_benchmark):
    model = load_model(spec("hf_clip", str(saved["hf_clip"])))
    image = load_image(next(iter(Benchmark(tiny_benchmark).image_paths().values())))
    texts = ["a cell with round shape.", "a fluorescence microscopy image of many nuclei with a long caption"]
    together = model.encode_texts(texts)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(together[0], model.encode_texts(texts[:1])[0], atol=1e-5)
    assert model.encode_images([image, image]).shape == (2, 16)


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_entry_preprocessing_and_context_length_override_the_processor(family, saved):
    from PIL import Image

    entry = spec(family, str(saved[family]), context_length=6,
                 preprocessing={"image_size": 16, "interpolation": "nearest", "mean": [0.5, 0.5, 0.5],
                                "std": [0.25, 0.25, 0.25]})
    model = load_model(entry)
    image = Image.new("RGB", (40, 30), (128, 0, 255))
    pixels = model.processor.image_processor(images=[image], return_tensors="pt", **model.image_kwargs)
    pixels = pixels["pixel_values"]
    assert tuple(pixels.shape) == (1, 3, 16, 16)
    assert pixels[0, 0].mean().item() == pytest.approx((128 / 255 - 0.5) / 0.25, abs=1e-3)
    tokens = model.processor(text=["a light microscopy image of many round nuclei"], return_tensors="pt",
                             **model.text_kwargs)
    assert tokens["input_ids"].shape[-1] == 6


def test_hub_id_loads_offline_from_hf_home_at_pinned_revision(saved):
    """Each family by a user's hub id, served from $HF_HOME laid out exactly as huggingface_hub caches it."""
    for family, folder in saved.items():
        repo_id = f"mubench/tiny-{family.replace('_', '-')}"
        shutil.copytree(folder, hub_snapshot(repo_id, REVISION), ignore=shutil.ignore_patterns("tok"))
        entry = ModelSpec.from_config(dict(name="t", family=family, revision=REVISION, model_id=repo_id))
        np.testing.assert_allclose(load_model(entry).encode_texts(["a round cell"]),
                                   load_model(spec(family, str(folder))).encode_texts(["a round cell"]), atol=1e-6)


def test_offline_hub_model_fails_at_once_naming_model_and_remedy():
    entry = ModelSpec.from_config(dict(name="CLIP", family="hf_clip", model_id="openai/clip-vit-base-patch32",
                                       revision="0" * 40))  # a revision nobody has cached
    with pytest.raises(ModelLoadError) as err:
        HFClipModel(entry)
    message = str(err.value)
    assert "'CLIP'" in message and "openai/clip-vit-base-patch32@" + "0" * 40 in message
    assert "HF_HOME" in message and "save_pretrained" in message and "HF_TOKEN" in message


def test_missing_local_folder_is_named(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(spec("hf_align", str(tmp_path / "nowhere")))
