"""Snakemake adapter: answer every question of one subset with one model, default and alternative caption sets."""

from pathlib import Path

from mubench.answering.caption_variants import predict_caption_variants
from mubench.answering.predict import load_answerer, predict_subset
from mubench.io import atomic_write
from mubench.logs import log_to
from mubench.models import FAMILIES


def run(spec, benchmark_root, subset, output, variants_output, cache_dir, batch_size, device, threads):
    if FAMILIES[spec.family].uses_torch:  # the API image ships no torch
        import torch

        torch.set_num_threads(threads)
    model = load_answerer(spec, device)
    table = predict_subset(spec, benchmark_root, subset, cache_dir=cache_dir, batch_size=batch_size, model=model)
    atomic_write(output, lambda tmp: table.to_parquet(tmp, index=False))
    variants = predict_caption_variants(spec, benchmark_root, subset, cache_dir=cache_dir, batch_size=batch_size,
                                        model=model)
    atomic_write(variants_output, lambda tmp: variants.to_parquet(tmp, index=False))


with log_to(snakemake.log[0]):
    run(
        snakemake.params.spec,
        Path(snakemake.input.questions).parent,
        snakemake.wildcards.subset,
        snakemake.output.predictions,
        snakemake.output.variants,
        snakemake.params.cache_dir,
        snakemake.params.batch_size,
        snakemake.params.device,
        snakemake.threads,
    )
