"""Snakemake adapter: Table 1 (CSV + Markdown) and its per-type/per-dataset breakdown."""

import json

import pandas as pd

from mubench.figures.export import describe_benchmark, latex
from mubench.figures.table1 import breakdown_table, build_table1, read_reference, render_markdown
from mubench.io import atomic_write
from mubench.logs import log_to


def run(score_paths, manifest_path, reference_path, models, subsets, bootstrap, out):
    scores = pd.concat([pd.read_parquet(p) for p in score_paths], ignore_index=True)
    table = build_table1(scores, models, subsets, read_reference(reference_path))
    manifest = json.loads(open(manifest_path).read())
    notes = [
        f"benchmark: {describe_benchmark(manifest)}; total = pooled (micro) "
        "accuracy over all questions of the subset",
        f"CI: {bootstrap['method']} bootstrap, {bootstrap['confidence']:.0%}, {bootstrap['n_resamples']} resamples, "
        f"seed {bootstrap['seed']}; ± = upper bound − accuracy, as in the paper",
        "paper / paper ±: published μ-Bench values (arXiv 2407.01791) for the model of the same name",
    ]
    if manifest["source"] != "ubench":
        notes.append("this is NOT the μ-Bench data: paper columns are printed for orientation only")
    notes += [f"{spec.label}: {spec.note}" for spec in models if spec.note]
    atomic_write(out.csv, lambda tmp: table.to_csv(tmp, index=False))
    atomic_write(out.md, lambda tmp: open(tmp, "w").write(render_markdown(table, notes)))
    atomic_write(out.tex, lambda tmp: open(tmp, "w").write(latex(table, "Table 1 — μ-Bench accuracy (%)", notes)))
    breakdown = breakdown_table(scores, models)
    atomic_write(out.breakdown, lambda tmp: breakdown.to_csv(tmp, index=False))


with log_to(snakemake.log[0]):
    run(snakemake.input.scores, snakemake.input.manifest, snakemake.input.reference, snakemake.params.models,
        snakemake.params.subsets, dict(snakemake.params.bootstrap), snakemake.output)
