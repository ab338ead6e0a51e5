"""Snakemake adapter: one probe feature vector per benchmark image (cached by image md5 + settings)."""

from pathlib import Path

import numpy as np
import torch

from mubench.benchmark.tables import Benchmark
from mubench.io import atomic_write
from mubench.logs import job
from mubench.analyses.probe_features import FeatureSettings, image_features


def run(benchmark_root, settings, cache_dir, output, threads, full_image_check):
    torch.set_num_threads(threads)
    bench = Benchmark(Path(benchmark_root))
    bench.verify_images(full=full_image_check)  # the feature cache trusts the md5 recorded at build time
    images = bench.images
    features = image_features(images, Path(benchmark_root), settings, Path(cache_dir))

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez(fh, image_id=images["image_id"].to_numpy(str), features=features,
                     fingerprint=settings.fingerprint, label=settings.display_label)

    atomic_write(output, write)


with job(snakemake.log[0]):
    run(Path(snakemake.input.images).parent, FeatureSettings.from_config(dict(snakemake.params.settings)),
        snakemake.params.cache_dir, snakemake.output[0], snakemake.params.threads, snakemake.params.full_image_check)
