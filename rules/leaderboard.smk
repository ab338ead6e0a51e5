# The leaderboard page: one self-contained HTML file (mubench/figures/leaderboard.py) from Table 1's scores, the
# prediction rows (provenance, wrong answers) and the benchmark's images (thumbnails).


rule leaderboard:
    """paper_figures/<benchmark>/leaderboard.html: models × subsets, accuracy ± CI beside the paper, provenance,
    significance marks and each model's wrong answers with thumbnails; no network needed to view it."""
    input:
        scores=all_scores,
        predictions=prediction_files(MODELS),
        images=f"{BENCH_DIR}/images.parquet",
        questions=f"{BENCH_DIR}/questions.parquet",
        manifest=f"{BENCH_DIR}/manifest.json",
        image_dir=f"{BENCH_DIR}/images",
        reference=REFERENCE_DIR.parent / SOURCE.reference,  # as Table 1
        significance=paper_file("significance.csv"),  # rule significance: ★ and ≈ marks
        sensitivity=paper_file("sensitivity.csv"),  # rule sensitivity: spread over caption sets / matching rules
    output:
        report(paper_file("leaderboard.html"), caption="../report/leaderboard.rst", category=MAIN),
    params:
        models=lambda wc: list(MODELS.values()),
        subsets=SUBSETS,
        bootstrap=config["bootstrap"],
        settings={**config["leaderboard"], "alpha": config["report"]["significance_level"]},  # as Table 1's marks
    container:
        BASE_CONTAINER
    log:
        f"logs/leaderboard/{BENCH}.log",
    benchmark:
        f"logs/bench/leaderboard/{BENCH}.tsv"
    script:
        "../scripts/leaderboard.py"
