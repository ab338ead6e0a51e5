"""Coarse-grained questions (modality, submodality, domain, subdomain, stain), the same for every source.

The paper draws distractors among the true value's siblings in its taxonomy (so every option is a plausible
answer for the image's parent category) and always ends with "none of the above". Keeping that here means every
source that has to generate coarse questions produces them identically.

Contrastive models are scored with the paper's caption template (caption set ``<type>``). A second caption set,
``<type>_1`` = the option text alone (the label-only prompt of CLIP zero-shot classification), goes to
``caption_variants`` so the caption-sensitivity analysis has a wording to compare with; uBench ships its own
``<type>_1`` sets instead.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mubench.benchmark.tables import COARSE_TYPES, NONE_OF_THE_ABOVE
from mubench.resources import taxonomy, templates


def sibling_values(question_type: str, labels: Mapping[str, str]) -> list[str]:
    """All taxonomy values a question of this type may offer for an image with these labels."""
    tax = taxonomy()
    modalities = tax["modality_submodality"]
    domains = tax["domain_subdomain"]
    if question_type == "modality":
        return list(modalities)
    if question_type == "domain":
        return list(domains)
    parent_type, tree = {
        "submodality": ("modality", modalities),
        "stain": ("modality", tax["modality_stain"]),
        "subdomain": ("domain", domains),
    }[question_type]
    parent = labels[parent_type]
    if parent not in tree:
        raise ValueError(f"{parent_type} {parent!r} is not in the taxonomy (needed for the {question_type} question)")
    return list(tree[parent])


def coarse_question(question_type: str, labels: Mapping[str, str], rng: np.random.Generator,
                    n_distractors: int = 3) -> dict:
    """One coarse question: truth + sibling distractors, shuffled, then "none of the above" last."""
    truth = labels[question_type]
    siblings = sibling_values(question_type, labels)
    if truth not in siblings:
        raise ValueError(f"{question_type} {truth!r} is not in the taxonomy; expected one of {siblings}")
    others = [value for value in siblings if value != truth]
    picked = rng.choice(len(others), size=min(n_distractors, len(others)), replace=False)
    options = [truth] + [others[i] for i in picked]
    options = [options[i] for i in rng.permutation(len(options))] + [NONE_OF_THE_ABOVE]
    template = templates()["coarse"][question_type]
    return {
        "subset": "coarse",
        "question_type": question_type,
        "question": template["question"],
        "options": options,
        "answer_idx": options.index(truth),
        "captions": [template["caption"].format(**{question_type: option}) for option in options],
        "caption_key": question_type,
        "caption_variants": {f"{question_type}_1": list(options)},
    }


def coarse_questions(image_id: str, dataset: str, labels: Mapping[str, str], rng: np.random.Generator,
                     n_distractors: int = 3) -> list[dict]:
    """The five coarse question rows of one image, in ``COARSE_TYPES`` order, ready for ``questions.parquet``."""
    return [
        {"question_id": f"{image_id}:{question_type}", "image_id": image_id, "dataset": dataset,
         **coarse_question(question_type, labels, rng, n_distractors)}
        for question_type in COARSE_TYPES
    ]
