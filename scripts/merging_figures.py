"""Snakemake adapter: Table 19, Fig. 5 and the α curve from the prediction rows of every model."""

import logging
from pathlib import Path

import pandas as pd

from mubench.figures.export import output_files, write_csv, write_table
from mubench.figures.merging import alpha_curve, fig5_points, plot_alpha_curve, plot_fig5, table19
from mubench.figures.table1 import CI_NOTES, printed_table19, read_reference
from mubench.io import atomic_write
from mubench.logs import job
from mubench.scoring.accuracy import BootstrapSettings
from mubench.scoring.slices import held_out, slice_accuracy

log = logging.getLogger(__name__)


def run(prediction_paths, images_path, references, models, plan, subsets, not_evaluated, splits, slices, bootstrap,
        out):
    predictions = pd.concat([pd.read_parquet(p) for p in prediction_paths], ignore_index=True)
    predictions = held_out(predictions, pd.read_parquet(images_path), splits)
    note = f"questions on {'/'.join(splits)} images only" if splits else "all questions"
    settings = BootstrapSettings(**bootstrap)
    accuracy = slice_accuracy(predictions, slices, settings)
    table1_reference, pathology_reference = read_reference(references.table1), read_reference(references.pathology)
    table = table19(predictions, models, plan, subsets, table1_reference, pathology_reference, accuracy, settings)
    table["evaluated_on"] = note
    missing = [f"merging.subsets lists {subset}, which is not in this table: {reason}"
               for subset, reason in not_evaluated.items()]
    for line in missing:
        log.warning(line)
    title = "Table 19 — accuracy (%) with weight-merged models"
    notes = [note, "pathology/he/non_pathology_accuracy: pooled accuracy on the merging.slices datasets", *missing,
             *CI_NOTES]
    files = output_files(out, "table19")
    write_table(table, files, title, notes, printed_table19(table, title, notes, Path(files.csv).name))
    curve = alpha_curve(accuracy, plan)
    write_csv(curve, out.curve_csv)
    points = fig5_points(accuracy, models, plan, subsets, table1_reference, pathology_reference)
    plot_fig5(points, subsets, note, out.fig5, out.fig5_pdf)
    atomic_write(out.fig5_csv, lambda tmp: points.to_csv(tmp, index=False))
    plot_alpha_curve(curve, subsets, note, out.curve, out.curve_pdf)


with job(snakemake.log[0]):
    run(snakemake.input.predictions, snakemake.input.images, snakemake.input, snakemake.params.models,
        snakemake.params.plan, snakemake.params.subsets, dict(snakemake.params.not_evaluated),
        snakemake.params.eval_splits, dict(snakemake.params.slices), dict(snakemake.params.bootstrap),
        snakemake.output)
