"""What a demo score means: the Prior row, the blind runs and the question audit, in the shared demo run."""

from __future__ import annotations

import json
import re
from collections import Counter

import pandas as pd
import pytest
from conftest import DEMO_FIGURES

from mubench.analyses.audit import AUDIT_COLUMNS, FLAGS
from mubench.benchmark.tables import Benchmark
from mubench.scoring.vision import VISION_COLUMNS

pytestmark = pytest.mark.workflow

PRIOR, RANDOM, CLIP = "Prior (most common answer)", "Random", "OpenCLIP tiny (untrained)"


def demo_bench(demo_run) -> Benchmark:
    return Benchmark(demo_run / "results" / "demo" / "benchmark")


def expected_prior_domain_accuracy(bench: Benchmark) -> float:
    """What the label counts say the Prior scores on the domain question: each question answers the option most often
    gold among the other fold's domain questions (non-train images: the train split's; train images: the other
    splits'). Every demo domain question has one such option (no tie)."""
    questions = bench.questions[bench.questions["question_type"] == "domain"]
    gold = [o[a] for o, a in zip(questions["options"], questions["answer_idx"])]
    on_train = questions["image_id"].map(bench.images.set_index("image_id")["split"]).eq("train").to_numpy()
    counts = {fold: Counter(g for g, t in zip(gold, on_train) if t != fold) for fold in (True, False)}
    right = 0
    for options, g, t in zip(questions["options"], gold, on_train):
        ranked = sorted(options, key=lambda o: counts[t][o], reverse=True)
        assert counts[t][ranked[0]] > counts[t][ranked[1]], options
        right += ranked[0] == g
    return 100 * right / len(gold)


def test_prior_beats_random_on_the_domain_question_as_the_label_counts_say(demo_run):
    breakdown = pd.read_csv(demo_run / DEMO_FIGURES / "table1_breakdown.csv")
    domain = breakdown[(breakdown["scope"] == "all") & (breakdown["level"] == "question_type")
                       & (breakdown["group"] == "domain")].set_index("model")
    expected = expected_prior_domain_accuracy(demo_bench(demo_run))
    assert domain.loc[PRIOR, "accuracy"] == pytest.approx(expected, abs=0.005)
    assert domain.loc[PRIOR, "ci_low"] > domain.loc[RANDOM, "ci_high"]  # beyond both CIs
    majority = Counter(demo_bench(demo_run).images["domain"]).most_common(1)[0][1] / len(demo_bench(demo_run).images)
    assert expected >= 100 * majority - 5  # at least about what always answering the most common domain scores


def test_prior_is_in_table1_significance_and_the_page_as_a_baseline(demo_run):
    out = demo_run / DEMO_FIGURES
    table1 = pd.read_csv(out / "table1.csv")
    assert set(table1.loc[table1["model"] == PRIOR, "subset"]) == {"coarse", "fine", "cognition"}
    assert f"{PRIOR}: baseline — reads no image" in (out / "table1.md").read_text()
    pairs = pd.read_csv(out / "significance.csv")
    assert len(pairs) == 3 * 3 and (pairs["model_a"].eq(PRIOR) | pairs["model_b"].eq(PRIOR)).sum() == 3 * 2
    page = (out / "leaderboard.html").read_text()
    data = json.loads(re.search(r'id="leaderboard-data">(.*?)</script>', page, re.S)[1])
    models = {m["name"]: m for m in data["models"]}
    assert models["Prior"]["group"] == "baseline" and models["Prior"]["kind"] == "prior"
    clip = models["OpenCLIP-tiny-untrained"]["cells"]["coarse"]
    prior_coarse = table1[(table1["model"] == PRIOR) & (table1["subset"] == "coarse")]["accuracy"].iloc[0]
    assert clip["prior_gap"] == pytest.approx(clip["accuracy"] - prior_coarse, abs=0.01)
    vision = pd.read_csv(out / "vision_dependence.csv").set_index(["model", "subset"])
    assert clip["blind"]["accuracy"] == pytest.approx(vision.loc[(CLIP, "coarse"), "acc_blind"], abs=0.01)
    assert models["Random"]["cells"]["coarse"]["blind"] is None  # blind by construction: nothing to show
    assert data["audit"]["available"] is True


def test_vision_dependence_has_every_demo_model_with_cis(demo_run):
    table = pd.read_csv(demo_run / DEMO_FIGURES / "vision_dependence.csv")
    assert list(table.columns) == VISION_COLUMNS
    assert set(zip(table["model"], table["ablation"])) == {(RANDOM, "reads no image"), (PRIOR, "reads no image"),
                                                           (CLIP, "neutral_image")}
    assert (table.groupby("model")["subset"].apply(list) == [["coarse", "fine", "cognition"]] * 3).all()
    assert table[["diff_ci_low", "diff_ci_high", "p_mcnemar"]].notna().all().all()
    assert ((table["diff_ci_low"] <= table["diff"]) & (table["diff"] <= table["diff_ci_high"])).all()
    assert ((table["diff"] - (table["acc_image"] - table["acc_blind"])).abs() < 0.011).all()
    baselines = table[table["ablation"] == "reads no image"]
    assert (baselines[["diff", "diff_ci_low", "diff_ci_high"]] == 0).all().all() and (baselines["p_mcnemar"] == 1).all()
    questions = demo_bench(demo_run).questions
    n = table.set_index(["model", "subset"]).loc[RANDOM, "n"]
    assert n.to_dict() == questions["subset"].value_counts().to_dict()
    blind = pd.read_parquet(demo_run / "results/demo/predictions/OpenCLIP-tiny-untrained/blind/neutral_image"
                            / "coarse.parquet")
    assert blind["prompt_version"].str.endswith("|blind:neutral_image").all()
    log = (demo_run / "logs/predict_blind/demo/OpenCLIP-tiny-untrained/neutral_image.log").read_text()
    assert re.search(r"texts: \d+ unique, (\d+) cached, 0 to encode", log)  # every text embedding reused
    # one grey image, the demo's one size (encoded once: a rerun of the job, as --forceall, finds it cached)
    assert re.search(r"images: 1 unique, \d+ cached, \d+ to encode", log)


def test_audit_has_every_question_and_states_each_rule(demo_run):
    out = demo_run / DEMO_FIGURES
    audit = pd.read_csv(out / "audit.csv", keep_default_na=False, na_values=[""])
    questions = demo_bench(demo_run).questions
    assert list(audit.columns) == AUDIT_COLUMNS and sorted(audit["question_id"]) == sorted(questions["question_id"])
    summary = pd.read_csv(out / "audit_summary.csv").set_index("dataset")
    assert summary.loc["all datasets", "n_questions"] == len(questions)
    assert set(summary.index) == set(questions["dataset"]) | {"all datasets"}
    # one model answered blind, the rule needs two: the flag is empty, and the notes say why
    assert audit["flag_answerable_blind"].isna().all() and pd.isna(summary.loc["all datasets", "answerable_blind"])
    notes = (out / "audit_summary.md").read_text()
    assert "answerable_blind: answered correctly without the image by more than half" in notes
    assert "cannot apply here: 1 model(s) answered blind (OpenCLIP-tiny-untrained)" in notes
    for flag in FLAGS:
        assert f"- {flag}: " in notes
    bias = pd.read_csv(out / "audit_option_bias.csv")
    assert set(bias["question_type"]) == set(questions["question_type"])
    prior = pd.read_csv(out / "prior_baseline.csv")
    assert set(prior["question_type"]) == set(questions["question_type"])
