"""Snakemake adapter: build the benchmark tables from the configured source."""

from pathlib import Path

from mubench.benchmark.demo import build_demo
from mubench.benchmark.microvqa import build_microvqa, build_microvqapp
from mubench.benchmark.tables import set_max_image_pixels
from mubench.benchmark.ubench import build_ubench
from mubench.logs import log_to

SOURCES = {"demo": build_demo, "ubench": build_ubench, "microvqa": build_microvqa, "microvqapp": build_microvqapp}


def run(out_dir: Path, source: str, seed: int, options: dict, max_pixels: int | None) -> None:
    set_max_image_pixels(max_pixels)  # every image is decoded under it (and the manifest records it)
    SOURCES[source](out_dir, seed=seed, **options)


with log_to(snakemake.log[0]):
    run(Path(snakemake.output.tables[0]).parent, snakemake.params.source, snakemake.params.seed,
        dict(snakemake.params.options), snakemake.params.max_image_pixels)
