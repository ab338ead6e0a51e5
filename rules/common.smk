# Config validation, model/subset lists, input functions and paper_figures/ output-naming helpers — nothing else.

import re
from pathlib import Path

from snakemake.utils import min_version

from mubench.benchmark.sources import source_of, workflow_subsets
from mubench.config import check_config, config_errors_first, validate_config
from mubench.analyses.merging.plan import merge_plan

min_version("9.0")

# A short message per problem (model, key, expected, nearest spelling); the full schema detail goes to the log.
with config_errors_first():
    validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml", "logs/config_validation.log",
                    sources=sorted(workflow.configfiles, key=workflow.overwrite_configfiles.__contains__))
    MODELS = check_config(config)  # name -> ModelSpec; semantic checks the schema cannot express

BENCH = config["benchmark"]["name"]
BENCH_DIR = f"results/{BENCH}/benchmark"
# Models the merging section adds (trained demo models, one merged model per pair and α): evaluated like any
# model, but outside Table 1. EVAL_MODELS is every model the predict rule can run.
MERGING = merge_plan(config, MODELS, f"results/{BENCH}")
EVAL_MODELS = {**MODELS, **MERGING.specs}
SUBSETS = workflow_subsets(config["benchmark"], config["subsets"])  # uBench: cognition only with a cognition folder
BENCHMARK_TABLES = multiext(f"{BENCH_DIR}/", "images.parquet", "questions.parquet", "detection.parquet", "manifest.json")
BASE_CONTAINER = "containers/base.sif"  # CPU analysis image for every rule that runs no model
REFERENCE_DIR = Path(workflow.basedir) / "paper_figures" / "reference"  # published numbers, shipped
TABLE1_OUTPUTS = ["paper_figures/table1.csv", "paper_figures/table1.md", "paper_figures/table1.tex",
                  "paper_figures/table1_breakdown.csv"]


wildcard_constraints:
    model="|".join(map(re.escape, EVAL_MODELS)),  # names may hold "." or "+"
    subset="|".join(SUBSETS),
    benchmark=BENCH,


def model_names(models: dict, accelerator: bool) -> str:
    """A wildcard pattern for the models that do (or do not) use an accelerator; never matches when there is none.
    profiles/slurm gives the GPU to the rules of the first kind only."""
    names = [name for name, spec in models.items() if spec.uses_accelerator == accelerator]
    return "|".join(map(re.escape, names)) or "(?!)"


def model_spec(wildcards):
    return EVAL_MODELS[wildcards.model]


def model_container(wildcards):
    """Each model runs in its family's Apptainer image (containers/<name>.def → .sif)."""
    return f"containers/{EVAL_MODELS[wildcards.model].container}.sif"


def model_batch_size(wildcards):
    return EVAL_MODELS[wildcards.model].batch_size or config["inference"]["batch_size"]


def all_scores(wildcards):
    return expand(f"results/{BENCH}/scores/{{model}}/{{subset}}.parquet", model=MODELS, subset=SUBSETS)


def workflow_weights(name):
    """The folder holding a model's weights when this workflow writes them (merging section); [] otherwise."""
    if name in MERGING.trained:
        return f"results/{BENCH}/merging/trained/{name}"
    if name in MERGING.merged:
        return f"results/{BENCH}/merging/models/{name}"
    return []


def model_weights(wildcards):
    return workflow_weights(wildcards.model)


# Called by rules/preflight.smk, included last: PROBE, DETECTION_MODELS and MERGING exist by then (rule files
# hold no functions, snakemake --lint).
def workflow_images():
    """Every Apptainer image the jobs of this config use (the rules' `container:` values; tests compare them)."""
    images = {"base"} | ({PROBE_FEATURE_CONTAINER} if PROBE else set())
    images |= {spec.container for spec in [*EVAL_MODELS.values(), *DETECTION_MODELS.values()]}
    if MERGING.trained:
        images.add("openclip")  # train_demo_clip
    return sorted(images)


def table_files(stem, caption=None, category=None, subcategory=None):
    """CSV (in the report when a caption is given) + Markdown + LaTeX of one table."""
    csv = f"paper_figures/{stem}.csv"
    if caption:
        csv = report(csv, caption=f"../report/{caption}", category=category, subcategory=subcategory)
    return [csv, f"paper_figures/{stem}.md", f"paper_figures/{stem}.tex"]


def named_table_files(stem, category, subcategory):
    """{name: csv, name_md: md, name_tex: tex} for a table stem such as table3_perception_summary."""
    name = stem.split("_")[0]
    csv, md, tex = table_files(stem, f"{name}.rst", category, subcategory)
    return {name: csv, f"{name}_md": md, f"{name}_tex": tex}


def cognition_absent_reason():
    """Why this configuration has no cognition composition tables (Tables 9–11)."""
    if "cognition" not in config["subsets"]:
        return "config `subsets` does not list cognition"
    return "no cognition set: `benchmark.ubench.cognition_path` is null (the expert cognition set is not public)"
