"""The benchmark sources, one entry each (as ``FAMILIES`` is for models): what builds a source, what its questions and
images hold, which published numbers are printed beside ours and what a reader must know of them, and what a run
needs on disk. Every stage asks this registry instead of naming sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from mubench.registry import resolve

# Paths under paper_figures/: the μ-Bench paper's numbers in reference/, other benchmarks' in published/.
MUBENCH_TABLE1 = "reference/paper_table1.csv"
MICROVQA_LEADERBOARD = "published/microvqa_leaderboard.csv"
MICROVQAPP_HEADLINE = "InternVL3.5-4B (MicroVQA++ fine-tuned)"  # its model name in microvqa_leaderboard.csv

MUBENCH_VALUES = "paper / paper ±: published μ-Bench values (arXiv 2407.01791) for the model of the same name"
NOT_MUBENCH = "this is NOT the μ-Bench data: paper columns are printed for orientation only"


@dataclass(frozen=True)
class Source:
    title: str  # what tables call its questions (Table 1's title, the leaderboard's)
    builder: str  # "module:function" writing images/, the three tables and manifest.json (out_dir, *, seed, **options)
    reference: str  # file under paper_figures/ whose published values Table 1 prints beside ours
    measured_here: bool  # those values were measured on these questions (the demo only borrows μ-Bench's)
    published_notes: tuple[str, ...]  # what Table 1 and the leaderboard say about the published columns
    paper_data: bool = False  # the paper's own release: its counts and values compare with ours as they are
    availability: str | None = None  # "module:function" (options, hash_record) → preflight Checks; None: nothing
    cognition_only: bool = False  # a reasoning benchmark: every question is a cognition question
    cognition_option: str | None = None  # the option naming its cognition set; unset = no cognition subset
    image_labels: bool = True  # per-image class labels, which the linear probe learns
    boxes: bool = True  # ground-truth boxes, against which Table 18 scores localization
    release_option: bool = False  # `path` (a folder) or `revision` (hub commit) must name the release

    def build(self) -> Callable:
        return resolve(self.builder)

    def availability_checks(self) -> Callable | None:
        return resolve(self.availability) if self.availability else None


SOURCES = {
    "demo": Source(
        "embedded demo benchmark", "mubench.benchmark.demo:build_demo", MUBENCH_TABLE1, measured_here=False,
        published_notes=(MUBENCH_VALUES, NOT_MUBENCH)),
    "ubench": Source(
        "μ-Bench", "mubench.benchmark.ubench:build_ubench", MUBENCH_TABLE1, measured_here=True,
        published_notes=(MUBENCH_VALUES,), paper_data=True, availability="mubench.benchmark.ubench:availability",
        cognition_option="cognition_path"),  # the expert cognition set is not public
    "microvqa": Source(
        "MicroVQA", "mubench.benchmark.microvqa:build_microvqa", MICROVQA_LEADERBOARD, measured_here=True,
        published_notes=(
            "paper: overall accuracy on MicroVQA's leaderboard (github.com/jmhb0/microvqa; arXiv 2503.13399) for the "
            "model of the same name (`paper_name`); no CIs are published; per-task values are in "
            "table1_breakdown.csv and below",
            "MicroVQA++ (arXiv 2511.11407): InternVL3.5-4B-Instruct fine-tuned on MicroVQA++ reaches 59.4 % mean "
            f"accuracy on MicroVQA; give such a model `paper_name: {MICROVQAPP_HEADLINE}` to print it beside"),
        availability="mubench.benchmark.microvqa:availability", cognition_only=True, image_labels=False,
        boxes=False, release_option=True),
    "microvqapp": Source(
        "MicroVQA++", "mubench.benchmark.microvqa:build_microvqapp", MICROVQA_LEADERBOARD, measured_here=True,
        published_notes=(
            "paper: none — no results on MicroVQA++'s own questions are published yet; MicroVQA's leaderboard "
            "measures another question set and is not printed",
            "MicroVQA++ (arXiv 2511.11407) reports InternVL3.5-4B-Instruct fine-tuned on it at 59.4 % on MicroVQA "
            "(configs/microvqa.yaml scores a model on MicroVQA itself)"),
        availability="mubench.benchmark.microvqa:availability", cognition_only=True, image_labels=False,
        boxes=False, release_option=True),
}


def source_of(name: str) -> Source:
    """The registry entry of a source name (a config's ``benchmark.source``, a manifest's ``source``)."""
    if name not in SOURCES:
        raise KeyError(f"unknown benchmark source {name!r}; known: {', '.join(SOURCES)}")
    return SOURCES[name]


def workflow_subsets(benchmark: dict, subsets) -> list[str]:
    """The subsets the workflow runs: a source with an optional cognition set has no cognition questions without
    it (uBench); a reasoning benchmark has nothing else."""
    source = source_of(benchmark["source"])
    if source.cognition_option and not (benchmark.get(benchmark["source"]) or {}).get(source.cognition_option):
        return [s for s in subsets if s != "cognition"]
    if source.cognition_only:
        if "cognition" not in subsets:
            raise ValueError(f"subsets: benchmark.source {benchmark['source']} has only the cognition subset; "
                             f"list it (subsets: [cognition])")
        return ["cognition"]
    return list(subsets)
