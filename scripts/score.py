"""Snakemake adapter: accuracy tables with bootstrap CIs for one (model, subset)."""

import pandas as pd

from mubench.io import atomic_write
from mubench.logs import log_to
from mubench.scoring.accuracy import BootstrapSettings, accuracy_table


def run(predictions_path, output, bootstrap, excluded_datasets):
    predictions = pd.read_parquet(predictions_path)
    table = accuracy_table(predictions, bootstrap=BootstrapSettings(**bootstrap),
                           excluded_datasets=excluded_datasets)
    atomic_write(output, lambda tmp: table.to_parquet(tmp, index=False))


with log_to(snakemake.log[0]):
    run(snakemake.input[0], snakemake.output[0], dict(snakemake.params.bootstrap),
        list(snakemake.params.excluded_datasets))
