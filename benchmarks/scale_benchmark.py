"""A synthetic benchmark with μ-Bench's proportions, for timing the pipeline at full size (``make bench``).

Per dataset: the image count of the paper's Table 14 (25 datasets, 17,315 images) and the class count of the
official fine-grained task list (DESIGN §2); the two datasets outside that list get coarse questions only. Coarse
questions come from the paper's templates and taxonomy through the same code as every source, fine questions from
the dataset's own template, so questions and captions repeat exactly as in μ-Bench (five coarse question texts,
one fine question text per dataset, captions shared across images). Datasets whose stain the release leaves
empty (EM, label-free, ``nirschl_unpub_fluorescence``) get no stain question: 81,879 coarse and 16,130 fine
questions, against μ-Bench's ≈80k and 16,130. Coarse labels are plausible, not the release's; class names are
placeholders. Images are small renders of the demo's procedural cells and EM organelles (a pool per class,
flipped, rotated and re-noised per image, so every file is distinct), not microscopy.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from mubench.benchmark.coarse import coarse_question
from mubench.benchmark.demo_render import ECCENTRICITY_RENDER, EM_CLASSES, render_cell, render_em
from mubench.benchmark.tables import COARSE_TYPES, record_image_files, write_table
from mubench.io import atomic_write, write_json
from mubench.resources import templates

LIGHT, FLUO, EM = "light microscopy", "fluorescence microscopy", "electron microscopy"
BF = "brightfield microscopy"
# dataset: (images [Table 14], fine classes [DESIGN §2; 0 = outside the official task list], modality,
#           submodality, domain, subdomain, stain [None = no stain question])
DATASETS = {
    "acevedo_et_al_2020": (1600, 8, LIGHT, BF, "pathology", "hematopathology", "Giemsa"),
    "burgess_et_al_2024_contour": (600, 3, FLUO, "synthetic", "biology", "cell biology", "synthetic"),
    "burgess_et_al_2024_eccentricity": (600, 3, FLUO, "synthetic", "biology", "cell biology", "synthetic"),
    "burgess_et_al_2024_texture": (600, 3, FLUO, "synthetic", "biology", "cell biology", "synthetic"),
    "colocalization_benchmark": (96, 4, FLUO, "confocal microscopy", "biology", "cell biology", "Alexa Fluor 488"),
    "empiar_sbfsem": (577, 5, EM, "serial blockface scanning electron microscopy", "biology", "cell biology", None),
    "eulenberg_et_al_2017_brightfield": (743, 7, LIGHT, BF, "biology", "cell cycle", None),
    "eulenberg_et_al_2017_darkfield": (743, 7, LIGHT, "darkfield microscopy", "biology", "cell cycle", None),
    "eulenberg_et_al_2017_epifluorescence": (743, 5, FLUO, "epifluorescence microscopy", "biology", "cell cycle",
                                             None),
    "held_et_al_2010_galt": (157, 8, FLUO, "epifluorescence microscopy", "biology", "cell cycle", "GalT-EGFP"),
    "held_et_al_2010_h2b": (646, 9, FLUO, "epifluorescence microscopy", "biology", "cell cycle", "H2B-mCherry"),
    "held_et_al_2010_mt": (137, 6, FLUO, "epifluorescence microscopy", "biology", "cell cycle",
                           "AlexaFluor-tubulin"),
    "hussain_et_al_2019": (193, 4, LIGHT, BF, "cytology", "gynecologic cytology", "Papanicolaou"),
    "icpr2020_pollen": (700, 4, LIGHT, BF, "biology", "botany", None),
    "jung_et_al_2022": (1000, 5, LIGHT, BF, "pathology", "hematopathology", "Giemsa"),
    "kather_et_al_2016": (1000, 8, LIGHT, BF, "pathology", "gastrointestinal pathology", "H&E"),
    "kather_et_al_2018": (1800, 8, LIGHT, BF, "pathology", "gastrointestinal pathology", "H&E"),
    "kather_et_al_2018_val7k": (1314, 8, LIGHT, BF, "pathology", "gastrointestinal pathology", "H&E"),
    "nirschl_et_al_2018": (400, 2, LIGHT, BF, "pathology", "cardiovascular pathology", "H&E"),
    "nirschl_unpub_fluorescence": (934, 13, FLUO, "epifluorescence microscopy", "biology", "cell biology", None),
    "opencell": (1105, 0, FLUO, "confocal microscopy", "biology", "cell biology", "GFP"),
    "sirinukunwattana_et_al_2016": (80, 0, LIGHT, BF, "pathology", "gastrointestinal pathology", "H&E"),
    "tang_et_al_2019": (491, 4, LIGHT, BF, "pathology", "neuropathology", "IHC(HDab)"),
    "wong_et_al_2022": (800, 4, LIGHT, BF, "pathology", "neuropathology", "IHC(HDab)"),
    "wu_et_al_2023": (256, 2, EM, "cryo-electron tomography", "biology", "cell biology", None),
}
POOL_PER_CLASS = 4  # renders per class; every image is one of them, flipped/rotated and re-noised


def _pool(rng, dataset: str, n_classes: int, size: int) -> list[list[np.ndarray]]:
    """Rendered grayscale images per class: EM organelles for EM datasets, fluorescent cells otherwise."""
    modality = DATASETS[dataset][2]
    shapes = list(ECCENTRICITY_RENDER)
    return [[render_em(rng, size, EM_CLASSES[c % 3]) if modality == EM else render_cell(rng, size, shapes[c % 3])[0]
             for _ in range(POOL_PER_CLASS)] for c in range(max(n_classes, 1))]


def _variant(rng, base: np.ndarray, tint: np.ndarray) -> bytes:
    """A distinct PNG from a pooled render: random flip/rotation, fresh noise, the dataset's colour."""
    gray = np.rot90(base, int(rng.integers(4)))[:, ::-1] if rng.integers(2) else np.rot90(base, int(rng.integers(4)))
    noisy = np.clip(gray.astype(np.float32) + rng.normal(0, 6, gray.shape), 0, 255)
    buffer = io.BytesIO()
    Image.fromarray((noisy[..., None] * tint).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _fine_row(image_id: str, dataset: str, n_classes: int, label: int) -> dict:
    template = templates()["fine"][dataset]
    classes = [f"class {k + 1}" for k in range(n_classes)]
    caption = template["caption"] or "A microscopy image showing {class}."
    return dict(question_id=f"{image_id}:classification", image_id=image_id, subset="fine",
                question_type="classification", dataset=dataset, question=template["question"], options=classes,
                answer_idx=label, captions=[caption.format(**{"class": c, "article": "a"}) for c in classes],
                caption_key="classification_1", caption_variants={})


def build_scale_benchmark(out_dir: str | Path, *, seed: int = 0, scale: float = 1.0, size: int = 32) -> dict:
    """Write the benchmark (``scale`` × μ-Bench's image count per dataset, at least 2) into ``out_dir``."""
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    images, questions = [], []
    for d_index, (dataset, (n_images, n_classes, *labels)) in enumerate(DATASETS.items()):
        coarse_labels = dict(zip(COARSE_TYPES, labels))
        pool = _pool(rng, dataset, n_classes, size)
        tint = np.array([1.0, 0.55 + 0.45 * (d_index % 3 == 1), 0.6 + 0.4 * (d_index % 2)], np.float32)
        for i in range(max(2, round(n_images * scale))):
            image_id = f"{dataset}_{i:05d}"
            label = int(rng.integers(max(n_classes, 1)))
            png = _variant(rng, pool[label][int(rng.integers(POOL_PER_CLASS))], tint)
            path = out_dir / "images" / f"{image_id}.png"
            atomic_write(path, lambda tmp, png=png: Path(tmp).write_bytes(png))
            images.append(dict(image_id=image_id, dataset=dataset, label_name=f"class {label + 1}", **coarse_labels,
                               split="test", synthetic=True, license="synthetic (mubench scale benchmark)",
                               microns_per_pixel=None, md5=hashlib.md5(png).hexdigest(),
                               path=f"images/{image_id}.png"))
            for question_type in COARSE_TYPES:
                if coarse_labels[question_type] is not None:
                    questions.append({"question_id": f"{image_id}:{question_type}", "image_id": image_id,
                                      "dataset": dataset, **coarse_question(question_type, coarse_labels, rng)})
            if n_classes:
                questions.append(_fine_row(image_id, dataset, n_classes, label))
    images, questions = pd.DataFrame(images), pd.DataFrame(questions)
    write_table(images, "images", out_dir / "images.parquet")
    write_table(questions, "questions", out_dir / "questions.parquet")
    write_table(pd.DataFrame(columns=["image_id", "dataset", "class_name", "boxes", "difficulty"]), "detection",
                out_dir / "detection.parquet")
    manifest = dict(source="scale-benchmark", revision="synthetic", seed=seed, scale=scale,
                    counts=dict(images=len(images), datasets=images["dataset"].nunique(),
                                questions=questions["subset"].value_counts().sort_index().to_dict()))
    write_json(out_dir / "manifest.json", manifest)
    record_image_files(out_dir)  # as every builder does last: predict jobs then check images by size and mtime
    return manifest
