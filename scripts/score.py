"""Snakemake adapter: accuracy tables with bootstrap CIs for every subset of one model."""

import pandas as pd

from mubench.io import atomic_write
from mubench.logs import job
from mubench.scoring.accuracy import BootstrapSettings, accuracy_table
from mubench.scoring.sensitivity import pooled_with_variants


def run(prediction_paths, variant_paths, outputs, bootstrap, excluded_datasets, coarse_caption_sets, threads):
    for predictions_path, variants_path, output in zip(prediction_paths, variant_paths, outputs):
        predictions = pd.read_parquet(predictions_path)
        if coarse_caption_sets == "pooled":  # the authors' aggregation: <type> and <type>_1 rows together
            predictions = pooled_with_variants(predictions, pd.read_parquet(variants_path))
        table = accuracy_table(predictions, bootstrap=BootstrapSettings(**bootstrap),
                               excluded_datasets=excluded_datasets, threads=threads)
        atomic_write(output, lambda tmp, table=table: table.to_parquet(tmp, index=False))


with job(snakemake.log[0]):
    run(list(snakemake.input.predictions), list(snakemake.input.variants), list(snakemake.output),
        dict(snakemake.params.bootstrap), list(snakemake.params.excluded_datasets),
        snakemake.params.coarse_caption_sets, snakemake.threads)
