"""Snakemake adapter: train one tiny demo CLIP on the benchmark's train split (mubench.analyses.merging.demo_clip)."""

from pathlib import Path

import torch

from mubench.analyses.merging.demo_clip import train_demo_clip
from mubench.logs import job


def run(trained, benchmark_root, init_dir, out_dir, threads, full_image_check):
    torch.set_num_threads(threads)
    train_demo_clip(trained.architecture, benchmark_root, trained.settings, out_dir, init_dir=init_dir,
                    full_image_check=full_image_check)


with job(snakemake.log[0]):
    run(snakemake.params.trained, Path(snakemake.input.questions).parent, snakemake.input.get("init"),
        snakemake.output[0], snakemake.params.threads, snakemake.params.full_image_check)
