"""Snakemake adapter: answer every question of one subset with one model."""

from pathlib import Path

from mubench.answering.predict import predict_subset
from mubench.io import atomic_write
from mubench.logs import log_to
from mubench.models import FAMILIES


def run(spec, benchmark_root, subset, output, cache_dir, batch_size, device, threads, full_image_check):
    if FAMILIES[spec.family].uses_torch:  # the API image ships no torch
        import torch

        torch.set_num_threads(threads)
    table = predict_subset(spec, benchmark_root, subset, cache_dir=cache_dir, batch_size=batch_size, device=device,
                           full_image_check=full_image_check)
    atomic_write(output, lambda tmp: table.to_parquet(tmp, index=False))


with log_to(snakemake.log[0]):
    run(
        snakemake.params.spec,
        Path(snakemake.input.questions).parent,
        snakemake.wildcards.subset,
        snakemake.output[0],
        snakemake.params.cache_dir,
        snakemake.params.batch_size,
        snakemake.params.device,
        snakemake.config["inference"]["threads"],  # not snakemake.threads: results must not depend on --cores
        snakemake.config["benchmark"]["verify_images"] == "full",
    )
