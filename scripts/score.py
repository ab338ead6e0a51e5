"""Snakemake adapter: accuracy tables with bootstrap CIs for every subset of one model."""

import pandas as pd

from mubench.io import atomic_write
from mubench.logs import log_to
from mubench.scoring.accuracy import BootstrapSettings, accuracy_table


def run(prediction_paths, outputs, bootstrap, excluded_datasets):
    for predictions_path, output in zip(prediction_paths, outputs):
        table = accuracy_table(pd.read_parquet(predictions_path), bootstrap=BootstrapSettings(**bootstrap),
                               excluded_datasets=excluded_datasets)
        atomic_write(output, lambda tmp, table=table: table.to_parquet(tmp, index=False))


with log_to(snakemake.log[0]):
    run(list(snakemake.input), list(snakemake.output), dict(snakemake.params.bootstrap),
        list(snakemake.params.excluded_datasets))
