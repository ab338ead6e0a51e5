# mubench: μ-Bench (Micro-Bench) end to end — benchmark tables → predictions → scores → paper tables/figures.
# `snakemake --cores all` runs the embedded demo (config.yaml); `--configfile configs/paper.yaml` the paper.

from mubench.config import check_config_files, config_errors_first

# Snakemake keeps the last of a repeated key and names no file or line for a YAML error: read the files strictly.
with config_errors_first():
    check_config_files("config.yaml", *workflow.overwrite_configfiles)


configfile: "config.yaml"


report: "report/workflow.rst"

# Light steps that combine every model's scores run on the submitting host, not as cluster jobs (profiles/slurm).
localrules:
    all,
    preflight,
    table1,
    significance,
    sensitivity,
    table13,
    table14,
    merging_figures,
    table18,
    perception_figures,
    composition,
    sample_images,
    table21,
    reproduction,
    absent_artefact,
    leaderboard,
    vision_dependence,
    audit,


include: "rules/common.smk"
include: "rules/benchmark.smk"
include: "rules/inference.smk"
include: "rules/scoring.smk"
include: "rules/figures.smk"
include: "rules/probe.smk"
include: "rules/phash.smk"
include: "rules/merging.smk"
include: "rules/detection.smk"
include: "rules/audit.smk"
include: "rules/leaderboard.smk"
include: "rules/report.smk"
include: "rules/preflight.smk"


rule all:
    input:
        rules.table1.output,
        rules.significance.output,
        rules.sensitivity.output,
        rules.leaderboard.output,
        rules.sample_images.output,
        rules.table21.output,
        rules.reproduction.output,
        rules.vision_dependence.output,
        rules.audit.output,
        [rules.perception_figures.output, rules.composition.output] if PERCEPTION else [],
        rules.table13.output if PROBE else [],
        rules.table14.output if PHASH else [],
        rules.merging_figures.output if MERGING.pairs else [],
        rules.table18.output if DETECTION_MODELS else [],
        expand(rules.absent_artefact.output, absent=ABSENT),
    default_target: True
