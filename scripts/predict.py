"""Snakemake adapter: every subset answered by one model, loaded once (one job per model), then again under each
alternative caption set (caption sensitivity; no variant rows for generative models)."""

from pathlib import Path

from mubench.answering.caption_variants import predict_caption_variants
from mubench.answering.predict import predict_subsets
from mubench.io import atomic_write, write_json
from mubench.logs import job
from mubench.models import FAMILIES, load_for


def run(spec, benchmark_root, subsets, outputs, variant_outputs, info_path, cache_dir, batch_size, device, threads,
        full_image_check):
    if FAMILIES[spec.family].uses_torch:  # the API image ships no torch
        import torch

        torch.set_num_threads(threads)
    model = load_for(spec, device)
    tables, info = predict_subsets(spec, benchmark_root, subsets, cache_dir=cache_dir, batch_size=batch_size,
                                   model=model, full_image_check=full_image_check)
    for subset, output in zip(subsets, outputs):
        atomic_write(output, lambda tmp, table=tables[subset]: table.to_parquet(tmp, index=False))
    for subset, output in zip(subsets, variant_outputs):
        variants = predict_caption_variants(spec, benchmark_root, subset, cache_dir=cache_dir, batch_size=batch_size,
                                            model=model)
        atomic_write(output, lambda tmp, table=variants: table.to_parquet(tmp, index=False))
    write_json(info_path, info)


with job(snakemake.log[0]):
    run(
        snakemake.params.spec,
        Path(snakemake.input.questions).parent,
        list(snakemake.params.subsets),
        list(snakemake.output.predictions),
        list(snakemake.output.variants),
        snakemake.output.model_info,
        snakemake.params.cache_dir,
        snakemake.params.batch_size,
        snakemake.params.device,
        snakemake.params.threads,
        snakemake.params.full_image_check,
    )
