"""Snakemake adapter: benchmark composition — Fig. 3 and Tables 3, 4, 6, 7, 8 (9, 10, 11 with a cognition set)."""

from pathlib import Path

from mubench.benchmark.sources import source_of
from mubench.benchmark.tables import Benchmark
from mubench.figures.benchmark_figures import plot_fig3
from mubench.figures.composition import composition_tables, printed_composition
from mubench.figures.export import output_files, write_table
from mubench.figures.table1 import read_reference
from mubench.io import atomic_write
from mubench.logs import job

TITLES = {
    "table3": "Table 3 — perception summary", "table4": "Table 4 — images per fine-grained task",
    "table6": "Table 6 — perception images by domain and subdomain",
    "table7": "Table 7 — perception images by modality and submodality",
    "table8": "Table 8 — perception images by stain", "table9": "Table 9 — cognition summary",
    "table10": "Table 10 — cognition questions by modality and submodality",
    "table11": "Table 11 — cognition questions by domain and subdomain",
}


def run(benchmark_root, reference_paths, with_cognition, out):
    """``reference_paths``: the paper's tables, named paper_<table>_<what>.csv."""
    bench = Benchmark(benchmark_root)
    images, questions, detection = bench.images, bench.questions, bench.detection
    source = bench.manifest["source"]
    references = ({Path(path).stem.split("_")[1]: read_reference(path) for path in reference_paths}
                  if source_of(source).paper_data else None)
    note = ("paper_*: the paper's published count (names matched ignoring case and punctuation; paper rows we lack "
            "are listed with ours blank)" if references else
            f"benchmark source {source!r} is not uBench: no paper counts beside ours")
    for name, table in composition_tables(images, questions, detection, references, with_cognition).items():
        files = output_files(out, name)
        write_table(table, files, TITLES[name], [note], printed_composition(table, TITLES[name], [note],
                                                                            Path(files.csv).name))
    data = plot_fig3(images, questions, out.fig3, out.fig3_pdf)
    atomic_write(out.fig3_data, lambda tmp: data.to_csv(tmp, index=False))


with job(snakemake.log[0]):
    run(Path(snakemake.input.images).parent, list(snakemake.input.references),
        snakemake.params.with_cognition, snakemake.output)
