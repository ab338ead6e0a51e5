"""Snakemake adapter: the linear probe per task (coarse types, fine datasets) on the cached features."""

from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from mubench.benchmark.tables import Benchmark
from mubench.io import atomic_write
from mubench.logs import job
from mubench.analyses.probe import ProbeSettings, run_probe


def run(features_path, benchmark_root, settings, output, threads):
    bench = Benchmark(Path(benchmark_root))
    with np.load(features_path) as data:
        image_ids, features = data["image_id"], data["features"]
    with threadpool_limits(threads):
        results = run_probe(bench.images, bench.questions, image_ids, features, settings)
    atomic_write(output, lambda tmp: results.to_parquet(tmp, index=False))


with job(snakemake.log[0]):
    run(snakemake.input.features, Path(snakemake.input.images).parent,
        ProbeSettings.from_config(dict(snakemake.params.settings)), snakemake.output[0], snakemake.params.threads)
