"""Snakemake adapter: paired comparisons of the configured models (significance.csv, its breakdown, the matrix)."""

import pandas as pd

from mubench.figures.export import write_data_table
from mubench.figures.statistics import SIGNIFICANCE_PERCENT, in_percent, save, significance_matrix
from mubench.io import atomic_write
from mubench.logs import job
from mubench.scoring.accuracy import BootstrapSettings
from mubench.scoring.paired import paired_comparisons


def run(prediction_paths, models, subsets, bootstrap, alpha, out):
    predictions = pd.concat([pd.read_parquet(p) for p in prediction_paths], ignore_index=True)
    settings = BootstrapSettings(**bootstrap)
    table = paired_comparisons(predictions, models, subsets=subsets, bootstrap=settings)
    breakdown = paired_comparisons(predictions, models, subsets=subsets, bootstrap=settings, by_dataset=True)
    figure = significance_matrix(table, subsets, alpha)
    notes = ["acc_a, acc_b, diff and its CI in percent; the CI resamples images with all their questions (both models "
             "on the same images), clipped to [−100, 100]",
             "n_a_only: questions model_a got right and model_b wrong; p_mcnemar: exact two-sided McNemar test; "
             "p_holm: Holm-corrected over the subset's pairs"]
    write_data_table(in_percent(table, SIGNIFICANCE_PERCENT), out.csv, out.csv_html,
                     "Paired comparisons of every two models", notes)
    write_data_table(in_percent(breakdown, SIGNIFICANCE_PERCENT), out.breakdown, out.breakdown_html,
                     "Paired comparisons of every two models, per dataset", notes)
    for fmt in ("png", "pdf"):
        atomic_write(getattr(out, fmt), lambda tmp, fmt=fmt: save(figure, tmp, fmt))


with job(snakemake.log[0]):
    run(list(snakemake.input), [tuple(m) for m in snakemake.params.models], list(snakemake.params.subsets),
        dict(snakemake.params.bootstrap), snakemake.params.alpha, snakemake.output)
