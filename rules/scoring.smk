from mubench.scoring.accuracy import EULENBERG_DATASETS


rule score:
    """Accuracy per question type, dataset and subset (micro totals + macro means) with bootstrap CIs."""
    input:
        "results/{benchmark}/predictions/{model}/{subset}.parquet",
    output:
        "results/{benchmark}/scores/{model}/{subset}.parquet",
    params:
        bootstrap=config["bootstrap"],
        # DESIGN §4: always also without the two Eulenberg datasets, unless the config names others
        excluded_datasets=config.get("report", {}).get("excluded_datasets", list(EULENBERG_DATASETS)),
    container:
        BASE_CONTAINER
    log:
        "logs/score/{benchmark}/{model}/{subset}.log",
    benchmark:
        "logs/bench/score/{benchmark}/{model}/{subset}.tsv"
    script:
        "../scripts/score.py"
