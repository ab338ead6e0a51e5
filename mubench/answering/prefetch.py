"""Load the next batches in a background thread while the model answers the current one.

Decoding PNGs and running a processor (resize, normalise, tokenise) is CPU work that would otherwise leave the
accelerator idle between batches. One worker thread is enough: it only has to stay ahead of the model, and the
heavy parts (PIL decoding, tokenizers, numpy) release the GIL. Items come out in input order; an exception
raised by the loader (e.g. ``load_image``'s, which names the file) is re-raised in the consuming thread.
"""

from __future__ import annotations

import os
import queue
import threading
from typing import Callable, Iterable, Iterator, TypeVar

Item = TypeVar("Item")
Loaded = TypeVar("Loaded")

_DONE = object()


def overlaps_compute(device) -> bool:
    """Whether loading in a background thread runs beside the model rather than taking turns with it: always
    beside an accelerator; on the CPU only when torch's threads leave a core free. ``make bench`` measured it: on
    2 cores with 2 torch threads the loader thread made contrastive inference about 15 % slower."""
    if not str(device).startswith("cpu"):
        return True
    import torch

    return usable_cores() > torch.get_num_threads()


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask; the machine's count where there is none: macOS)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def prefetched(items: Iterable[Item], load: Callable[[Item], Loaded], depth: int = 2,
               background: bool = True) -> Iterator[tuple[Item, Loaded]]:
    """Yield ``(item, load(item))`` in order, loading up to ``depth`` items ahead of the consumer (``background``
    False: each item loaded when it is needed, in this thread)."""
    if depth < 1:
        raise ValueError(f"prefetch depth must be at least 1, got {depth}")
    if not background:
        return ((item, load(item)) for item in items)
    return _in_background(items, load, depth)


def _in_background(items: Iterable[Item], load: Callable[[Item], Loaded], depth: int) -> Iterator[tuple[Item, Loaded]]:
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        """Hand an entry over unless the consumer has gone away (then the worker ends)."""
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((item, load(item), None)):
                    return
        except BaseException as err:  # handed to the consumer, which re-raises it
            put((None, None, err))
            return
        put((_DONE, None, None))

    worker = threading.Thread(target=work, name="mubench-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, loaded, error = ready.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item, loaded
    finally:
        stop.set()
        worker.join()
