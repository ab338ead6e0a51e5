# Generative models only: how much the matching rule (code | paper_text | strict) moves each model's accuracy.

GENERATIVE_MODELS = [name for name, spec in MODELS.items() if spec.kind == "generative"]
SENSITIVITY_OUTPUTS = ["paper_figures/matching_sensitivity.csv"] if GENERATIVE_MODELS else []


rule matching_sensitivity:
    """Accuracy and unparseable counts of every generative model and subset under all three matching rules."""
    input:
        expand(f"results/{BENCH}/predictions/{{model}}/{{subset}}.parquet", model=GENERATIVE_MODELS, subset=SUBSETS),
    output:
        "paper_figures/matching_sensitivity.csv",
    container:
        BASE_CONTAINER
    log:
        f"logs/matching_sensitivity/{BENCH}.log",
    benchmark:
        f"logs/bench/matching_sensitivity/{BENCH}.tsv"
    script:
        "../scripts/matching_sensitivity.py"
