"""Snakemake adapter: Fig. 4, 11, 12, 13, 14 and Table 20 from every Table 1 model's score table."""

from pathlib import Path

import pandas as pd

from mubench.figures import perception
from mubench.figures.export import output_files, write_table
from mubench.figures.table1 import CI_NOTES, printed_table1, read_reference
from mubench.figures.table20 import build_table20, pathology_note
from mubench.io import atomic_write
from mubench.logs import job


def run(score_paths, images_path, reference_path, models, subsets, bootstrap, radar_models, out):
    images = pd.read_parquet(images_path)
    scores = pd.concat([pd.read_parquet(p) for p in score_paths], ignore_index=True)
    drawn = {
        "fig4": perception.plot_fig4(scores, models, out.fig4, out.fig4_pdf),
        "fig11": perception.plot_fig11(scores, models, radar_models, out.fig11, out.fig11_pdf),
        "fig12": perception.plot_fig12(scores, models, out.fig12, out.fig12_pdf),
        "fig13": perception.plot_fig13(scores, models, out.fig13, out.fig13_pdf),
        "fig14": perception.plot_fig14(scores, models, out.fig14, out.fig14_pdf),
    }
    for name, data in drawn.items():
        atomic_write(out[f"{name}_data"], lambda tmp, data=data: data.round(4).to_csv(tmp, index=False))
    table = build_table20(scores, models, subsets, read_reference(reference_path))
    notes = [pathology_note(images),
             f"CI: {bootstrap['method']} bootstrap, {bootstrap['confidence']:.0%}, {bootstrap['n_resamples']} "
             "resamples; ± = upper bound − accuracy",
             "paper_*: the paper's Table 20; paper_uncertain = 1 where the published value was hard to read"]
    title = "Table 20 — pathology-only accuracy (%)"
    files = output_files(out, "table20")
    if table.empty:
        notes.append("no pathology-domain question in this benchmark: the table is empty")
        write_table(table, files, title, notes)
    else:
        write_table(table, files, title, notes, printed_table1(table, {}, title, [*notes, *CI_NOTES],
                                                                Path(files.csv).name))


with job(snakemake.log[0]):
    run(snakemake.input.scores, snakemake.input.images, snakemake.input.reference, snakemake.params.models,
        snakemake.params.subsets, dict(snakemake.params.bootstrap), snakemake.params.radar_models, snakemake.output)
