"""Snakemake adapter: appendix Table 18 (GRIT localization) from every detection model's boxes."""

import json

import pandas as pd

from pathlib import Path

from mubench.figures.export import describe_benchmark, output_files, write_table
from mubench.figures.table18 import build_table18, printed_table18, read_reference
from mubench.logs import job


def run(box_paths, reference_path, manifest_path, models, out):
    detections = pd.concat([pd.read_parquet(p) for p in box_paths], ignore_index=True)
    table = build_table18(detections, models, read_reference(reference_path))
    benchmark = describe_benchmark(json.loads(open(manifest_path).read()))
    title = "Table 18 — GRIT localization (%)"
    notes = [f"benchmark: {benchmark}",
             "grit: mean GRIT localization score per (image, class) row; n_unparsed: rows without a parseable box",
             "paper_grit: the paper's Table 18 for the same dataset, class and model, where it lists one"]
    files = output_files(out, "table18")
    write_table(table, files, title, notes, printed_table18(table, title, notes, Path(files.csv).name))


with job(snakemake.log[0]):
    run(snakemake.input.boxes, snakemake.input.reference, snakemake.input.manifest, snakemake.params.models,
        snakemake.output)
