"""Snakemake adapter: reproduction.md (and .html, for the report) from the artefact tables of this run."""

import json
from pathlib import Path

import pandas as pd

from mubench.benchmark.sources import source_of
from mubench.figures import html
from mubench.figures.export import describe_benchmark, write_text
from mubench.figures.paper_table import default_layout
from mubench.figures.reproduction import render, summarise
from mubench.logs import job


def run(table_paths, absent, manifest_path, out):
    tables = {Path(p).name: pd.read_csv(p) for p in table_paths}
    tables.update(absent)
    manifest = json.loads(open(manifest_path).read())
    notes = [f"benchmark: {describe_benchmark(manifest)}",
             "within paper CI: our value lies in the paper's value ± its published \"±\" (Tables 1, 19, 20)",
             "Δ = ours − paper (Table 21: in percent of the paper's parameter count); counts compare exactly"]
    if not source_of(manifest["source"]).paper_data:
        notes.append("this is NOT the μ-Bench data: numbers beside the paper's are for orientation only")
    summary = summarise(tables)
    write_text(out.md, render(summary, notes))
    write_text(out.html, html.page(default_layout(summary, "How close this run came to the paper", notes)))


with job(snakemake.log[0]):
    run(snakemake.input.tables, dict(snakemake.params.absent), snakemake.input.manifest, snakemake.output)
