"""Snakemake adapter: Table 1 (CSV + Markdown) and its per-type/per-dataset breakdown."""

import json

import pandas as pd

from mubench.figures.table1 import TIED_MARK, breakdown_table, build_table1, read_reference, render_markdown
from mubench.io import atomic_write
from mubench.logs import log_to
from mubench.scoring.paired import tied_with_best


def run(score_paths, manifest_path, reference_path, significance_path, models, subsets, bootstrap, alpha, out):
    scores = pd.concat([pd.read_parquet(p) for p in score_paths], ignore_index=True)
    table = build_table1(scores, models, subsets, read_reference(reference_path))
    manifest = json.loads(open(manifest_path).read())
    revision = manifest.get("revision", "n/a")
    if isinstance(revision, dict):
        revision = ", ".join(f"{k} {v}" for k, v in revision.items())
    notes = [
        f"benchmark: {manifest['source']} ({revision}); total = pooled (micro) "
        "accuracy over all questions of the subset",
        f"CI: {bootstrap['method']} bootstrap, {bootstrap['confidence']:.0%}, {bootstrap['n_resamples']} resamples of "
        f"{'images with all their questions' if bootstrap.get('resample') == 'images' else 'question rows'}, "
        f"seed {bootstrap['seed']}; ± = upper bound − accuracy, as in the paper",
        f"{TIED_MARK} = not significantly different from the best model of its subset (first row): exact McNemar test "
        f"on the questions both answered, Holm-corrected over the subset's model pairs, p ≥ {alpha:g} "
        "(significance.csv)",
        "paper / paper ±: published μ-Bench values (arXiv 2407.01791) for the model of the same name",
    ]
    if manifest["source"] != "ubench":
        notes.append("this is NOT the μ-Bench data: paper columns are printed for orientation only")
    notes += [f"{spec.label}: {spec.note}" for spec in models if spec.note]
    atomic_write(out.csv, lambda tmp: table.to_csv(tmp, index=False))
    best = {subset: rows["model"].iloc[0] for subset, rows in table.groupby("subset", sort=False)}
    tied = tied_with_best(pd.read_csv(significance_path), best, alpha)
    atomic_write(out.md, lambda tmp: open(tmp, "w").write(render_markdown(table, notes, tied)))
    breakdown = breakdown_table(scores, models)
    atomic_write(out.breakdown, lambda tmp: breakdown.to_csv(tmp, index=False))


with log_to(snakemake.log[0]):
    run(snakemake.input.scores, snakemake.input.manifest, snakemake.input.reference, snakemake.input.significance,
        snakemake.params.models, snakemake.params.subsets, dict(snakemake.params.bootstrap),
        snakemake.params.alpha, snakemake.output)
