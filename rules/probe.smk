# Linear probe on frozen ViT-S/14 features (appendix E.2): Table 13 and Fig. 8. Config `probe` null: the rules
# exist but no target asks for them.


rule probe_features:
    """One feature vector per image (CLS or CLS ‖ mean patch), cached by image md5 + model + preprocessing."""
    input:
        images=f"{BENCH_DIR}/images.parquet",
        image_dir=f"{BENCH_DIR}/images",
    output:
        f"results/{BENCH}/probe/features.npz",
    params:
        settings=PROBE["features"] if PROBE else None,
        cache_dir=f"results/{BENCH}/cache/probe_features",
        threads=THREADS,  # not the job's `threads`: features must not depend on --cores
        full_image_check=FULL_IMAGE_CHECK,
    threads: THREADS
    resources:
        gpu=gpu_request(PROBE["features"]["device"]) if PROBE else 0,
    container:
        f"containers/{PROBE_FEATURE_CONTAINER}.sif" if PROBE else BASE_CONTAINER
    log:
        f"logs/probe_features/{BENCH}.log",
    benchmark:
        f"logs/bench/probe_features/{BENCH}.tsv"
    script:
        "../scripts/probe_features.py"


rule linear_probe:
    """PCA (95 % variance, whitened, train only) → logistic regression tuned by Optuna, per task."""
    input:
        features=f"results/{BENCH}/probe/features.npz",
        images=f"{BENCH_DIR}/images.parquet",
        questions=f"{BENCH_DIR}/questions.parquet",
    output:
        f"results/{BENCH}/probe/linear_probe.parquet",
    params:
        settings=PROBE,
        threads=THREADS,  # BLAS threads: fixed, never --cores
    threads: THREADS
    container:
        BASE_CONTAINER
    log:
        f"logs/linear_probe/{BENCH}.log",
    benchmark:
        f"logs/bench/linear_probe/{BENCH}.tsv"
    script:
        "../scripts/probe.py"


rule table13:
    """Table 13 (ours beside the paper's macro F1 and difficulty), the Fig. 8 bar chart and the bars it draws."""
    input:
        results=f"results/{BENCH}/probe/linear_probe.parquet",
        features=f"results/{BENCH}/probe/features.npz",
        reference=REFERENCE_DIR / "paper_table13_linear_probe.csv",
    output:
        **named_table_files("table13_linear_probe", ANALYSES_SECTION, "Table 13 / Fig. 8"),
        png=report(paper_file("fig8_linear_probe.png"), caption="../report/fig8.rst", category=ANALYSES_SECTION,
                   subcategory="Table 13 / Fig. 8"),
        pdf=paper_file("fig8_linear_probe.pdf"),
        data=paper_file("data/fig8.csv"),  # the bars Fig. 8 draws
    params:
        source=config["benchmark"]["source"],
    container:
        BASE_CONTAINER
    log:
        f"logs/table13/{BENCH}.log",
    benchmark:
        f"logs/bench/table13/{BENCH}.tsv"
    script:
        "../scripts/table13.py"
