# Weight merging (appendix G.2, Fig. 5, Table 19): θ = α·θ_base + (1−α)·θ_tuned per pair and α. Each merged model
# is an ordinary model (common.smk: EVAL_MODELS) whose predict job depends on the folder written here.

# merging.subsets is checked against `subsets` in merge_plan; uBench without a cognition folder has no cognition,
# which Table 19 then says in its notes (and the log) rather than leaving the subset out silently.
MERGING_SUBSETS = [s for s in MERGING.subsets if s in SUBSETS]
MERGING_NOT_EVALUATED = {s: cognition_absent_reason() for s in MERGING.subsets if s not in SUBSETS}
MERGING_OUTPUTS = (
    [f"paper_figures/{name}" for name in ("table19.csv", "table19.md", "table19.tex", "fig5_merging.png",
                                          "fig5_merging.pdf", "data/fig5.csv", "merging_alpha_curve.png",
                                          "merging_alpha_curve.pdf", "merging_alpha_curve.csv")]
    if MERGING.pairs else []
)


wildcard_constraints:
    trained="|".join(map(re.escape, MERGING.trained)) or "^$",
    merged="|".join(map(re.escape, MERGING.merged)) or "^$",


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
    threads: config["inference"].get("threads", 2)
    container:
        "containers/openclip.sif"
    log:
        "logs/train_demo_clip/{benchmark}/{trained}.log",
    benchmark:
        "logs/bench/train_demo_clip/{benchmark}/{trained}.tsv"
    script:
        "../scripts/train_demo_clip.py"


rule merge_weights:
    """One merged model folder in the tuned model's family; the base is converted to that layout if needed."""
    input:
        base=lambda wc: workflow_weights(MERGING.merged[wc.merged].base),
        tuned=lambda wc: workflow_weights(MERGING.merged[wc.merged].tuned),
    output:
        directory("results/{benchmark}/merging/models/{merged}"),
    params:
        base=lambda wc: EVAL_MODELS[MERGING.merged[wc.merged].base],
        tuned=lambda wc: EVAL_MODELS[MERGING.merged[wc.merged].tuned],
        alpha=lambda wc: MERGING.merged[wc.merged].alpha,
    threads: config["inference"].get("threads", 2)
    container:
        lambda wc: f"containers/{MERGING.merged[wc.merged].spec.container}.sif"
    log:
        "logs/merge_weights/{benchmark}/{merged}.log",
    benchmark:
        "logs/bench/merge_weights/{benchmark}/{merged}.tsv"
    script:
        "../scripts/merge_model.py"


rule merging_figures:
    """Table 19, Fig. 5 and the α curve, on the questions of config merging.eval_splits."""
    input:
        predictions=expand(f"results/{BENCH}/predictions/{{model}}/{{subset}}.parquet", model=EVAL_MODELS,
                           subset=MERGING_SUBSETS),
        images=f"{BENCH_DIR}/images.parquet",
        table1=REFERENCE_DIR / "paper_table1.csv",
        pathology=REFERENCE_DIR / "paper_table20_pathology.csv",
    output:
        **dict(zip(("table19", "table19_md", "table19_tex"), table_files("table19", "table19.rst", MERGING_SECTION,
                                                                         "Table 19 / Fig. 5"))),
        fig5=report("paper_figures/fig5_merging.png", caption="../report/fig5.rst", category=MERGING_SECTION,
                    subcategory="Table 19 / Fig. 5"),
        fig5_pdf="paper_figures/fig5_merging.pdf",
        fig5_csv="paper_figures/data/fig5.csv",
        curve=report("paper_figures/merging_alpha_curve.png", caption="../report/merging_alpha_curve.rst",
                     category=MERGING_SECTION, subcategory="Table 19 / Fig. 5"),
        curve_pdf="paper_figures/merging_alpha_curve.pdf",
        curve_csv="paper_figures/merging_alpha_curve.csv",
    params:
        models=lambda wc: list(EVAL_MODELS.values()),
        plan=MERGING,
        subsets=MERGING_SUBSETS,
        not_evaluated=MERGING_NOT_EVALUATED,  # subset → why this benchmark has none of its questions
        section=config.get("merging") or {},
        bootstrap=config["bootstrap"],
    container:
        BASE_CONTAINER
    log:
        f"logs/merging_figures/{BENCH}.log",
    benchmark:
        f"logs/bench/merging_figures/{BENCH}.tsv"
    script:
        "../scripts/merging_figures.py"
