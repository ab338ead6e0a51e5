"""Snakemake adapter: Table 19, Fig. 5 and the α curve from the prediction rows of every model."""

import pandas as pd

from mubench.figures.merging import (
    alpha_curve,
    held_out,
    plot_alpha_curve,
    plot_fig5,
    slice_accuracy,
    table19,
)
from mubench.figures.table1 import read_reference
from mubench.io import atomic_write
from mubench.logs import log_to
from mubench.scoring.accuracy import BootstrapSettings


def run(prediction_paths, images_path, references, models, plan, subsets, section, bootstrap, out):
    predictions = pd.concat([pd.read_parquet(p) for p in prediction_paths], ignore_index=True)
    splits = section.get("eval_splits")
    predictions = held_out(predictions, pd.read_parquet(images_path), splits)
    note = f"questions on {'/'.join(splits)} images only" if splits else "all questions"
    accuracy = slice_accuracy(predictions, section["slices"])
    table = table19(predictions, models, plan, subsets, read_reference(references.table1),
                    read_reference(references.pathology), accuracy, BootstrapSettings(**bootstrap))
    table["evaluated_on"] = note
    curve = alpha_curve(accuracy, plan)
    atomic_write(out.table19, lambda tmp: table.to_csv(tmp, index=False))
    atomic_write(out.curve_csv, lambda tmp: curve.to_csv(tmp, index=False))
    atomic_write(out.fig5, lambda tmp: plot_fig5(accuracy, models, plan, subsets, note, tmp))
    atomic_write(out.curve, lambda tmp: plot_alpha_curve(curve, subsets, note, tmp))


with log_to(snakemake.log[0]):
    run(snakemake.input.predictions, snakemake.input.images, snakemake.input, snakemake.params.models,
        snakemake.params.plan, snakemake.params.subsets, dict(snakemake.params.section),
        dict(snakemake.params.bootstrap), snakemake.output)
