# Paper tables and figures computed from the benchmark tables and every Table 1 model's results. Tables are
# written as CSV + Markdown + LaTeX + HTML, figures as PNG + PDF (plus the data each figure drew under data/), all
# in paper_figures/<benchmark>/ (paper_file, rules/common.smk).
# Report categories follow the paper's sections (report/*.rst holds one caption per artefact).


rule table1:
    """Table 1: official (pooled) accuracy per subset and model, with CIs and the published values beside them."""
    input:
        scores=all_scores,
        manifest=f"{BENCH_DIR}/manifest.json",
        reference=REFERENCE_DIR.parent / SOURCE.reference,  # μ-Bench's Table 1 or MicroVQA's leaderboard
        significance=paper_file("significance.csv"),  # marks models tied with the best of their subset
    output:
        **named_table_files("table1", MAIN, "Table 1"),
        **data_table_files("table1_breakdown", MAIN, "Table 1", name="breakdown"),
    params:
        models=lambda wc: list(MODELS.values()),
        subsets=SUBSETS,
        bootstrap=config["bootstrap"],
        alpha=config["report"]["significance_level"],
    container:
        BASE_CONTAINER
    log:
        f"logs/table1/{BENCH}.log",
    benchmark:
        f"logs/bench/table1/{BENCH}.tsv"
    script:
        "../scripts/table1.py"


rule perception_figures:
    """Fig. 4 (best model per group on every axis), Fig. 11 (radar), Figs. 12–14 (by question type / task) and
    Table 20 (pathology only), every bar with its CI; the breakdown by image attribute and domain comes from
    mubench.scoring.accuracy."""
    input:
        scores=all_scores,
        images=f"{BENCH_DIR}/images.parquet",
        reference=REFERENCE_DIR / "paper_table20_pathology.csv",
    output:
        fig4=report(paper_file("fig4_perception_axes.png"), caption="../report/fig4.rst", category=MAIN,
                    subcategory="Fig. 4"),
        fig4_pdf=paper_file("fig4_perception_axes.pdf"),
        fig11=report(paper_file("fig11_radar.png"), caption="../report/fig11.rst", category=MORE_RESULTS,
                     subcategory="Per axis and task"),
        fig11_pdf=paper_file("fig11_radar.pdf"),
        fig12=report(paper_file("fig12_coarse_by_type.png"), caption="../report/fig12.rst",
                     category=MORE_RESULTS, subcategory="Per axis and task"),
        fig12_pdf=paper_file("fig12_coarse_by_type.pdf"),
        fig13=report(paper_file("fig13_fine_biology.png"), caption="../report/fig13.rst", category=MORE_RESULTS,
                     subcategory="Per axis and task"),
        fig13_pdf=paper_file("fig13_fine_biology.pdf"),
        fig14=report(paper_file("fig14_fine_pathology.png"), caption="../report/fig14.rst",
                     category=MORE_RESULTS, subcategory="Per axis and task"),
        fig14_pdf=paper_file("fig14_fine_pathology.pdf"),
        **{f"{name}_data": paper_file(f"data/{name}.csv") for name in ("fig4", "fig11", "fig12", "fig13", "fig14")},
        **named_table_files("table20_pathology", MORE_RESULTS, "Pathology (Table 20)"),
    params:
        models=lambda wc: list(MODELS.values()),
        subsets=SUBSETS,
        bootstrap=config["bootstrap"],
        radar_models=config["figures"]["radar_models"],
    container:
        BASE_CONTAINER
    log:
        f"logs/perception_figures/{BENCH}.log",
    benchmark:
        f"logs/bench/perception_figures/{BENCH}.tsv"
    script:
        "../scripts/perception_figures.py"


rule composition:
    """Benchmark composition from its tables: Fig. 3 and Tables 3, 4, 6, 7, 8 (9, 10, 11 with a cognition set),
    beside the paper's counts when the benchmark is uBench."""
    input:
        tables=BENCHMARK_TABLES,
        images=f"{BENCH_DIR}/images.parquet",
        manifest=f"{BENCH_DIR}/manifest.json",
        references=[REFERENCE_DIR / f"paper_{stem}.csv" for stem in COMPOSITION_TABLES],
    output:
        fig3=report(paper_file("fig3_composition.png"), caption="../report/fig3.rst", category=BENCHMARK_SECTION,
                    subcategory="Perception"),
        fig3_pdf=paper_file("fig3_composition.pdf"),
        fig3_data=paper_file("data/fig3.csv"),
        **{
            key: path
            for stem in COMPOSITION_TABLES
            for key, path in named_table_files(
                stem, BENCHMARK_SECTION, "Cognition" if stem in COGNITION_TABLES else "Perception"
            ).items()
        },
    params:
        with_cognition="cognition" in SUBSETS,
    container:
        BASE_CONTAINER
    log:
        f"logs/composition/{BENCH}.log",
    benchmark:
        f"logs/bench/composition/{BENCH}.tsv"
    script:
        "../scripts/composition.py"


rule sample_images:
    """Fig. 6: a seeded grid of sample images, one row per dataset."""
    input:
        images=f"{BENCH_DIR}/images.parquet",
        image_dir=f"{BENCH_DIR}/images",
    output:
        png=report(paper_file("fig6_samples.png"), caption="../report/fig6.rst", category=BENCHMARK_SECTION,
                   subcategory="Perception"),
        pdf=paper_file("fig6_samples.pdf"),
        data=paper_file("data/fig6.csv"),
    params:
        per_dataset=config["figures"]["samples_per_dataset"],
        seed=config["figures"]["seed"],
    container:
        BASE_CONTAINER
    log:
        f"logs/sample_images/{BENCH}.log",
    benchmark:
        f"logs/bench/sample_images/{BENCH}.tsv"
    script:
        "../scripts/sample_images.py"


rule table21:
    """Table 21: family, checkpoint, revision and measured parameter count of every model, beside the paper's."""
    input:
        facts=expand(f"results/{BENCH}/predictions/{{model}}/model.json", model=MODELS),
        reference=REFERENCE_DIR / "paper_table21_models.csv",
    output:
        **named_table_files("table21_models", MORE_RESULTS, "Models (Table 21)"),
    params:
        models=lambda wc: list(MODELS.values()),
    container:
        BASE_CONTAINER
    log:
        f"logs/table21/{BENCH}.log",
    benchmark:
        f"logs/bench/table21/{BENCH}.tsv"
    script:
        "../scripts/table21.py"
