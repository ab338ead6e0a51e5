"""Snakemake adapter: Table 14 (near-duplicates per dataset, beside the paper) and its Table 1 robustness check."""

import logging

import numpy as np
import pandas as pd

from mubench.figures.table14 import (
    build_table14,
    datasets_above,
    read_reference,
    robustness_check,
)
from mubench.io import atomic_write
from mubench.logs import log_to
from mubench.analyses.phash import similarity_table
from mubench.scoring.accuracy import BootstrapSettings

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
    atomic_write(out.table, lambda tmp: table.to_csv(tmp, index=False))
    atomic_write(out.robustness, lambda tmp: per_model.to_csv(tmp, index=False))
    atomic_write(out.summary, lambda tmp: summary.to_csv(tmp, index=False))


with log_to(snakemake.log[0]):
    run(snakemake.input.hashes, snakemake.input.predictions, snakemake.input.reference, snakemake.params.models,
        dict(snakemake.params.settings), dict(snakemake.params.bootstrap), snakemake.output)
