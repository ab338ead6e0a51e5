"""Snakemake adapter: appendix Table 18 (GRIT localization) from every detection model's boxes."""

import pandas as pd

from mubench.figures.table18 import build_table18, read_reference
from mubench.io import atomic_write
from mubench.logs import log_to


def run(box_paths, reference_path, models, output):
    detections = pd.concat([pd.read_parquet(p) for p in box_paths], ignore_index=True)
    table = build_table18(detections, models, read_reference(reference_path))
    atomic_write(output, lambda tmp: table.to_csv(tmp, index=False))


with log_to(snakemake.log[0]):
    run(snakemake.input.boxes, snakemake.input.reference, snakemake.params.models, snakemake.output[0])
