"""Snakemake adapter: paper_figures/<benchmark>/leaderboard.html from the scores, predictions and benchmark tables."""

from pathlib import Path

import pandas as pd

from mubench.benchmark.tables import Benchmark
from mubench.figures.leaderboard import PREDICTION_COLUMNS, LeaderboardSettings, leaderboard_data, render_page
from mubench.figures.published import for_benchmark
from mubench.figures.table1 import read_reference
from mubench.io import atomic_write
from mubench.logs import job


def run(inputs, models, subsets, bootstrap, settings, output):
    bench = Benchmark(Path(inputs.manifest).parent)
    image_files, image_md5 = bench.image_index()
    manifest = bench.manifest
    data = leaderboard_data(
        scores=pd.concat([pd.read_parquet(p) for p in inputs.scores], ignore_index=True),
        predictions=pd.concat([pd.read_parquet(p, columns=PREDICTION_COLUMNS) for p in inputs.predictions],
                              ignore_index=True),
        questions=bench.questions, image_files=image_files, image_md5=image_md5,
        manifest=manifest, reference=for_benchmark(read_reference(inputs.reference), manifest["source"]),
        significance=pd.read_csv(inputs.significance), sensitivity=pd.read_csv(inputs.sensitivity),
        models=models, subsets=subsets, bootstrap=bootstrap, settings=settings,
        vision=pd.read_csv(inputs.vision), audit=pd.read_csv(inputs.audit, usecols=["question_id", "flags"],
                                                            dtype={"flags": str}, keep_default_na=False))
    page = render_page(data)
    atomic_write(output, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))


with job(snakemake.log[0]):
    run(snakemake.input, snakemake.params.models, snakemake.params.subsets, dict(snakemake.params.bootstrap),
        LeaderboardSettings(**snakemake.params.settings), snakemake.output[0])
