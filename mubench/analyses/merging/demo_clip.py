"""A tiny CLIP trained offline on a benchmark's TRAIN split, so the demo can show what weight merging does.

"base" is trained on every domain's training images; "tuned" continues from base on a slice (the demo's H&E/IHC
histology), like PLIP/QuiltNet were fine-tuned from CLIP on pathology. Each training image is paired with the
caption of every correct answer of its coarse and fine questions; the captions of all options of those
questions are the candidate texts, so the loss is a multi-positive softmax of each image over that caption set
(a CLIP loss whose batch of texts is the whole, small, caption vocabulary). The output is an ordinary open_clip
``local-dir:`` folder. Seeded and CPU-sized: a few hundred steps of a 2-layer ViT at 64 px.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch

from mubench.benchmark.tables import Benchmark, load_image
from mubench.io import atomic_write, write_json
from mubench.analyses.merging.plan import TrainSettings

log = logging.getLogger(__name__)

WEIGHTS_FILE = "open_clip_model.safetensors"
CONFIG_FILE = "open_clip_config.json"


@dataclass
class TrainingData:
    images: list[Path]
    captions: list[str]  # candidate texts: every option caption of the selected questions
    positives: np.ndarray  # (n_images, n_captions) bool: the caption of a correct answer
    image_datasets: list[str]


def training_data(benchmark_root: str | Path, split: str, datasets: tuple[str, ...] | None,
                  full_image_check: bool = False) -> TrainingData:
    """Images of ``split`` (optionally only ``datasets``) with their correct and candidate captions."""
    bench = Benchmark(Path(benchmark_root))
    bench.verify_images(full=full_image_check)
    all_images = bench.images
    images = all_images[all_images["split"] == split]
    if datasets is not None:
        unknown = sorted(set(datasets) - set(all_images["dataset"]))
        if unknown:
            raise ValueError(f"training datasets {unknown} are not in the benchmark {bench.root}")
        images = images[images["dataset"].isin(datasets)]
    if images.empty:
        raise ValueError(f"no {split!r} images for datasets {datasets or 'all'} in {bench.root}: nothing to train on")
    questions = bench.questions
    questions = questions[questions["subset"].isin(["coarse", "fine"]) & questions["image_id"].isin(images["image_id"])]
    captions = sorted({c for caps in questions["captions"] for c in caps})
    column = {c: i for i, c in enumerate(captions)}
    row = {image_id: i for i, image_id in enumerate(images["image_id"])}
    positives = np.zeros((len(images), len(captions)), dtype=bool)
    for q in questions.itertuples():
        positives[row[q.image_id], column[q.captions[q.answer_idx]]] = True
    return TrainingData([bench.root / p for p in images["path"]], captions, positives, list(images["dataset"]))


def create_model(architecture: str):
    """An open_clip model, its eval preprocessing and tokenizer (project configs registered)."""
    import open_clip

    open_clip.add_model_config(Path(str(files("mubench.models").joinpath("open_clip_configs"))))
    model, _, preprocess = open_clip.create_model_and_transforms(architecture)
    return model, preprocess, open_clip.get_tokenizer(architecture)


def _augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random rot90 and flip, the symmetries of a micrograph (same per batch: cheap and enough here)."""
    turns = int(torch.randint(4, (1,), generator=generator))
    batch = torch.rot90(batch, turns, dims=(2, 3))
    return batch.flip(3) if bool(torch.randint(2, (1,), generator=generator)) else batch


def train(model, preprocess, tokenizer, data: TrainingData, settings: TrainSettings) -> list[float]:
    """Optimise the multi-positive image→caption softmax; returns the loss per step."""
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    pixels = torch.stack([preprocess(load_image(p)) for p in data.images])
    tokens = tokenizer(data.captions)
    targets = torch.as_tensor(data.positives, dtype=torch.float32)
    targets = targets / targets.sum(dim=1, keepdim=True)
    weights = dict(settings.dataset_weights)
    counts = {d: data.image_datasets.count(d) for d in set(data.image_datasets)}
    sampling = torch.tensor([weights.get(d, 1.0) / counts[d] for d in data.image_datasets])
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.lr, total_steps=settings.steps,
                                                   pct_start=0.1)
    model.train()
    losses = []
    for _ in range(settings.steps):
        pick = torch.multinomial(sampling, settings.batch_size, replacement=True, generator=generator)
        image = model.encode_image(_augment(pixels[pick], generator), normalize=True)
        text = model.encode_text(tokens, normalize=True)
        logits = model.logit_scale.exp() * image @ text.T
        loss = -(targets[pick] * logits.log_softmax(dim=1)).sum(dim=1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, np.log(100))
        losses.append(float(loss.detach()))
    model.eval()
    return losses


def train_demo_clip(architecture: str, benchmark_root: str | Path, settings: TrainSettings, out_dir: str | Path,
                    init_dir: str | Path | None = None, full_image_check: bool = False) -> dict:
    """Train from random init (seeded) or from ``init_dir``'s weights; write a ``local-dir:`` model folder."""
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(settings.seed)
    model, preprocess, tokenizer = create_model(f"local-dir:{init_dir}" if init_dir else architecture)
    data = training_data(benchmark_root, settings.split, settings.datasets, full_image_check)
    log.info("training on %d %s images, %d candidate captions, %d steps", len(data.images), settings.split,
             len(data.captions), settings.steps)
    started = time.perf_counter()
    losses = train(model, preprocess, tokenizer, data, settings)
    seconds = time.perf_counter() - started
    log.info("loss %.3f → %.3f in %.1f s", losses[0], losses[-1], seconds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_cfg = open_clip.get_model_config(f"local-dir:{init_dir}" if init_dir else architecture)
    write_json(out_dir / CONFIG_FILE, {"model_cfg": model_cfg, "preprocess_cfg": model.visual.preprocess_cfg})
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    atomic_write(out_dir / WEIGHTS_FILE, lambda tmp: save_file(state, tmp))
    record = {"architecture": architecture, "init": str(init_dir) if init_dir else "random (seeded)",
              "settings": asdict(settings), "n_images": len(data.images), "n_captions": len(data.captions),
              "datasets": sorted(set(data.image_datasets)),
              "first_loss": losses[0], "last_loss": losses[-1]}
    write_json(out_dir / "training.json", record)
    return record
