"""`bootstrap.resample: images` and `report.coarse_caption_sets: pooled` end to end, on the smallest demo run."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from conftest import REPO, copy_workflow, snakemake

pytestmark = pytest.mark.workflow

TARGETS = [f"paper_figures/demo/{name}" for name in ("table1.csv", "table1_breakdown.csv", "significance.csv",
                                                     "sensitivity.csv")]


def test_image_resampling_and_pooled_coarse_totals(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["benchmark"]["demo"].update(crops_per_source=4, synthetic_per_class=3)
    config["subsets"] = ["coarse"]
    config["bootstrap"].update(resample="images", n_resamples=999)
    config["report"]["coarse_caption_sets"] = "pooled"
    config.pop("merging")
    workdir = copy_workflow(tmp_path)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(workdir, *TARGETS)

    questions = pd.read_parquet(workdir / "results/demo/benchmark/questions.parquet")
    n_coarse = int((questions.subset == "coarse").sum())
    table1 = pd.read_csv(workdir / "paper_figures/demo/table1.csv")
    assert set(table1.subset) == {"coarse"}
    assert (table1.n_questions == 2 * n_coarse).all()  # pooled: every question under <type> and <type>_1
    breakdown = pd.read_csv(workdir / "paper_figures/demo/table1_breakdown.csv")
    totals = breakdown[(breakdown.level == "total") & (breakdown.scope == "all")]
    assert (totals.ci_low == totals.images_ci_low).all() and (totals.ci_high == totals.images_ci_high).all()
    assert ((totals.images_ci_low != totals.rows_ci_low) | (totals.images_ci_high != totals.rows_ci_high)).all()
    assert "resamples of images with all their questions" in (workdir / "paper_figures/demo/table1.md").read_text()
    significance = pd.read_csv(workdir / "paper_figures/demo/significance.csv")
    assert significance.n.tolist() == [n_coarse]  # paired comparisons count each question once
