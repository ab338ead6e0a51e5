rule build_benchmark:
    """Build the benchmark tables (images, questions, detection, manifest) from the configured source."""
    output:
        tables=BENCHMARK_TABLES,
        images=directory(f"{BENCH_DIR}/images"),
    params:
        source=config["benchmark"]["source"],
        seed=config["benchmark"]["seed"],
        options=SOURCE_OPTIONS,
        max_image_pixels=config["benchmark"]["max_image_pixels"],
    threads: SOURCE_OPTIONS["workers"] if "workers" in SOURCE_OPTIONS else 1  # the demo builder has one thread
    container:
        BASE_CONTAINER
    log:
        f"logs/build_benchmark/{BENCH}.log",
    benchmark:
        f"logs/bench/build_benchmark/{BENCH}.tsv"
    script:
        "../scripts/build_benchmark.py"
