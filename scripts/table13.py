"""Snakemake adapter: Table 13 (linear probe beside the paper), the Fig. 8 bar chart and the values it draws."""

from pathlib import Path

import numpy as np
import pandas as pd

from mubench.figures.export import output_files, write_table
from mubench.figures.linear_probe import build_table13, plot_fig8, printed_table13, read_reference
from mubench.io import atomic_write
from mubench.logs import job


def run(results_path, features_path, reference_path, benchmark_source, out):
    with np.load(features_path) as data:
        label = str(data["label"])
    table = build_table13(pd.read_parquet(results_path), read_reference(reference_path), label)
    title = "Table 13 — linear probe, macro F1 (%) per task"
    notes = [f"features: {label}; benchmark: {benchmark_source}",
             "macro_f1_ci_low/high: percentile bootstrap CI over the test images",
             "dummy_*: the scikit-learn dummy (prior, most_frequent, stratified) with the best validation macro F1, "
             "scored on the test images with the same CI",
             "paper_*: the paper's Table 13 (macro F1 and expert difficulty) for the same task"]
    files = output_files(out, "table13")
    write_table(table, files, title, notes, printed_table13(table, title, notes, Path(files.csv).name))
    drawn = plot_fig8(table, out.png, out.pdf, f"Linear probe on the {benchmark_source} benchmark; features: {label}")
    atomic_write(out.data, lambda tmp: drawn.round(4).to_csv(tmp, index=False))


with job(snakemake.log[0]):
    run(snakemake.input.results, snakemake.input.features, snakemake.input.reference, snakemake.params.source,
        snakemake.output)
