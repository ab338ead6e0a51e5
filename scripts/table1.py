"""Snakemake adapter: Table 1 (CSV + Markdown + LaTeX + HTML) and its breakdown per type, dataset and attribute."""

import json
from pathlib import Path

import pandas as pd

from mubench.benchmark.sources import source_of
from mubench.figures.export import describe_benchmark, output_files, write_data_table, write_table
from mubench.figures.published import for_benchmark, per_task_published, protocol_notes, render_tasks, skip_notes
from mubench.figures.table1 import (
    CI_NOTES,
    TIED_MARK,
    breakdown_table,
    build_table1,
    mark_tied,
    printed_table1,
    read_reference,
    render_markdown,
    table1_title,
)
from mubench.logs import job
from mubench.scoring.paired import tied_with_best


def run(score_paths, manifest_path, reference_path, significance_path, models, subsets, bootstrap, alpha, out):
    scores = pd.concat([pd.read_parquet(p) for p in score_paths], ignore_index=True)
    manifest = json.loads(open(manifest_path).read())
    reference = for_benchmark(read_reference(reference_path), manifest["source"])
    table = build_table1(scores, models, subsets, reference)
    notes = [
        f"benchmark: {describe_benchmark(manifest)}; total = pooled (micro) "
        "accuracy over all questions of the subset",
        f"CI: {bootstrap['method']} bootstrap, {bootstrap['confidence']:.0%}, {bootstrap['n_resamples']} resamples of "
        f"{'images with all their questions' if bootstrap.get('resample') == 'images' else 'question rows'}, "
        f"seed {bootstrap['seed']}; ± = upper bound − accuracy, as in the paper",
        f"{TIED_MARK} = not significantly different from the most accurate model of its subset: exact McNemar test "
        f"on the questions both answered, Holm-corrected over the subset's model pairs, p ≥ {alpha:g} "
        "(significance.csv)",
        *source_of(manifest["source"]).published_notes,
        *protocol_notes(manifest, models),
        *skip_notes(manifest, models),
    ]
    notes += [f"{spec.label}: {spec.note}" for spec in models if spec.note]
    breakdown = per_task_published(breakdown_table(scores, models), reference, models)
    title = table1_title(manifest["source"])
    best = {subset: rows["model"].iloc[0] for subset, rows in table.groupby("subset", sort=False)}
    tied = tied_with_best(pd.read_csv(significance_path), best, alpha)
    markdown = (render_markdown(mark_tied(table, tied), [*notes, *CI_NOTES], title)
                + "".join(line + "\n" for line in render_tasks(breakdown)))
    files = output_files(out, "table1")
    printed = printed_table1(table, tied, title, [*notes, *CI_NOTES], Path(files.csv).name)
    write_table(table, files, title, printed=printed, markdown_text=markdown)
    write_data_table(breakdown, out.breakdown, out.breakdown_html, f"{title}: every type, dataset and attribute",
                     [*CI_NOTES, "rows_ci_*: question rows resampled; images_ci_*: images resampled with all their "
                      "questions; ci_low/high: the one bootstrap.resample picks; images_to_rows_width: how many "
                      "times wider the image interval is"])


with job(snakemake.log[0]):
    run(snakemake.input.scores, snakemake.input.manifest, snakemake.input.reference, snakemake.input.significance,
        snakemake.params.models, snakemake.params.subsets, dict(snakemake.params.bootstrap),
        snakemake.params.alpha, snakemake.output)
