rule predict:
    """One job per model: its weights loaded once, every subset answered (and again under each alternative caption
    set), a per-sample cache for resume."""
    input:
        images=f"{BENCH_DIR}/images.parquet",
        questions=f"{BENCH_DIR}/questions.parquet",
        manifest=f"{BENCH_DIR}/manifest.json",
        image_dir=f"{BENCH_DIR}/images",
        weights=model_weights,
    output:
        predictions=expand("results/{{benchmark}}/predictions/{{model}}/{subset}.parquet", subset=SUBSETS),
        # the same questions under their alternative caption sets (caption sensitivity; empty for generative models)
        variants=expand(
            "results/{{benchmark}}/predictions/{{model}}/caption_variants/{subset}.parquet", subset=SUBSETS
        ),
        model_info="results/{benchmark}/predictions/{model}/model.json",
    wildcard_constraints:
        model=model_names(EVAL_MODELS, accelerator=True),
    params:
        spec=model_spec,
        subsets=SUBSETS,
        batch_size=model_batch_size,
        device=config["inference"].get("device", "auto"),
        # a plain string holding the fingerprint: a changed model reruns the job (Snakemake cannot compare `spec`)
        cache_dir=lambda wc: f"results/{wc.benchmark}/cache/{wc.model}/{EVAL_MODELS[wc.model].fingerprint}",
    threads: config["inference"].get("threads", 2)
    container:
        model_container
    log:
        "logs/predict/{benchmark}/{model}.log",
    benchmark:
        "logs/bench/predict/{benchmark}/{model}.tsv"
    script:
        "../scripts/predict.py"


# The same job for models that never use an accelerator (Random, API models): its own rule name lets profiles/slurm
# send it to the CPU partition without a GPU.
use rule predict as predict_cpu with:
    wildcard_constraints:
        model=model_names(EVAL_MODELS, accelerator=False),
