"""Snakemake adapter: write one weight-merged model folder (mubench.analyses.merging.weights)."""

import torch

from mubench.logs import log_to
from mubench.analyses.merging.weights import write_merged_model


def run(base, tuned, alpha, out_dir, threads):
    torch.set_num_threads(threads)
    write_merged_model(base, tuned, alpha, out_dir)


with log_to(snakemake.log[0]):
    run(snakemake.params.base, snakemake.params.tuned, snakemake.params.alpha, snakemake.output[0],
        snakemake.params.threads)
