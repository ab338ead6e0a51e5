"""Snakemake adapter: Table 13 (linear probe beside the paper) and the Fig. 8 bar chart."""

import numpy as np
import pandas as pd

from mubench.figures.linear_probe import build_table13, plot_fig8, read_reference
from mubench.io import atomic_write
from mubench.logs import log_to


def run(results_path, features_path, reference_path, benchmark_source, out):
    with np.load(features_path) as data:
        label = str(data["label"])
    table = build_table13(pd.read_parquet(results_path), read_reference(reference_path), label)
    atomic_write(out.csv, lambda tmp: table.to_csv(tmp, index=False))
    title = f"Linear probe on the {benchmark_source} benchmark\nfeatures: {label}"
    atomic_write(out.png, lambda tmp: plot_fig8(table, tmp, title))


with log_to(snakemake.log[0]):
    run(snakemake.input.results, snakemake.input.features, snakemake.input.reference, snakemake.params.source,
        snakemake.output)
