rule predict:
    """One job per (model, subset): every question answered (and again under each alternative caption set), with a
    per-sample embedding cache for resume."""
    input:
        images=f"{BENCH_DIR}/images.parquet",
        questions=f"{BENCH_DIR}/questions.parquet",
        manifest=f"{BENCH_DIR}/manifest.json",
        image_dir=f"{BENCH_DIR}/images",
        weights=model_weights,
    output:
        predictions="results/{benchmark}/predictions/{model}/{subset}.parquet",
        # the same questions under their alternative caption sets (caption sensitivity; empty for generative models)
        variants="results/{benchmark}/predictions/{model}/caption_variants/{subset}.parquet",
    params:
        spec=model_spec,
        batch_size=model_batch_size,
        device=config["inference"].get("device", "auto"),
        cache_dir=lambda wc: f"results/{wc.benchmark}/cache/{wc.model}/{EVAL_MODELS[wc.model].fingerprint}",
    threads: config["inference"].get("threads", 2)
    container:
        model_container
    log:
        "logs/predict/{benchmark}/{model}/{subset}.log",
    benchmark:
        "logs/bench/predict/{benchmark}/{model}/{subset}.tsv"
    script:
        "../scripts/predict.py"
