"""Snakemake adapter: Table 21, the model table, from every model's model.json beside the paper's."""

from pathlib import Path

from mubench.figures.export import output_files, write_table
from mubench.figures.table1 import read_reference
from mubench.figures.table21 import build_table21, printed_table21, read_model_facts
from mubench.logs import job


def run(fact_paths, reference_path, models, out):
    facts = {spec.name: read_model_facts(path) for spec, path in zip(models, fact_paths, strict=True)}
    table = build_table21(models, facts, read_reference(reference_path))
    title = "Table 21 — models"
    notes = ["parameters: counted on the loaded weights by the predict job (blank: API or random baseline)",
             "checkpoint / revision: what the weights were loaded from and pinned to",
             "paper_total_params: as printed in the paper's Table 21; parameters_vs_paper = ours / paper's"]
    files = output_files(out, "table21")
    write_table(table, files, title, notes, printed_table21(table, title, notes, Path(files.csv).name))


with job(snakemake.log[0]):
    run(snakemake.input.facts, snakemake.input.reference, snakemake.params.models, snakemake.output)
