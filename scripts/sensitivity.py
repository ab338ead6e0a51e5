"""Snakemake adapter: accuracy of every configured model under each caption set or matching rule, and the figure."""

import pandas as pd

from mubench.figures.export import write_data_table
from mubench.figures.statistics import SENSITIVITY_PERCENT, in_percent, save, sensitivity_plot
from mubench.io import atomic_write
from mubench.logs import job
from mubench.scoring.sensitivity import sensitivity_table


def run(prediction_paths, variant_paths, labels, subsets, out):
    predictions = pd.concat([pd.read_parquet(p) for p in prediction_paths], ignore_index=True)
    variants = pd.concat([pd.read_parquet(p) for p in variant_paths], ignore_index=True)
    table = sensitivity_table(predictions, variants)
    figure = sensitivity_plot(table, subsets, labels)
    table = in_percent(table.assign(model=table["model"].map(labels)), SENSITIVITY_PERCENT)  # as Table 1
    write_data_table(table, out.csv, out.csv_html, "Accuracy under every caption set and matching rule", [
        "factor caption_set: contrastive models and Random under each alternative caption set; matching_rule: "
        "generative models under each rule that reads their answers; the default is what Table 1 scores",
        "accuracy and default_accuracy on the same n questions, percent; difference = accuracy − default_accuracy; "
        "spread = largest minus smallest difference of the model and subset"])
    for fmt in ("png", "pdf"):
        atomic_write(getattr(out, fmt), lambda tmp, fmt=fmt: save(figure, tmp, fmt))


with job(snakemake.log[0]):
    run(snakemake.input.predictions, snakemake.input.variants, dict(snakemake.params.labels),
        list(snakemake.params.subsets), snakemake.output)
