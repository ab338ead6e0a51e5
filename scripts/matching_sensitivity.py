"""Snakemake adapter: the matching-rule sensitivity table of all generative models."""

import pandas as pd

from mubench.answering.generative import matching_sensitivity
from mubench.io import atomic_write
from mubench.logs import log_to


def run(prediction_paths, output):
    table = matching_sensitivity(pd.concat([pd.read_parquet(p) for p in prediction_paths], ignore_index=True))
    atomic_write(output, lambda tmp: table.to_csv(tmp, index=False))


with log_to(snakemake.log[0]):
    run(list(snakemake.input), snakemake.output[0])
