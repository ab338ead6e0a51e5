"""Benchmark composition (Tables 3, 4, 6–11, Fig. 3, Fig. 6) counted from small hand-made benchmark tables."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import REPO, make_tiny_benchmark
from figure_checks import keep_figures, off_canvas

from mubench.benchmark.tables import Benchmark
from mubench.figures import benchmark_figures
from mubench.figures.benchmark_figures import plot_fig3, plot_fig6, sample_images
from mubench.figures.style import NEUTRAL
from mubench.figures.composition import (
    CLASSIFICATION_TASKS, DETECTION_TASKS, beside_paper, composition_tables, hierarchy_table, name_key,
)

REFERENCE = REPO / "paper_figures" / "reference"


def read(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / f"{name}.csv", comment="#")


def test_task_grouping_reproduces_the_papers_table4_from_its_table14_counts():
    """Table 14 prints every dataset's image count; summed per task they must give Table 4's counts."""
    per_dataset = read("paper_table14_phash").set_index("dataset")["total_images"]
    table4 = read("paper_table4_tasks").set_index("task")["images"]
    for task, datasets in CLASSIFICATION_TASKS.items():
        assert per_dataset[datasets].sum() == table4[task], task
    for task, datasets in DETECTION_TASKS.items():
        if task != "Cell segmentation in synthetic images":  # one of the three PCST datasets; not said which
            assert per_dataset[datasets].sum() == table4[task], task
    assert set(CLASSIFICATION_TASKS) | set(DETECTION_TASKS) == set(table4.index)


def _benchmark(tmp_path):
    root = make_tiny_benchmark(tmp_path / "bench", n_images=12)
    bench = Benchmark(root)
    images = bench.images
    images.loc[images.index[:4], ["domain", "subdomain", "stain"]] = ["biology", "cell biology", "DAPI"]
    images.loc[images.index[:2], ["modality", "submodality"]] = ["fluorescence microscopy", "confocal microscopy"]
    images.loc[images.index[-1], "subdomain"] = None  # an image without a subdomain: counted as n/a
    detection = pd.DataFrame({"image_id": ["img000", "img001", "img001"], "dataset": ["ds_a", "ds_a", "ds_a"],
                              "class_name": ["nucleus"] * 3, "boxes": [[]] * 3, "difficulty": ["easy"] * 3})
    return root, images, bench.questions, detection


def test_composition_counts_images_by_attribute(tmp_path):
    _, images, questions, detection = _benchmark(tmp_path)
    tables = composition_tables(images, questions, detection, None, with_cognition=True)
    assert set(tables) == {"table3", "table4", "table6", "table7", "table8", "table9", "table10", "table11"}
    summary = tables["table3"].set_index("aspect")["count"]
    assert (summary["Unique Images"], summary["Domains"], summary["Stains"], summary["Datasets"]) == (12, 2, 2, 1)
    assert summary["Subdomains"] == 2  # "unknown" is not a subdomain
    assert (summary["Classification tasks"], summary["Segmentation and Object Detection tasks"]) == (2, 1)
    domains = tables["table6"].set_index(["level", "group"])["images"]
    assert (domains[("domain", "pathology")], domains[("domain", "biology")]) == (8, 4)
    assert domains[("subdomain", "unknown")] == 1 and domains[("subdomain", "cell biology")] == 4
    assert tables["table7"].query("level == 'submodality' and group == 'confocal microscopy'")["parent"].item() == \
        "fluorescence microscopy"
    tasks = tables["table4"].set_index(["task_type", "task"])["images"]
    assert tasks[("classification", "ds_a")] == 6 and tasks[("segmentation_object_detection", "ds_a")] == 2
    assert tables["table9"].set_index("aspect")["count"]["Questions"] == 12
    assert tables["table6"]["paper_images"].isna().all()  # not uBench: no paper column values


def test_paper_counts_are_matched_by_name_and_paper_only_rows_listed():
    ours = hierarchy_table(pd.DataFrame({"domain": ["Pathology"] * 3 + ["biology"],
                                         "subdomain": ["hemato-pathology"] * 3 + ["Cell Biology"]}),
                           "domain", "subdomain", "images")
    table = beside_paper(ours, read("paper_table6_domains"), ["level", "group"], "images")
    rows = table.set_index(["level", "group"])
    assert rows.loc[("subdomain", "hemato-pathology"), "paper_images"] == 2600  # printed "Hemato-pathology"
    assert rows.loc[("domain", "Pathology"), ["images", "paper_images"]].tolist() == [3, 8678]
    assert pd.isna(rows.loc[("subdomain", "Botany"), "images"]) and rows.loc[("subdomain", "Botany"),
                                                                              "paper_images"] == 726
    assert len(table) == len(read("paper_table6_domains"))  # every paper row once, ours matched into them
    assert name_key("GalT–EGFP") == name_key("galt-egfp") == "galtegfp"


def test_fig3_and_fig6_write_their_files_and_fig6_is_seeded(tmp_path):
    root, images, questions, _ = _benchmark(tmp_path)
    data = plot_fig3(images, questions, tmp_path / "f3.png", tmp_path / "f3.pdf")
    assert (tmp_path / "f3.png").stat().st_size > 5000 and (tmp_path / "f3.pdf").stat().st_size > 1000
    assert data.groupby("panel")["images"].sum().eq(12).all()
    samples = plot_fig6(images, root, 3, 0, tmp_path / "f6.png", tmp_path / "f6.pdf")
    assert (tmp_path / "f6.png").stat().st_size > 5000 and len(samples) == 3
    assert samples["image_id"].tolist() == sample_images(images, 3, 0)["image_id"].tolist()
    assert any(sample_images(images, 3, s)["image_id"].tolist() != samples["image_id"].tolist() for s in (1, 2, 3))
    assert len(sample_images(images, 50, 0)) == 12  # a dataset smaller than asked: all of it


def test_fig3_gives_each_parent_its_own_colour_and_every_coloured_panel_a_key(tmp_path, monkeypatch):
    from matplotlib.colors import to_hex

    _, images, questions, _ = _benchmark(tmp_path)
    figures = keep_figures(monkeypatch, benchmark_figures)
    data = plot_fig3(images, questions, tmp_path / "f3.png", tmp_path / "f3.pdf")
    fig = figures[0]
    assert off_canvas(fig) == []
    used = {}  # colour → (panel, parent) it stands for
    for ax, panel in zip(fig.axes, ["subdomain by domain", "submodality by modality", "stain"]):
        rows = data[data["panel"] == panel].iloc[::-1]  # drawn bottom-up
        colours = [to_hex(bar.get_facecolor()) for bar in ax.patches]
        assert len(colours) == len(rows)
        meaning = {}
        for parent, colour in zip(rows["parent"], colours):
            assert meaning.setdefault(colour, parent) == parent  # one colour, one parent
            assert used.setdefault(colour, (panel, parent)) == (panel, parent)  # and never another panel's
        key = ax.get_legend()
        if panel == "stain":
            assert key is None and set(colours) == {NEUTRAL.lower()}
            continue
        entries = {t.get_text(): to_hex(h.get_facecolor()) for t, h in zip(key.get_texts(), key.legend_handles)}
        assert entries == {parent: colour for colour, parent in meaning.items()} and len(entries) == 2


@pytest.mark.parametrize("name, paper", [("table3", "paper_table3_perception_summary"),
                                         ("table9", "paper_table9_cognition_summary")])
def test_summary_aspects_use_the_papers_names(tmp_path, name, paper):
    _, images, questions, detection = _benchmark(tmp_path)
    references = {name: read(paper)}
    table = composition_tables(images, questions, detection, references, with_cognition=True)[name]
    ours_named_like_paper = table.dropna(subset=["count", "paper_count"])
    assert len(ours_named_like_paper) >= 4
