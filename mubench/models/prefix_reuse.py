"""Answer all questions of an image from one prefill of the prefix they share (vision tokens + shared text).

A local VLM's input for one question is [system/chat text][image tokens][instruction][question, options][turn
end]. All questions of an image share its beginning. With causal attention the keys and values of that prefix
do not depend on what follows, so they are computed once per image (vision encoder included) and every question
continues from them: the same computation as the full pass, up to float rounding.

What is shared is decided on token ids, never on text. A group is the questions of one batch with the same
image(s) (content digest of the decoded pixels, a tuple so multi-image questions group too). Its prefix is the
longest run of token ids every member's full input starts with (after the processor expanded the image),
stopped one token before the shortest input ends so each question runs at least one token of its own. The
paper's prompt puts the instruction first, so the prefix usually runs through the instruction line; where the
tokenizer merges across a boundary (e.g. Qwen's ``:What``) the prefix simply stops a token earlier. A group
shares only when that prefix holds every image token; otherwise (a chat template that puts text that differs
per question before the image, or an image alone in the batch) its questions are prefilled in full, counted by
reason. Families whose attention over the prompt is not causal cannot share at all and say so: PaliGemma's
prefix-LM lets the image tokens attend to the question text, so their keys differ per question.

Batching: the prefixes of all groups in a call are prefilled together, left-padded. Each question's row is then
[pad][prefix][pad][suffix] with an attention mask over both pads, and positions come from the model's own
position function over the real tokens only (the one ``generate`` uses, so Qwen2.5-VL's 3-D M-RoPE included),
so padding changes nothing but float rounding.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
from PIL import Image

# Why a question was prefilled in full (keys of PrefillStats.full_prefill).
FULL_PREFILL_REASONS = {
    "disabled": "prefix_reuse is off",
    "attention": "the model attends bidirectionally over image and prompt (prefix-LM), so no prefix is shared",
    "alone": "the only question of its image(s) in the batch",
    "layout": "the token prefix shared with the image's other questions does not hold every image token",
}


def image_key(images: Image.Image | Sequence[Image.Image]) -> tuple[str, ...]:
    """Content digest of each of a question's images (decoded pixels), the key its prefix is shared under."""
    images = images if isinstance(images, (list, tuple)) else [images]
    return tuple(hashlib.md5(f"{im.mode}{im.size}".encode() + im.tobytes()).hexdigest() for im in images)


def common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Number of leading token ids every row has in common."""
    shortest = min(len(row) for row in rows)
    for i in range(shortest):
        token = rows[0][i]
        if any(row[i] != token for row in rows):
            return i
    return shortest


@dataclass(frozen=True)
class SharedGroup:
    members: tuple[int, ...]  # positions in the batch; the first one's image inputs encode the group's image
    prefix_len: int


def plan_groups(keys: Sequence[tuple], token_rows: Sequence[Sequence[int]], image_token_id: int | None,
                unshareable: str | None = None) -> tuple[list[SharedGroup], dict[int, str]]:
    """Groups that share a prefix, and every other position with the reason it is prefilled in full."""
    by_key: dict[tuple, list[int]] = defaultdict(list)
    for position, key in enumerate(keys):
        by_key[key].append(position)
    groups, full = [], {}
    for members in by_key.values():
        rows = [token_rows[m] for m in members]
        prefix = min(common_prefix_length(rows), min(len(row) for row in rows) - 1)
        last_image = max((i for row in rows for i, t in enumerate(row) if t == image_token_id), default=-1)
        reason = (unshareable or ("alone" if len(members) < 2 else None)
                  or ("layout" if image_token_id is None or not 0 <= last_image < prefix else None))
        if reason:
            full.update(dict.fromkeys(members, reason))
        else:
            groups.append(SharedGroup(tuple(members), prefix))
    return groups, full


def _row(values: Sequence[int], prefix_len: int, prefix_width: int, suffix_width: int | None, fill: int) -> list:
    """[fill][prefix] (suffix_width None) or [fill][prefix][fill][suffix], padded to the given widths."""
    head, tail = list(values[:prefix_len]), list(values[prefix_len:])
    row = [fill] * (prefix_width - prefix_len) + head
    return row if suffix_width is None else row + [fill] * (suffix_width - len(tail)) + tail


def shared_rows(groups: Sequence[SharedGroup], per_token: Mapping[str, Sequence[Sequence[int]]],
                pad_id: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor, list[int]]:
    """Prefix rows (one per group), full rows (one per member, groups in order), each member's group, members.

    ``per_token`` maps each per-token input (``input_ids`` first, token type ids…) to every position's unpadded
    values; ``attention_mask`` is built here. Padding is ``pad_id`` for input ids and 0 elsewhere."""
    members = [m for g in groups for m in g.members]
    member_group = [gi for gi, g in enumerate(groups) for _ in g.members]
    prefix_width = max(g.prefix_len for g in groups)
    suffix_width = max(len(per_token["input_ids"][m]) - g.prefix_len for g in groups for m in g.members)
    values = {**per_token, "attention_mask": {m: [1] * len(per_token["input_ids"][m]) for m in members}}
    prefix, full = {}, {}
    for name, rows in values.items():
        fill = pad_id if name == "input_ids" else 0
        prefix[name] = torch.tensor([_row(rows[g.members[0]], g.prefix_len, prefix_width, None, fill)
                                     for g in groups])
        full[name] = torch.tensor([_row(rows[m], groups[gi].prefix_len, prefix_width, suffix_width, fill)
                                   for m, gi in zip(members, member_group)])
    return prefix, full, torch.tensor(member_group), members


@dataclass
class PrefillStats:
    """What a model computed: the counters the log, the scale benchmark and the tests read."""

    questions: int = 0
    prefill_tokens: int = 0  # tokens run through the language model before the first new token (no padding)
    image_tokens: int = 0  # of which image placeholder tokens
    reused_tokens: int = 0  # prefix tokens a question did not prefill because its group's prefix was reused
    image_encodings: int = 0  # images run through the vision encoder
    shared_questions: int = 0  # answered from a shared prefix
    generated_tokens: int = 0  # new tokens up to and including end-of-sequence
    full_prefill: Counter = field(default_factory=Counter)  # reason → questions prefilled in full

    def summary(self) -> str:
        per_question = self.prefill_tokens / self.questions if self.questions else 0.0
        full = ", ".join(f"{n} ({FULL_PREFILL_REASONS[r]})" for r, n in sorted(self.full_prefill.items())) or "none"
        return (f"{self.questions} questions, {per_question:.1f} prefilled tokens per question, "
                f"{self.image_encodings} image encodings, {self.shared_questions} answered from a shared prefix; "
                f"prefilled in full: {full}")
