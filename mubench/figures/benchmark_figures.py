"""Fig. 3 (what the benchmark holds, by domain, modality and stain) and Fig. 6 (sample images of every dataset)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import to_hex
from matplotlib.patches import Patch
from PIL import ImageOps

from mubench.benchmark.tables import load_image
from mubench.figures.composition import HIERARCHIES, hierarchy_table, perception_images
from mubench.figures.style import NEUTRAL, PAPER_WIDTH_IN, paper_style, save_figure

THUMBNAIL_PX = 128
_GAP_PX = 24  # room for the caption under each thumbnail
FIG6_COLUMNS = ["dataset", "image_id", "label_name", "row", "column"]
_PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442"]  # Okabe–Ito


def plot_fig3(images: pd.DataFrame, questions: pd.DataFrame, png, pdf) -> pd.DataFrame:
    """Images per subdomain (coloured by domain), submodality (by modality) and stain (one neutral colour); every
    parent value has a colour of its own across all panels and each coloured panel a key. Returns the counts
    drawn."""
    seen = perception_images(images, questions)
    panels = [("domains", "subdomain by domain"), ("modalities", "submodality by modality"), ("stains", "stain")]
    data = []
    for key, title in panels:
        parent, child = HIERARCHIES[key]
        table = hierarchy_table(seen, parent, child, "images")
        leaf = child or parent
        data.append(table[table["level"] == leaf].assign(panel=title))
    data = pd.concat(data, ignore_index=True)
    parents = [(title, parent) for _, title in panels
               for parent in sorted(set(data.loc[data["panel"] == title, "parent"]) - {""})]
    colour = dict(zip(parents, distinct_colours(len(parents))))
    bars = [max(int((data["panel"] == title).sum()), 1) for _, title in panels]
    with paper_style():
        fig, axes = plt.subplots(3, 1, figsize=(PAPER_WIDTH_IN, 1.6 + 0.16 * sum(bars)), layout="constrained",
                                 gridspec_kw={"height_ratios": bars})
        for ax, (key, title) in zip(axes, panels):
            rows = data[data["panel"] == title].iloc[::-1]
            labels = [f"{g} ({p})" if p else g for g, p in zip(rows["group"], rows["parent"])]
            ax.barh(np.arange(len(rows)), rows["images"],
                    color=[colour.get((title, p), NEUTRAL) for p in rows["parent"]])
            ax.set_yticks(np.arange(len(rows)), labels)
            for y, n in enumerate(rows["images"]):
                ax.annotate(f"{n:,}", (n, y), xytext=(2, 0), textcoords="offset points", va="center", fontsize=6)
            keys = [Patch(color=c, label=p) for (t, p), c in colour.items() if t == title]
            if keys:
                ax.legend(handles=keys, title=HIERARCHIES[key][0], loc="upper left", bbox_to_anchor=(1.01, 1.0),
                          frameon=False, fontsize=6, title_fontsize=7)
            ax.set_title(title)
            ax.margins(x=0.1)
            ax.grid(axis="y", visible=False)
        axes[-1].set_xlabel("images")
        fig.suptitle(f"Fig. 3 — benchmark composition: {len(seen):,} perception images in "
                     f"{seen['dataset'].nunique()} datasets")
        save_figure(fig, png, pdf)
    return data


def distinct_colours(n: int) -> list[str]:
    """``n`` different colours: the colour-blind-safe palette first, then tab20's (never the neutral grey)."""
    extra = [to_hex(c) for c in plt.get_cmap("tab20").colors]
    palette = list(dict.fromkeys([*_PALETTE, *extra]))
    palette = [c for c in palette if c.casefold() != NEUTRAL.casefold()]
    return [palette[i % len(palette)] for i in range(n)]


def sample_images(images: pd.DataFrame, per_dataset: int, seed: int) -> pd.DataFrame:
    """Up to ``per_dataset`` images of every dataset, drawn without replacement by one seeded generator over the
    datasets in name order (same seed and table → same images)."""
    rng = np.random.default_rng(seed)
    rows = []
    for row, (dataset, part) in enumerate(images.sort_values("image_id").groupby("dataset", sort=True)):
        chosen = rng.choice(len(part), size=min(per_dataset, len(part)), replace=False)
        for column, index in enumerate(sorted(chosen)):
            image = part.iloc[index]
            rows.append({"dataset": dataset, "image_id": image["image_id"], "label_name": image["label_name"],
                         "row": row, "column": column, "path": image["path"]})
    return pd.DataFrame(rows, columns=[*FIG6_COLUMNS, "path"])


def plot_fig6(images: pd.DataFrame, benchmark_root, per_dataset: int, seed: int, png, pdf) -> pd.DataFrame:
    """A grid of seeded sample images, one row per dataset, each thumbnail captioned with its label. The grid is
    pasted into one mosaic (one image in the figure), which keeps the figure fast and small at uBench scale."""
    samples = sample_images(images, per_dataset, seed)
    n_rows = int(samples["row"].max()) + 1 if len(samples) else 0
    cell = THUMBNAIL_PX + _GAP_PX
    mosaic = np.full((max(n_rows, 1) * cell, per_dataset * cell, 3), 255, dtype=np.uint8)
    for sample in samples.itertuples():
        thumbnail = ImageOps.contain(load_image(Path(benchmark_root) / sample.path), (THUMBNAIL_PX, THUMBNAIL_PX))
        pixels = np.asarray(thumbnail)
        top = sample.row * cell + (THUMBNAIL_PX - pixels.shape[0]) // 2
        left = sample.column * cell + (THUMBNAIL_PX - pixels.shape[1]) // 2
        mosaic[top:top + pixels.shape[0], left:left + pixels.shape[1]] = pixels
    width = PAPER_WIDTH_IN
    height = 0.5 + width * 0.8 * mosaic.shape[0] / mosaic.shape[1]
    with paper_style():
        fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
        ax.imshow(mosaic, interpolation="nearest")
        for sample in samples.itertuples():
            ax.text(sample.column * cell + THUMBNAIL_PX / 2, sample.row * cell + THUMBNAIL_PX + _GAP_PX / 2,
                    _short(sample.label_name), ha="center", va="center", fontsize=5)
        rows = samples.groupby("row")["dataset"].first()
        ax.set_yticks(rows.index * cell + THUMBNAIL_PX / 2, [_short(d, 30) for d in rows])
        ax.set_xticks([])
        ax.tick_params(left=False)
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_title(f"Fig. 6 — up to {per_dataset} sample images per dataset (seed {seed})")
        save_figure(fig, png, pdf)
    return samples[FIG6_COLUMNS]


def _short(text: str, limit: int = 22) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
