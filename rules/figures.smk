rule table1:
    """Table 1: official (pooled) accuracy per subset and model, with CIs and the paper's values beside them."""
    input:
        scores=all_scores,
        manifest=f"{BENCH_DIR}/manifest.json",
        reference=REFERENCE_DIR / "paper_table1.csv",
        significance="paper_figures/significance.csv",  # marks models tied with the best of their subset
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
        alpha=REPORT["significance_level"],
    container:
        BASE_CONTAINER
    log:
        f"logs/table1/{BENCH}.log",
    benchmark:
        f"logs/bench/table1/{BENCH}.tsv"
    script:
        "../scripts/table1.py"
