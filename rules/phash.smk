# Perceptual near-duplicates (appendix E.5): Table 14 and its Table 1 robustness check. Config `phash` null: the
# rules exist but no target asks for them.


rule phash:
    """64-bit pHash of every image, computed in parallel and cached by image md5."""
    input:
        images=f"{BENCH_DIR}/images.parquet",
        image_dir=f"{BENCH_DIR}/images",
    output:
        f"results/{BENCH}/phash/hashes.parquet",
    params:
        cache_dir=f"results/{BENCH}/cache/phash",
        full_image_check=FULL_IMAGE_CHECK,
    threads: PHASH["workers"] if PHASH else 1
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
        predictions=prediction_files(MODELS),
        reference=REFERENCE_DIR / "paper_table14_phash.csv",
    output:
        **named_table_files("table14_phash", ANALYSES_SECTION, "Table 14"),
        **named_table_files("table14_robustness", ANALYSES_SECTION, "Table 14", name="robustness",
                            caption="table14_robustness.rst"),
        **named_table_files("table14_robustness_summary", ANALYSES_SECTION, "Table 14", name="summary",
                            caption="table14_robustness_summary.rst"),
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
