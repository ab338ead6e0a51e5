"""Snakemake adapter: audit.csv (every question's flags), the summary per dataset, the option-bias tests and the
Prior baseline's fit."""

from pathlib import Path

import pandas as pd

from mubench.analyses.audit import FLAGS, AuditSettings, audit_questions, audit_summary
from mubench.benchmark.tables import Benchmark
from mubench.figures.export import output_files, write_table
from mubench.io import atomic_write
from mubench.logs import job
from mubench.models.prior_baseline import prior_answers


def run(benchmark_root, blind_paths, blind_models, hashes_path, prior_seeds, settings, out):
    bench = Benchmark(Path(benchmark_root))
    questions, images = bench.questions, bench.images
    blind_rows = pd.concat([pd.read_parquet(p, columns=["model", "question_id", "correct"]) for p in blind_paths],
                           ignore_index=True) if blind_paths else pd.DataFrame(columns=["model"])
    blind = {name: blind_rows[blind_rows["model"] == name] for name in blind_models}
    settings = AuditSettings(**settings)
    audit = audit_questions(questions, images, blind=blind, settings=settings,
                            hashes=pd.read_parquet(hashes_path) if hashes_path else None)
    rules = settings.rules()
    notes = [f"{flag}: {rules[flag]}" + (f" — cannot apply here: {audit.not_applicable[flag]}"
                                         if flag in audit.not_applicable else "") for flag in FLAGS]
    notes.append("any_flag: questions with at least one flag; an empty cell: the flag cannot apply (reason above)")
    atomic_write(out.questions, lambda tmp: audit.questions.to_csv(tmp, index=False))
    write_table(audit_summary(audit), output_files(out, "summary"),
                "Question audit — flagged questions per dataset", notes)
    write_table(audit.option_bias, output_files(out, "bias"),
                "Question audit — option bias per question type",
                ["observed: questions whose gold option is the cue (the strictly longest option; \"none of the "
                 "above\"); expected: under chance, Σ 1/number of options over the questions offering the cue",
                 f"p: one-sided exact test (sum of Bernoulli trials); p_holm: Holm over every row; biased: p_holm < "
                 f"{settings.alpha} and observed > expected"])
    fits = [prior_answers(questions, images.set_index("image_id")["split"], questions, seed).fits
            .assign(model=label) for label, seed in prior_seeds.items()]
    prior = pd.concat(fits, ignore_index=True) if fits else pd.DataFrame(columns=["model"])
    prior = prior[["model", *[c for c in prior.columns if c != "model"]]]
    write_table(prior, output_files(out, "prior"), "Prior baseline — how each question type was fitted",
                ["fit: where the answer counts came from (no question's own answer is used to answer it)",
                 "top_answer / top_answer_share: the most common gold answer of the fitting questions",
                 "decided_by_*: questions whose choice the option text's count settled, else the option position's, "
                 "else a seeded coin", "no Prior model configured" if not fits else "Table 1 has its accuracy"])


with job(snakemake.log[0]):
    run(Path(snakemake.input.tables[0]).parent, list(snakemake.input.blind), snakemake.params.blind_models,
        snakemake.input.hashes or None, dict(snakemake.params.prior_seeds), dict(snakemake.params.settings),
        snakemake.output)
