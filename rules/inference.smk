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
        predictions=model_outputs(PREDICTIONS),
        variants=model_outputs(VARIANTS),
        model_info="results/{benchmark}/predictions/{model}/model.json",
    wildcard_constraints:
        model=model_names(EVAL_MODELS, accelerator=True),
    params:
        spec=model_spec,
        subsets=SUBSETS,
        batch_size=model_batch_size,
        device=config["inference"]["device"],
        # a plain string holding the fingerprint: a changed model reruns the job (Snakemake cannot compare `spec`)
        cache_dir=model_cache,
        threads=THREADS,  # not the job's `threads`: results must not depend on --cores
        full_image_check=FULL_IMAGE_CHECK,
    threads: THREADS
    resources:
        gpu=GPU,
    container:
        model_container
    log:
        "logs/predict/{benchmark}/{model}.log",
    benchmark:
        "logs/bench/predict/{benchmark}/{model}.tsv"
    script:
        "../scripts/predict.py"


# The same job for models that never use an accelerator (Random, API models): its own rule name lets profiles/slurm
# send it to the CPU partition without a GPU, and a local run lets it run beside a GPU job.
use rule predict as predict_cpu with:
    wildcard_constraints:
        model=model_names(EVAL_MODELS, accelerator=False),
    resources:
        gpu=0,


rule predict_blind:
    """A blind run (config `blind`): every subset answered again with the image taken away — a grey image of the same
    size, or none — same prompts and options. After the model's own job, whose caches it reuses: a contrastive model
    encodes one grey image per image size and no text, a generative one shares one prefix per image size."""
    input:
        images=f"{BENCH_DIR}/images.parquet",
        questions=f"{BENCH_DIR}/questions.parquet",
        manifest=f"{BENCH_DIR}/manifest.json",
        image_dir=f"{BENCH_DIR}/images",
        weights=model_weights,
        after="results/{benchmark}/predictions/{model}/model.json",  # its job filled the caches this one reads
    output:
        expand(BLIND_PREDICTIONS, subset=SUBSETS, allow_missing=True),
    wildcard_constraints:
        model=model_names(BLIND_MODELS, accelerator=True),
    params:
        spec=model_spec,
        subsets=SUBSETS,
        batch_size=model_batch_size,
        device=config["inference"]["device"],
        cache_dir=model_cache,  # the model's own job's: its text embeddings are reused
        threads=THREADS,
        full_image_check=FULL_IMAGE_CHECK,
    threads: THREADS
    resources:
        gpu=GPU,
    container:
        model_container
    log:
        "logs/predict_blind/{benchmark}/{model}/{ablation}.log",
    benchmark:
        "logs/bench/predict_blind/{benchmark}/{model}/{ablation}.tsv"
    script:
        "../scripts/predict_blind.py"


use rule predict_blind as predict_blind_cpu with:
    wildcard_constraints:
        model=model_names(BLIND_MODELS, accelerator=False),
    resources:
        gpu=0,
