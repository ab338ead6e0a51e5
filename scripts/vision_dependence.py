"""Snakemake adapter: vision_dependence.{csv,md,tex,html} — each model's accuracy with and without the image."""

import pandas as pd

from mubench.answering.blind import ABLATIONS
from mubench.figures.export import output_files, write_table
from mubench.figures.statistics import in_percent
from mubench.logs import job
from mubench.scoring.accuracy import BootstrapSettings
from mubench.scoring.vision import BY_CONSTRUCTION, VISION_PERCENT, vision_dependence

COLUMNS = ["model", "subset", "question_id", "image_id", "correct"]


def run(prediction_paths, models, blind_files, subsets, bootstrap, out):
    with_image = pd.concat([pd.read_parquet(p, columns=COLUMNS) for p in prediction_paths], ignore_index=True)
    blind = {}
    for name, label, is_baseline, ablations in models:
        if is_baseline:
            blind[(name, BY_CONSTRUCTION)] = with_image[with_image["model"] == name]
        for ablation in ablations:
            blind[(name, ablation)] = pd.concat([pd.read_parquet(p, columns=COLUMNS)
                                                for p in blind_files[name][ablation]], ignore_index=True)
    table = vision_dependence(with_image, blind, [(name, label) for name, label, *_ in models], subsets,
                              BootstrapSettings(**bootstrap))
    notes = [
        "acc_image / acc_blind: accuracy (%) on the same questions with and without the image; diff = acc_image − "
        "acc_blind (percentage points) with a 95 % bootstrap interval resampling images with all their questions; "
        "n_image_only / n_blind_only: questions right only with / only without the image; p_mcnemar: exact McNemar",
        *(f"{name}: {text}" for name, text in ABLATIONS.items()),
        f"{BY_CONSTRUCTION}: Random and Prior never look at an image, so their blind answers are their answers",
        "models without a row have no blind run (a model entry's `blind: true`)",
    ]
    write_table(in_percent(table, VISION_PERCENT), output_files(out, "vision"),
                "Vision dependence — accuracy with and without the image", notes)


with job(snakemake.log[0]):
    run(list(snakemake.input.predictions), [tuple(m) for m in snakemake.params.models], snakemake.params.blind,
        list(snakemake.params.subsets), dict(snakemake.params.bootstrap), snakemake.output)
