"""Paper figures and tables from small synthetic result tables (no model runs): each writes its files, draws the
CIs of the score table, picks the right models, and Table 20 follows the images' domain column."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.backends.backend_agg import FigureCanvasAgg
import numpy as np
import pandas as pd
import pytest
from conftest import REPO, bootstrap_settings, scores_table, with_merging_defaults
from figure_checks import colliding, extent, inside, keep_figures, off_canvas, overlap

from mubench.analyses.merging.plan import merge_plan
from mubench.figures import linear_probe, merging, perception, style
from mubench.figures.export import TableFiles, markdown, write_table
from mubench.figures.style import paper_style, save_figure
from mubench.figures.table1 import read_reference
from mubench.figures.table20 import build_table20
from mubench.figures.table21 import build_table21, human_count, parse_count, read_model_facts
from mubench.models.spec import ModelSpec
from mubench.scoring.slices import slice_accuracy

REFERENCE = REPO / "paper_figures" / "reference"
ENTRIES = [
    {"name": "Random", "family": "random", "seed": 0},
    {"name": "CLIP", "family": "hf_clip", "model_id": "openai/clip-vit-base-patch32"},
    {"name": "OpenCLIP", "family": "open_clip", "architecture": "ViT-B-32"},
    {"name": "PLIP", "family": "hf_clip", "model_id": "vinid/plip"},
    {"name": "QuiltNet", "family": "open_clip", "architecture": "hf-hub:wisdomik/QuiltNet-B-32"},
    {"name": "GPT-4o", "family": "openai_api", "api_model": "gpt-4o"},
    {"name": "MyVLM", "family": "hf_vlm", "model_id": "org/my-vlm", "group": "biomedical_contrastive"},
]
MODELS = [ModelSpec.from_config(e) for e in ENTRIES]
# P(correct) per model on biology / pathology images; OpenCLIP beats CLIP, PLIP beats QuiltNet overall.
SKILL = {"Random": (0.25, 0.25), "CLIP": (0.5, 0.3), "OpenCLIP": (0.6, 0.4), "PLIP": (0.35, 0.7),
         "QuiltNet": (0.3, 0.5), "GPT-4o": (0.8, 0.75), "MyVLM": (0.55, 0.55)}


def synthetic_images(pathology_domain: str = "pathology") -> pd.DataFrame:
    rows = []
    for i in range(48):
        pathology = i % 3 == 0
        rows.append(dict(
            image_id=f"im{i:02d}", dataset=(f"path_{i % 2}" if pathology else f"bio_{i % 2}"),
            domain=pathology_domain if pathology else "biology",
            subdomain="gi pathology" if pathology else "cell biology",
            modality="light microscopy" if pathology else "fluorescence microscopy",
            submodality="brightfield" if pathology else "confocal", stain="H&E" if pathology else "DAPI"))
    return pd.DataFrame(rows)


def synthetic_predictions(images: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Coarse (five types) and fine rows per image and model, correct with the model's skill on that domain."""
    rng = np.random.default_rng(seed)
    rows = []
    for model, (bio, path) in SKILL.items():
        for image in images.itertuples():
            p = path if image.domain.casefold() == "pathology" else bio
            for qtype in ("modality", "submodality", "domain", "subdomain", "stain"):
                rows.append(dict(model=model, subset="coarse", question_type=qtype, dataset=image.dataset,
                                 image_id=image.image_id, correct=bool(rng.random() < p)))
            rows.append(dict(model=model, subset="fine", question_type="classification", dataset=image.dataset,
                             image_id=image.image_id, correct=bool(rng.random() < p)))
    return pd.DataFrame(rows)


def with_attributes(predictions: pd.DataFrame, images: pd.DataFrame) -> pd.DataFrame:
    """Prediction rows as the predict job writes them: each with its image's attributes."""
    return predictions.merge(images.drop(columns="dataset"), on="image_id", validate="many_to_one")


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    images = synthetic_images()
    return scores_table(with_attributes(synthetic_predictions(images), images),
                          bootstrap=bootstrap_settings(n_resamples=199))


def test_accuracy_table_splits_by_domain_and_image_attributes(scores):
    assert {"domain=biology", "domain=pathology"} <= set(scores["scope"])
    modality = scores[(scores["scope"] == "all") & (scores["level"] == "modality") & (scores["subset"] == "coarse")]
    assert set(modality["group"]) == {"light microscopy", "fluorescence microscopy"}
    pathology = scores[(scores["scope"] == "domain=pathology") & (scores["level"] == "total")
                       & (scores["subset"] == "coarse")].set_index("model")
    light = scores[(scores["scope"] == "all") & (scores["level"] == "modality") & (scores["subset"] == "coarse")
                   & (scores["group"] == "light microscopy")].set_index("model")
    assert (pathology["n_correct"] == light["n_correct"]).all() and (pathology["n"] == 16 * 5).all()


def test_rows_carrying_only_some_attributes_are_refused():
    rows = synthetic_predictions(synthetic_images()).assign(domain="biology")
    with pytest.raises(ValueError, match="only some image attributes"):
        scores_table(rows, bootstrap=bootstrap_settings(n_resamples=99))


def test_model_group_comes_from_config_then_paper_then_kind():
    by_name = {m.name: m for m in MODELS}
    assert by_name["GPT-4o"].group == "general_autoregressive"
    assert by_name["PLIP"].group == "pathology_contrastive" and by_name["Random"].group == "baseline"
    assert by_name["MyVLM"].group == "biomedical_contrastive"  # set in config, overriding its generative kind
    unknown = ModelSpec.from_config({"name": "NewCLIP", "family": "open_clip", "architecture": "x"})
    assert unknown.group == "general_contrastive"
    assert unknown.fingerprint == ModelSpec.from_config({"name": "NewCLIP", "family": "open_clip", "architecture": "x",
                                                         "group": "pathology_contrastive"}).fingerprint


def test_best_per_group_is_the_best_mean_of_coarse_and_fine(scores):
    best = [m.name for m in perception.best_per_group(scores, MODELS)]
    assert best == ["GPT-4o", "OpenCLIP", "MyVLM", "PLIP", "Random"]  # legend order of the groups
    ranked = [m.name for m in perception.ranked_models(scores, MODELS)]
    assert ranked[0] == "GPT-4o" and ranked[-1] == "Random"


def test_best_per_group_follows_the_numbers_not_the_config_order():
    totals = pd.DataFrame([
        dict(model=m, subset=s, scope="all", level="total", group="all", n=10, accuracy=a)
        for m, s, a in [("CLIP", "coarse", 0.9), ("CLIP", "fine", 0.1), ("OpenCLIP", "coarse", 0.6),
                        ("OpenCLIP", "fine", 0.5)]])  # CLIP wins coarse, OpenCLIP the mean
    assert [m.name for m in perception.best_per_group(totals, MODELS)] == ["OpenCLIP"]


def _assert_bars_match_scores(data: pd.DataFrame, scores: pd.DataFrame, scope: str, subset: str, level: str):
    expected = scores[(scores["scope"] == scope) & (scores["subset"] == subset) & (scores["level"] == level)]
    merged = data.merge(expected, left_on=["model", "category"], right_on=["model", "group"], suffixes=("", "_s"))
    assert len(merged) == len(data) > 0
    for column in ("accuracy", "ci_low", "ci_high"):
        assert np.allclose(merged[column], 100 * merged[f"{column}_s"])
    assert (merged["ci_low"] <= merged["accuracy"]).all() and (merged["accuracy"] <= merged["ci_high"]).all()
    assert (merged["ci_low"] < merged["ci_high"]).mean() > 0.8  # only a group at 0 or 100 % has no spread


@pytest.fixture
def drawn_whiskers(monkeypatch):
    """The CI whiskers a perception figure really draws: each as (low, high), sorted, from its error bars."""
    whiskers = []

    def keep(fig, png, pdf):
        from matplotlib.container import ErrorbarContainer

        for ax in fig.axes:
            for container in ax.containers:
                if isinstance(container, ErrorbarContainer):
                    for collection in container.lines[2]:
                        for segment in collection.get_segments():
                            (x0, y0), (x1, y1) = segment
                            low, high = sorted((x0, x1) if container.has_xerr else (y0, y1))
                            if np.isfinite([low, high]).all():
                                whiskers.append((round(low, 4), round(high, 4)))
        save_figure(fig, png, pdf)
        FigureCanvasAgg(fig).draw()
        assert off_canvas(fig) == []  # every title, label and key on the canvas

    monkeypatch.setattr(perception, "save_figure", keep)
    return whiskers


def _assert_whiskers_are_the_cis(whiskers, data):
    """Each drawn whisker spans its CI, cut at the possible range 0–100 %."""
    drawn = data.dropna(subset=["accuracy"])
    low, high = (drawn[c].clip(0, 100).round(4) for c in ("ci_low", "ci_high"))
    assert sorted(whiskers) == sorted(zip(low, high)) and whiskers


def test_fig4_draws_each_groups_best_model_with_cis_for_all_and_pathology(scores, tmp_path, drawn_whiskers):
    data = perception.plot_fig4(scores, MODELS, tmp_path / "f.png", tmp_path / "f.pdf")
    _assert_whiskers_are_the_cis(drawn_whiskers, data)
    assert (tmp_path / "f.png").stat().st_size > 5000 and (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")
    assert set(data["model"]) == {"GPT-4o", "OpenCLIP", "MyVLM", "PLIP", "Random"}
    assert set(data["panel"]) == {"modality", "submodality", "domain", "subdomain", "stain", "fine-grained task"}
    pathology = data[data["scope"] == "domain=pathology"]
    assert set(pathology.loc[pathology["panel"] == "domain", "category"]) == {"pathology"}
    assert set(pathology.loc[pathology["panel"] == "fine-grained task", "category"]) == {"path_0", "path_1"}
    for scope in ("all", "domain=pathology"):
        rows = data[(data["scope"] == scope) & (data["panel"] == "stain")]
        _assert_bars_match_scores(rows, scores, scope, "coarse", "stain")


@pytest.mark.parametrize("plot, scope, subset, level, panels", [
    (perception.plot_fig12, "all", "coarse", "question_type",
     ["modality", "submodality", "domain", "subdomain", "stain"]),
    (perception.plot_fig13, "domain=biology", "fine", "dataset", ["bio_0", "bio_1"]),
    (perception.plot_fig14, "domain=pathology", "fine", "dataset", ["path_0", "path_1"]),
])
def test_figs_12_to_14_draw_every_model_per_panel_with_cis(scores, tmp_path, drawn_whiskers, plot, scope, subset,
                                                          level, panels):
    data = plot(scores, MODELS, tmp_path / "f.png", tmp_path / "f.pdf")
    _assert_whiskers_are_the_cis(drawn_whiskers, data)
    assert (tmp_path / "f.png").stat().st_size > 5000 and (tmp_path / "f.pdf").stat().st_size > 1000
    assert list(dict.fromkeys(data["panel"])) == panels
    assert data.groupby("panel")["model"].nunique().eq(len(MODELS)).all()
    _assert_bars_match_scores(data, scores, scope, subset, level)


def test_fig14_without_pathology_writes_a_note_instead(tmp_path):
    images = synthetic_images(pathology_domain="biology")
    scores = scores_table(with_attributes(synthetic_predictions(images), images),
                            bootstrap=bootstrap_settings(n_resamples=99))
    data = perception.plot_fig14(scores, MODELS, tmp_path / "f.png", tmp_path / "f.pdf")
    assert data.empty and (tmp_path / "f.png").stat().st_size > 1000


def test_fig11_radar_shows_the_top_models_on_every_axis_with_ci_bands(scores, tmp_path):
    data = perception.plot_fig11(scores, MODELS, 3, tmp_path / "f.png", tmp_path / "f.pdf")
    assert (tmp_path / "f.png").stat().st_size > 5000
    assert list(dict.fromkeys(data["model"])) == ["GPT-4o", "MyVLM", "OpenCLIP"]  # MyVLM: 55 % on both domains
    assert list(dict.fromkeys(data["category"])) == ["modality", "submodality", "domain", "subdomain", "stain", "fine"]
    assert (data["ci_low"] < data["accuracy"]).all() and (data["accuracy"] < data["ci_high"]).all()


def test_table20_keeps_only_rows_whose_image_domain_is_pathology(tmp_path):
    images = synthetic_images(pathology_domain="Pathology")  # the domain column decides, whatever its case
    predictions = synthetic_predictions(images)
    scores = scores_table(with_attributes(predictions, images), bootstrap=bootstrap_settings(n_resamples=199))
    table = build_table20(scores, MODELS, ["coarse", "fine", "cognition"],
                          read_reference(REFERENCE / "paper_table20_pathology.csv"))
    assert list(dict.fromkeys(table["subset"])) == ["coarse", "fine"]  # no cognition rows: left out
    on_pathology = predictions[predictions["image_id"].isin(images.loc[images["domain"] == "Pathology", "image_id"])]
    expected = 100 * on_pathology.groupby(["subset", "model"])["correct"].mean()
    label = {m.name: m.label for m in MODELS}
    for row in table.itertuples():
        name = next(n for n, lab in label.items() if lab == row.model)
        assert row.accuracy == pytest.approx(expected[(row.subset, name)], abs=0.006)
        assert row.ci_low < row.accuracy < row.ci_high
    gpt = table[(table["model"] == "GPT-4o") & (table["subset"] == "coarse")].iloc[0]
    assert (gpt["paper_accuracy"], gpt["paper_ci"], gpt["paper_uncertain"]) == (71.29, 0.45, 0)


def test_table20_refuses_scores_without_domain_scopes():
    scores = pd.DataFrame({"scope": ["all"], "level": ["total"], "model": ["CLIP"], "subset": ["coarse"], "n": [1]})
    with pytest.raises(ValueError, match="image attributes"):
        build_table20(scores, MODELS, ["coarse"], read_reference(REFERENCE / "paper_table20_pathology.csv"))


def _figure(seed: int):
    with paper_style():
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.bar([0, 1, 2], np.random.default_rng(seed).random(3), yerr=0.1)
        ax.set_title("μ-Bench — α")
    return fig


def test_figures_are_byte_stable(tmp_path):
    for run in ("a", "b"):
        save_figure(_figure(0), tmp_path / f"{run}.png", tmp_path / f"{run}.pdf")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()
    assert b"CreationDate" not in (tmp_path / "a.pdf").read_bytes()
    save_figure(_figure(1), tmp_path / "c.png", tmp_path / "c.pdf")
    assert (tmp_path / "c.png").read_bytes() != (tmp_path / "a.png").read_bytes()


def test_note_figure_says_why(tmp_path, monkeypatch):
    texts = []

    def keep(fig, png, pdf):
        texts.extend(t.get_text() for ax in fig.axes for t in ax.texts)
        save_figure(fig, png, pdf)

    monkeypatch.setattr(style, "save_figure", keep)
    style.note_figure(tmp_path / "n.png", tmp_path / "n.pdf", "Table 18", "no detection models configured")
    assert texts == ["Table 18", "no detection models configured"]
    assert (tmp_path / "n.png").stat().st_size > 1000 and (tmp_path / "n.pdf").stat().st_size > 1000


def test_tables_are_written_as_csv_markdown_latex_and_html(tmp_path):
    table = pd.DataFrame({"model": ["H&E_net", "b|c"], "accuracy": [12.345, np.nan], "n": [3, 4]})
    files = TableFiles(*(str(tmp_path / f"t.{ext}") for ext in ("csv", "md", "tex", "html")))
    write_table(table, files, "Table 9 — 50% & more", ["a note"])
    assert pd.read_csv(files.csv).shape == (2, 3)
    md = Path(files.md).read_text()
    assert "| H&E_net | 12.35 | 3 |" in md and "b\\|c" in md and "- a note" in md
    tex = Path(files.tex).read_text()
    assert r"H\&E\_net & 12.35 & 3 \\" in tex and r"\caption[50\% \& more]" in tex
    assert "\\toprule" in tex and "a note" in tex and r"b\textbar{}c & -- & 4" in tex
    assert "<td class=\"l\">H&amp;E_net</td>" in Path(files.html).read_text()
    assert markdown(table.iloc[:0], "empty").endswith("(no rows)\n")


MERGE_CONFIG = {
    "benchmark": {"name": "demo", "source": "demo", "seed": 0},
    "subsets": ["coarse", "fine"],
    "merging": {"alphas": [0, 0.5, 1], "slices": {"pathology": ["path"], "he": ["path"]},
                "pairs": [{"name": "M-PLIP", "base": "OpenCLIP", "tuned": "PLIP"}]},
}


def _merging_accuracy(plan) -> pd.DataFrame:
    values = {"OpenCLIP": (40.0, 37.0), "PLIP": (55.0, 30.0), "M-PLIP-a0.5": (52.0, 42.0), "CLIP": (30.0, 33.0),
              "M-PLIP-a0": (55.0, 30.0), "M-PLIP-a1": (40.0, 37.0)}
    rows = []
    for model, (path, everything) in values.items():
        for subset in ("coarse", "fine"):
            for slice_name, acc in (("pathology", path), ("all", everything), ("he", path)):
                rows.append(dict(model=model, subset=subset, slice=slice_name, n=100, accuracy=acc,
                                 ci_low=acc - 4, ci_high=acc + 5))
    return pd.DataFrame(rows)


def test_fig5_draws_ours_and_the_papers_points_with_cis_and_labels_inside(tmp_path, monkeypatch):
    configured = {m.name: m for m in MODELS if m.name in ("CLIP", "OpenCLIP", "PLIP")}
    plan = merge_plan(with_merging_defaults(MERGE_CONFIG), configured, "results/demo")
    models = [*configured.values(), *(m.spec for m in plan.merged.values())]
    points = merging.fig5_points(_merging_accuracy(plan), models, plan, ["coarse", "fine"],
                                 read_reference(REFERENCE / "paper_table1.csv"),
                                 read_reference(REFERENCE / "paper_table20_pathology.csv"))
    paper = points[(points["source"] == "paper") & (points["subset"] == "coarse")].set_index("role")
    assert list(paper.index) == ["base", "tuned", "merged"]
    assert list(paper["label"]) == ["OpenCLIP", "PLIP", "M-PLIP"]
    assert (paper.loc["merged", "x"], paper.loc["merged", "y"]) == (42.27, 43.25)  # Table 20, Table 19
    assert paper.loc["merged", "y_high"] == pytest.approx(43.25 + 0.34)
    ours = points[(points["source"] == "ours") & (points["subset"] == "coarse")].set_index("model")
    assert ours.loc["M-PLIP-a0.5", "label"] == "M-PLIP (α=0.5)" and ours.loc["CLIP", "role"] == "model"
    assert (ours.loc["PLIP", ["x", "x_low", "x_high"]].tolist()) == [55.0, 51.0, 60.0]

    drawn = {}

    def keep(fig, png, pdf):
        drawn["fig"] = fig
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            box = ax.get_window_extent(renderer)
            for text in ax.texts:
                extent = text.get_window_extent(renderer)
                assert box.x0 - 1 <= extent.x0 and extent.x1 <= box.x1 + 1, text.get_text()
                assert box.y0 - 1 <= extent.y0 and extent.y1 <= box.y1 + 1, text.get_text()
        save_figure(fig, png, pdf)

    monkeypatch.setattr(merging, "save_figure", keep)
    merging.plot_fig5(points, ["coarse", "fine"], "test", tmp_path / "f.png", tmp_path / "f.pdf")
    labels = {t.get_text() for ax in drawn["fig"].axes for t in ax.texts}
    assert {"OpenCLIP", "PLIP", "M-PLIP (α=0.5)", "CLIP", "paper: M-PLIP"} <= labels
    hollow = [line for ax in drawn["fig"].axes for line in ax.lines if line.get_markerfacecolor() == "none"
              and len(line.get_xdata()) == 1]  # one per published point, at the published values
    published = points[points["source"] == "paper"]
    assert sorted((float(line.get_xdata()[0]), float(line.get_ydata()[0])) for line in hollow) == sorted(
        zip(published["x"], published["y"])) and len(hollow) == 6
    assert "paper (x: Table 20, y: Table 1/19)" in [t.get_text() for t in drawn["fig"].legends[0].get_texts()]
    assert (tmp_path / "f.png").stat().st_size > 5000


def _facts(tmp_path, name: str, **values) -> str:
    facts = {"n_parameters": None, "model_class": "CLIPModel", "source_id": f"org/{name}", "revision": "abc",
             "fingerprint": "f" * 16, "family": "hf_clip", **values}
    path = tmp_path / name / "model.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(facts))
    return path


def test_table21_reads_model_json_and_compares_sizes_with_the_paper(tmp_path):
    models = [m for m in MODELS if m.name in ("Random", "CLIP", "GPT-4o")]
    facts = {
        "Random": read_model_facts(_facts(tmp_path, "Random", model_class=None, family="random")),
        "CLIP": read_model_facts(_facts(tmp_path, "CLIP", n_parameters=151_277_313)),
        "GPT-4o": read_model_facts(_facts(tmp_path, "GPT-4o", model_class=None, family="openai_api")),
    }
    table = build_table21(models, facts, pd.read_csv(REFERENCE / "paper_table21_models.csv", comment="#"))
    clip = table.set_index("model").loc["CLIP"]
    assert (clip["parameters"], clip["paper_total_params"], clip["parameters_vs_paper"]) == ("151M", "151.2M", 1.001)
    assert clip["checkpoint"] == "org/CLIP" and clip["group"] == "General contrastive"
    assert table.set_index("model").loc["Random", "parameters"] == ""
    assert pd.isna(table.set_index("model").loc["GPT-4o", "paper_total_params"])  # not in the paper's Table 21
    (tmp_path / "bad.json").write_text(json.dumps({"n_parameters": 1}))
    with pytest.raises(KeyError, match="bad.json"):
        read_model_facts(tmp_path / "bad.json")


def test_printed_sizes_parse():
    assert [parse_count(t) for t in ("151.2M", "195.M", "17.6B", "208.4K", "", None, "-")] == [
        151_200_000, 195_000_000, 17_600_000_000, 208_400, None, None, None]
    assert human_count(9_600_000_000) == "9.6B" and human_count(None) == ""


def test_table19_is_table1_with_pair_alpha_and_slice_accuracies_counted_by_hand():
    configured = {m.name: m for m in MODELS if m.name in ("CLIP", "OpenCLIP", "PLIP")}
    plan = merge_plan(with_merging_defaults(MERGE_CONFIG), configured, "results/demo")
    models = [*configured.values(), *(m.spec for m in plan.merged.values())]
    images = synthetic_images()
    # every model answers like CLIP, with its own seed
    predictions = pd.concat([synthetic_predictions(images, seed=i).query("model == 'CLIP'").assign(model=name)
                             for i, name in enumerate(spec.name for spec in models)], ignore_index=True)
    slices = {"pathology": ["path_0", "path_1"], "he": ["path_0"]}
    settings = bootstrap_settings(n_resamples=99)
    accuracy = slice_accuracy(predictions, slices, settings)
    table = merging.table19(predictions, models, plan, ["coarse", "fine"], read_reference(REFERENCE /
                            "paper_table1.csv"), read_reference(REFERENCE / "paper_table20_pathology.csv"),
                            accuracy, settings)
    assert len(table) == 2 * len(models) and set(table["subset"]) == {"coarse", "fine"}
    row = table[(table["model"] == "M-PLIP (α=0.5)") & (table["subset"] == "coarse")].iloc[0]
    assert (row["pair"], row["alpha"]) == ("M-PLIP", 0.5)
    plip = table[(table["model"] == "PLIP") & (table["subset"] == "fine")].iloc[0]
    assert plip["pair"] == "" and pd.isna(plip["alpha"])
    mine = predictions[(predictions["model"] == "PLIP") & (predictions["subset"] == "fine")]
    on_pathology = mine["dataset"].isin(slices["pathology"])
    assert plip["accuracy"] == round(100 * mine["correct"].mean(), 2)
    assert plip["pathology_accuracy"] == round(100 * mine.loc[on_pathology, "correct"].mean(), 2)
    assert plip["non_pathology_accuracy"] == round(100 * mine.loc[~on_pathology, "correct"].mean(), 2)
    assert plip["he_accuracy"] == round(100 * mine.loc[mine["dataset"] == "path_0", "correct"].mean(), 2)
    published = read_reference(REFERENCE / "paper_table20_pathology.csv").set_index(["subset", "model"])
    assert plip["paper_pathology_accuracy"] == published.loc[("fine", "PLIP"), "accuracy"]
    assert plip["paper_accuracy"] == read_reference(REFERENCE / "paper_table1.csv").set_index(
        ["subset", "model"]).loc[("fine", "PLIP"), "accuracy"]


# Drawn figure elements: titles on the canvas, labels apart, keys off the data, zero bars visible, readable colours.

def _probe_table() -> pd.DataFrame:
    return pd.DataFrame({"status": "ok", "subset": ["coarse", "fine"], "task": ["modality", "demo_histology_stain"],
                         "macro_f1": [41.0, 63.0], "macro_f1_ci_low": [35.0, 55.0], "macro_f1_ci_high": [47.0, 70.0],
                         "dummy_macro_f1": [20.0, 25.0], "paper_macro_f1": [np.nan, 71.0]})


def test_fig8_wraps_a_long_title_instead_of_cutting_it(tmp_path, monkeypatch):
    figures = keep_figures(monkeypatch, linear_probe)
    title = ("Linear probe on the embedded demo benchmark; features: ViT-S/14 UNTRAINED (random init seed 0; not "
             "DINOv2 weights)")
    linear_probe.plot_fig8(_probe_table(), tmp_path / "f.png", tmp_path / "f.pdf", title)
    fig = figures[0]
    drawn = fig.axes[0].title.get_text()
    assert "\n" in drawn and drawn.replace("\n", " ") == title  # every word kept, over two lines
    assert off_canvas(fig) == []  # the PDF is the same figure at another resolution
    assert (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")


def _fig5_points() -> pd.DataFrame:
    """A crowded fine panel: six models and a pair within half a point of each other, one CI past 100 %."""
    rows = []
    for subset, centre in (("coarse", 40.0), ("fine", 50.0)):
        for i, name in enumerate(["CLIP", "OpenCLIP", "PLIP", "QuiltNet", "BiomedCLIP", "CONCH"]):
            x, y = centre + 0.1 * i, centre - 0.08 * i
            rows.append(dict(source="ours", subset=subset, pair="", role="model", model=name, label=name, x=x,
                             x_low=x - 5, x_high=x + 5, y=y, y_low=y - 4, y_high=y + 4))
        for role, name, dx in (("base", "Base", 0.0), ("tuned", "Tuned", 0.2), ("merged", "M-Pair (α=0.5)", 0.1)):
            x = centre + dx if subset == "fine" else 97.0 + dx
            rows.append(dict(source="ours", subset=subset, pair="M-Pair", role=role, model=name, label=name, x=x,
                             x_low=x - 3, x_high=x + 6, y=centre, y_low=centre - 3, y_high=centre + 3))
    return pd.DataFrame(rows, columns=merging.FIG5_COLUMNS)


def test_fig5_labels_never_overlap_and_nothing_is_drawn_past_100(tmp_path, monkeypatch):
    figures = keep_figures(monkeypatch, merging)
    merging.plot_fig5(_fig5_points(), ["coarse", "fine"], "test", tmp_path / "f.png", tmp_path / "f.pdf")
    fig = figures[0]
    assert off_canvas(fig) == []
    for ax in fig.axes:
        labels = [t for t in ax.texts if t.get_text()]
        assert len(labels) == 9 and colliding(labels) == []
        frame = ax.get_window_extent()
        assert all(inside(extent(t), frame) for t in labels)
        assert 0 <= ax.get_xlim()[0] and ax.get_xlim()[1] <= 100 and ax.get_ylim()[1] <= 100
        for whisker in _whisker_segments(ax):
            assert np.all((whisker >= 0) & (whisker <= 100)), whisker
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["base", "tuned", "merged", "other models"]


def _whisker_segments(ax) -> list[np.ndarray]:
    from matplotlib.container import ErrorbarContainer

    return [np.asarray(segment) for container in ax.containers if isinstance(container, ErrorbarContainer)
            for collection in container.lines[2] for segment in collection.get_segments()]


def test_alpha_curve_key_sits_under_the_panels_and_bands_stay_in_range(tmp_path, monkeypatch):
    from mubench.scoring.slices import ALL, HE, NON_PATHOLOGY, PATHOLOGY

    rows = [dict(pair="M-Pair", alpha=a, model=f"M-Pair-a{a}", subset=subset, slice=name, n=40, accuracy=acc,
                 ci_low=acc - 8, ci_high=acc + 8)
            for subset in ("coarse", "fine") for a in (0.0, 0.5, 1.0)
            for name, acc in ((PATHOLOGY, 96.0 - 20 * a), (NON_PATHOLOGY, 40 + 10 * a), (ALL, 60.0), (HE, 90.0))]
    figures = keep_figures(monkeypatch, merging)
    merging.plot_alpha_curve(pd.DataFrame(rows), ["coarse", "fine"], "test", tmp_path / "c.png", tmp_path / "c.pdf")
    fig = figures[0]
    assert off_canvas(fig) == [] and len(fig.legends) == 1
    key = fig.legends[0].get_window_extent()
    assert len(fig.legends[0].get_texts()) == 3  # one entry per pair and slice, not one per panel
    for ax in fig.axes:
        assert ax.get_legend() is None and not overlap(key, ax.get_window_extent())
        for band in ax.collections:
            y = np.concatenate([path.vertices[:, 1] for path in band.get_paths()])
            assert y.min() >= 0 and y.max() <= 100


def _contrast(a, b) -> float:
    """WCAG contrast ratio of two colours."""
    from matplotlib.colors import to_rgb

    def luminance(colour):
        c = np.asarray(to_rgb(colour))
        return float(np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4) @ [0.2126, 0.7152, 0.0722])

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _saturation(colour) -> float:
    from matplotlib.colors import rgb_to_hsv, to_rgb

    return float(rgb_to_hsv(to_rgb(colour))[1])


def test_significance_matrix_colours_only_significant_differences_and_every_value_reads():
    from mubench.figures.statistics import significance_matrix

    significance = pd.DataFrame([
        dict(subset="coarse", model_a="A", model_b="B", diff=0.075, p_holm=0.20),  # large, not significant
        dict(subset="coarse", model_a="A", model_b="C", diff=0.047, p_holm=0.01),  # smaller, significant
        dict(subset="coarse", model_a="B", model_b="C", diff=-0.028, p_holm=0.60),
        dict(subset="coarse", model_a="A", model_b="D", diff=0.31, p_holm=0.0001)])
    fig = significance_matrix(significance, ["coarse"], alpha=0.05)
    fig.canvas.draw()
    ax = fig.axes[0]
    cells = np.asarray(ax.images[0].get_array())
    seen = {}
    for text in ax.texts:
        column, row = (int(round(v)) for v in text.get_position())
        background = cells[row, column][:3]
        assert _contrast(text.get_color(), background) >= 4.5, text.get_text()
        seen[text.get_text()] = (text.get_fontweight() == "bold", _saturation(background))
    assert set(seen) == {"+7.5", "-7.5", "+4.7", "-4.7", "-2.8", "+2.8", "+31.0", "-31.0"}
    for value, (significant, saturation) in seen.items():
        assert significant is (value.strip("+-") in ("4.7", "31.0"))
        assert (saturation > 0.05) is significant, value  # a non-significant cell is neutral grey
    assert seen["+4.7"][1] > seen["+7.5"][1]
    assert colliding([fig._suptitle, *(a.title for a in fig.axes if a.get_title())]) == [] and off_canvas(fig) == []
    plt.close(fig)


def test_fig12_marks_a_zero_percent_bar_so_it_does_not_read_as_missing(tmp_path, monkeypatch):
    images = synthetic_images()
    predictions = synthetic_predictions(images)
    predictions.loc[(predictions["model"] == "CLIP") & (predictions["question_type"] == "stain"), "correct"] = False
    scores = scores_table(with_attributes(predictions, images), bootstrap=bootstrap_settings(n_resamples=99))
    figures = keep_figures(monkeypatch, perception)
    data = perception.plot_fig12(scores, MODELS, tmp_path / "f.png", tmp_path / "f.pdf")
    assert data.loc[data["accuracy"] == 0, ["panel", "model"]].values.tolist() == [["stain", "CLIP"]]
    fig = figures[0]
    assert off_canvas(fig) == []
    for ax in fig.axes[:5]:
        stubs = [line for line in ax.lines if line.get_gid() == "zero-stub"]
        zeros = [t for t in ax.texts if t.get_gid() == "zero-label"]
        if not ax.get_title().startswith("stain"):
            assert stubs == [] and zeros == []
            continue
        y = dict(zip([t.get_text() for t in fig.axes[0].get_yticklabels()], ax.get_yticks()))["CLIP"]  # shared
        (stub,), (zero,) = stubs, zeros
        assert list(stub.get_xdata()) == [0, 0] and sorted(stub.get_ydata()) == pytest.approx([y - 0.375, y + 0.375])
        assert stub.get_linewidth() >= 1 and stub.get_color() == style.group_colour("general_contrastive")
        assert zero.get_text() == "0" and zero.xy == (0.0, y)


def test_fig11_radial_tick_labels_sit_between_spokes(scores, tmp_path, monkeypatch):
    figures = keep_figures(monkeypatch, perception)
    perception.plot_fig11(scores, MODELS, 3, tmp_path / "f.png", tmp_path / "f.pdf")
    ax = figures[0].axes[0]
    labels = [t for t in ax.get_yticklabels() if t.get_text()]
    assert [t.get_text() for t in labels] == ["20", "40", "60", "80", "100"]
    for theta in ax.get_xticks():
        spoke = ax.transData.transform([(theta, r) for r in np.linspace(0, 100, 400)])
        for label in labels:
            box = extent(label)
            assert not any(box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1 for x, y in spoke), (theta, label)
    assert off_canvas(figures[0]) == []
