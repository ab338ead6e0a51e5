# Scores per model (accuracy with bootstrap CIs), and the statistics that compare the configured models.


rule score:
    """Accuracy per question type, dataset and subset (micro totals + macro means) with bootstrap CIs, per model."""
    input:
        predictions=model_outputs(PREDICTIONS),
        variants=model_outputs(VARIANTS),
    output:
        model_outputs("results/{benchmark}/scores/{model}/{subset}.parquet"),
    wildcard_constraints:
        model=model_names(EVAL_MODELS, accelerator=True),
    params:
        bootstrap=config["bootstrap"],
        coarse_caption_sets=config["report"]["coarse_caption_sets"],
        # DESIGN §4: always also without the two Eulenberg datasets, unless the config names others
        excluded_datasets=config["report"]["excluded_datasets"],
    container:
        BASE_CONTAINER
    log:
        "logs/score/{benchmark}/{model}.log",
    benchmark:
        "logs/bench/score/{benchmark}/{model}.tsv"
    script:
        "../scripts/score.py"


# Scores of the models without an accelerator: runs in the same SLURM job as their predict_cpu (profiles/slurm).
use rule score as score_cpu with:
    wildcard_constraints:
        model=model_names(EVAL_MODELS, accelerator=False),


rule significance:
    """Paired comparisons of every two configured models on the questions both answered: accuracy difference with an
    image-paired bootstrap CI, exact McNemar test, Holm over the pairs of a subset (and per dataset)."""
    input:
        prediction_files(MODELS),
    output:
        **data_table_files("significance", STATISTICS_SECTION, "Paired comparisons", name="csv"),
        **data_table_files("significance_breakdown", STATISTICS_SECTION, "Paired comparisons", name="breakdown"),
        png=report(paper_file("significance_matrix.png"), caption="../report/significance.rst",
                   category=STATISTICS_SECTION, subcategory="Paired comparisons"),
        pdf=paper_file("significance_matrix.pdf"),
    params:
        models=lambda wc: [(name, spec.label) for name, spec in MODELS.items()],
        subsets=SUBSETS,
        bootstrap=config["bootstrap"],
        alpha=config["report"]["significance_level"],
    container:
        BASE_CONTAINER
    log:
        f"logs/significance/{BENCH}.log",
    benchmark:
        f"logs/bench/significance/{BENCH}.tsv"
    script:
        "../scripts/significance.py"


rule sensitivity:
    """Accuracy of every configured model under each caption set (contrastive, Random) or matching rule
    (generative), beside its default on the same questions, and the spread."""
    input:
        predictions=prediction_files(MODELS),
        variants=prediction_files(MODELS, pattern=VARIANTS),
    output:
        **data_table_files("sensitivity", STATISTICS_SECTION, "Caption and matching sensitivity", name="csv"),
        png=report(paper_file("sensitivity.png"), caption="../report/sensitivity.rst", category=STATISTICS_SECTION,
                   subcategory="Caption and matching sensitivity"),
        pdf=paper_file("sensitivity.pdf"),
    params:
        labels=lambda wc: {name: spec.label for name, spec in MODELS.items()},
        subsets=SUBSETS,
    container:
        BASE_CONTAINER
    log:
        f"logs/sensitivity/{BENCH}.log",
    benchmark:
        f"logs/bench/sensitivity/{BENCH}.tsv"
    script:
        "../scripts/sensitivity.py"
