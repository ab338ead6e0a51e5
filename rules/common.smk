# Config validation, the settings every rule file shares (derived from the config here, once), input functions and
# paper_figures/ output-naming helpers — nothing else. Rule files read only what this file defines and their own
# rules, so their include order does not matter. Defaults live in schemas/config.schema.yaml alone: validate_config
# fills them in, and rules pass settings to scripts as `params:`.

import os
import re
from pathlib import Path

from snakemake.utils import min_version

from mubench.analyses.merging.plan import merge_plan, merged_name
from mubench.answering.detection import detection_models
from mubench.benchmark.sources import source_of, workflow_subsets
from mubench.config import check_config, config_errors_first, validate_config
from mubench.models.spec import BLIND_ABLATIONS
from mubench.models import gpu_request

min_version("9.0")

# A short message per problem (model, key, expected, nearest spelling); the full schema detail goes to the log.
with config_errors_first():
    validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml", "logs/config_validation.log",
                    sources=sorted(workflow.configfiles, key=workflow.overwrite_configfiles.__contains__))
    MODELS = check_config(config)  # name -> ModelSpec; semantic checks the schema cannot express
    BENCH = config["benchmark"]["name"]
    # Models the merging section adds (trained demo models, one merged model per pair and α): evaluated like any
    # model, but outside Table 1. EVAL_MODELS is every model the predict rule can run.
    MERGING = merge_plan(config, MODELS, f"results/{BENCH}")
    # detection.models: configured VLMs by name, or detection-only entries (the classical detector); name → spec
    DETECTION_MODELS = detection_models(config["detection"]["models"] if config["detection"] else [], MODELS)
    SUBSETS = workflow_subsets(config["benchmark"], config["subsets"])  # uBench: cognition only with a cognition set

EVAL_MODELS = {**MODELS, **MERGING.specs}
# Blind runs (config `blind`): model → its ablations, for the Table 1 models that read images (Random and Prior read
# none: their answers are blind by construction). A model's first ablation is the one the audit counts.
BLIND = {name: spec.blind for name, spec in MODELS.items() if spec.blind and not spec.is_baseline}
BLIND_MODELS = {name: MODELS[name] for name in BLIND}
AUDIT = config["audit"]
MERGING_PAIRS = {pair["name"]: pair for pair in MERGING.pairs}  # name → its merging.pairs entry
SOURCE = source_of(config["benchmark"]["source"])
SOURCE_OPTIONS = config["benchmark"].get(config["benchmark"]["source"]) or {}  # the source's own section, if any
BENCH_DIR = f"results/{BENCH}/benchmark"
BENCHMARK_TABLES = multiext(f"{BENCH_DIR}/", "images.parquet", "questions.parquet", "detection.parquet",
                            "manifest.json")
BASE_CONTAINER = "containers/base.sif"  # CPU analysis image for every rule that runs no model
# Published numbers, shipped with the workflow; relative to the working directory, so that no stored input holds an
# absolute path and a finished run copied to another folder has nothing to rerun.
REFERENCE_DIR = Path(os.path.relpath(Path(workflow.basedir) / "paper_figures" / "reference"))
PREDICTIONS = "results/{benchmark}/predictions/{model}/{subset}.parquet"
# the same questions under their alternative caption sets (caption sensitivity; empty for generative models)
VARIANTS = "results/{benchmark}/predictions/{model}/caption_variants/{subset}.parquet"
# the same questions with the image taken away (a blind ablation, answering/blind.py)
BLIND_PREDICTIONS = "results/{benchmark}/predictions/{model}/blind/{ablation}/{subset}.parquet"

# Every job computes with inference.threads, whatever --cores gives it: float results depend on the thread count.
THREADS = config["inference"]["threads"]
# ... and every training job with merging.train.threads (the trained weights depend on it; no training: unused)
TRAIN_THREADS = ((config["merging"] or {}).get("train") or {}).get("threads") or THREADS
FULL_IMAGE_CHECK = config["benchmark"]["verify_images"] == "full"  # md5 of every image before a job reads them
# A job that may run a model on the accelerator asks for one `gpu` (profiles/default allows one at a time); none on a
# host without one (`device: auto`), where model jobs share the cores like the others.
GPU = gpu_request(config["inference"]["device"])
PROBE = config["probe"]  # None: no probe jobs (cognition-only benchmarks have no per-image class labels)
PHASH = config["phash"]  # None: no pHash jobs
# timm runs in the open_clip image; the transformers backend in the HF image.
PROBE_FEATURE_CONTAINER = ({"timm": "openclip", "transformers": "hf-vlm"}[PROBE["features"]["backend"]] if PROBE
                           else None)

# Report categories, in the paper's order.
MAIN = "1 Main results"
BENCHMARK_SECTION = "2 Benchmark composition (appendix C)"
ANALYSES_SECTION = "3 Linear probe and near-duplicates (appendix E)"
LOCALIZATION_SECTION = "4 Localization (appendix Table 18)"
MERGING_SECTION = "5 Weight merging (appendix G)"
MORE_RESULTS = "6 More results (appendix)"
STATISTICS_SECTION = "7 Model comparisons and sensitivity (beyond the paper)"
MEANING_SECTION = "8 What a score means: baselines, blind runs, question audit (beyond the paper)"

# Perception figures and composition need coarse/fine questions; MicroVQA (cognition only) has none.
PERCEPTION = any(subset in SUBSETS for subset in ("coarse", "fine"))
COGNITION_TABLES = ["table9_cognition_summary", "table10_cognition_modalities", "table11_cognition_domains"]
COMPOSITION_TABLES = ["table3_perception_summary", "table4_tasks", "table6_domains", "table7_modalities",
                      "table8_stains"] + (COGNITION_TABLES if "cognition" in SUBSETS else [])
# merging.subsets is checked against `subsets` in merge_plan; uBench without a cognition folder has no cognition,
# which Table 19 then says in its notes (and the log) rather than leaving the subset out silently.
MERGING_SUBSETS = [s for s in MERGING.subsets if s in SUBSETS]


def cognition_absent_reason():
    """Why this configuration has no cognition composition tables (Tables 9–11)."""
    if "cognition" not in config["subsets"]:
        return "config `subsets` does not list cognition"
    return "no cognition set: `benchmark.ubench.cognition_path` is null (the expert cognition set is not public)"


# name → (title, why it is absent, report category, the paper_figures/*.csv files it would have written): a note
# in the report for each artefact this configuration cannot produce (rule absent_artefact), also in reproduction.md.
ABSENT = {
    name: entry
    for name, entry, missing in [
        ("table19_fig5_merging", ("Table 19 / Fig. 5 — weight merging", "no merging pairs configured "
                                  "(config `merging.pairs`)", MERGING_SECTION, ["table19.csv"]), not MERGING.pairs),
        ("table18_grit", ("Table 18 — GRIT localization", "no detection models configured (config "
                          "`detection.models`)", LOCALIZATION_SECTION, ["table18_grit.csv"]), not DETECTION_MODELS),
        ("table13_fig8_linear_probe", ("Table 13 / Fig. 8 — linear probe", "the linear probe is off (config "
                                       "`probe` is null: it needs per-image class labels, which cognition-only "
                                       "benchmarks such as MicroVQA have not)", ANALYSES_SECTION,
                                       ["table13_linear_probe.csv"]), not PROBE),
        ("table14_phash", ("Table 14 — pHash near-duplicates", "pHash is off (config `phash` is null)",
                           ANALYSES_SECTION, ["table14_phash.csv"]), not PHASH),
        ("tables9_11_cognition", ("Tables 9–11 — cognition composition", cognition_absent_reason(), BENCHMARK_SECTION,
                                  [f"{stem}.csv" for stem in COGNITION_TABLES]), "cognition" not in SUBSETS),
        ("perception", ("Figs. 3, 4, 11–14, Tables 3–11, 20 — perception, composition", "this benchmark has no perception "
                        "(coarse or fine) questions: it is a cognition benchmark", MAIN,
                        ["table20_pathology.csv"] + [f"{stem}.csv" for stem in COMPOSITION_TABLES]), not PERCEPTION),
    ]
    if missing
}


wildcard_constraints:
    model="|".join(map(re.escape, EVAL_MODELS)),  # names may hold "." or "+"
    ablation="|".join(map(re.escape, BLIND_ABLATIONS)),
    subset="|".join(SUBSETS),
    benchmark=BENCH,


def model_names(models: dict, accelerator: bool) -> str:
    """A wildcard pattern for the models that do (or do not) use an accelerator; never matches when there is none.
    profiles/slurm gives the GPU to the rules of the first kind only."""
    names = [name for name, spec in models.items() if spec.uses_accelerator == accelerator]
    return "|".join(map(re.escape, names)) or "(?!)"


def prediction_files(models, subsets=SUBSETS, pattern=PREDICTIONS):
    """The prediction tables (``pattern=VARIANTS``: caption variants) of ``models`` on ``subsets``."""
    return expand(pattern, benchmark=BENCH, model=models, subset=subsets)


def blind_prediction_files():
    """Every blind run's prediction tables: model → ablation → one file per subset."""
    return {name: {ablation: expand(BLIND_PREDICTIONS, benchmark=BENCH, model=name, ablation=ablation,
                                    subset=SUBSETS) for ablation in ablations} for name, ablations in BLIND.items()}


def model_outputs(pattern):
    """``pattern`` for every subset, one model's job ({benchmark} and {model} stay wildcards)."""
    return expand(pattern, subset=SUBSETS, allow_missing=True)


def model_spec(wildcards):
    return EVAL_MODELS[wildcards.model]


def model_cache(wildcards):
    """A model's cache folder, keyed by its fingerprint: a changed model never reads another's embeddings/answers."""
    return f"results/{wildcards.benchmark}/cache/{wildcards.model}/{EVAL_MODELS[wildcards.model].fingerprint}"


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


def workflow_images():
    """Every Apptainer image the jobs of this config use (the rules' `container:` values; tests compare them)."""
    images = {"base"} | ({PROBE_FEATURE_CONTAINER} if PROBE else set())
    images |= {spec.container for spec in [*EVAL_MODELS.values(), *DETECTION_MODELS.values()]}
    if MERGING.trained:
        images.add("openclip")  # train_demo_clip
    return sorted(images)


def reproduction_tables(wildcards):
    """The CSV of every paper artefact this run writes: rule reproduction compares each with the paper."""
    tables = [rules.table1.output.table1, rules.table21.output.table21]
    if PERCEPTION:
        tables += [rules.perception_figures.output.table20]
        tables += [rules.composition.output[stem.split("_")[0]] for stem in COMPOSITION_TABLES]
    if PROBE:
        tables.append(rules.table13.output.table13)
    if PHASH:
        tables.append(rules.table14.output.table14)
    if MERGING.pairs:
        tables.append(rules.merging_figures.output.table19)
    if DETECTION_MODELS:
        tables.append(rules.table18.output.table18)
    return tables


def paper_file(name):
    """Where this benchmark's artefact ``name`` goes: ``paper_figures/<benchmark name>/<name>``. The one place that
    decides the layout of paper_figures/: each benchmark has its own folder, so a MicroVQA run next to the demo
    leaves the demo's tables, report and page alone."""
    return f"paper_figures/{BENCH}/{name}"


def table_files(stem, caption, category, subcategory=None):
    """CSV + Markdown + LaTeX + HTML of one paper table; the report shows the HTML inline and offers the CSV."""
    csv, md, tex, html = (paper_file(f"{stem}.{ext}") for ext in ("csv", "md", "tex", "html"))
    flagged = dict(caption=f"../report/{caption}", category=category, subcategory=subcategory)
    return [report(csv, **flagged), md, tex, report(html, **flagged)]


def named_table_files(stem, category, subcategory=None, name=None, caption=None):
    """{name: csv, name_md: md, name_tex: tex, name_html: html} for a paper table such as table3_perception_summary
    (name defaults to its first word, table3; caption to report/<name>.rst)."""
    name = name or stem.split("_")[0]
    csv, md, tex, html = table_files(stem, caption or f"{name}.rst", category, subcategory)
    return {name: csv, f"{name}_md": md, f"{name}_tex": tex, f"{name}_html": html}


def data_table_files(stem, category, subcategory=None, name=None):
    """{name: csv, name_html: html} for a table beyond the paper's (no LaTeX): the report shows the HTML inline and
    offers the CSV, both with the caption report/<stem>.rst."""
    flagged = dict(caption=f"../report/{stem}.rst", category=category, subcategory=subcategory)
    name = name or stem
    return {name: report(paper_file(f"{stem}.csv"), **flagged),
            f"{name}_html": report(paper_file(f"{stem}.html"), **flagged)}
