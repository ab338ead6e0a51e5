"""The leaderboard page: data assembly on synthetic paper-scale results, then the page in a real headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from browser import Browser, chromium  # noqa: F401  (session fixture)
from conftest import DEMO_FIGURES, REPO, bootstrap_settings, config_section, copy_workflow, scores_table, snakemake
from PIL import Image

from mubench.config import check_config
from mubench.figures.leaderboard import (
    LeaderboardSettings,
    leaderboard_data,
    leaderboard_table,
    published_only,
    render_page,
    significance_marks,
    sampled_answers,
)
from mubench.figures.published import for_benchmark
from mubench.figures.table1 import read_reference
from mubench.scoring.sensitivity import SENSITIVITY_COLUMNS
from mubench.scoring.vision import VISION_COLUMNS

PAPER = yaml.safe_load((REPO / "configs" / "paper.yaml").read_text())


def leaderboard_settings(**values) -> LeaderboardSettings:
    """The page's settings as the rule passes them: config ``leaderboard`` (schema defaults) and the report's
    significance level."""
    return LeaderboardSettings(**config_section("leaderboard", **values),
                               alpha=config_section("report")["significance_level"])
REFERENCE = read_reference(REPO / "paper_figures" / "reference" / "paper_table1.csv")
N_DATASETS, IMAGES_PER_DATASET = 32, 24
INJECTION = '<img src=x onerror="document.title=\'pwned\'"></script>'


@pytest.fixture(scope="module")
def paper_results(tmp_path_factory):
    """Synthetic results of every Table 1 model of configs/paper.yaml on a uBench-sized dataset list: real
    histology crops as images (so thumbnails weigh what real ones do), seeded answers, full provenance."""
    import skimage.data

    root = tmp_path_factory.mktemp("paper_results")
    rng = np.random.default_rng(0)
    tissue = skimage.data.immunohistochemistry()
    image_files, image_md5, questions = {}, {}, []
    for d in range(N_DATASETS):
        dataset = f"ds_{d:02d}"
        for i in range(IMAGES_PER_DATASET):
            image_id = f"{dataset}_{i:03d}"
            y, x = rng.integers(0, tissue.shape[0] - 128, 2)
            path = root / f"{image_id}.png"
            Image.fromarray(tissue[y:y + 128, x:x + 128]).save(path, compress_level=1)
            image_files[image_id], image_md5[image_id] = path, f"md5-{image_id}"
            for subset, qtype in (("coarse", "modality"), ("coarse", "stain"), ("fine", "classification"),
                                  ("cognition", "cognition")):
                text = INJECTION if dataset == "ds_03" else f"Which {qtype} is this?"
                questions.append(dict(question_id=f"{image_id}:{qtype}", image_id=image_id, subset=subset,
                                      question_type=qtype, dataset=dataset, question=text,
                                      options=["alpha", "beta", "gamma", "none of the above"],
                                      answer_idx=int(rng.integers(0, 4)), extra_image_ids=[]))
    image_md5["ds_00_001"] = image_md5["ds_00_000"]  # two ids, one content: one thumbnail
    questions = pd.DataFrame(questions)
    models = list(check_config(PAPER).values())
    predictions = []
    for m, spec in enumerate(models):
        skill = 0.25 + 0.03 * m
        correct = rng.random(len(questions)) < skill
        prediction = np.where(correct, questions["answer_idx"], (questions["answer_idx"] + 1) % 4)
        generative = spec.kind == "generative"
        predictions.append(questions[["question_id", "image_id", "subset", "question_type", "dataset",
                                      "answer_idx"]].assign(
            model=spec.name, prediction=prediction, correct=correct,
            response=[f"{'ABCD'[p]}) reply of {spec.name}" for p in prediction] if generative else None,
            model_id=spec.source_id, model_revision=spec.weights_revision, model_fingerprint=spec.fingerprint,
            benchmark_source="ubench", benchmark_revision="3f2c5b5", prompt_version="v-prompt",
            parser_version="v-parser", seed=spec.seed, mubench_version="0.1.0+gtest"))
    predictions = pd.concat(predictions, ignore_index=True)
    scores = scores_table(predictions, bootstrap=bootstrap_settings(n_resamples=99))
    return dict(predictions=predictions, questions=questions, image_files=image_files, image_md5=image_md5,
                scores=scores, models=models, subsets=PAPER["subsets"])


# sensitivity.csv rows (percent; models by label, as rule sensitivity writes them): CLIP's coarse accuracy under two
# caption sets, GPT-4o's under the three matching rules.
SENSITIVITY = pd.DataFrame([
    ("CLIP", "coarse", "caption_set", "default", True, 100, 40, None, 40.0, 40.0, 0.0, 7.5),
    ("CLIP", "coarse", "caption_set", "<type>_1", False, 100, 47, None, 47.5, 40.0, 7.5, 7.5),
    *[("GPT-4o", "fine", "matching_rule", rule, rule == "mubench_letter", 50, n, 0, 2 * n, 60.0, 2 * n - 60.0, 4.0)
      for rule, n in (("mubench_letter", 30), ("exact", 28), ("option_text", 30))],
], columns=[c for c in SENSITIVITY_COLUMNS if c != "n_bad_microvqa_scorer"])  # that one: MicroVQA runs only


# vision_dependence.csv rows (percent, models by label): CLIP's first ablation, then a second one the page ignores.
VISION = pd.DataFrame([
    ("CLIP", "neutral_image", "coarse", 100, 40.0, 30.0, 10.0, 2.5, 17.5, 20, 10, 0.04),
    ("CLIP", "no_image", "coarse", 100, 40.0, 20.0, 20.0, 12.5, 27.5, 25, 5, 0.001),
    ("Random", "reads no image", "coarse", 100, 25.0, 25.0, 0.0, 0.0, 0.0, 0, 0, 1.0),
], columns=VISION_COLUMNS)
FLAGGED_DATASET = "ds_05"  # every question of it flagged by the audit


def paper_data(results, significance=None, **settings) -> dict:
    audit = results["questions"][["question_id", "dataset"]].assign(
        flags=lambda q: q["dataset"].map({FLAGGED_DATASET: "duplicate_cross_split"}).fillna(""))
    return leaderboard_data(
        scores=results["scores"], predictions=results["predictions"], questions=results["questions"],
        image_files=results["image_files"], image_md5=results["image_md5"],
        manifest={"source": "ubench", "revision": "3f2c5b5"}, reference=REFERENCE, significance=significance,
        sensitivity=SENSITIVITY, models=results["models"], subsets=results["subsets"], bootstrap=PAPER["bootstrap"],
        settings=leaderboard_settings(**{**PAPER["leaderboard"], **settings}), vision=VISION,
        audit=audit[["question_id", "flags"]])


def test_table_has_every_paper_model_beside_its_published_value(paper_results):
    table = leaderboard_table(paper_results["scores"], paper_results["models"], paper_results["subsets"], REFERENCE)
    assert len(table) == 17 * 3 and set(table["model"]) == {spec.name for spec in paper_results["models"]}
    row = table[(table["subset"] == "coarse") & (table["model"] == "QwenVLM")].iloc[0]
    assert (row["label"], row["paper_accuracy"], row["paper_ci"]) == ("Qwen-VL-Chat", 49.85, 0.35)
    assert table.loc[table["model"] == "InternVL3.5-4B", "paper_accuracy"].isna().all()  # not in the paper


def test_published_rows_of_models_not_run_here_are_listed_to_rank_against(paper_results):
    paper = published_only(REFERENCE, paper_results["models"], paper_results["subsets"])
    assert [row["name"] for row in paper] == ["M-PLIP", "M-QuiltNet"]  # Table 19's merged models: not in Table 1 runs
    assert set(paper[0]["cells"]) == {"coarse", "fine", "cognition"}
    microvqa = for_benchmark(read_reference(REPO / "paper_figures" / "published" / "microvqa_leaderboard.csv"),
                             "microvqa")
    random_only = [spec for spec in check_config(PAPER).values() if spec.name == "Random"]
    rows = {row["name"]: row for row in published_only(microvqa, random_only, ["cognition"])}
    assert "Random" not in rows and len(rows) == len(microvqa) - 1
    assert rows["o1"]["cells"] == {"cognition": {"paper": 52.8, "paper_ci": pytest.approx(float("nan"), nan_ok=True)}}
    assert rows["o1"]["kind"] == "Reasoning"
    data = paper_data(paper_results)
    assert data["published_comparable"] is True and data["published_benchmark"] == "μ-Bench"  # a uBench run
    assert data["published"][0]["cells"]["coarse"]["paper_ci"] is not None
    clip = next(m for m in data["models"] if m["name"] == "CLIP")["cells"]
    assert clip["coarse"]["sensitivity"] == {"factor": "caption_set", "spread": 7.5,
                                             "variants": [["default", 40.0], ["<type>_1", 47.5]]}
    assert clip["fine"]["sensitivity"] is None


def test_significance_marks_follow_holm_p_against_the_best(paper_results):
    models = paper_results["models"]
    table = leaderboard_table(paper_results["scores"], models, paper_results["subsets"], REFERENCE)
    coarse = table[table["subset"] == "coarse"].sort_values("accuracy", ascending=False)
    best, second, third = coarse["model"].iloc[:3]
    label = {spec.name: spec.label for spec in models}
    significance = pd.DataFrame([
        dict(subset="coarse", model_a=best, model_b=second, p_holm=0.30),
        dict(subset="coarse", model_a=label[third], model_b=label[best], p_holm=0.001),  # labels, either order
        dict(subset="coarse", model_a=second, model_b=third, p_holm=0.9),  # not against the best: ignored
    ])
    marks = significance_marks(table, significance, models, alpha=0.05).set_index(["subset", "model"])
    assert marks.loc[("coarse", best), "best"] and marks.loc[("coarse", best), "tied"] is None
    assert marks.loc[("coarse", second), "tied"] is True and marks.loc[("coarse", second), "p_vs_best"] == 0.30
    assert marks.loc[("coarse", third), "tied"] is False
    assert marks.loc[("coarse", coarse["model"].iloc[3]), "tied"] is None  # never tested against the best
    assert marks.loc["fine", "tied"].isna().all() and marks.loc["fine", "best"].sum() == 1
    without = significance_marks(table, None, models, alpha=0.05)
    assert without["tied"].isna().all() and without["best"].sum() == 3


def test_answers_are_counted_then_sampled_the_same_way_for_every_model(paper_results):
    settings = leaderboard_settings(max_wrong_per_dataset=5, max_correct_per_dataset=3, seed=3)
    predictions = paper_results["predictions"]
    counts, shown = sampled_answers(predictions, settings)
    keys = ["model", "subset", "question_type", "dataset"]
    expected = (~predictions["correct"]).groupby([predictions[k] for k in keys]).sum()
    assert counts.set_index(keys)["n_wrong"].equals(expected.astype(counts["n_wrong"].dtype))
    assert counts["n_answered"].sum() == len(predictions)
    per_group = shown.groupby(["model", "dataset", "correct"]).size()
    assert per_group.xs(False, level="correct").max() == 5 and per_group.xs(True, level="correct").max() == 3
    assert not shown.duplicated(["model", "question_id"]).any()
    truth = predictions.set_index(["model", "question_id"])["correct"]
    assert (truth.loc[list(zip(shown["model"], shown["question_id"]))].to_numpy() == shown["correct"]).all()
    clip_alone = sampled_answers(predictions[predictions["model"] == "CLIP"], settings)[1]
    assert clip_alone["question_id"].tolist() == shown.loc[shown["model"] == "CLIP", "question_id"].tolist()


def test_flagged_answers_are_sampled_first_and_counted_apart(paper_results):
    settings = leaderboard_settings(max_wrong_per_dataset=2, max_correct_per_dataset=0, seed=3)
    predictions = paper_results["predictions"]
    clip_ds07 = (predictions["model"] == "CLIP") & (predictions["dataset"] == "ds_07")
    wrong = predictions[~predictions["correct"] & clip_ds07]
    planted = wrong["question_id"].iloc[-2:].tolist()  # the last, by question order
    flags = pd.Series({q: "label_conflict" for q in planted})
    counts, shown = sampled_answers(predictions, settings, flags)
    clip = shown[(shown["model"] == "CLIP") & (shown["dataset"] == "ds_07")]
    assert sorted(clip["question_id"]) == sorted(planted)
    rows = counts[(counts["model"] == "CLIP") & (counts["dataset"] == "ds_07")].groupby("audit")["n_wrong"].sum()
    assert (rows["flagged"], rows["flagged"] + rows["not flagged"]) == (2, len(wrong))
    assert "audit" not in sampled_answers(predictions, settings)[0].columns  # no audit: no such count key


def test_page_caps_thumbnails_embeds_each_image_once_and_is_deterministic(paper_results):
    data = paper_data(paper_results, max_thumbnails=40)
    assert len(data["images"]) == 40 and data["caps"]["thumbnails_embedded"] == 40
    asked = data["questions"].values()
    assert {q["image"] for q in asked} - {None} == set(data["images"])
    assert sum(q["image"] is None for q in asked) > 0  # beyond the cap: shown without a thumbnail
    assert "md5-ds_00_001" not in data["images"]  # same content as ds_00_000: embedded once, under one key
    answered = {a["question_id"] for answers in data["answers"].values() for a in answers}
    assert answered == set(data["questions"])  # each shown question's text stored once
    jpeg = Image.open(io.BytesIO(base64.b64decode(next(iter(data["images"].values())).split(",", 1)[1])))
    assert jpeg.format == "JPEG" and max(jpeg.size) == 96
    assert data["answers"]["GPT-4o"][0]["response"].endswith("reply of GPT-4o")
    assert data["answers"]["CLIP"][0]["response"] is None
    assert render_page(data) == render_page(paper_data(paper_results, max_thumbnails=40))


def test_paper_scale_page_stays_within_the_readme_budget(paper_results):
    """README: with the default caps a uBench-scale page stays under 8 MB, even if every thumbnail were used."""
    data = paper_data(paper_results)
    page = render_page(data).encode()
    n_items = sum(len(answers) for answers in data["answers"].values())
    caps = PAPER["leaderboard"]
    assert n_items == 17 * N_DATASETS * (caps["max_wrong_per_dataset"] + caps["max_correct_per_dataset"])
    unused = PAPER["leaderboard"]["max_thumbnails"] - len(data["images"])
    assert unused >= 0
    assert len(page) + unused * max(map(len, data["images"].values())) < 8_000_000, len(page)


def test_page_has_a_strict_csp_and_no_url_to_fetch(paper_results):
    page = render_page(paper_data(paper_results, max_thumbnails=5))
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)[1]
    assert csp.startswith("default-src 'none'; img-src data:; style-src 'sha256-") and "unsafe" not in csp
    without_images = re.sub(r"data:image/jpeg;base64,[A-Za-z0-9+/=]+", "", page)
    assert not re.search(r"\b(https?|ftp|wss?):", without_images, re.I)
    assert "<img src=x" not in page and "\\u003cimg src=x" in page  # data cannot close its <script> element


@pytest.fixture(scope="module")
def page_file(paper_results, tmp_path_factory):
    """The paper-scale page with significance tests for the coarse subset."""
    table = leaderboard_table(paper_results["scores"], paper_results["models"], ["coarse"], REFERENCE)
    ranked = table.sort_values("accuracy", ascending=False)["model"].tolist()
    significance = pd.DataFrame([dict(subset="coarse", model_a=ranked[0], model_b=m, p_holm=p)
                                 for m, p in zip(ranked[1:], [0.4, 0.2] + [0.0001] * len(ranked))])
    data = paper_data(paper_results, significance=significance)
    path = tmp_path_factory.mktemp("page") / "leaderboard.html"
    path.write_text(render_page(data), encoding="utf-8")
    return path, data, ranked


@pytest.fixture
def browser(chromium):  # noqa: F811
    session = Browser(chromium)
    yield session
    session.close()


def rows(browser) -> list[str]:
    """The models run here, in the board's order (published-only rows are not among them)."""
    return browser.evaluate("[...document.querySelectorAll('#board tbody tr[data-model]')].map((r) => r.dataset.model)")


def published_rows(browser) -> list[str]:
    return browser.evaluate("[...document.querySelectorAll('#board tbody tr.published')].map((r) => r.dataset.published)")


def answer_filters(browser) -> dict:
    return browser.evaluate("Object.fromEntries([...document.querySelectorAll('#answer-filters select')].map("
                            "(s) => [s.dataset.filter, s.value]))")


def answer_ids(browser) -> list[str]:
    return browser.evaluate("[...document.querySelectorAll('#answers-list > li')].map((li) => li.dataset.question)")


def click(browser, selector: str) -> None:
    browser.evaluate(f"document.querySelector({json.dumps(selector)}).click()")


def choose(browser, selector: str, value: str) -> None:
    browser.evaluate(f"(() => {{ const s = document.querySelector({json.dumps(selector)}); s.value = "
                     f"{json.dumps(value)}; s.dispatchEvent(new Event('change')); }})()")


def test_page_in_headless_chromium(page_file, browser, tmp_path):
    path, data, ranked = page_file
    browser.open(path.as_uri())
    assert browser.console_errors() == []
    assert rows(browser) == ranked  # first subset, best first
    by_name = {m["name"]: m for m in data["models"]}
    # Published rows of models not run here, ranked by their published value among ours; a toggle hides them.
    order = browser.evaluate("[...document.querySelectorAll('#board tbody tr')].map((r) => "
                             "r.dataset.model || r.dataset.published)")
    ours = {m["name"]: m["cells"]["coarse"]["accuracy"] for m in data["models"]}
    theirs = {p["name"]: p["cells"]["coarse"]["paper"] for p in data["published"]}
    assert published_rows(browser) == ["M-PLIP", "M-QuiltNet"] and data["published"][0]["name"] == "M-PLIP"
    assert order == sorted(ours | theirs, key=lambda n: (-(ours | theirs)[n], n))
    cell = browser.evaluate("document.querySelector('tr[data-published=\"M-PLIP\"] td.paper').textContent")
    assert cell == f"{theirs['M-PLIP']:.2f} ± {data['published'][0]['cells']['coarse']['paper_ci']:.2f}"  # no Δ
    assert "NaN" not in browser.evaluate("document.body.innerText")
    plip_paper = browser.evaluate("document.querySelector('tr[data-model=\"PLIP\"] td.paper').textContent")
    plip = by_name["PLIP"]["cells"]["coarse"]
    assert plip_paper.startswith(f"{plip['paper']:.2f} ± {plip['paper_ci']:.2f}Δ ")
    click(browser, "#published-toggle")
    assert published_rows(browser) == [] and rows(browser) == ranked
    click(browser, "#published-toggle")
    spread = browser.evaluate("(() => { const s = document.querySelector('tr[data-model=\"CLIP\"] "
                              "td[data-subset=coarse] .sens'); return [s.textContent, s.title]; })()")
    assert spread == ["spread 7.50 over 2 caption sets", "default: 40.00\n<type>_1: 47.50"]
    # the gap to the Prior baseline and the accuracy without the image: two more columns under each subset
    clip, prior = by_name["CLIP"]["cells"]["coarse"], by_name["Prior"]["cells"]["coarse"]
    def column(model, key):
        return browser.evaluate(f"document.querySelector('tr[data-model=\"{model}\"] td[data-column=\"{key}\"]')"
                                ".innerText")
    gap = clip["accuracy"] - prior["accuracy"]
    assert column("CLIP", "prior:coarse") == f"{'+' if gap >= 0 else '−'}{abs(gap):.2f}"
    assert column("CLIP", "blind:coarse") == "30.00\nimage +10.00 [2.50, 17.50]"  # the first ablation's
    assert column("Prior", "prior:coarse") == "–" and column("Random", "blind:coarse") == "–\nreads no image"
    assert column("CLIP", "blind:fine") == "–"  # no blind run of that subset
    assert clip["blind"]["ablation"] == "neutral_image" and by_name["Random"]["cells"]["coarse"]["blind"] is None
    assert prior["prior_gap"] is None and by_name["Random"]["cells"]["fine"]["prior_gap"] is not None
    headers = browser.evaluate("[...document.querySelectorAll('#board tr.columns th')].map((th) => th.textContent)")
    assert headers[3:7] == ["ours ± CI", "paper", "vs prior", "blind"]
    assert "vs prior: accuracy minus the Prior baseline's" in browser.evaluate(
        "document.getElementById('legend').textContent")


    def fine(name):
        return by_name[name]["cells"]["fine"]["accuracy"]

    click(browser, 'th[data-sort="acc:fine"] button')
    assert rows(browser) == sorted(by_name, key=lambda n: (-fine(n), by_name[n]["label"]))
    assert browser.evaluate("document.querySelector('th[data-sort=\"acc:fine\"]').getAttribute('aria-sort')") == \
        "descending"
    click(browser, 'th[data-sort="acc:fine"] button')
    assert rows(browser) == sorted(by_name, key=lambda n: (fine(n), by_name[n]["label"]))

    marks = browser.evaluate("[...document.querySelectorAll('#board td[data-subset=coarse] .mark')].map("
                             "(m) => [m.closest('tr').dataset.model, m.textContent, m.title])")
    assert {m[0]: m[1] for m in marks} == {ranked[0]: "★", ranked[1]: "≈", ranked[2]: "≈"}
    assert "p = 0.400" in dict((m[0], m[2]) for m in marks)[ranked[1]]


    choose(browser, "#family-filter", "open_clip")
    assert sorted(rows(browser)) == ["BiomedCLIP", "CoCa", "OpenCLIP", "QuiltNet"] and published_rows(browser) == []
    choose(browser, "#family-filter", "published")
    assert rows(browser) == [] and sorted(published_rows(browser)) == ["M-PLIP", "M-QuiltNet"]
    choose(browser, "#family-filter", "")
    choose(browser, "#group-filter", "pathology_contrastive")  # the paper's grouping of its models
    assert sorted(rows(browser)) == ["CONCH", "PLIP", "QuiltNet"] and published_rows(browser) == []
    assert browser.evaluate("[...document.querySelectorAll('#group-filter option')].map((o) => o.textContent)") == [
        "all groups", "General autoregressive", "General contrastive", "Biomedical contrastive",
        "Pathology contrastive", "Baseline"]
    choose(browser, "#group-filter", "")
    click(browser, '#subset-filter input[data-subset="coarse"]')
    assert browser.evaluate("document.querySelectorAll('#board td[data-subset=coarse]').length") == 0
    assert browser.evaluate("document.querySelectorAll('#board tr[data-model] td[data-subset=fine]').length") == 17

    box = browser.evaluate("(() => { const row = document.querySelector('tr[data-model=\"PLIP\"]'); "
                           "row.scrollIntoView({ block: 'center' }); const r = row.getBoundingClientRect(); "
                           "return [r.left + 200, r.top + 8]; })()")
    browser.page("Input.dispatchMouseEvent", type="mouseMoved", x=box[0], y=box[1])
    tip = browser.evaluate("document.getElementById('tooltip').innerText")
    plip = next(spec for spec in data["models"] if spec["name"] == "PLIP")
    assert "vinid/plip" in tip and "v-parser" in tip and "0.1.0+gtest" in tip
    assert plip["provenance"]["coarse"]["model_revision"] in tip

    click(browser, 'button.model-link[data-model="GPT-4o"]')  # the questions it got wrong, every subset
    assert answer_filters(browser) == {"model": "GPT-4o", "subset": "", "question_type": "", "dataset": "",
                                       "audit": "", "outcome": "wrong"}
    mine = data["answers"]["GPT-4o"]
    wrong = [a for a in mine if not a["correct"]]
    shown = browser.evaluate("""[...document.querySelectorAll('#answers-list > li')].map((li) => ({
        id: li.dataset.question, correct: li.dataset.correct, img: (li.querySelector('img') || {}).src || null,
        gold: li.querySelector('li.gold').textContent, chosen: li.querySelector('li.chosen').textContent,
        reply: (li.querySelector('.reply') || {}).textContent }))""")
    assert [s["id"] for s in shown] == [a["question_id"] for a in wrong][:48] and len(shown) == 48  # one page
    for answer, seen in zip(wrong, shown):
        item = data["questions"][answer["question_id"]]
        assert seen["correct"] == "false"
        options = item["options"]
        assert (seen["gold"], seen["chosen"]) == (options[item["answer"]], options[answer["prediction"]])
        assert seen["img"] == (data["images"][item["image"]] if item["image"] else None)
        assert seen["reply"] == f"reply: {answer['response']}"
    click(browser, "#answers-more")
    assert len(answer_ids(browser)) == min(96, len(wrong))
    summary = browser.evaluate("document.getElementById('answers-summary').textContent")
    assert f"of the {len(wrong):,} sampled wrong answers" in summary

    choose(browser, "#answers-audit", "flagged")  # only the questions the audit flagged (those of one dataset here)
    flagged = [a["question_id"] for a in wrong if data["questions"][a["question_id"]]["flags"]]
    assert answer_ids(browser) == flagged[:48] and flagged
    assert {data["questions"][q]["dataset"] for q in flagged} == {FLAGGED_DATASET}
    badges = browser.evaluate("[...document.querySelectorAll('#answers-list > li')].map((li) => "
                              "li.querySelector('.flag').textContent)")
    assert set(badges) == {"duplicate_cross_split"} and len(badges) == len(answer_ids(browser))
    answered = sum(c["n_answered"] for c in data["counts"] if c["model"] == "GPT-4o" and c["audit"] == "flagged")
    summary = browser.evaluate("document.getElementById('answers-summary').textContent")
    assert f"GPT-4o: {answered:,} questions in this selection" in summary
    assert "Only questions the audit flagged" in summary
    assert browser.evaluate("[...document.querySelectorAll('#answers-audit option')].map((o) => o.value)") == [
        "", "flagged", "not flagged"]
    choose(browser, "#answers-audit", "")

    # a click on an accuracy cell: that model's answers (right and wrong) to that subset's questions
    click(browser, 'tr[data-model="CLIP"] td[data-subset="fine"]')
    assert answer_filters(browser) == {"model": "CLIP", "subset": "fine", "question_type": "", "dataset": "",
                                       "audit": "", "outcome": ""}
    fine = [a for a in data["answers"]["CLIP"] if data["questions"][a["question_id"]]["subset"] == "fine"]
    assert answer_ids(browser) == [a["question_id"] for a in fine][:48]
    outcomes = browser.evaluate("[...document.querySelectorAll('#answers-list > li')].map((li) => li.dataset.correct)")
    assert {"true", "false"} == set(outcomes)
    right = browser.evaluate("document.querySelector('#answers-list > li[data-correct=true] li.gold.chosen')"
                             ".textContent")
    assert right  # a correct answer: the model's choice is the gold option
    cell = data["models"][[m["name"] for m in data["models"]].index("CLIP")]["cells"]["fine"]
    answered = sum(c["n_answered"] for c in data["counts"] if c["model"] == "CLIP" and c["subset"] == "fine")
    assert answered == cell["n"] and f"CLIP: {answered:,} questions in this selection" in browser.evaluate(
        "document.getElementById('answers-summary').textContent")
    choose(browser, "#answers-outcome", "correct")
    assert answer_ids(browser) == [a["question_id"] for a in fine if a["correct"]][:48]
    choose(browser, "#answers-subset", "coarse")  # by subset, then question type and dataset
    choose(browser, "#answers-question-type", "stain")
    choose(browser, "#answers-dataset", "ds_05")
    expected = [a["question_id"] for a in data["answers"]["CLIP"] if a["correct"]
                and data["questions"][a["question_id"]]["question_type"] == "stain"
                and data["questions"][a["question_id"]]["dataset"] == "ds_05"]
    assert answer_ids(browser) == expected and expected
    assert browser.evaluate("[...document.querySelectorAll('#answers-question-type option')].map((o) => o.value)") == [
        "", "modality", "stain"]

    choose(browser, "#answers-outcome", "")
    choose(browser, "#answers-subset", "")
    choose(browser, "#answers-question-type", "")
    choose(browser, "#answers-dataset", "ds_03")  # question texts hold markup: shown as text, never run
    assert INJECTION in browser.evaluate("document.querySelector('#answers-list .question').textContent")
    assert browser.evaluate("document.title") == "μ-Bench leaderboard"

    shot = browser.screenshot(tmp_path / "leaderboard.png")
    assert min(Image.open(shot).size) > 500
    assert browser.console_errors() == []
    assert [u for u in browser.requests() if not u.startswith(("file:", "data:"))] == []


# Every header cell of the board, brought into view as a reader scrolls the board's box: where it lands, where the
# sticky rank and model columns end, and the box's edges; plus whether the page itself is wider than the window.
FIT_SCRIPT = """(() => {
  const box = document.getElementById('board-scroll'), frame = box.getBoundingClientRect();
  const sticky = [...document.querySelectorAll('#board tr.columns th.sticky')];
  const stickyRight = () => Math.max(...sticky.map((th) => th.getBoundingClientRect().right));
  const cells = [...document.querySelectorAll('#board tr.columns th')].map((th) => {
    box.scrollLeft = th.classList.contains('sticky') ? 0 : th.offsetLeft - (stickyRight() - frame.left);
    const r = th.getBoundingClientRect();
    return { text: th.textContent, left: r.left, right: r.right, stickyRight: stickyRight(),
             sticky: th.classList.contains('sticky') };
  });
  box.scrollLeft = box.scrollWidth;
  const model = document.querySelector('#board tbody tr[data-model] td.model').getBoundingClientRect();
  box.scrollLeft = 0;
  return { page: document.documentElement.scrollWidth, window: window.innerWidth, boxLeft: frame.left,
           boxRight: frame.right, scrolls: box.scrollWidth > box.clientWidth, cells, modelLeft: model.left,
           modelRight: model.right };
})()"""


@pytest.mark.parametrize("width", [800, 1280])
def test_board_fits_the_window_and_every_column_can_be_seen(page_file, browser, width):
    """Narrow windows (and the report's iframe) scroll the board inside its box with rank and model kept in view;
    the page itself never gets wider than the window. At 1280 px the paper's columns are all visible without
    scrolling; the gap to the Prior and the blind accuracy (shown at first, each with a checkbox) widen the board,
    which then scrolls with every column reachable."""
    browser.set_viewport(width)
    browser.open(page_file[0].as_uri())
    for optional in (True, False):
        fit = browser.evaluate(FIT_SCRIPT)
        assert fit["page"] <= fit["window"] == width and fit["boxRight"] <= width
        per_subset = ["ours ± CI", "paper"] + ["vs prior", "blind"] * optional
        assert [c["text"] for c in fit["cells"]] == ["#", "Model", "Family"] + per_subset * 3
        for cell in fit["cells"]:
            assert fit["boxLeft"] - 1 <= cell["left"] and cell["right"] <= fit["boxRight"] + 1, cell
            if not cell["sticky"]:
                assert cell["left"] >= cell["stickyRight"] - 1, cell  # not hidden under the sticky columns
        assert fit["boxLeft"] - 1 <= fit["modelLeft"] and fit["modelRight"] <= fit["boxRight"]  # stays in view
        assert fit["scrolls"] is (optional or width < 1200)
        for key in ("prior", "blind"):
            click(browser, f'#column-filter input[data-column="{key}"]')
    list_right = browser.evaluate("Math.max(...[...document.querySelectorAll('#answers-list > li, #answer-filters "
                                  "select')].map((e) => e.getBoundingClientRect().right))")
    assert list_right <= width
    assert browser.console_errors() == []


def test_csv_download_is_the_board_as_shown(page_file, browser, tmp_path):
    path, data, _ = page_file
    browser.open(path.as_uri())
    click(browser, '#subset-filter input[data-subset="cognition"]')
    click(browser, 'th[data-sort="acc:fine"] button')
    click(browser, 'th[data-sort="acc:fine"] button')  # ascending
    choose(browser, "#group-filter", "")
    shown = browser.evaluate("[...document.querySelectorAll('#board tbody tr[data-model], #board tbody "
                             "tr[data-published]')].map((r) => r.dataset.model || r.dataset.published)")
    saved = browser.download("document.getElementById('download-csv').click()", tmp_path / "downloads")
    assert browser.download_name() == "leaderboard_ubench.csv"
    table = pd.read_csv(saved)
    label = {m["name"]: m["label"] for m in data["models"]}
    assert table["model"].tolist() == [label.get(n, n) for n in shown] and len(shown) == 19
    assert table["rank"].tolist() == list(range(1, 20))  # one benchmark: published rows ranked with ours
    assert [c for c in table.columns if c.startswith("cognition")] == []
    assert {"coarse_accuracy", "fine_ci_low", "fine_paper", "fine_delta"} <= set(table.columns)
    plip = table.set_index("model").loc["PLIP"]
    cell = next(m for m in data["models"] if m["name"] == "PLIP")["cells"]["fine"]
    assert (plip["fine_accuracy"], plip["fine_ci_high"], plip["fine_n"]) == (cell["accuracy"], cell["ci_high"],
                                                                              cell["n"])
    assert plip["fine_delta"] == pytest.approx(cell["accuracy"] - cell["paper"], abs=1e-4)
    assert plip["source"] == "run here" and pd.isna(table.set_index("model").loc["M-PLIP", "coarse_accuracy"])
    assert table["fine_accuracy"].fillna(table["fine_paper"]).is_monotonic_increasing
    clip, prior = (next(m for m in data["models"] if m["name"] == name)["cells"]["coarse"] for name in ("CLIP", "Prior"))
    row = table.set_index("model").loc["CLIP"]
    assert row["coarse_vs_prior"] == pytest.approx(clip["accuracy"] - prior["accuracy"], abs=1e-4)
    assert (row["coarse_blind_accuracy"], row["coarse_blind_diff"], row["coarse_blind_diff_ci_low"]) == (30, 10, 2.5)
    click(browser, '#column-filter input[data-column="blind"]')  # a column left out of the board: out of the CSV
    again = pd.read_csv(browser.download("document.getElementById('download-csv').click()", tmp_path / "again"))
    assert "coarse_vs_prior" in again.columns and not [c for c in again.columns if "blind" in c]
    assert [u for u in browser.requests() if not u.startswith(("file:", "data:"))] == []


def test_published_rows_of_another_benchmark_are_listed_apart_and_never_ranked(paper_results, browser, tmp_path):
    """A demo run prints μ-Bench's published values for orientation: its models are ranked among themselves, the
    published rows are listed below them, unranked, and no Δ compares numbers of two benchmarks."""
    data = leaderboard_data(
        scores=paper_results["scores"], predictions=paper_results["predictions"],
        questions=paper_results["questions"], image_files=paper_results["image_files"],
        image_md5=paper_results["image_md5"], manifest={"source": "demo", "revision": "none"}, reference=REFERENCE,
        significance=None, sensitivity=SENSITIVITY, models=paper_results["models"], subsets=paper_results["subsets"],
        bootstrap=PAPER["bootstrap"], settings=leaderboard_settings(max_thumbnails=5))
    assert data["published_comparable"] is False and data["published_benchmark"] == "μ-Bench"
    path = tmp_path / "demo.html"
    path.write_text(render_page(data), encoding="utf-8")
    browser.open(path.as_uri())
    assert published_rows(browser) == []  # hidden at first
    click(browser, "#published-toggle")
    ranked = browser.evaluate("[...document.querySelectorAll('#board-ranked tr')].map((r) => [r.dataset.model || "
                              "r.dataset.published, r.querySelector('td.rank').textContent])")
    apart = browser.evaluate("[...document.querySelectorAll('#board-apart tr.published')].map((r) => "
                             "[r.dataset.published, r.querySelector('td.rank').textContent])")
    assert [rank for _, rank in ranked] == [str(i) for i in range(1, 18)]  # the 17 models of configs/paper.yaml
    assert {name for name, _ in ranked} == {m["name"] for m in data["models"]}
    assert apart == [["M-PLIP", "–"], ["M-QuiltNet", "–"]] or apart == [["M-QuiltNet", "–"], ["M-PLIP", "–"]]
    assert "another benchmark" in browser.evaluate("document.querySelector('#board-apart tr.section').textContent")
    assert browser.evaluate("document.querySelectorAll('#board .delta').length") == 0
    assert browser.evaluate("document.querySelector('th[data-sort=\"paper:coarse\"]').textContent").startswith(
        "paper (μ-Bench)")
    table = pd.read_csv(browser.download("document.getElementById('download-csv').click()", tmp_path / "dl"))
    assert table["rank"].tolist()[:17] == list(range(1, 18)) and table["rank"][17:].isna().all()
    assert table["coarse_delta"].isna().all() and table["coarse_paper"].notna().sum() > 10
    assert table["source"].tolist()[-1] == "published (μ-Bench)"
    assert browser.console_errors() == []


def test_csp_blocks_any_request_a_page_script_tries(page_file, browser):
    browser.open(page_file[0].as_uri())
    outcome = browser.evaluate("""(async () => {
        const img = document.createElement('img'); img.src = 'http://127.0.0.1:9/pixel.png'; document.body.append(img);
        try { await fetch('http://127.0.0.1:9/'); return 'fetched'; } catch (e) { return 'refused'; } })()""")
    assert outcome == "refused"
    browser.evaluate("new Promise((done) => setTimeout(done, 200))")
    failed = {e["params"]["requestId"]: e["params"].get("blockedReason") for e in browser.events
              if e.get("method") == "Network.loadingFailed"}
    sent = [e["params"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"
            and e["params"]["request"]["url"].startswith("http")]
    assert all(failed.get(r["requestId"]) == "csp" for r in sent)
    assert sum("Content Security Policy" in text for text in browser.console_errors()) >= 2


@pytest.mark.workflow
def test_page_waits_for_the_significance_table(tmp_path):
    """The page's ★/≈ marks come from rule significance's table, so the page is planned after it."""
    workdir = copy_workflow(tmp_path)
    plan = snakemake(workdir, "-n", "--forceall", "paper_figures/demo/leaderboard.html").stdout
    assert re.search(r"rule leaderboard:\n    input: [^\n]*paper_figures/demo/significance.csv", plan)
    assert "rule significance:" in plan


@pytest.mark.workflow
def test_demo_page_works_and_rebuilds_byte_identical(demo_run, browser):
    page = demo_run / DEMO_FIGURES / "leaderboard.html"
    before = page.read_bytes()
    browser.open(page.as_uri())
    assert sorted(rows(browser)) == ["OpenCLIP-tiny-untrained", "Prior", "Random"]
    assert published_rows(browser) == []  # the paper's rows: measured on μ-Bench, not on the demo, so hidden at first
    click(browser, "#published-toggle")
    assert "GPT-4o" in published_rows(browser) and sorted(rows(browser)) == ["OpenCLIP-tiny-untrained", "Prior",
                                                                               "Random"]
    # μ-Bench's published rows: listed apart, unranked; the demo's three models ranked among themselves, with no Δ
    assert browser.evaluate("[...document.querySelectorAll('#board-ranked tr')].map((r) => r.dataset.model)") == \
        rows(browser) and len(rows(browser)) == 3
    assert set(browser.evaluate("[...document.querySelectorAll('#board-apart tr.published td.rank')].map("
                                "(td) => td.textContent)")) == {"–"}
    assert browser.evaluate("document.querySelectorAll('#board .delta').length") == 0
    gap, blind = (browser.evaluate(f"document.querySelector('tr[data-model=\"OpenCLIP-tiny-untrained\"] "
                                   f"td[data-column=\"{key}:coarse\"]').innerText") for key in ("prior", "blind"))
    assert re.fullmatch(r"−\d+\.\d\d", gap)  # the untrained model: below the Prior
    assert re.fullmatch(r"\d+\.\d\d\nimage [+−]\d+\.\d\d \[-?\d+\.\d\d, -?\d+\.\d\d\]", blind)
    assert browser.evaluate("[...document.querySelectorAll('#answers-audit option')].map((o) => o.value)")[:2] == [
        "", "flagged"]
    assert "NOT the μ-Bench data" in browser.evaluate("document.getElementById('notes').textContent")
    assert browser.evaluate("document.getElementById('significance-note').textContent").startswith(
        "Paired tests over the same questions, from paper_figures/significance.csv")
    click(browser, 'button.model-link[data-model="OpenCLIP-tiny-untrained"]')
    images = browser.evaluate("[...document.querySelectorAll('#answers-list img')].map((i) => i.naturalWidth)")
    assert images and all(0 < width <= 96 for width in images)
    browser.set_viewport(800)  # the width of the report's frame: the board scrolls in its box, the page does not
    fit = browser.evaluate(FIT_SCRIPT)
    assert fit["page"] <= 800 and all(c["right"] <= fit["boxRight"] + 1 for c in fit["cells"])
    assert browser.console_errors() == []
    assert [u for u in browser.requests() if not u.startswith(("file:", "data:"))] == []
    snakemake(demo_run, "--forcerun", "leaderboard", "paper_figures/demo/leaderboard.html")
    assert page.read_bytes() == before
