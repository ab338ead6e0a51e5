# Localization (appendix Table 18): boxes per model → GRIT score. Runs for the models listed under
# `detection.models` (DETECTION_MODELS): configured VLMs with a box format (PaliGemma, Qwen-VL-Chat), asked by
# prompt, and detection-only entries (the classical threshold detector), which answer no question; absent = no jobs.


rule detect:
    """One job per model: every (image, class) of detection.parquet answered once (VLM replies cached for resume)."""
    input:
        images=f"{BENCH_DIR}/images.parquet",
        detection=f"{BENCH_DIR}/detection.parquet",
        manifest=f"{BENCH_DIR}/manifest.json",
        image_dir=f"{BENCH_DIR}/images",
    output:
        "results/{benchmark}/detection/{model}/boxes.parquet",
    wildcard_constraints:
        model=model_names(DETECTION_MODELS, accelerator=True),  # detection-only models are not in EVAL_MODELS
    params:
        spec=lambda wc: DETECTION_MODELS[wc.model],
        batch_size=lambda wc: DETECTION_MODELS[wc.model].batch_size or config["inference"]["batch_size"],
        device=config["inference"]["device"],
        # a plain string holding the fingerprint: a changed model reruns the job (Snakemake cannot compare `spec`)
        cache_dir=lambda wc: f"results/{wc.benchmark}/cache/{wc.model}/{DETECTION_MODELS[wc.model].fingerprint}",
        threads=THREADS,  # not the job's `threads`: results must not depend on --cores
        full_image_check=FULL_IMAGE_CHECK,
    threads: THREADS
    resources:
        gpu=GPU,
    container:
        lambda wc: f"containers/{DETECTION_MODELS[wc.model].container}.sif"
    log:
        "logs/detect/{benchmark}/{model}.log",
    benchmark:
        "logs/bench/detect/{benchmark}/{model}.tsv"
    script:
        "../scripts/detect.py"


# The classical detector needs no GPU: the same job under a name profiles/slurm keeps on the CPU partition.
use rule detect as detect_cpu with:
    wildcard_constraints:
        model=model_names(DETECTION_MODELS, accelerator=False),
    resources:
        gpu=0,


rule table18:
    """GRIT localization per split, dataset, class and model, beside the paper's values."""
    input:
        boxes=expand(f"results/{BENCH}/detection/{{model}}/boxes.parquet", model=DETECTION_MODELS),
        reference=REFERENCE_DIR / "paper_table18_detection.csv",
        manifest=f"{BENCH_DIR}/manifest.json",
    output:
        **named_table_files("table18_grit", LOCALIZATION_SECTION),
    params:
        models=list(DETECTION_MODELS.values()),
    container:
        BASE_CONTAINER
    log:
        f"logs/table18/{BENCH}.log",
    benchmark:
        f"logs/bench/table18/{BENCH}.tsv"
    script:
        "../scripts/table18.py"
