# Perceptual near-duplicates (appendix E.5): Table 14 and its Table 1 robustness check.

PHASH = config.get("phash") or {}  # absent or null: no pHash jobs
PHASH_TABLES = ["table14_phash", "table14_robustness", "table14_robustness_summary"]
PHASH_OUTPUTS = [f"paper_figures/{stem}.{ext}" for stem in PHASH_TABLES for ext in ("csv", "md", "tex")
                 if PHASH]


rule phash:
    """64-bit pHash of every image, computed in parallel and cached by image md5."""
    input:
        images=f"{BENCH_DIR}/images.parquet",
        image_dir=f"{BENCH_DIR}/images",
    output:
        f"results/{BENCH}/phash/hashes.parquet",
    params:
        cache_dir=f"results/{BENCH}/cache/phash",
    threads: PHASH.get("workers", 2)
    container:
        BASE_CONTAINER
    log:
        f"logs/phash/{BENCH}.log",
    benchmark:
        f"logs/bench/phash/{BENCH}.tsv"
    script:
        "../scripts/phash.py"


rule table14:
    """Near-duplicates per dataset beside the paper; Table 1 re-scored without the most duplicated datasets."""
    input:
        hashes=f"results/{BENCH}/phash/hashes.parquet",
        predictions=expand(f"results/{BENCH}/predictions/{{model}}/{{subset}}.parquet", model=MODELS, subset=SUBSETS),
        reference=REFERENCE_DIR / "paper_table14_phash.csv",
    output:
        **dict(zip(("table", "table_md", "table_tex"), table_files(PHASH_TABLES[0], "table14.rst",
                                                                   ANALYSES_SECTION, "Table 14"))),
        **dict(zip(("robustness", "robustness_md", "robustness_tex"),
                   table_files(PHASH_TABLES[1], "table14_robustness.rst", ANALYSES_SECTION, "Table 14"))),
        **dict(zip(("summary", "summary_md", "summary_tex"),
                   table_files(PHASH_TABLES[2], "table14_robustness_summary.rst", ANALYSES_SECTION, "Table 14"))),
    params:
        models=lambda wc: list(MODELS.values()),
        settings=PHASH,
        bootstrap=config["bootstrap"],
    container:
        BASE_CONTAINER
    log:
        f"logs/table14/{BENCH}.log",
    benchmark:
        f"logs/bench/table14/{BENCH}.tsv"
    script:
        "../scripts/table14.py"
