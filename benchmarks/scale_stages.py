"""The measurements of ``make bench``, one function per stage (each runs in its own process, see bench_scale.py).

Every stage takes the work folder (where ``build`` wrote the benchmark) and the quick flag, and returns a
JSON-serialisable dict of what it measured. Baselines run on the same data in the same process as what they are
compared with.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # tiny VLM builders and the workflow copier live with the tests

THREADS = 2  # the CI machine's cores; the generative part on CUDA when there is a GPU
SCALE = {"full": 1.0, "quick": 0.05}


def _timed(fn, *args, **kwargs) -> tuple[dict, object]:
    """Wall and CPU seconds of the call (CPU time of this process: all its threads; pHash's worker processes are
    not in it). On a shared machine wall time depends on the load, CPU time much less."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    return dict(wall=time.perf_counter() - wall, cpu=time.process_time() - cpu), result


def build(work: Path, quick: bool) -> dict:
    from scale_benchmark import build_scale_benchmark

    seconds, manifest = _timed(build_scale_benchmark, work / "bench", scale=SCALE["quick" if quick else "full"])
    return dict(seconds=seconds["wall"], **manifest["counts"])


def prompt_tokens(work: Path) -> dict:
    """Tokens of the instruction line and, on average, of a question with its options, counted with CLIP's BPE
    (a real 49k-token vocabulary; the VLMs' own tokenizers are not available offline)."""
    from functools import cache

    from open_clip.tokenizer import SimpleTokenizer

    from mubench.answering.prompting import INSTRUCTION, lettered_options

    bpe = SimpleTokenizer()
    tokens = cache(lambda text: len(bpe.encode(text)))
    _, questions = _perception_questions(work)
    own = [tokens(q.question) + sum(tokens(line) for line in lettered_options(q.options))
           for q in questions.itertuples()]
    return dict(instruction_tokens=tokens(INSTRUCTION + "\nQuestion:"), question_tokens_mean=float(np.mean(own)))


def _perception_questions(work: Path):
    from mubench.benchmark.tables import Benchmark

    bench = Benchmark(work / "bench")
    return bench, bench.questions.query("subset in ('coarse', 'fine')").reset_index(drop=True)


def contrastive(work: Path, quick: bool) -> dict:
    """mubench's predict (coarse + fine, one cache) vs the authors' per-question loop vs the compute floor.

    mubench and the floor are timed three times each, interleaved, from an empty cache every time, and each one's
    fastest pass kept: whichever runs first otherwise pays the allocator's and the page cache's warm-up."""
    import torch
    from bench_inference import naive_loop, pure_forward

    from mubench.answering.predict import predict_subsets
    from mubench.models import ModelSpec, load_model

    torch.set_num_threads(THREADS)
    bench, questions = _perception_questions(work)
    paths = bench.image_paths()
    spec = ModelSpec.from_config(dict(name="bench", family="open_clip", architecture="mubench-tiny-ViT", seed=0))
    model = load_model(spec)
    pure_forward(questions.head(8), paths, model, 64)  # warm-up: the first calls pay lazy initialisation
    ours, floor = [], []
    for attempt in range(3):
        cache = work / f"contrastive-cache-{attempt}"  # empty: every image and text encoded
        seconds, (tables, _) = _timed(predict_subsets, spec, bench.root, ["coarse", "fine"], cache_dir=cache,
                                      batch_size=128, model=model)  # as a predict job: both subsets, one cache
        ours.append(seconds)
        floor.append(_timed(pure_forward, questions, paths, model, 128)[0])
    ours, floor = min(ours, key=lambda t: t["wall"]), min(floor, key=lambda t: t["wall"])
    predictions = list(tables.values())
    sample = questions.sample(n=min(100 if quick else 300, len(questions)), random_state=0)
    naive_sample, naive = _timed(naive_loop, sample, paths, model)
    ours_predictions = pd.concat(predictions).set_index("question_id")["prediction"]
    agreement = float(np.mean(ours_predictions.loc[sample["question_id"]].to_numpy() == np.asarray(naive)))
    scale = len(questions) / len(sample)
    return dict(questions=len(questions), images=int(questions["image_id"].nunique()), ours=ours, floor=floor,
                naive_sample=len(sample), naive={k: v * scale for k, v in naive_sample.items()}, agreement=agreement)


def _tiny_vlms(folder: Path) -> dict[str, Path]:
    """Tiny Qwen2.5-VL and PaliGemma with 256 image tokens each (PaliGemma-224; Qwen2.5-VL at 448×448)."""
    from tiny_vlms import save_tiny_paligemma, save_tiny_qwen25_vl

    side = 448 * 448
    return {"hf_vlm": save_tiny_qwen25_vl(folder / "qwen", weight_std=0.3, min_pixels=side, max_pixels=side),
            "paligemma": save_tiny_paligemma(folder / "paligemma", weight_std=0.3, image_size=224, patch_size=14)}


GENERATIVE_RUNS = [  # (family, scoring, prefix_reuse)
    ("hf_vlm", "letter_logits", True), ("hf_vlm", "letter_logits", False),
    ("hf_vlm", "generate", True), ("hf_vlm", "generate", False),
    ("paligemma", "letter_logits", True), ("paligemma", "letter_logits", False),
]


def generative(work: Path, quick: bool) -> dict:
    """Tiny VLMs on all perception questions of a sample of images: prefix reuse on/off, letters vs generation.

    Each configuration is timed several times, interleaved, and its fastest pass kept: on a shared machine a
    single pass of a few seconds varies by more than the effect measured."""
    import torch

    from mubench.models import ModelSpec, load_model

    torch.set_num_threads(THREADS)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bench, questions = _perception_questions(work)
    image_ids = sorted(questions["image_id"].unique())
    chosen = set(np.random.default_rng(0).choice(image_ids, size=8 if quick else 64, replace=False))
    sample = questions[questions["image_id"].isin(chosen)].reset_index(drop=True)
    folders = _tiny_vlms(work / "vlms")
    max_new_tokens = 16 if quick else 100  # the paper's PaliGemma setting: 100
    base = dict(dtype="bfloat16" if device == "cuda" else "float32", max_new_tokens=max_new_tokens)
    specs = [ModelSpec.from_config(dict(name=f"tiny-{family}", family=family, model_id=str(folders[family]),
                                        scoring=scoring, prefix_reuse=reuse, **base))
             for family, scoring, reuse in GENERATIVE_RUNS]
    models = {}
    for spec in specs:  # warm-up on the whole sample: the first pass pays one-time costs (allocations)
        if spec.family not in models:
            models[spec.family] = load_model(spec, device=device)
            _ask(spec, models[spec.family], bench, sample, work / "warm" / spec.family)
    runs: dict[int, dict] = {}
    for repeat in range(3 if quick else 2):
        for i, spec in enumerate(specs):
            seconds, run = _ask(spec, models[spec.family], bench, sample, work / "generative" / f"{i}-{repeat}")
            best = runs.setdefault(i, dict(run, time=seconds))
            best["time"] = {k: min(best["time"][k], seconds[k]) for k in seconds}
    return dict(device=device, images=len(chosen), questions=len(sample), max_new_tokens=max_new_tokens,
                batch_size=32, repeats=3 if quick else 2, runs=list(runs.values()), **prompt_tokens(work))


def _ask(spec, model, bench, sample, cache: Path) -> tuple[dict, dict]:
    """One timed pass over the sample (a fresh response cache) with the adapter switched to ``spec``."""
    from mubench.answering.generative import generative_answers
    from mubench.models.prefix_reuse import PrefillStats

    model.spec, model.stats = spec, PrefillStats()
    seconds, table = _timed(generative_answers, spec, sample, *bench.image_index(), model, cache, 32)
    stats = {**vars(model.stats), "full_prefill": dict(model.stats.full_prefill)}
    return seconds, dict(family=spec.family, scoring=spec.scoring, prefix_reuse=spec.prefix_reuse,
                         responses=table["response"].tolist(), **stats)


def bootstrap(work: Path, quick: bool) -> dict:
    from bench_bootstrap import measure

    if quick:
        return measure(models=2, rows=20_000, scipy_groups=5, n_resamples=9999, seed=0, threads=THREADS)
    return measure(models=12, rows=96_000, scipy_groups=60, n_resamples=9999, seed=0, threads=THREADS)


def phash(work: Path, quick: bool) -> dict:
    from mubench.analyses.phash import image_hashes, similarity_table
    from mubench.benchmark.tables import Benchmark

    images = Benchmark(work / "bench").images
    paths = [work / "bench" / p for p in images["path"]]
    hash_s, hashes = _timed(image_hashes, paths, list(images["md5"]), work / "phash-cache", THREADS)
    pairs_s, table = _timed(similarity_table, images["dataset"].tolist(), hashes, 5)
    sizes = images["dataset"].value_counts()
    return dict(images=len(images), hash_s=hash_s["wall"], pairs_s=pairs_s["wall"],
                pairs=int((sizes * (sizes - 1) // 2).sum()), datasets=len(table))


def demo(work: Path, quick: bool) -> dict:
    """The default workflow (config.yaml) in a temporary copy: wall time, jobs, Python processes seen."""
    import psutil
    from conftest import SNAKEMAKE, copy_workflow

    with tempfile.TemporaryDirectory(dir=work) as tmp:
        workdir = copy_workflow(Path(tmp))
        start = time.perf_counter()
        with open(workdir / "snakemake.out", "w") as out:
            process = subprocess.Popen([str(SNAKEMAKE), "--cores", str(THREADS)], cwd=workdir, stdout=out,
                                       stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            root = psutil.Process(process.pid)
            seen = {process.pid}
            while process.poll() is None:
                for child in _descendants(root):
                    try:
                        if "python" in Path(child.cmdline()[0]).name:
                            seen.add(child.pid)
                    except (psutil.NoSuchProcess, psutil.AccessDenied, IndexError):
                        continue
                time.sleep(0.1)
        seconds = time.perf_counter() - start
        log = (workdir / "snakemake.out").read_text()
        if process.returncode != 0:
            raise RuntimeError(f"demo workflow failed (exit {process.returncode}):\n{log[-3000:]}")
        steps = re.findall(r"(\d+) of (\d+) steps", log)
    return dict(seconds=seconds, jobs=int(steps[-1][1]) if steps else None, python_processes=len(seen))


def _descendants(process):
    import psutil

    try:
        return process.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


STAGES = {"build": build, "contrastive": contrastive, "generative": generative, "bootstrap": bootstrap,
          "phash": phash, "demo": demo}
