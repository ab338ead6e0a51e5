"""Snakemake adapter: one pair's merged model folders, one per α (mubench.analyses.merging.weights)."""

import torch

from mubench.logs import job
from mubench.analyses.merging.weights import write_merged_models


def run(base, tuned, out_dirs, threads):
    torch.set_num_threads(threads)
    write_merged_models(base, tuned, out_dirs)


with job(snakemake.log[0]):
    run(snakemake.params.base, snakemake.params.tuned, dict(zip(snakemake.params.alphas, snakemake.output)),
        snakemake.params.threads)
