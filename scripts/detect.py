"""Snakemake adapter: every detection row of the benchmark answered by one model (boxes + raw responses)."""

from pathlib import Path

from mubench.answering.detection import detect_benchmark
from mubench.io import atomic_write
from mubench.logs import job
from mubench.models import FAMILIES


def run(spec, benchmark_root, output, cache_dir, batch_size, device, threads, full_image_check):
    if FAMILIES[spec.family].uses_torch:  # the classical detector never imports torch
        import torch

        from mubench.models import resolve_device

        torch.set_num_threads(threads)
        device = resolve_device(device)
    table = detect_benchmark(spec, benchmark_root, cache_dir=cache_dir, batch_size=batch_size, device=device,
                             full_image_check=full_image_check)
    atomic_write(output, lambda tmp: table.to_parquet(tmp, index=False))


with job(snakemake.log[0]):
    run(
        snakemake.params.spec,
        Path(snakemake.input.detection).parent,
        snakemake.output[0],
        snakemake.params.cache_dir,
        snakemake.params.batch_size,
        snakemake.params.device,
        snakemake.params.threads,
        snakemake.params.full_image_check,
    )
