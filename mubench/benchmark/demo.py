"""The embedded demo benchmark: real microscopy shipped inside installed packages, plus procedural images.

It lets the whole pipeline run offline in seconds. Every label is computed from the pixels or masks it describes
(nuclei counts from the real StarDist instance mask, eccentricity measured on the rendered cell, ...), so a model
that scores well here really did read the image. All dataset names start with ``demo_`` so they can never be
mistaken for μ-Bench datasets.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
import zlib
from collections import Counter
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage as ndi
from skimage.filters import gaussian, threshold_otsu
from skimage.measure import regionprops

import mubench
from mubench.benchmark.coarse import coarse_questions
from mubench.benchmark.demo_render import ECCENTRICITY_RENDER, EM_CLASSES, render_cell, render_em
from mubench.benchmark.tables import LETTER_PROTOCOL, max_image_pixels, record_image_files, write_table
from mubench.io import atomic_write, sha256_file, write_json
from mubench.resources import templates

NONE_COGNITION = "None of the above"
COGNITION_OPTIONS = 6  # five answers + "None of the above", as in the paper's cognition MCQs
SPLIT_FRACTIONS = (("train", 0.6), ("val", 0.2))  # the rest is "test"
SYNTHETIC_LICENSE = "CC0-1.0 (procedurally rendered by mubench)"

# Per-source taxonomy (values exist verbatim in resources/taxonomy.yaml).
CELL_QPI = dict(modality="light microscopy", submodality="phase contrast microscopy", domain="biology",
                subdomain="biophysics", stain="None")
IHC = dict(modality="light microscopy", submodality="brightfield microscopy", domain="pathology",
           subdomain="gastrointestinal pathology", stain="IHC(HDab)")
HE = dict(modality="light microscopy", submodality="brightfield microscopy", domain="pathology",
          subdomain="surgical pathology", stain="H&E")
NUCLEI = dict(modality="fluorescence microscopy", submodality="epifluorescence microscopy", domain="biology",
              subdomain="cell biology", stain="DAPI")
SYNTHETIC_FLUORESCENCE = dict(modality="fluorescence microscopy", submodality="synthetic", domain="biology",
                              subdomain="cell biology", stain="synthetic")
SYNTHETIC_EM = dict(modality="electron microscopy", submodality="synthetic", domain="biology",
                    subdomain="cell biology", stain="synthetic")

# Nuclei are counted when their centroid lies in the crop; bins chosen so each is common at 64–96 px crops.
NUCLEI_BINS = (("0 to 2", 0, 2), ("3 to 4", 3, 4), ("5 or more", 5, np.inf))
CELL_CLASSES = ("a cell", "background only")
CELL_MIN_FRACTION = 0.25  # "a cell": at least this much of the crop is cell; "background only": none of it is
CELL_HALO_PX = 16  # the phase halo around the cell is kept out of "background only" crops
STAIN_CLASSES = ("H&E", "IHC(HDab)")
GRID_NAMES = (("top left", "top center", "top right"), ("middle left", "center", "middle right"),
              ("bottom left", "bottom center", "bottom right"))


@dataclass(frozen=True)
class FineTask:
    classes: tuple[str, ...]
    question: str
    caption: str


def fine_tasks() -> dict[str, FineTask]:
    """Demo dataset → its classification task; the eccentricity task mirrors a paper dataset and uses its template."""
    burgess = templates()["fine"]["burgess_et_al_2024_eccentricity"]
    return {
        "demo_qpi_cell": FineTask(
            CELL_CLASSES,
            "A quantitative phase micrograph of a cell floating in saline. Based on the image, what does the field "
            "of view contain?",
            "A quantitative phase microscopy image showing {class}."),
        "demo_histology_stain": FineTask(
            STAIN_CLASSES,
            "A brightfield micrograph of human tissue. Based on the image, what is the most likely staining "
            "technique?",
            "A brightfield microscopy image of human tissue stained with {class}."),
        "demo_nuclei_count": FineTask(
            tuple(name for name, _, _ in NUCLEI_BINS),
            "A fluorescence micrograph of stained cell nuclei. Based on the image, how many nuclei have their "
            "center inside the field of view?",
            "A fluorescence microscopy image of stained cell nuclei showing {class} nuclei."),
        "demo_synthetic_eccentricity": FineTask(tuple(ECCENTRICITY_RENDER), burgess["question"], burgess["caption"]),
        "demo_synthetic_em": FineTask(
            EM_CLASSES,
            "A synthetic electron micrograph is shown. Based on the image, what is the most likely structure in the "
            "field of view?",
            "A synthetic electron microscopy image shows {class}."),
    }


@dataclass
class DemoImage:
    """One demo image before it is written: pixels, labels, and what the tables need to know about it."""

    dataset: str
    label: str
    pixels: np.ndarray  # uint8, HxW or HxWx3
    labels: dict
    synthetic: bool
    license: str
    provenance: dict
    microns_per_pixel: float | None = None
    detection: tuple[str, list, str] | None = None  # (class_name, boxes, difficulty)
    crop_mask: np.ndarray | None = field(default=None, repr=False)  # nuclei instance ids, for cognition


def _rng(seed: int, stream: str) -> np.random.Generator:
    """Independent stream per part, so changing one part of the demo does not reshuffle the others."""
    return np.random.default_rng([seed, zlib.crc32(stream.encode())])


def _quotas(classes, total: int) -> dict[str, int]:
    return {name: total // len(classes) + (i < total % len(classes)) for i, name in enumerate(classes)}


def _sample_windows(rng, shape, size: int, quotas: dict[str, int], label_of: Callable[[int, int], str | None],
                    source: str, max_tries: int = 100_000) -> list[tuple[str, dict]]:
    """Random distinct crops (with a random rot90/flip) until each class has its quota; label_of sees the window."""
    wanted, taken, seen = dict(quotas), [], set()
    for _ in range(max_tries):
        if not any(wanted.values()):
            return taken
        y, x = int(rng.integers(shape[0] - size + 1)), int(rng.integers(shape[1] - size + 1))
        rot90, flip = int(rng.integers(4)), bool(rng.integers(2))
        label = label_of(y, x)
        if (y, x) in seen or not wanted.get(label):
            continue
        seen.add((y, x))
        wanted[label] -= 1
        taken.append((label, dict(source=source, y=y, x=x, size=size, rot90=rot90, flip=flip)))
    raise RuntimeError(f"{source}: could not find crops for {wanted} in {max_tries} tries (patch too large?)")


def _crop(array: np.ndarray, crop: dict) -> np.ndarray:
    """The window of a manifest ``crops`` entry: ``np.rot90`` ``rot90`` times, then a left-right flip if ``flip``."""
    y, x, size = crop["y"], crop["x"], crop["size"]
    turned = np.rot90(array[y:y + size, x:x + size], crop["rot90"])
    return np.ascontiguousarray(turned[:, ::-1] if crop["flip"] else turned)


def mask_boxes(mask: np.ndarray, ids) -> list[list[float]]:
    """[x1, y1, x2, y2] pixel-edge boxes (x2, y2 exclusive) of the given instance ids."""
    boxes = []
    for instance in ids:
        ys, xs = np.nonzero(mask == instance)
        boxes.append([float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)])
    return boxes


def _load_sources() -> dict[str, np.ndarray]:
    """The packaged images (no download: these ship inside the installed wheels)."""
    import skimage.data
    import stardist.data

    with warnings.catch_warnings():  # stardist's own imageio call warns about a future imageio API change
        warnings.simplefilter("ignore", DeprecationWarning)
        he = stardist.data.test_image_he_2d()
    nuclei, nuclei_mask = stardist.data.test_image_nuclei_2d(return_mask=True)
    return {"skimage.data.cell": skimage.data.cell(),
            "skimage.data.immunohistochemistry": skimage.data.immunohistochemistry(),
            "stardist.test_image_nuclei_2d": nuclei, "stardist.test_image_nuclei_2d.mask": nuclei_mask,
            "stardist.test_image_he_2d": he}


def _qpi_cell_images(rng, image: np.ndarray, size: int, n: int) -> list[DemoImage]:
    """Crops of the single quantitative-phase cell: "a cell" vs "background only" from its segmented mask."""
    smooth = gaussian(image.astype(float), sigma=2, preserve_range=True)
    components, _ = ndi.label(smooth > threshold_otsu(smooth))
    cell = components == np.bincount(components.ravel())[1:].argmax() + 1
    near_cell = ndi.binary_dilation(cell, iterations=CELL_HALO_PX)

    def label_of(y, x):
        if cell[y:y + size, x:x + size].mean() >= CELL_MIN_FRACTION:
            return CELL_CLASSES[0]
        return CELL_CLASSES[1] if not near_cell[y:y + size, x:x + size].any() else None

    crops = _sample_windows(rng, image.shape, size, _quotas(CELL_CLASSES, n), label_of, "skimage.data.cell")
    return [DemoImage("demo_qpi_cell", label, _crop(image, crop), CELL_QPI, False,
                      "CC0-1.0 (skimage.data.cell docstring)", crop, microns_per_pixel=0.107)
            for label, crop in crops]


def _histology_images(rng, ihc: np.ndarray, he: np.ndarray, size: int, n: int) -> list[DemoImage]:
    """Random crops of the IHC and H&E images; the stain label is true by source."""
    images = []
    for label, source, image, labels, license in (
        ("IHC(HDab)", "skimage.data.immunohistochemistry", ihc, IHC,
         "No known copyright restrictions (skimage.data.immunohistochemistry docstring)"),
        ("H&E", "stardist.test_image_he_2d", he, HE,
         "The Cancer Imaging Archive (stardist docstring; collection and license not stated)"),
    ):
        crops = _sample_windows(rng, image.shape, size, {label: n}, lambda y, x, label=label: label, source)
        images += [DemoImage("demo_histology_stain", label, _crop(image, crop), labels, False, license, crop)
                   for _, crop in crops]
    return images


def nuclei_bin(count: int) -> str:
    return next(name for name, low, high in NUCLEI_BINS if low <= count <= high)


def _nuclei_images(rng, image: np.ndarray, mask: np.ndarray, size: int, n: int) -> list[DemoImage]:
    """Crops of the DSB2018 nuclei image; count bin = instances of the real mask whose centroid is in the crop."""
    props = regionprops(mask)
    ids = np.array([p.label for p in props])
    centroids = np.array([p.centroid for p in props])

    def centred_ids(y, x):
        inside = (centroids[:, 0] >= y) & (centroids[:, 0] < y + size) & \
                 (centroids[:, 1] >= x) & (centroids[:, 1] < x + size)
        return ids[inside]

    as_uint8 = np.clip(image / np.percentile(image, 99.5) * 255, 0, 255).astype(np.uint8)
    crops = _sample_windows(rng, image.shape, size, _quotas([b[0] for b in NUCLEI_BINS], n),
                            lambda y, x: nuclei_bin(len(centred_ids(y, x))), "stardist.test_image_nuclei_2d")
    images = []
    for label, crop in crops:
        crop_mask = _crop(mask, crop)
        centred = centred_ids(crop["y"], crop["x"])
        detection = ("nucleus", mask_boxes(crop_mask, centred), "hard" if len(centred) > 1 else "easy")
        images.append(DemoImage("demo_nuclei_count", label, _crop(as_uint8, crop), NUCLEI, False,
                                "CC0-1.0 (2018 Data Science Bowl, BBBC038; shipped with stardist)", crop,
                                detection=detection if len(centred) else None,  # nothing to detect
                                crop_mask=crop_mask))
    return images


def _synthetic_images(rng, size: int, per_class: int) -> list[DemoImage]:
    images = []
    for target in ECCENTRICITY_RENDER:
        for _ in range(per_class):
            pixels, cell = render_cell(rng, size, target)
            images.append(DemoImage("demo_synthetic_eccentricity", target, pixels, SYNTHETIC_FLUORESCENCE, True,
                                    SYNTHETIC_LICENSE, dict(source="rendered", render="cell", target=target),
                                    detection=("cell", mask_boxes(cell, [True]), "easy")))
    for structure in EM_CLASSES:
        for _ in range(per_class):
            images.append(DemoImage("demo_synthetic_em", structure, render_em(rng, size, structure), SYNTHETIC_EM,
                                    True, SYNTHETIC_LICENSE, dict(source="rendered", render="em", target=structure)))
    return images


def fully_inside_ids(crop_mask: np.ndarray) -> np.ndarray:
    """Instances present in the crop that do not touch its border, i.e. are not cut off."""
    border = np.concatenate([crop_mask[0], crop_mask[-1], crop_mask[:, 0], crop_mask[:, -1]])
    return np.setdiff1d(np.unique(crop_mask), np.append(np.unique(border), 0))


def largest_nucleus_cell(crop_mask: np.ndarray) -> str | None:
    """3×3 grid cell of the largest nucleus, if it is unambiguous (clearly largest, inside, off the grid lines)."""
    inside = fully_inside_ids(crop_mask)
    if not len(inside):
        return None
    areas = np.bincount(crop_mask.ravel())
    areas[0] = 0
    largest = inside[areas[inside].argmax()]
    runner_up = np.delete(areas, largest).max()
    cy, cx = np.argwhere(crop_mask == largest).mean(axis=0)
    size = crop_mask.shape[0]

    def near_grid_line(coordinate):
        return min(abs(coordinate - size / 3), abs(coordinate - 2 * size / 3)) < 0.04 * size

    if areas[largest] < 1.1 * runner_up or near_grid_line(cy + 0.5) or near_grid_line(cx + 0.5):
        return None
    return GRID_NAMES[int((cy + 0.5) * 3 // size)][int((cx + 0.5) * 3 // size)]


def _mcq(rng, truth: str, pool: list[str], position: int) -> tuple[list[str], int]:
    """Five answers + "None of the above"; truth at ``position``, or absent (answer = last) when position is 5."""
    distractors = [pool[i] for i in rng.permutation(len(pool)) if pool[i] != truth][:COGNITION_OPTIONS - 1]
    if position == COGNITION_OPTIONS - 1:
        return distractors + [NONE_COGNITION], position
    answers = distractors[:COGNITION_OPTIONS - 2]
    answers.insert(position, truth)
    return answers + [NONE_COGNITION], position


def _cognition_rows(rng, images: list[tuple[str, DemoImage]]) -> list[dict]:
    """Position MCQs where the largest nucleus is unambiguous, else count MCQs; answers spread over all six slots."""
    positions = rng.permutation(np.arange(len(images)) % COGNITION_OPTIONS)
    rows = []
    for (image_id, image), position in zip(images, positions):
        grid_cell = largest_nucleus_cell(image.crop_mask)
        if grid_cell is not None:
            question = "In which part of this fluorescence micrograph is the largest nucleus located?"
            options, answer = _mcq(rng, grid_cell, [name for row in GRID_NAMES for name in row], position)
        else:
            count = len(fully_inside_ids(image.crop_mask))
            question = ("How many nuclei lie entirely inside this fluorescence micrograph, without touching its "
                        "border?")
            options, answer = _mcq(rng, str(count), [str(v) for v in range(max(0, count - 4), count + 6)], position)
        rows.append(dict(question_id=f"{image_id}:cognition", image_id=image_id, subset="cognition",
                         question_type="cognition", dataset=image.dataset, question=question, options=options,
                         answer_idx=answer, captions=[], caption_key="", caption_variants={}))
    return rows


def _fine_row(image_id: str, image: DemoImage, task: FineTask) -> dict:
    def caption(name):
        return task.caption.format(**{"class": name, "article": "an" if name[0].lower() in "aeiou" else "a"})

    return dict(question_id=f"{image_id}:classification", image_id=image_id, subset="fine",
                question_type="classification", dataset=image.dataset, question=task.question,
                options=list(task.classes), answer_idx=task.classes.index(image.label),
                captions=[caption(name) for name in task.classes], caption_key="classification_1",
                caption_variants={"classification_0": list(task.classes)})  # class name alone (label-only prompt)


def _splits(rng, images: pd.DataFrame) -> pd.Series:
    """train/val/test 0.6/0.2/0.2, stratified by (dataset, label)."""
    split = pd.Series("test", index=images.index)
    for _, group in images.groupby(["dataset", "label_name"], sort=True):
        order = group.index[rng.permutation(len(group))]
        start = 0
        for name, fraction in SPLIT_FRACTIONS:
            stop = start + round(fraction * len(group))
            split[order[start:stop]] = name
            start = stop
    return split


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def build_demo(out_dir: str | Path, *, seed: int, patch_size: int = 96, crops_per_source: int = 40,
               synthetic_per_class: int = 20, coarse_distractors: int = 3,
               log: Callable[[str], None] = logging.getLogger(__name__).info) -> dict:
    """Write the demo benchmark (images/, three tables, manifest.json) into ``out_dir``; returns the manifest."""
    out_dir = Path(out_dir)
    parameters = dict(patch_size=patch_size, crops_per_source=crops_per_source,
                      synthetic_per_class=synthetic_per_class, coarse_distractors=coarse_distractors)
    sources = _load_sources()
    demo = (_qpi_cell_images(_rng(seed, "qpi_cell"), sources["skimage.data.cell"], patch_size, crops_per_source)
            + _histology_images(_rng(seed, "histology"), sources["skimage.data.immunohistochemistry"],
                                sources["stardist.test_image_he_2d"], patch_size, crops_per_source)
            + _nuclei_images(_rng(seed, "nuclei"), sources["stardist.test_image_nuclei_2d"],
                             sources["stardist.test_image_nuclei_2d.mask"], patch_size, crops_per_source)
            + _synthetic_images(_rng(seed, "synthetic"), patch_size, synthetic_per_class))
    numbering = Counter()
    named = []
    for image in demo:
        named.append((f"{image.dataset}_{numbering[image.dataset]:03d}", image))
        numbering[image.dataset] += 1

    image_rows, question_rows, detection_rows = [], [], []
    tasks = fine_tasks()
    coarse_rng = _rng(seed, "coarse")
    for image_id, image in named:
        png = _png(image.pixels)
        atomic_write(out_dir / "images" / f"{image_id}.png", lambda tmp, png=png: Path(tmp).write_bytes(png))
        image_rows.append(dict(image_id=image_id, dataset=image.dataset, label_name=image.label, **image.labels,
                               synthetic=image.synthetic, license=image.license,
                               microns_per_pixel=image.microns_per_pixel, md5=hashlib.md5(png).hexdigest(),
                               path=f"images/{image_id}.png"))
        question_rows += coarse_questions(image_id, image.dataset, image.labels, coarse_rng, coarse_distractors)
        question_rows.append(_fine_row(image_id, image, tasks[image.dataset]))
        if image.detection:
            class_name, boxes, difficulty = image.detection
            detection_rows.append(dict(image_id=image_id, dataset=image.dataset, class_name=class_name,
                                       boxes=boxes, difficulty=difficulty))
    question_rows += _cognition_rows(_rng(seed, "cognition"),
                                     [(i, image) for i, image in named if image.crop_mask is not None])

    images = pd.DataFrame(image_rows)
    images["split"] = _splits(_rng(seed, "splits"), images)
    questions = pd.DataFrame(question_rows)
    tables = {"images": images, "questions": questions, "detection": pd.DataFrame(detection_rows)}
    for name, table in tables.items():
        write_table(table, name, out_dir / f"{name}.parquet", protocol=LETTER_PROTOCOL)

    manifest = dict(
        source="demo",
        revision={"scikit-image": version("scikit-image"), "stardist": version("stardist"),
                  "mubench": mubench.__version__},
        seed=seed,
        max_image_pixels=max_image_pixels(),
        parameters=parameters,
        counts=dict(
            images_per_dataset=images["dataset"].value_counts().sort_index().to_dict(),
            questions={subset: group["question_type"].value_counts().sort_index().to_dict()
                       for subset, group in questions.groupby("subset")},
            questions_per_dataset=questions["dataset"].value_counts().sort_index().to_dict(),
            detection_rows=len(detection_rows),
        ),
        sha256={f"{name}.parquet": sha256_file(out_dir / f"{name}.parquet") for name in tables},
        inputs={name: hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
                for name, array in sources.items()},
        crops={image_id: image.provenance for image_id, image in named},
    )
    record_image_files(out_dir)
    write_json(out_dir / "manifest.json", manifest)
    log(f"demo benchmark: {len(images)} images, {len(questions)} questions, {len(detection_rows)} detection rows "
        f"→ {out_dir}")
    return manifest
