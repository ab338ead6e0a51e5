"""Blind runs: the image taken away, the same prompt and options; a model that ignores its image loses nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mubench.answering.blind import NEUTRAL_GREY, neutral_images
from mubench.answering.predict import predict_subsets
from mubench.benchmark.tables import Benchmark, record_image_files, write_table
from mubench.io import write_json
from mubench.models import ModelSpec
from mubench.scoring.vision import vision_dependence

from conftest import bootstrap_settings

SIZES = [(32, 32), (48, 40)]  # two image sizes: a blind contrastive run encodes two grey images
N_CLASSES = 4


def class_of(image: Image.Image) -> int:
    """The class an image shows: its brightness band (the benchmark below draws class k at 64 k + 20)."""
    return min(int(np.asarray(image).mean() // 64), N_CLASSES - 1)


def make_class_benchmark(root: Path, n_images: int = 24) -> Path:
    """Fine questions whose answer is in the pixels: image i is uniform at 64 k + 20 for class k = i mod 4."""
    images, questions = [], []
    classes = [f"class {k}" for k in range(N_CLASSES)]
    for i in range(n_images):
        image_id, k = f"img{i:03d}", i % N_CLASSES
        path = root / "images" / f"{image_id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        width, height = SIZES[i % 2]
        pixels = np.full((height, width, 3), 64 * k + 20, dtype=np.uint8)
        pixels.flat[i] += 1  # every image its own content (and md5)
        Image.fromarray(pixels).save(path)
        images.append(dict(image_id=image_id, dataset="ds", label_name=classes[k], modality=None, submodality=None,
                           domain=None, subdomain=None, stain=None, split="test", synthetic=True, license="CC0",
                           microns_per_pixel=None, md5=hashlib.md5(path.read_bytes()).hexdigest(),
                           path=f"images/{image_id}.png"))
        questions.append(dict(question_id=f"{image_id}:classification", image_id=image_id, subset="fine",
                              question_type="classification", dataset="ds", question="Which class is shown?",
                              options=classes, answer_idx=k, captions=[f"an image of {c}" for c in classes],
                              caption_key="classification_1", caption_variants={}))
    write_table(pd.DataFrame(images), "images", root / "images.parquet")
    write_table(pd.DataFrame(questions), "questions", root / "questions.parquet")
    write_table(pd.DataFrame(columns=["image_id", "dataset", "class_name", "boxes", "difficulty"]), "detection",
                root / "detection.parquet")
    write_json(root / "manifest.json", {"source": "test", "revision": "none", "seed": 0})
    record_image_files(root)
    return root


class ClassReader:
    """A contrastive model that reads the class off the image (``looks=False``: one vector whatever the image);
    counts what it encodes."""

    logit_scale = 100.0

    def __init__(self, looks: bool = True):
        self.looks, self.images_encoded, self.texts_encoded = looks, 0, 0

    def encode_images(self, images):
        self.images_encoded += len(images)
        return np.stack([np.eye(N_CLASSES)[class_of(im) if self.looks else 1] for im in images])

    def encode_texts(self, texts):
        self.texts_encoded += len(texts)
        return np.stack([np.eye(N_CLASSES)[int(t.rsplit(" ", 1)[1])] for t in texts])


SPEC = ModelSpec.from_config({"name": "reader", "family": "open_clip", "architecture": "test", "blind": True})


def runs(root: Path, cache: Path, model) -> tuple[pd.DataFrame, pd.DataFrame]:
    kwargs = dict(cache_dir=cache, batch_size=8, model=model)
    seen = predict_subsets(SPEC, root, ["fine"], **kwargs)[0]["fine"]
    blind = predict_subsets(SPEC, root, ["fine"], ablation="neutral_image", **kwargs)[0]["fine"]
    return seen, blind


def dependence(seen, blind):
    return vision_dependence(seen, {("reader", "neutral_image"): blind}, [("reader", "Reader")], ["fine"],
                             bootstrap_settings(n_resamples=999)).iloc[0]


def test_a_model_that_needs_its_image_loses_accuracy_blind(tmp_path):
    root = make_class_benchmark(tmp_path / "bench")
    model = ClassReader()
    seen, blind = runs(root, tmp_path / "cache", model)
    assert seen["correct"].all()
    assert (blind["prediction"] == class_of(Image.new("RGB", (1, 1), (NEUTRAL_GREY,) * 3))).all()
    row = dependence(seen, blind)
    assert row["acc_image"] == 1.0 and row["acc_blind"] == 0.25 and row["diff"] == 0.75
    assert 0 < row["diff_ci_low"] <= row["diff"] <= row["diff_ci_high"]
    assert row["n"] == 24 and row["n_image_only"] == 18 and row["n_blind_only"] == 0 and row["p_mcnemar"] < 1e-4
    assert blind["prompt_version"].str.endswith("|blind:neutral_image").all()


def test_a_model_that_ignores_its_image_has_no_vision_dependence(tmp_path):
    root = make_class_benchmark(tmp_path / "bench")
    seen, blind = runs(root, tmp_path / "cache", ClassReader(looks=False))
    assert blind["prediction"].tolist() == seen["prediction"].tolist()
    row = dependence(seen, blind)
    assert row["diff"] == row["diff_ci_low"] == row["diff_ci_high"] == 0.0
    assert row["n_image_only"] == row["n_blind_only"] == 0 and row["p_mcnemar"] == 1.0


def test_blind_contrastive_run_encodes_one_image_per_size_and_no_text(tmp_path):
    root = make_class_benchmark(tmp_path / "bench")
    model = ClassReader()
    predict_subsets(SPEC, root, ["fine"], cache_dir=tmp_path / "cache", batch_size=8, model=model)
    encoded = model.images_encoded, model.texts_encoded
    assert encoded == (24, N_CLASSES)
    predict_subsets(SPEC, root, ["fine"], cache_dir=tmp_path / "cache", batch_size=8, model=model,
                    ablation="neutral_image")
    assert (model.images_encoded - encoded[0], model.texts_encoded - encoded[1]) == (len(SIZES), 0)


def test_neutral_images_keep_each_size(tmp_path):
    root = make_class_benchmark(tmp_path / "bench")
    files, md5 = neutral_images(Benchmark(root).image_paths(), tmp_path / "grey")
    assert len(set(files.values())) == len(set(md5.values())) == len(SIZES)
    for image_id, path in Benchmark(root).image_paths().items():
        grey = Image.open(files[image_id])
        assert grey.size == Image.open(path).size
        assert np.all(np.asarray(grey.convert("RGB")) == NEUTRAL_GREY)


class LetterReader:
    """A generative model answering the letter of the class it sees; with no image it answers "A"."""

    def __init__(self):
        self.shown = []

    def generate(self, images, prompts, n_options):
        for i, question_images in enumerate(images):
            self.shown.append([im.size for im in question_images])
            yield i, "ABCD"[class_of(question_images[0])] if question_images else "A", None


@pytest.mark.parametrize("ablation, shown", [("neutral_image", [[(32, 32)], [(48, 40)]]), ("no_image", [[]])])
def test_generative_blind_runs_show_a_grey_image_or_none(tmp_path, ablation, shown):
    root = make_class_benchmark(tmp_path / "bench")
    spec = ModelSpec.from_config({"name": "vlm", "family": "hf_vlm", "model_id": "none", "blind": [ablation]})
    model = LetterReader()
    seen = predict_subsets(spec, root, ["fine"], cache_dir=tmp_path / "cache", batch_size=8, model=model)[0]["fine"]
    assert seen["correct"].all()
    model.shown.clear()
    blind = predict_subsets(spec, root, ["fine"], cache_dir=tmp_path / "cache", batch_size=8, model=model,
                            ablation=ablation)[0]["fine"]
    assert sorted(map(str, dict.fromkeys(map(str, model.shown)))) == sorted(map(str, shown))
    assert blind["correct"].mean() == 0.25
    assert (tmp_path / "cache" / "blind" / ablation / "responses").is_dir()  # apart from the default answers


def test_blind_config_is_checked_against_the_family():
    from mubench.errors import ConfigError
    from mubench.models.spec import parse_model

    base = {"name": "m", "family": "open_clip", "architecture": "ViT-B-32"}
    assert parse_model({**base, "blind": True}, "models[0]").blind == ("neutral_image",)
    assert parse_model(base, "models[0]").blind == ()
    assert parse_model({**base, "blind": True}, "x").fingerprint == parse_model(base, "x").fingerprint  # same caches
    with pytest.raises(ConfigError, match="no_image needs a family that can be asked without an image"):
        parse_model({**base, "blind": ["no_image"]}, "models[0]")
    vlm = {"name": "v", "family": "hf_vlm", "model_id": "x", "blind": ["neutral_image", "no_image"]}
    assert parse_model(vlm, "models[1]").blind == ("neutral_image", "no_image")


def test_blind_vlm_run_shares_one_prefix_per_image_size(tiny_benchmark, tmp_path):
    """A tiny Qwen2.5-VL: every 48×48 image becomes the same grey image, so questions with the same prompt are one
    question (asked once) and the rest continue from one prefilled prefix; with no image the prompt alone is
    asked."""
    from mubench.answering.prompting import build_prompt
    from mubench.models import load_model
    from tiny_vlms import save_tiny_qwen25_vl

    spec = ModelSpec.from_config(dict(name="tiny-qwen", family="hf_vlm", model_id=str(save_tiny_qwen25_vl(
        tmp_path / "qwen")), dtype="float32", scoring="letter_logits", blind=["neutral_image", "no_image"]))
    model = load_model(spec)
    subsets = ["coarse", "fine"]
    questions = Benchmark(tiny_benchmark).questions.query("subset in @subsets")
    distinct = len({(q.subset, build_prompt(q.question, q.options)) for q in questions.itertuples()})
    assert 1 < distinct < len(questions)
    tables, _ = predict_subsets(spec, tiny_benchmark, subsets, cache_dir=tmp_path / "cache", batch_size=36,
                                model=model, ablation="neutral_image")
    assert sum(map(len, tables.values())) == len(questions)
    assert (model.stats.questions, model.stats.shared_questions, model.stats.image_encodings) == (distinct, distinct,
                                                                                                   1)
    before = model.stats.image_tokens
    tables, _ = predict_subsets(spec, tiny_benchmark, subsets, cache_dir=tmp_path / "cache", batch_size=36,
                                model=model, ablation="no_image")
    assert model.stats.image_tokens == before and model.stats.questions == 2 * distinct
    assert all(table["prediction"].between(0, 4).all() for table in tables.values())
