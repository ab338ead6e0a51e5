"""Snakemake adapter: paired comparisons of the configured models (significance.csv, its breakdown, the matrix)."""

import pandas as pd

from mubench.figures.statistics import SIGNIFICANCE_PERCENT, in_percent, save, significance_matrix
from mubench.io import atomic_write
from mubench.logs import log_to
from mubench.scoring.accuracy import BootstrapSettings
from mubench.scoring.paired import paired_comparisons


def run(prediction_paths, models, subsets, bootstrap, alpha, out):
    predictions = pd.concat([pd.read_parquet(p) for p in prediction_paths], ignore_index=True)
    settings = BootstrapSettings(**bootstrap)
    table = paired_comparisons(predictions, models, subsets=subsets, bootstrap=settings)
    breakdown = paired_comparisons(predictions, models, subsets=subsets, bootstrap=settings, by_dataset=True)
    figure = significance_matrix(table, subsets, alpha)
    for path, rows in ((out.csv, table), (out.breakdown, breakdown)):
        rows = in_percent(rows, SIGNIFICANCE_PERCENT)
        atomic_write(path, lambda tmp, rows=rows: rows.to_csv(tmp, index=False))
    for fmt in ("png", "pdf"):
        atomic_write(getattr(out, fmt), lambda tmp, fmt=fmt: save(figure, tmp, fmt))


with log_to(snakemake.log[0]):
    run(list(snakemake.input), [tuple(m) for m in snakemake.params.models], list(snakemake.params.subsets),
        dict(snakemake.params.bootstrap), snakemake.params.alpha, snakemake.output)
