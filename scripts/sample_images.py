"""Snakemake adapter: Fig. 6, a seeded grid of sample images per dataset."""

from pathlib import Path

import pandas as pd

from mubench.figures.benchmark_figures import plot_fig6
from mubench.io import atomic_write
from mubench.logs import job


def run(images_path, benchmark_root, per_dataset, seed, out):
    samples = plot_fig6(pd.read_parquet(images_path), benchmark_root, per_dataset, seed, out.png, out.pdf)
    atomic_write(out.data, lambda tmp: samples.to_csv(tmp, index=False))


with job(snakemake.log[0]):
    run(snakemake.input.images, Path(snakemake.input.images).parent, snakemake.params.per_dataset, snakemake.params.seed,
        snakemake.output)
