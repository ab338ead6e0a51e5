"""Snakemake adapter: Table 13 (linear probe beside the paper), the Fig. 8 bar chart and the values it draws."""

import io
from pathlib import Path

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
    png = io.BytesIO()
    drawn = plot_fig8(table, png, title)
    atomic_write(out.png, lambda tmp: Path(tmp).write_bytes(png.getvalue()))
    atomic_write(out.data, lambda tmp: drawn.to_csv(tmp, index=False))


with log_to(snakemake.log[0]):
    run(snakemake.input.results, snakemake.input.features, snakemake.input.reference, snakemake.params.source,
        snakemake.output)
