"""Inference stage vs the authors' naive loop, on the same benchmark and model in one run.

The naive loop (what the paper's code did) re-encodes the image and every option caption for each question.
mubench encodes each unique image and text once (with its on-disk cache) and scores questions from embeddings.
Prints wall times and ratios; targets: ≥ 10× faster than naive, ≤ 1.15× the pure forward time.

    python benchmarks/bench_inference.py [--arch mubench-tiny-ViT] [--subset coarse] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mubench.benchmark.demo import build_demo
from mubench.benchmark.tables import Benchmark, load_image
from mubench.answering.contrastive import option_texts, softmax
from mubench.answering.predict import predict_subset
from mubench.models import ModelSpec, load_model


def naive_loop(questions, paths, model) -> list[int]:
    predictions = []
    for q in questions.itertuples():
        image = model.encode_images([load_image(paths[q.image_id])])[0]
        texts = model.encode_texts(option_texts(q.question, q.subset, q.options, q.captions))
        predictions.append(int(np.argmax(softmax(model.logit_scale * texts @ image))))
    return predictions


def pure_forward(questions, paths, model, batch_size) -> None:
    """Only the unavoidable work: one forward per unique image and per unique text, in batches."""
    texts = list(dict.fromkeys(t for q in questions.itertuples()
                               for t in option_texts(q.question, q.subset, q.options, q.captions)))
    image_ids = list(dict.fromkeys(questions["image_id"]))
    for start in range(0, len(texts), batch_size):
        model.encode_texts(texts[start:start + batch_size])
    for start in range(0, len(image_ids), batch_size):
        model.encode_images([load_image(paths[i]) for i in image_ids[start:start + batch_size]])


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="mubench-tiny-ViT", help="open_clip architecture (random init)")
    parser.add_argument("--subset", default="coarse")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench"
        build_demo(root, seed=0)
        bench = Benchmark(root)
        questions = bench.questions.query("subset == @args.subset").reset_index(drop=True)
        paths = bench.image_paths()
        spec = ModelSpec.from_config(dict(name="bench", family="open_clip", architecture=args.arch, seed=0))
        model = load_model(spec)
        pure_forward(questions.head(8), paths, model, args.batch_size)  # warm-up: first calls pay lazy init
        n_texts = len({t for q in questions.itertuples()
                       for t in option_texts(q.question, q.subset, q.options, q.captions)})
        print(f"{args.subset}: {len(questions)} questions, {questions['image_id'].nunique()} images, "
              f"{n_texts} unique texts; model {args.arch}; {args.threads} threads")

        t_ours, preds = timed(lambda: predict_subset(spec, root, args.subset, cache_dir=Path(tmp) / "cache",
                                                     batch_size=args.batch_size, model=model))
        t_forward, _ = timed(pure_forward, questions, paths, model, args.batch_size)
        t_naive, naive = timed(naive_loop, questions, paths, model)

    agree = float(np.mean(np.asarray(naive) == preds["prediction"].to_numpy()))
    print(f"naive per-question loop : {t_naive:8.2f} s")
    print(f"pure forward (unique)   : {t_forward:8.2f} s")
    print(f"mubench inference       : {t_ours:8.2f} s")
    print(f"speed-up vs naive       : {t_naive / t_ours:8.1f}x   (target >= 10x)")
    print(f"overhead vs pure forward: {t_ours / t_forward:8.2f}x   (target <= 1.15x)")
    print(f"same predictions as naive: {agree:.1%}")


if __name__ == "__main__":
    main()
