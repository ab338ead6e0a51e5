"""Snakemake adapter: the 64-bit pHash of every benchmark image (parallel, cached by md5)."""

from pathlib import Path

from mubench.benchmark.tables import Benchmark
from mubench.io import atomic_write
from mubench.logs import job
from mubench.analyses.phash import image_hashes


def run(benchmark_root, cache_dir, output, workers, full_image_check):
    bench = Benchmark(Path(benchmark_root))
    bench.verify_images(full=full_image_check)  # the hash cache trusts the md5 recorded at build time
    images = bench.images
    hashes = image_hashes([Path(benchmark_root) / p for p in images["path"]], list(images["md5"]),
                          Path(cache_dir), workers)
    table = images[["image_id", "dataset", "md5"]].assign(phash=[f"{h:016x}" for h in hashes.tolist()])
    atomic_write(output, lambda tmp: table.to_parquet(tmp, index=False))


with job(snakemake.log[0]):
    run(Path(snakemake.input.images).parent, snakemake.params.cache_dir, snakemake.output[0], snakemake.threads,
        snakemake.params.full_image_check)
