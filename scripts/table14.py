"""Snakemake adapter: Table 14 (near-duplicates per dataset, beside the paper) and its Table 1 robustness check."""

import logging

import numpy as np
import pandas as pd

from mubench.analyses.phash import datasets_above, similarity_table
from pathlib import Path

from mubench.figures.export import output_files, write_table
from mubench.figures.table14 import build_table14, printed_robustness, printed_summary, printed_table14, read_reference
from mubench.logs import job
from mubench.scoring.accuracy import BootstrapSettings
from mubench.scoring.robustness import robustness_check

PREDICTION_KEYS = ["model", "subset", "question_type", "dataset", "image_id", "correct"]  # all Table 1 needs


def run(hashes_path, prediction_paths, reference_path, models, settings, bootstrap, out):
    hashes = pd.read_parquet(hashes_path)
    values = np.array([int(h, 16) for h in hashes["phash"]], dtype=np.uint64)
    ours = similarity_table(hashes["dataset"], values, settings["threshold"])
    excluded = datasets_above(ours, settings["max_percent_similar"])
    logging.getLogger("mubench").info("datasets above %s %% near-duplicates: %s", settings["max_percent_similar"],
                                      excluded or "none")
    table = build_table14(ours, read_reference(reference_path))
    predictions = pd.concat([pd.read_parquet(p, columns=PREDICTION_KEYS) for p in prediction_paths], ignore_index=True)
    per_model, summary = robustness_check(predictions, excluded, {spec.name: spec.label for spec in models},
                                          BootstrapSettings(**bootstrap))
    threshold = f"perceptually similar = another image of the dataset within Hamming distance {settings['threshold']}"
    dropped = f"re-scored without datasets above {settings['max_percent_similar']} % similar: {excluded or 'none'}"
    for name, rows, title, notes, printed in [
        ("table14", table, "Table 14 — images with a pHash near-duplicate",
         [threshold, "paper_*: the paper's Table 14; the last two rows are weighted and macro averages"],
         printed_table14),
        ("robustness", per_model, "Table 14 robustness — Table 1 without near-duplicate datasets", [dropped],
         printed_robustness),
        ("summary", summary, "Table 14 robustness — summary per subset", [dropped], printed_summary),
    ]:
        files = output_files(out, name)
        write_table(rows, files, title, notes, printed(rows, title, notes, Path(files.csv).name))


with job(snakemake.log[0]):
    run(snakemake.input.hashes, snakemake.input.predictions, snakemake.input.reference, snakemake.params.models,
        dict(snakemake.params.settings), dict(snakemake.params.bootstrap), snakemake.output)
