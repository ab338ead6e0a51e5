"""The generative answer loop: background prefetching, batches of whole images, several subsets in one call."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from mubench.answering.generative import generative_answers, image_batches
from mubench.answering.prefetch import overlaps_compute, prefetched
from mubench.benchmark.tables import Benchmark, load_image
from mubench.models import ModelSpec


def test_prefetcher_yields_the_same_images_in_the_same_order(tiny_benchmark):
    paths = list(Benchmark(tiny_benchmark).image_paths().values())[::-1]
    got = [(path, np.asarray(image)) for path, image in prefetched(paths, load_image, depth=3)]
    assert [path for path, _ in got] == paths
    for path, pixels in got:
        np.testing.assert_array_equal(pixels, np.asarray(load_image(path)))


def test_prefetcher_loads_the_next_item_while_the_consumer_works():
    started = [threading.Event() for _ in range(3)]

    def load(i):
        started[i].set()
        return i * 10

    for i, value in prefetched(range(3), load):
        assert value == i * 10
        if i < 2:  # still handling item i: the worker must already be loading item i + 1
            assert started[i + 1].wait(timeout=10)


def test_prefetcher_raises_the_loaders_error_naming_the_file(tiny_benchmark):
    paths = list(Benchmark(tiny_benchmark).image_paths().values())[:4]
    paths[2].write_bytes(b"not a png")
    seen = []
    with pytest.raises(OSError, match=f"benchmark image unreadable: {paths[2]}"):
        for path, _ in prefetched(paths, load_image):
            seen.append(path)
    assert seen == paths[:2]


def test_prefetcher_stops_its_worker_when_the_consumer_leaves():
    for i, _ in prefetched(range(1000), lambda i: i, depth=2):
        if i == 3:
            break
    assert not any(t.name == "mubench-prefetch" and t.is_alive() for t in threading.enumerate())


def test_without_background_each_item_is_loaded_in_this_thread_when_needed():
    loaded_by, consumed = [], []

    def load(i):
        loaded_by.append((i, threading.current_thread().name, list(consumed)))
        return i * 10

    for i, value in prefetched(range(3), load, background=False):
        assert value == i * 10
        consumed.append(i)
    assert loaded_by == [(i, threading.current_thread().name, list(range(i))) for i in range(3)]


def test_loading_overlaps_an_accelerator_always_and_the_cpu_only_with_a_core_to_spare(monkeypatch):
    import os

    import torch

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert overlaps_compute("cuda:0") and overlaps_compute("mps")
    assert not overlaps_compute("cpu")  # the loader would take a core from torch's two threads
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert overlaps_compute("cpu")
    monkeypatch.delattr(os, "sched_getaffinity")  # macOS has none: the machine's cores count
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert not overlaps_compute("cpu")


def test_image_batches_keep_an_images_questions_together_sorted_by_prompt_length():
    rows = list(range(9))
    images = ["a", "b", "a", "c", "b", "a", "c", "d", "d"]
    lengths = [50, 10, 20, 90, 10, 20, 10, 30, 30]
    batches = image_batches(rows, images, lengths, batch_size=4)
    assert batches == [[1, 4, 7, 8], [0, 2, 5], [3, 6]]  # b (10), d (30), a (50), c (90)
    assert image_batches(rows, images, lengths, batch_size=2) == [[1, 4], [7, 8], [0, 2], [5], [3, 6]]


class Recording:
    """A generative model that answers "A" and records each batch's images (by pixels) and prompts."""

    def __init__(self):
        self.batches = []

    def generate(self, images, prompts, n_options):
        self.batches.append([np.asarray(image).sum() for (image,) in images])
        return ((i, "A", None) for i in range(len(prompts)))


def test_several_subsets_are_asked_together_and_cached_per_subset(tiny_benchmark, tmp_path):
    bench = Benchmark(tiny_benchmark)
    questions = bench.questions.query("subset != 'cognition'").reset_index(drop=True)
    spec = ModelSpec.from_config(dict(name="rec", family="hf_vlm", model_id="unused"))
    model = Recording()
    together = generative_answers(spec, questions, *bench.image_index(), model, tmp_path, batch_size=12)
    assert [len(b) for b in model.batches] == [12] * 6  # two images of six questions (5 coarse + 1 fine) each
    assert all(len(set(batch)) == 2 for batch in model.batches)
    assert sorted(p.name for p in (tmp_path / "responses").iterdir()) == ["coarse", "fine"]
    for subset in ("coarse", "fine"):  # a later per-subset call finds everything cached
        again = Recording()
        part = questions[questions["subset"] == subset].reset_index(drop=True)
        table = generative_answers(spec, part, *bench.image_index(), again, tmp_path, batch_size=12)
        assert again.batches == [] and len(table) == len(part)
    assert together["response"].eq("A").all() and len(together) == len(questions)


def test_predict_subsets_asks_an_images_coarse_and_fine_questions_together(tiny_benchmark, tmp_path):
    from mubench.answering.predict import predict_subsets

    spec = ModelSpec.from_config(dict(name="rec", family="hf_vlm", model_id="unused"))
    model = Recording()
    tables, _ = predict_subsets(spec, tiny_benchmark, ["coarse", "fine"], cache_dir=tmp_path, batch_size=12,
                                model=model)
    assert [len(b) for b in model.batches] == [12] * 6 and all(len(set(b)) == 2 for b in model.batches)
    assert {s: len(t) for s, t in tables.items()} == {"coarse": 60, "fine": 12}
