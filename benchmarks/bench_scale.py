"""``make bench``: the pipeline at μ-Bench's scale, measured in one run; prints one table, writes docs/performance.md.

Each stage (benchmarks/scale_stages.py) runs in its own Python process, so the peak RSS reported for it is its
own: build a synthetic benchmark with μ-Bench's proportions, contrastive inference against the authors'
per-question loop and the compute floor, generative inference on tiny local VLMs with and without prefix reuse
(letter scoring and generation; on CUDA when there is a GPU), bootstrap CIs and pHash at full size, and the demo
workflow. ``--quick`` runs a 5 % benchmark and skips the demo, for development.

    python benchmarks/bench_scale.py [--quick] [--demo | --no-demo] [--out docs/performance.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from mubench.io import atomic_write  # noqa: E402

ORDER = ["build", "contrastive", "generative", "bootstrap", "phash", "demo"]


def run_stage(name: str, work: Path, quick: bool) -> tuple[dict, dict]:
    """Run one stage in a fresh interpreter: its result, and its wall and CPU seconds and peak RSS (MiB) —
    the stage process and every process it waited for (the demo's jobs, pHash's workers)."""
    command = [sys.executable, __file__, "--stage", name, "--work", str(work)] + (["--quick"] if quick else [])
    print(f"[bench] {name} ...", flush=True)
    start = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"benchmark stage {name!r} failed with exit code {code}")
    cost = dict(wall=time.perf_counter() - start, cpu=usage.ru_utime + usage.ru_stime, rss=usage.ru_maxrss / 1024)
    return json.loads((work / f"{name}.json").read_text()), cost


def _s(seconds: float) -> str:
    return f"{seconds:,.1f} s" if seconds < 600 else f"{seconds / 60:,.1f} min"


def _mb(mib: float | None) -> str:
    return "–" if mib is None else f"{mib:,.0f} MiB"


def _t(timing: dict) -> str:
    return f"{_s(timing['wall'])} (CPU {_s(timing['cpu'])})"


def _x(ratio: float) -> str:
    return f"{ratio:.2f}×" if ratio < 10 else f"{ratio:,.0f}×"


def _ratio(slow: dict, fast: dict) -> str:
    return f"{_x(slow['wall'] / fast['wall'])} wall, {_x(slow['cpu'] / fast['cpu'])} CPU"


def _runs(generative: dict) -> dict:
    return {(r["family"], r["scoring"], r["prefix_reuse"]): r for r in generative["runs"]}


def _per_q(run: dict, key: str) -> float:
    return run[key] / run["questions"]


def _generative_rows(g: dict, stage: str) -> list[tuple[str, str, str, str]]:
    runs, rows = _runs(g), []
    for family, scoring, label in (("hf_vlm", "letter_logits", "tiny Qwen2.5-VL, letter_logits"),
                                   ("hf_vlm", "generate", f"tiny Qwen2.5-VL, generate ({g['max_new_tokens']} new "
                                                          "tokens max)"),
                                   ("paligemma", "letter_logits", "tiny PaliGemma, letter_logits")):
        reuse, full = runs[family, scoring, True], runs[family, scoring, False]
        same = sum(a == b for a, b in zip(reuse["responses"], full["responses"]))
        fallback = ", ".join(f"{n} prefilled in full: {reason}" for reason, n in reuse["full_prefill"].items())
        rows.append((
            f"generative, {label}: prefix reuse vs full prefill",
            f"{_t(reuse['time'])} vs {_t(full['time'])}; prefilled tokens/question "
            f"{_per_q(reuse, 'prefill_tokens'):.0f} vs {_per_q(full, 'prefill_tokens'):.0f}; image tokens/question "
            f"{_per_q(reuse, 'image_tokens'):.1f} vs {_per_q(full, 'image_tokens'):.1f}; image encodings "
            f"{reuse['image_encodings']} vs {full['image_encodings']}; same answers {same}/{len(full['responses'])}"
            + (f"; {fallback}" if fallback else ""),
            f"full ÷ reuse: {_ratio(full['time'], reuse['time'])}, "
            f"{full['prefill_tokens'] / reuse['prefill_tokens']:.2f}× prefilled tokens, "
            f"{full['image_tokens'] / reuse['image_tokens']:.2f}× image tokens", stage))
        stage = ""
    letters, text = runs["hf_vlm", "letter_logits", True], runs["hf_vlm", "generate", True]
    rows.append(("generative, tiny Qwen2.5-VL: letter_logits vs generate (both with prefix reuse)",
                 f"{_t(letters['time'])} vs {_t(text['time'])}; "
                 f"{_per_q(text, 'generated_tokens'):.1f} generated tokens/question",
                 f"generate ÷ letters: {_ratio(text['time'], letters['time'])}", ""))
    return rows


def table_rows(results: dict, costs: dict) -> list[tuple[str, str, str, str]]:
    stage_cost = {name: f"{_s(c['wall'])}, CPU {_s(c['cpu'])}, {_mb(c['rss'])}" for name, c in costs.items()}
    b, rows = results["build"], []
    rows.append(("build the synthetic benchmark", f"{b['images']:,} images, {b['datasets']} datasets, "
                 f"{b['questions']['coarse']:,} coarse + {b['questions']['fine']:,} fine questions in "
                 f"{_s(b['seconds'])}", "–", stage_cost["build"]))
    c = results["contrastive"]
    rows.append((f"contrastive (tiny OpenCLIP, {c['questions']:,} questions, {c['images']:,} images): mubench vs "
                 "the authors' per-question loop",
                 f"{_t(c['ours'])} vs {_t(c['naive'])} (loop timed on {c['naive_sample']} questions, "
                 f"scaled; same predictions on {c['agreement']:.0%})",
                 f"loop ÷ mubench: {_ratio(c['naive'], c['ours'])}", stage_cost["contrastive"]))
    rows.append(("contrastive: mubench vs the floor (one forward per unique image and text; each the fastest of 3 "
                 "interleaved passes)",
                 f"{_t(c['ours'])} vs {_t(c['floor'])}", f"mubench ÷ floor: {_ratio(c['ours'], c['floor'])}", ""))
    rows += _generative_rows(results["generative"], stage_cost["generative"])
    bs = results["bootstrap"]
    rows.append((f"bootstrap CIs, {bs['rows']:,} prediction rows ({bs['models']} models), 9,999 resamples: "
                 f"mubench ({bs['threads']} threads) vs SciPy",
                 f"{_s(bs['ours_s'])} vs {_s(bs['scipy_s'])} (SciPy timed on {bs['scipy_groups_timed']} of "
                 f"{bs['groups']:,} groups, scaled by rows)", f"{bs['scipy_s'] / bs['ours_s']:.0f}× faster",
                 stage_cost["bootstrap"]))
    ph = results["phash"]
    rows.append((f"pHash, {ph['images']:,} images: hashes + all {ph['pairs']:,} within-dataset pairs",
                 f"{_s(ph['hash_s'])} + {_s(ph['pairs_s'])}", "–", stage_cost["phash"]))
    if "demo" in results:
        d = results["demo"]
        rows.append(("demo workflow (`snakemake --cores 2`, config.yaml)",
                     f"{_s(d['seconds'])}, {d['jobs']} jobs, {d['python_processes']} Python processes",
                     "–", stage_cost["demo"]))
    return rows


def markdown_table(rows) -> str:
    lines = ["| measurement | this run | ratio | stage: wall, CPU, peak RSS |", "|---|---|---|---|"]
    return "\n".join(lines + [f"| {' | '.join(row)} |" for row in rows])


CHAT_TOKENS = 25  # Qwen2.5-VL's default system prompt and turn markers around one user turn (an estimate)
IMAGE_TOKENS = 256  # PaliGemma-224 exactly; Qwen2.5-VL for a 448×448 image (one token per 28×28 pixels)


def _para(text: str, prefix: str = "") -> str:
    """One paragraph, wrapped (markdown does not care; the file stays readable)."""
    return textwrap.fill(" ".join(text.split()), width=116, initial_indent=prefix, subsequent_indent=prefix)


def cost_model(build: dict, generative: dict) -> str:
    """Vision forwards, prefill tokens and decode steps of a paper run, with and without prefix reuse."""
    images, questions = build["images"], build["questions"]["coarse"] + build["questions"]["fine"]
    shared, own = CHAT_TOKENS + IMAGE_TOKENS + generative["instruction_tokens"], generative["question_tokens_mean"]
    full_prefill, reuse_prefill = questions * (shared + own), images * shared + questions * own
    m = lambda n: f"{n / 1e6:,.2f} M"  # noqa: E731
    measured = _runs(generative)["hf_vlm", "generate", True]
    intro = _para(f"""cost ≈ vision forwards × t_vision + prefill tokens × t_prefill + decode steps × t_decode, per
        model. With I = {images:,} images and Q = {questions:,} perception questions ({questions / images:.2f} per
        image; the synthetic benchmark's counts, ≈ μ-Bench's), S = {shared} tokens before the question text
        (≈{CHAT_TOKENS} chat-template tokens, an estimate, + V = {IMAGE_TOKENS} image tokens +
        {generative['instruction_tokens']} instruction tokens) and T = {own:.1f} tokens of question and options on
        average (text counted with CLIP's 49k-token BPE, a stand-in for the VLM's own tokenizer):""")
    table = "\n".join([
        "| run | vision forwards | prefill tokens | decode steps |", "|---|---|---|---|",
        f"| full prefill (PaliGemma: its prefix-LM leaves no other choice) | Q = {questions:,} | "
        f"Q·(S+T) = {m(full_prefill)} | Q·D |",
        f"| prefix reuse (Qwen2.5-VL, InternVL-style chat templates) | I = {images:,} | "
        f"I·S + Q·T = {m(reuse_prefill)} | Q·D |",
        f"| ratio | {questions / images:.2f}× | {full_prefill / reuse_prefill:.2f}× | 1× |"])
    decode = _para(f"""D = decode steps per question: none beyond the prefill with `scoring: letter_logits` (the
        answer is read from the prefill's last position), 2 for a model that answers one letter and stops
        ({m(questions * 2)} steps), up to max_new_tokens = 100 for one that does not ({m(questions * 100)}); the
        tiny random model of this run generated {measured['generated_tokens'] / measured['questions']:.1f} per
        question. Prefill is compute-bound and batches well; decode steps are memory-bound, so at small D the
        vision and prefill terms dominate and prefix reuse divides them by {questions / images:.1f} and
        {full_prefill / reuse_prefill:.1f}; at D = 100 decoding dominates and `letter_logits` is the lever.""")
    return f"## Cost model of a GPU paper run\n\n{intro}\n\n{table}\n\n{decode}\n"


def report(results: dict, costs: dict, quick: bool, load: tuple[float, float]) -> str:
    import torch
    import transformers

    g = results["generative"]
    reuse, full = _runs(g)["hf_vlm", "letter_logits", True], _runs(g)["hf_vlm", "letter_logits", False]
    per_image = g["questions"] / g["images"]
    device = f"CUDA ({torch.cuda.get_device_name(0)})" if g["device"] == "cuda" else "CPU"
    header = _para(f"""Generated by `make bench` (`benchmarks/bench_scale.py{' --quick' if quick else ''}`): do not
        edit by hand, rerun the command. Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on
        {os.cpu_count()} CPU cores ({platform.machine()}), torch {torch.__version__} with 2 threads, transformers
        {transformers.__version__}; generative part on {device}. Load average {load[0]:.1f} at the start,
        {load[1]:.1f} at the end: wall times stretch with the machine's other work, CPU times much less. Peak RSS
        is the stage's largest process, its workers and jobs included.""", "> ")
    setting = _para(f"""The benchmark is synthetic with μ-Bench's proportions (`benchmarks/scale_benchmark.py`):
        the paper's 25 datasets and their image counts, the real question and caption templates (so texts repeat as
        in μ-Bench), small rendered images. Models are tiny and untrained: the ratios say how much work each method
        does, not how good a model is. The generative rows use all {g['questions']} perception questions of
        {g['images']} images ({per_image:.2f} per image), asked together so that an image's coarse and fine
        questions share one prefix, batch size {g['batch_size']}. The tiny VLMs have 256 image tokens but a
        one-layer vision tower and a 320-token vocabulary (about three times as many text tokens as a
        real BPE vocabulary), so real models save more on the vision side and the text weighs less than here.""")
    finding = _para(f"""Prefix reuse prefilled {full['image_tokens'] / reuse['image_tokens']:.2f}× fewer image
        tokens per question on the generative sample ({per_image:.2f} questions per image: every image's tokens
        once instead of once per question) and gave the same answers; all prefilled tokens fall by less
        ({full['prefill_tokens'] / reuse['prefill_tokens']:.2f}×) because each question still prefills its own
        text. PaliGemma cannot share (its image tokens attend to the question text), so it runs the full prefill
        and its log says so.""")
    return (f"# Performance at μ-Bench scale\n\n{header}\n\n{setting}\n\n"
            f"{markdown_table(table_rows(results, costs))}\n\n{finding}\n\n{cost_model(results['build'], g)}")


CONTAINER_SECTION = "## Container images (`make test-containers`)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 %% benchmark, fewer samples, no demo run")
    parser.add_argument("--demo", action=argparse.BooleanOptionalAction, default=None,
                        help="run the demo workflow (default: yes unless --quick)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "performance.md")
    parser.add_argument("--stage", choices=ORDER, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:  # one stage, in its own process
        from scale_stages import STAGES

        result = STAGES[args.stage](args.work, args.quick)
        (args.work / f"{args.stage}.json").write_text(json.dumps(result))
        return
    stages = [s for s in ORDER if s != "demo" or (args.demo if args.demo is not None else not args.quick)]
    results, costs, load = {}, {}, os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mubench-bench-") as tmp:
        for name in stages:
            results[name], costs[name] = run_stage(name, Path(tmp), args.quick)
    text = report(results, costs, args.quick, (load, os.getloadavg()[0]))
    # the container section is measured by `make test-containers RECORD=1`; keep it
    previous = args.out.read_text() if args.out.exists() else ""
    kept = previous[previous.find(CONTAINER_SECTION):] if CONTAINER_SECTION in previous else ""
    text = text.rstrip("\n") + "\n\n" + kept if kept else text
    print("\n" + markdown_table(table_rows(results, costs)))
    atomic_write(args.out, lambda path: Path(path).write_text(text))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
