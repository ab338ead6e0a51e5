# Weight merging (appendix G.2, Fig. 5, Table 19): θ = α·θ_base + (1−α)·θ_tuned per pair and α. Each merged model
# is an ordinary model (common.smk: EVAL_MODELS) whose predict job depends on the folder written here.


wildcard_constraints:
    trained="|".join(map(re.escape, MERGING.trained)) or "^$",
    pair="|".join(map(re.escape, MERGING_PAIRS)) or "^$",


rule train_demo_clip:
    """A tiny CLIP trained on the benchmark's train split (base), or fine-tuned from another on a slice (tuned)."""
    input:
        images=f"{BENCH_DIR}/images.parquet",
        questions=f"{BENCH_DIR}/questions.parquet",
        image_dir=f"{BENCH_DIR}/images",
        init=lambda wc: workflow_weights(MERGING.trained[wc.trained].init or ""),
    output:
        directory("results/{benchmark}/merging/trained/{trained}"),
    params:
        trained=lambda wc: MERGING.trained[wc.trained],
        threads=TRAIN_THREADS,  # not the job's `threads`: the weights depend on it
        full_image_check=FULL_IMAGE_CHECK,
    threads: TRAIN_THREADS
    priority: 1  # the longest chain of the demo (train → fine-tune → merge → predict): start it first
    container:
        "containers/openclip.sif"
    log:
        "logs/train_demo_clip/{benchmark}/{trained}.log",
    benchmark:
        "logs/bench/train_demo_clip/{benchmark}/{trained}.tsv"
    script:
        "../scripts/train_demo_clip.py"


rule merge_weights:
    """One pair's merged models, a folder per α in the tuned model's family: both parents are loaded once and the
    base converted to the tuned model's layout if needed."""
    input:
        base=lambda wc: workflow_weights(MERGING_PAIRS[wc.pair]["base"]),
        tuned=lambda wc: workflow_weights(MERGING_PAIRS[wc.pair]["tuned"]),
    output:
        [directory(f"results/{{benchmark}}/merging/models/{merged_name('{pair}', alpha)}") for alpha in MERGING.alphas],
    params:
        base=lambda wc: EVAL_MODELS[MERGING_PAIRS[wc.pair]["base"]],
        tuned=lambda wc: EVAL_MODELS[MERGING_PAIRS[wc.pair]["tuned"]],
        alphas=MERGING.alphas,  # in the order of the output folders
        threads=THREADS,  # not the job's `threads`: results must not depend on --cores
    threads: THREADS
    priority: 1
    container:
        lambda wc: f"containers/{EVAL_MODELS[MERGING_PAIRS[wc.pair]['tuned']].container}.sif"
    log:
        "logs/merge_weights/{benchmark}/{pair}.log",
    benchmark:
        "logs/bench/merge_weights/{benchmark}/{pair}.tsv"
    script:
        "../scripts/merge_model.py"


rule merging_figures:
    """Table 19, Fig. 5 and the α curve, on the questions of config merging.eval_splits."""
    input:
        predictions=prediction_files(EVAL_MODELS, MERGING_SUBSETS),
        images=f"{BENCH_DIR}/images.parquet",
        table1=REFERENCE_DIR / "paper_table1.csv",
        pathology=REFERENCE_DIR / "paper_table20_pathology.csv",
    output:
        **named_table_files("table19", MERGING_SECTION, "Table 19 / Fig. 5"),
        fig5=report(paper_file("fig5_merging.png"), caption="../report/fig5.rst", category=MERGING_SECTION,
                    subcategory="Table 19 / Fig. 5"),
        fig5_pdf=paper_file("fig5_merging.pdf"),
        fig5_csv=paper_file("data/fig5.csv"),
        curve=report(paper_file("merging_alpha_curve.png"), caption="../report/merging_alpha_curve.rst",
                     category=MERGING_SECTION, subcategory="Table 19 / Fig. 5"),
        curve_pdf=paper_file("merging_alpha_curve.pdf"),
        curve_csv=paper_file("merging_alpha_curve.csv"),
    params:
        models=lambda wc: list(EVAL_MODELS.values()),
        plan=MERGING,
        subsets=MERGING_SUBSETS,
        # subset → why this benchmark has none of its questions
        not_evaluated={s: cognition_absent_reason() for s in MERGING.subsets if s not in SUBSETS},
        eval_splits=config["merging"]["eval_splits"] if config["merging"] else None,
        slices=config["merging"]["slices"] if config["merging"] else None,
        bootstrap=config["bootstrap"],
    container:
        BASE_CONTAINER
    log:
        f"logs/merging_figures/{BENCH}.log",
    benchmark:
        f"logs/bench/merging_figures/{BENCH}.tsv"
    script:
        "../scripts/merging_figures.py"
