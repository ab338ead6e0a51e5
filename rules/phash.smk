# Perceptual near-duplicates (appendix E.5): Table 14 and its Table 1 robustness check.

PHASH = config.get("phash") or {}  # absent or null: no pHash jobs
PHASH_TABLES = ["paper_figures/table14_phash.csv", "paper_figures/table14_robustness.csv",
                "paper_figures/table14_robustness_summary.csv"]
PHASH_OUTPUTS = PHASH_TABLES if PHASH else []


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
        table=PHASH_TABLES[0],
        robustness=PHASH_TABLES[1],
        summary=PHASH_TABLES[2],
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
