"""Snakemake adapter: one model's blind run (answering/blind.py) on every subset, its weights loaded once."""

from pathlib import Path

from mubench.answering.predict import predict_subsets
from mubench.io import atomic_write
from mubench.logs import job
from mubench.models import FAMILIES, load_for


def run(spec, ablation, benchmark_root, subsets, outputs, cache_dir, batch_size, device, threads, full_image_check):
    if FAMILIES[spec.family].uses_torch:  # the API image ships no torch
        import torch

        torch.set_num_threads(threads)
    tables, _ = predict_subsets(spec, benchmark_root, subsets, cache_dir=cache_dir, batch_size=batch_size,
                                model=load_for(spec, device), full_image_check=full_image_check, ablation=ablation)
    for subset, output in zip(subsets, outputs):
        atomic_write(output, lambda tmp, table=tables[subset]: table.to_parquet(tmp, index=False))


with job(snakemake.log[0]):
    run(
        snakemake.params.spec,
        snakemake.wildcards.ablation,
        Path(snakemake.input.questions).parent,
        list(snakemake.params.subsets),
        list(snakemake.output),
        snakemake.params.cache_dir,
        snakemake.params.batch_size,
        snakemake.params.device,
        snakemake.params.threads,
        snakemake.params.full_image_check,
    )
