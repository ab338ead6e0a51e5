# The leaderboard page: one self-contained HTML file (mubench/figures/leaderboard.py) from Table 1's scores, the
# prediction rows (provenance, wrong answers) and the benchmark's images (thumbnails).

LEADERBOARD_OUTPUTS = ["paper_figures/leaderboard.html"]


rule leaderboard:
    """paper_figures/leaderboard.html: models × subsets, accuracy ± CI beside the paper, provenance, significance
    marks and each model's wrong answers with thumbnails; no network needed to view it."""
    input:
        scores=all_scores,
        predictions=expand(f"results/{BENCH}/predictions/{{model}}/{{subset}}.parquet", model=MODELS, subset=SUBSETS),
        images=f"{BENCH_DIR}/images.parquet",
        questions=f"{BENCH_DIR}/questions.parquet",
        manifest=f"{BENCH_DIR}/manifest.json",
        image_dir=f"{BENCH_DIR}/images",
        reference=REFERENCE_DIR.parent / source_of(config["benchmark"]["source"]).reference,  # as Table 1
        significance="paper_figures/significance.csv",  # rule significance: ★ and ≈ marks
        sensitivity="paper_figures/sensitivity.csv",  # rule sensitivity: spread over caption sets / matching rules
    output:
        report("paper_figures/leaderboard.html", caption="../report/leaderboard.rst", category=MAIN),
    params:
        models=lambda wc: list(MODELS.values()),
        subsets=SUBSETS,
        bootstrap=config["bootstrap"],
        settings={**(config.get("leaderboard") or {}), "alpha": REPORT["significance_level"]},  # as Table 1's marks
    container:
        BASE_CONTAINER
    log:
        f"logs/leaderboard/{BENCH}.log",
    benchmark:
        f"logs/bench/leaderboard/{BENCH}.tsv"
    script:
        "../scripts/leaderboard.py"
