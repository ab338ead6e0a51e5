# What a score means: how much of each model's accuracy needs the image (blind runs, rule predict_blind), and an
# audit of every question (answerable without the image, option bias, near-duplicates, contradicting labels).


rule vision_dependence:
    """Per model and subset: accuracy with and without the image on the same questions, the difference with an
    image-paired bootstrap CI and the exact McNemar p (Random and Prior: blind by construction)."""
    input:
        predictions=prediction_files([name for name, spec in MODELS.items() if name in BLIND or spec.is_baseline]),
        blind=[path for runs in blind_prediction_files().values() for paths in runs.values() for path in paths],
    output:
        **named_table_files("vision_dependence", MEANING_SECTION, "Blind runs", name="vision",
                            caption="vision_dependence.rst"),
    params:
        models=lambda wc: [(name, spec.label, spec.is_baseline, [] if spec.is_baseline else list(spec.blind))
                           for name, spec in MODELS.items()],
        blind=blind_prediction_files(),
        subsets=SUBSETS,
        bootstrap=config["bootstrap"],
    container:
        BASE_CONTAINER
    log:
        f"logs/vision_dependence/{BENCH}.log",
    benchmark:
        f"logs/bench/vision_dependence/{BENCH}.tsv"
    script:
        "../scripts/vision_dependence.py"


rule audit:
    """audit.csv: every question's flags, each with its rule; the flagged questions per dataset, the option-bias
    tests per question type, and how the Prior baseline was fitted."""
    input:
        tables=BENCHMARK_TABLES,
        blind=[runs[BLIND[name][0]] for name, runs in blind_prediction_files().items()],  # each model's first ablation
        hashes=f"results/{BENCH}/phash/hashes.parquet" if PHASH else [],
    output:
        questions=paper_file("audit.csv"),
        **named_table_files("audit_summary", MEANING_SECTION, "Question audit", name="summary",
                            caption="audit_summary.rst"),
        **named_table_files("audit_option_bias", MEANING_SECTION, "Question audit", name="bias",
                            caption="audit_option_bias.rst"),
        **named_table_files("prior_baseline", MEANING_SECTION, "Prior baseline", name="prior",
                            caption="prior_baseline.rst"),
    params:
        blind_models=list(BLIND),
        prior_seeds={spec.label: spec.seed for spec in MODELS.values() if spec.kind == "prior"},
        settings={**AUDIT, "phash_threshold": PHASH["threshold"] if PHASH else None},
    container:
        BASE_CONTAINER
    log:
        f"logs/audit/{BENCH}.log",
    benchmark:
        f"logs/bench/audit/{BENCH}.tsv"
    script:
        "../scripts/audit.py"
