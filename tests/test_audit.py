"""Question audit: planted problems in a test benchmark are flagged, and nothing else is."""

from __future__ import annotations

import hashlib
import itertools
import shutil

import numpy as np
import pandas as pd
import pytest

from mubench.analyses.audit import AuditSettings, at_least, audit_questions, audit_summary
from mubench.analyses.phash import image_hashes
from mubench.answering.predict import predict_subsets
from mubench.benchmark.tables import Benchmark, record_image_files, write_table
from mubench.models import ModelSpec

from conftest import make_tiny_benchmark

SETTINGS = AuditSettings(min_blind_models=2, alpha=0.05, phash_threshold=5)
PLANTED_TEXT = "img005:stain"  # its question names its answer
STAINS = ["H&E", "DAPI", "GFP", "none of the above"]


class TextReader:
    """A generative model that answers the option its question names, else always the letter ``fallback``."""

    def __init__(self, fallback: str):
        self.fallback = fallback

    def generate(self, images, prompts, n_options):
        for i, prompt in enumerate(prompts):
            question, *options = prompt.split("\n")[1:]
            named = [o[:1] for o in options if o[3:] in question]
            yield i, named[0] if named else self.fallback, None


def planted_benchmark(root):
    """The tiny benchmark (12 images, ds_a) with: a question that names its answer, a test image that is a copy of
    a train image, an image of another dataset that is a copy of one of ds_a, a stain the taxonomy puts under
    another modality than the image's, and subdomain questions whose gold is always the longest option."""
    make_tiny_benchmark(root)
    bench = Benchmark(root)
    images, questions = bench.images, bench.questions
    images["split"] = ["train"] * 6 + ["test"] * 6
    for copy, original in (("img009", "img002"), ("img010", "img008")):
        shutil.copy(root / "images" / f"{original}.png", root / "images" / f"{copy}.png")
    images.loc[images["image_id"] == "img010", "dataset"] = "ds_c"
    images["md5"] = [hashlib.md5((root / p).read_bytes()).hexdigest() for p in images["path"]]
    q = questions.set_index("question_id")
    q.loc[PLANTED_TEXT, ["question", "options", "answer_idx"]] = pd.Series(
        {"question": "This H&E-stained section: which stain?", "options": STAINS, "answer_idx": 0})
    q.at["img004:modality", "answer_idx"] = 0  # light microscopy …
    q.loc["img004:stain", ["options", "answer_idx"]] = pd.Series({"options": STAINS, "answer_idx": 1})  # … but DAPI
    for image_id in images["image_id"]:
        q.loc[f"{image_id}:subdomain", ["options", "answer_idx"]] = pd.Series(
            {"options": ["cell biology", "botany", "a much longer subdomain name", "none"], "answer_idx": 2})
    questions = q.reset_index()
    questions["captions"] = [[f"a {o}" for o in opts] if s == "coarse" else c
                             for opts, s, c in zip(questions["options"], questions["subset"], questions["captions"])]
    write_table(images, "images", root / "images.parquet")
    write_table(questions, "questions", root / "questions.parquet")
    record_image_files(root)
    return root


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit")
    root = planted_benchmark(tmp / "bench")
    bench = Benchmark(root)
    blind = {}
    for name, fallback in (("A", "A"), ("B", "B"), ("C", "C")):
        spec = ModelSpec.from_config({"name": name, "family": "hf_vlm", "model_id": "none", "blind": True})
        tables, _ = predict_subsets(spec, root, ["coarse", "fine", "cognition"], cache_dir=tmp / name, batch_size=16,
                                    model=TextReader(fallback), ablation="neutral_image")
        blind[name] = pd.concat(tables.values(), ignore_index=True)
    images = bench.images
    hashes = images[["image_id"]].assign(phash=[f"{h:016x}" for h in image_hashes(
        [root / p for p in images["path"]], list(images["md5"]), tmp / "phash", workers=1).tolist()])
    return bench, audit_questions(bench.questions, images, blind=blind, hashes=hashes, settings=SETTINGS)


def flagged(audit, flag):
    table = audit.questions
    return set(table.loc[table[f"flag_{flag}"].fillna(False).astype(bool), "question_id"])


def test_a_question_answerable_from_its_text_is_flagged(planted):
    _, audit = planted
    assert flagged(audit, "answerable_blind") == {PLANTED_TEXT}
    row = audit.questions.set_index("question_id").loc[PLANTED_TEXT]
    assert (row["n_blind_models"], row["n_blind_correct"]) == (3, 3)
    assert "answerable_blind" in row["flags"].split(";")


def test_near_duplicates_across_split_and_dataset_are_flagged(planted):
    bench, audit = planted
    table = audit.questions.set_index("question_id")
    of = lambda *ids: {q for q in table.index if q.split(":")[0] in ids}  # noqa: E731 — every question of the images
    assert flagged(audit, "duplicate_cross_split") == of("img002", "img009")
    assert table.loc["img009:modality", "cross_split_partner"] == "img002"
    assert table.loc["img009:modality", "cross_split_distance"] == 0
    assert flagged(audit, "duplicate_cross_dataset") == of("img008", "img010")
    assert table.loc["img008:stain", "cross_dataset_partner"] == "img010"


def test_a_stain_under_another_modality_is_a_label_conflict(planted):
    _, audit = planted
    assert flagged(audit, "label_conflict") == {"img004:modality", "img004:stain"}
    text = audit.questions.set_index("question_id").loc["img004:stain", "label_conflict"]
    assert text == "stain 'DAPI' is under fluorescence microscopy in the taxonomy, not under modality 'light microscopy'"


def test_option_bias_flags_the_type_whose_gold_is_always_the_longest(planted):
    _, audit = planted
    bias = audit.option_bias.set_index(["cue", "question_type"])
    assert bias.loc[("longest", "subdomain"), "biased"] and bias.loc[("longest", "subdomain"), "observed"] == 12
    assert bias.loc[("longest", "subdomain"), "expected"] == 3.0
    assert not bias.drop(("longest", "subdomain"))["biased"].any()
    assert flagged(audit, "gold_longest") == {f"img{i:03d}:subdomain" for i in range(12)}
    assert flagged(audit, "gold_none") == set()


def test_summary_counts_flags_per_dataset(planted):
    _, audit = planted
    summary = audit_summary(audit).set_index("dataset")
    assert list(summary.index) == ["ds_a", "ds_b", "all datasets"]
    total = summary.loc["all datasets"]
    assert total["answerable_blind"] == 1 and total["label_conflict"] == 2 and total["gold_longest"] == 12
    assert total["n_questions"] == len(audit.questions)
    assert total["any_flag"] == (audit.questions["flags"] != "").sum()
    per_dataset = summary.drop("all datasets")[["n_questions", "gold_longest"]].sum()
    assert (per_dataset == total[["n_questions", "gold_longest"]]).all()


def test_flags_that_cannot_apply_say_why(tiny_benchmark):
    bench = Benchmark(tiny_benchmark)
    questions = bench.questions[bench.questions["subset"] == "cognition"].reset_index(drop=True)
    audit = audit_questions(questions, bench.images, blind={}, hashes=None, settings=SETTINGS)
    assert set(audit.not_applicable) == {"answerable_blind", "duplicate_cross_split", "duplicate_cross_dataset",
                                         "label_conflict"}
    assert "0 model(s) answered blind" in audit.not_applicable["answerable_blind"]
    assert "pHash is off" in audit.not_applicable["duplicate_cross_split"]
    assert audit.questions["flag_answerable_blind"].isna().all()
    assert audit_summary(audit)[["answerable_blind", "label_conflict"]].isna().all().all()


def test_at_least_is_the_exact_tail_of_a_sum_of_bernoullis():
    probabilities = np.array([0.25, 0.25, 0.2, 0.5, 0.0, 1 / 3])
    for observed in range(len(probabilities) + 2):
        exact = sum(np.prod([p if hit else 1 - p for p, hit in zip(probabilities, outcome)])
                    for outcome in itertools.product([0, 1], repeat=len(probabilities)) if sum(outcome) >= observed)
        assert at_least(probabilities, observed) == pytest.approx(exact, abs=1e-12)
