"""Which family group a model belongs to — the four groups of the paper's figure legends, plus the baseline.

A config entry may set ``group:``; otherwise the paper's grouping of its model (by ``paper_name``) applies, and a
model the paper does not have is grouped by how it answers (generative → general autoregressive, contrastive →
general contrastive, random, prior and detection-only → baseline). Only figures and tables use the group: it is
not part of a fingerprint.
"""

from __future__ import annotations

GROUPS = {  # key → legend label, in legend order
    "general_autoregressive": "General autoregressive",
    "general_contrastive": "General contrastive",
    "biomedical_contrastive": "Biomedical contrastive",
    "pathology_contrastive": "Pathology contrastive",
    "baseline": "Baseline",
}

# The paper's models (Table 1 names) by group; the weight-merged models start from pathology fine-tuned weights.
PAPER_GROUPS = {
    **dict.fromkeys(["GPT-4o", "CogVLM", "QwenVLM", "PaliGemma"], "general_autoregressive"),
    **dict.fromkeys(["CLIP", "OpenCLIP", "ALIGN", "BLIP", "CoCa"], "general_contrastive"),
    "BiomedCLIP": "biomedical_contrastive",
    **dict.fromkeys(["PLIP", "QuiltNet", "CONCH", "M-PLIP", "M-QuiltNet"], "pathology_contrastive"),
    "Random": "baseline",
}
# detection-only models (the classical detector) are non-VLM baselines
GROUP_OF_KIND = {"generative": "general_autoregressive", "contrastive": "general_contrastive", "random": "baseline",
                 "prior": "baseline", "detection": "baseline"}


def default_group(paper_name: str, kind: str) -> str:
    """The paper's group of ``paper_name``, else the general group of the model's kind."""
    return PAPER_GROUPS.get(paper_name, GROUP_OF_KIND[kind])
