# Localization (appendix Table 18): detection prompts → boxes → GRIT score. Runs only for the models listed under
# `detection.models` in the config (PaliGemma and Qwen-VL-Chat have a defined box format); absent = no jobs.

from mubench.answering.detection import check_detection_models

DETECTION_MODELS = check_detection_models((config.get("detection") or {}).get("models", []), MODELS)
DETECTION_OUTPUTS = ["paper_figures/table18_grit.csv"] if DETECTION_MODELS else []


rule detect:
    """One job per model: every (image, class) of detection.parquet asked once, responses cached for resume."""
    input:
        images=f"{BENCH_DIR}/images.parquet",
        detection=f"{BENCH_DIR}/detection.parquet",
        manifest=f"{BENCH_DIR}/manifest.json",
        image_dir=f"{BENCH_DIR}/images",
    output:
        "results/{benchmark}/detection/{model}/boxes.parquet",
    params:
        spec=model_spec,
        batch_size=model_batch_size,
        device=config["inference"].get("device", "auto"),
        # a plain string holding the fingerprint: a changed model reruns the job (Snakemake cannot compare `spec`)
        cache_dir=lambda wc: f"results/{wc.benchmark}/cache/{wc.model}/{EVAL_MODELS[wc.model].fingerprint}",
    threads: config["inference"].get("threads", 2)
    container:
        model_container
    log:
        "logs/detect/{benchmark}/{model}.log",
    benchmark:
        "logs/bench/detect/{benchmark}/{model}.tsv"
    script:
        "../scripts/detect.py"


rule table18:
    """GRIT localization per split, dataset, class and model, beside the paper's values."""
    input:
        boxes=expand(f"results/{BENCH}/detection/{{model}}/boxes.parquet", model=DETECTION_MODELS),
        reference=REFERENCE_DIR / "paper_table18_detection.csv",
    output:
        report("paper_figures/table18_grit.csv", caption="../report/table18.rst", category=LOCALIZATION_SECTION),
    params:
        models=lambda wc: [MODELS[name] for name in DETECTION_MODELS],
    container:
        BASE_CONTAINER
    log:
        f"logs/table18/{BENCH}.log",
    benchmark:
        f"logs/bench/table18/{BENCH}.tsv"
    script:
        "../scripts/table18.py"
