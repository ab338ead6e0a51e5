"""Snakemake adapter: build the benchmark tables from the configured source."""

from pathlib import Path

from mubench.benchmark.sources import source_of
from mubench.benchmark.tables import set_max_image_pixels
from mubench.logs import job


def run(out_dir: Path, source: str, seed: int, options: dict, max_pixels: int | None) -> None:
    set_max_image_pixels(max_pixels)  # every image is decoded under it (and the manifest records it)
    source_of(source).build()(out_dir, seed=seed, **options)


with job(snakemake.log[0]):
    run(Path(snakemake.output.tables[0]).parent, snakemake.params.source, snakemake.params.seed,
        dict(snakemake.params.options), snakemake.params.max_image_pixels)
