"""Snakemake adapter: Table 19, Fig. 5 and the α curve from the prediction rows of every model."""

import logging

import pandas as pd

from mubench.figures.export import write_table
from mubench.figures.merging import alpha_curve, fig5_points, plot_alpha_curve, plot_fig5, table19
from mubench.figures.table1 import read_reference
from mubench.io import atomic_write
from mubench.logs import log_to
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
    write_table(table, out.table19, out.table19_md, out.table19_tex, "Table 19 — accuracy (%) with weight-merged "
                "models", [note, "pathology/he/non_pathology_accuracy: pooled accuracy on the merging.slices datasets",
                           *missing])
    curve = alpha_curve(accuracy, plan)
    atomic_write(out.curve_csv, lambda tmp: curve.to_csv(tmp, index=False))
    points = fig5_points(accuracy, models, plan, subsets, table1_reference, pathology_reference)
    plot_fig5(points, subsets, note, out.fig5, out.fig5_pdf)
    atomic_write(out.fig5_csv, lambda tmp: points.to_csv(tmp, index=False))
    plot_alpha_curve(curve, subsets, note, out.curve, out.curve_pdf)


with log_to(snakemake.log[0]):
    run(snakemake.input.predictions, snakemake.input.images, snakemake.input, snakemake.params.models,
        snakemake.params.plan, snakemake.params.subsets, dict(snakemake.params.not_evaluated),
        snakemake.params.eval_splits, dict(snakemake.params.slices), dict(snakemake.params.bootstrap),
        snakemake.output)
