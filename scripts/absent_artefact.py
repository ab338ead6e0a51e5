"""Snakemake adapter: the note figure standing in for an artefact this configuration cannot produce."""

from mubench.figures.style import note_figure
from mubench.logs import job

with job(snakemake.log[0]):
    note_figure(snakemake.output.png, snakemake.output.pdf, snakemake.params.title,
                f"not produced by this run: {snakemake.params.reason}")
