from mubench.scoring.accuracy import EULENBERG_DATASETS


rule score:
    """Accuracy per question type, dataset and subset (micro totals + macro means) with bootstrap CIs, per model."""
    input:
        expand("results/{{benchmark}}/predictions/{{model}}/{subset}.parquet", subset=SUBSETS),
    output:
        expand("results/{{benchmark}}/scores/{{model}}/{subset}.parquet", subset=SUBSETS),
    params:
        bootstrap=config["bootstrap"],
        # DESIGN §4: always also without the two Eulenberg datasets, unless the config names others
        excluded_datasets=config.get("report", {}).get("excluded_datasets", list(EULENBERG_DATASETS)),
    container:
        BASE_CONTAINER
    log:
        "logs/score/{benchmark}/{model}.log",
    benchmark:
        "logs/bench/score/{benchmark}/{model}.tsv"
    script:
        "../scripts/score.py"
