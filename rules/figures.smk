from mubench.figures.published import reference_file


rule table1:
    """Table 1: official (pooled) accuracy per subset and model, with CIs and the published values beside them."""
    input:
        scores=all_scores,
        manifest=f"{BENCH_DIR}/manifest.json",
        reference=REFERENCE_DIR.parent / reference_file(config["benchmark"]["source"]),  # μ-Bench's Table 1 or MicroVQA's
    output:
        csv=report("paper_figures/table1.csv", caption="../report/table1.rst", category="Table 1"),
        md="paper_figures/table1.md",
        breakdown=report(
            "paper_figures/table1_breakdown.csv", caption="../report/table1_breakdown.rst", category="Table 1"
        ),
    params:
        models=lambda wc: list(MODELS.values()),
        subsets=SUBSETS,
        bootstrap=config["bootstrap"],
    container:
        BASE_CONTAINER
    log:
        f"logs/table1/{BENCH}.log",
    benchmark:
        f"logs/bench/table1/{BENCH}.tsv"
    script:
        "../scripts/table1.py"
