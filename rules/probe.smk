# Linear probe on frozen ViT-S/14 features (appendix E.2): Table 13 and Fig. 8.

PROBE = config.get("probe") or {}  # absent or null: no probe jobs (MicroVQA has no per-image class labels)
PROBE_DIR = f"results/{BENCH}/probe"
PROBE_FILES = ["paper_figures/table13_linear_probe.csv", "paper_figures/table13_linear_probe.md",
               "paper_figures/table13_linear_probe.tex", "paper_figures/fig8_linear_probe.png",
               "paper_figures/fig8_linear_probe.pdf", "paper_figures/data/fig8.csv"]
PROBE_OUTPUTS = PROBE_FILES if PROBE else []
# timm runs in the open_clip image; the transformers backend in the HF image.
PROBE_FEATURE_CONTAINER = {"timm": "openclip", "transformers": "hf-vlm"}[
    PROBE.get("features", {}).get("backend", "timm")
]


rule probe_features:
    """One feature vector per image (CLS or CLS ‖ mean patch), cached by image md5 + model + preprocessing."""
    input:
        images=f"{BENCH_DIR}/images.parquet",
        image_dir=f"{BENCH_DIR}/images",
    output:
        f"{PROBE_DIR}/features.npz",
    params:
        settings=PROBE.get("features"),
        cache_dir=f"results/{BENCH}/cache/probe_features",
    threads: config["inference"].get("threads", 2)
    container:
        f"containers/{PROBE_FEATURE_CONTAINER}.sif"
    log:
        f"logs/probe_features/{BENCH}.log",
    benchmark:
        f"logs/bench/probe_features/{BENCH}.tsv"
    script:
        "../scripts/probe_features.py"


rule linear_probe:
    """PCA (95 % variance, whitened, train only) → logistic regression tuned by Optuna, per task."""
    input:
        features=f"{PROBE_DIR}/features.npz",
        images=f"{BENCH_DIR}/images.parquet",
        questions=f"{BENCH_DIR}/questions.parquet",
    output:
        f"{PROBE_DIR}/linear_probe.parquet",
    params:
        settings=PROBE,
    threads: config["inference"].get("threads", 2)
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
        results=f"{PROBE_DIR}/linear_probe.parquet",
        features=f"{PROBE_DIR}/features.npz",
        reference=REFERENCE_DIR / "paper_table13_linear_probe.csv",
    output:
        **dict(zip(("csv", "md", "tex"), table_files("table13_linear_probe", "table13.rst", ANALYSES_SECTION,
                                                     "Table 13 / Fig. 8"))),
        png=report(PROBE_FILES[3], caption="../report/fig8.rst", category=ANALYSES_SECTION,
                   subcategory="Table 13 / Fig. 8"),
        pdf=PROBE_FILES[4],
        data=PROBE_FILES[5],  # the bars Fig. 8 draws
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
