"""Local generative VLMs through transformers: PaliGemma and any natively supported image-text-to-text model.

Weights come from a local dir, the HF cache or a hub id at the pinned revision (never silently random). Decoding
is greedy; ``scoring: letter_logits`` instead reads one forward pass and picks the option letter with the
highest next-token logit. Questions of the same image continue from one prefill of their shared prefix where the
model allows it (``models/prefix_reuse.py``); ``prepare`` (host) and ``answer`` (device) are split so the engine
can run the first for the next batch while the model answers the current one.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from PIL import Image

from mubench.models.base import ModelLoadError, letters
from mubench.models.hub import model_dir, torch_dtype
from mubench.models.prefix_reuse import (FULL_PREFILL_REASONS, PrefillStats, SharedGroup, image_key, plan_groups,
                                         shared_rows)
from mubench.models.spec import ModelSpec

log = logging.getLogger(__name__)

# Models whose prompt attention is bidirectional over image + prompt text (prefix-LM): nothing can be shared.
PREFIX_LM_MODEL_TYPES = {"paligemma"}
# Per-image inputs the models' position functions read (one row per image): Qwen2-VL/2.5-VL's patch grid.
IMAGE_META_KEYS = ("image_grid_thw",)


class HfVlmModel:
    """AutoModelForImageTextToText + AutoProcessor; the prompt goes through the model's own chat template."""

    def __init__(self, spec: ModelSpec, device: str = "cpu"):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        path = model_dir(spec.name, spec.model_id, spec.revision)
        remote = spec.trust_remote_code
        self.spec, self.device = spec, device
        self.processor = AutoProcessor.from_pretrained(path, trust_remote_code=remote)
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"  # batched decoding continues every prompt from its last token
        self.model = AutoModelForImageTextToText.from_pretrained(
            path, dtype=torch_dtype(spec.dtype), trust_remote_code=remote
        ).to(device).eval()
        config = self.model.config
        self._image_token_id = getattr(config, "image_token_id", None) or getattr(config, "image_token_index", None)
        self.stats = PrefillStats()
        # Only the last position's logits when the next token is all we read (else a vocabulary-wide row per token).
        keeps_logits = "logits_to_keep" in inspect.signature(self.model.forward).parameters
        self._logits_to_keep = {"logits_to_keep": 1} if keeps_logits else {}
        self._reported: set[str] = set()
        # ``prepare`` runs in the prefetch thread while ``answer`` decodes: a Rust tokenizer must not be used from
        # two threads at once (padding settings are changed in place), so every use holds this lock.
        self._tokenizer_lock = threading.Lock()
        self._letter_token_ids: dict[int, list[int]] = {}  # number of options → the letters' token ids
        log.info("loaded %s (%s) from %s on %s", spec.name, type(self.model).__name__, path, device)

    def format_prompt(self, prompt: str, n_images: int = 1) -> str:
        content = [{"type": "image"}] * n_images + [{"type": "text", "text": prompt}]
        messages = [{"role": "user", "content": content}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    @property
    def _unshareable(self) -> str | None:
        """Why no question may continue from another's prefix in this model, or None."""
        if not self.spec.prefix_reuse:
            return "disabled"
        return "attention" if self.model.config.model_type in PREFIX_LM_MODEL_TYPES else None

    def _processed(self, images: Sequence[Sequence[Image.Image]], texts: Sequence[str]) -> dict:
        """The processor's tensors on the host: floats in the model's dtype, pinned when the model is on a GPU.

        Every question's images in order; a batch of one-image questions goes in as a flat list, as before."""
        several = any(len(imgs) != 1 for imgs in images)
        with self._tokenizer_lock:
            if not any(images):  # the blind no_image ablation: the prompt alone
                batch = self.processor(text=list(texts), return_tensors="pt", padding=True)
            else:
                batch = self.processor(text=list(texts), images=[list(imgs) for imgs in images] if several else
                                       [imgs[0] for imgs in images], return_tensors="pt", padding=True)
        batch.pop("labels", None)
        return self._host({k: v.to(self.model.dtype) if v.is_floating_point() else v for k, v in batch.items()})

    def _host(self, tensors: dict) -> dict:
        """Pinned when the model is on a GPU, so the copy to the device overlaps with compute."""
        return {k: v.pin_memory() for k, v in tensors.items()} if str(self.device).startswith("cuda") else tensors

    def _on_device(self, batch: dict) -> dict:
        return {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}

    def prepare(self, images: Sequence[Sequence[Image.Image]], prompts: Sequence[str]) -> PreparedBatch:
        """Host-side work for one batch (runs in the prefetch thread): processor calls and the sharing plan.

        ``images[i]`` holds every image of question i, in order."""
        texts = [self.format_prompt(p, len(imgs)) for p, imgs in zip(prompts, images)]
        hashed = {}  # the batch's questions share their image objects: each image is hashed once
        for question_images in images:
            hashed.setdefault(tuple(map(id, question_images)), question_images)
        hashed = {objects: image_key(question_images) for objects, question_images in hashed.items()}
        keys = [hashed[tuple(map(id, question_images))] for question_images in images]
        every = self._processed(images, texts)
        per_token = {name: [row[mask.bool()].tolist() for row, mask in zip(value, every["attention_mask"])]
                     for name, value in every.items()
                     if name != "attention_mask" and not value.is_floating_point()
                     and value.shape == every["input_ids"].shape}
        groups, reasons = plan_groups(keys, per_token["input_ids"], self._image_token_id, self._unshareable)
        shared = self._shared_inputs(groups, images, texts, keys, per_token) if groups else None
        full_positions = sorted(reasons)
        full = None
        if len(full_positions) == len(texts):
            full = every
        elif full_positions:
            full = self._processed([images[i] for i in full_positions], [texts[i] for i in full_positions])
        return PreparedBatch(len(texts), keys, groups, reasons, shared, full, full_positions)

    def _shared_inputs(self, groups, images, texts, keys, per_token) -> dict:
        """Prefix rows with the image inputs of one member per group, and the members' full rows."""
        prefix, full, member_group, members = shared_rows(groups, per_token, self.tokenizer.pad_token_id)
        image_inputs = self._processed([images[g.members[0]] for g in groups], [texts[g.members[0]] for g in groups])
        image_inputs = {k: v for k, v in image_inputs.items() if k not in per_token and k != "attention_mask"}
        # Per-image metadata the position function reads (Qwen's image_grid_thw): each member gets its group's rows.
        first_image = torch.tensor([0] + [len(keys[g.members[0]]) for g in groups]).cumsum(0).tolist()
        meta = {k: torch.cat([v[first_image[g]:first_image[g + 1]] for g in member_group.tolist()])
                for k, v in image_inputs.items() if k in IMAGE_META_KEYS}
        return dict(prefix=self._host(prefix), full=self._host(full), meta=self._host(meta), image_inputs=image_inputs,
                    member_group=member_group, members=members)

    @torch.inference_mode()
    def answer(self, batch: PreparedBatch, n_options: Sequence[int]) -> Iterator[tuple[int, str, list[float] | None]]:
        """Device-side work for a prepared batch: shared groups from their prefixes, the rest in full."""
        for reason, count in Counter(batch.full_reasons.values()).items():
            if reason not in self._reported:
                self._reported.add(reason)
                log.info("model %s: prefilling questions in full: %s", self.spec.name, FULL_PREFILL_REASONS[reason])
            self.stats.full_prefill[reason] += count
        self.stats.questions += batch.n
        if batch.shared is not None:
            self.stats.image_encodings += sum(len(batch.keys[g.members[0]]) for g in batch.groups)
            yield from self._answer_shared(batch.shared, n_options)
        if batch.full is not None:
            self.stats.image_encodings += sum(len(batch.keys[i]) for i in batch.full_positions)
            yield from self._answer_full(batch.full, batch.full_positions, n_options)

    def _answer_full(self, inputs: dict, positions: list[int], n_options: Sequence[int]):
        inputs = self._on_device(inputs)
        self.stats.prefill_tokens += int(inputs["attention_mask"].sum())
        if self._image_token_id is not None:
            self.stats.image_tokens += int((inputs["input_ids"] == self._image_token_id).sum())
        if self.spec.scoring == "letter_logits":
            next_token = self.model(**inputs, **self._logits_to_keep).logits[:, -1, :]
            for row, position in enumerate(positions):
                yield position, *self._letter_scores(next_token[row], n_options[position])
            return
        out = self.model.generate(**inputs, max_new_tokens=self.spec.max_new_tokens, do_sample=False, num_beams=1)
        yield from zip(positions, self._decoded(out[:, inputs["input_ids"].shape[1]:]), [None] * len(positions))

    def _answer_shared(self, shared: dict, n_options: Sequence[int]):
        full, members = self._on_device(shared["full"]), shared["members"]
        positions, cache = self._prefilled_prefixes(shared, full)
        self.stats.prefill_tokens += int(full["attention_mask"][:, cache.get_seq_length():].sum())
        self.stats.shared_questions += len(members)
        letters_only = self.spec.scoring == "letter_logits"
        out = self.model.generate(
            **full, position_ids=positions, past_key_values=cache, do_sample=False, num_beams=1,
            max_new_tokens=1 if letters_only else self.spec.max_new_tokens,
            return_dict_in_generate=True, output_logits=letters_only)
        if letters_only:
            for row, position in enumerate(members):
                yield position, *self._letter_scores(out.logits[0][row], n_options[position])
            return
        texts = self._decoded(out.sequences[:, full["input_ids"].shape[1]:])
        yield from zip(members, texts, [None] * len(members))

    def _prefilled_prefixes(self, shared: dict, full: dict):
        """Every full row's positions, and a cache holding each member's copy of its group's prefix.

        The prefixes run once, as one left-padded batch with the groups' image inputs. Positions are the ones
        ``generate`` would give each full row (real tokens only); a group's prefix row takes its first member's."""
        from transformers import DynamicCache

        prefix = self._on_device(shared["prefix"])
        member_group = shared["member_group"].to(self.device)
        positions = self.model._prepare_position_ids_for_generation(
            full["input_ids"], {**full, **self._on_device(shared["meta"])})
        first_row: dict[int, int] = {}  # group → its first member's row, read on the host (no device syncs)
        for row, group in enumerate(shared["member_group"].tolist()):
            first_row.setdefault(group, row)
        first_member = torch.tensor([first_row[g] for g in range(len(prefix["input_ids"]))], device=self.device)
        width = prefix["input_ids"].shape[1]
        cache = DynamicCache(config=self.model.config)
        step = self.model.prepare_inputs_for_generation(
            prefix.pop("input_ids"), past_key_values=cache, use_cache=True, is_first_iteration=True,
            position_ids=positions.index_select(-2, first_member)[..., :width],
            **prefix, **self._on_device(shared["image_inputs"]), **self._logits_to_keep)
        self.model(**step)
        cache.batch_select_indices(member_group)
        lengths = prefix["attention_mask"].sum(1)
        self.stats.prefill_tokens += int(lengths.sum())
        self.stats.image_tokens += int((step["input_ids"] == self._image_token_id).sum())
        self.stats.reused_tokens += int(lengths.index_select(0, member_group).sum() - lengths.sum())
        return positions, cache

    def _decoded(self, new_tokens: torch.Tensor) -> list[str]:
        eos = self.model.generation_config.eos_token_id
        eos = [] if eos is None else eos if isinstance(eos, list) else [eos]
        ended = torch.isin(new_tokens, torch.tensor(eos, dtype=new_tokens.dtype, device=new_tokens.device))
        lengths = torch.where(ended.any(1), ended.int().argmax(1) + 1, new_tokens.shape[1])
        self.stats.generated_tokens += int(lengths.sum())
        with self._tokenizer_lock:
            return self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)

    @torch.inference_mode()
    def generate(
        self, images: Sequence[Sequence[Image.Image]], prompts: Sequence[str], n_options: Sequence[int]
    ) -> Iterator[tuple[int, str, list[float] | None]]:
        yield from self.answer(self.prepare(images, prompts), n_options)

    def _letter_ids(self, n: int) -> list[int]:
        ids = []
        for letter in letters(n):
            tokens = self.tokenizer.encode(letter, add_special_tokens=False)
            if len(tokens) != 1:
                raise ModelLoadError(f"model {self.spec.name!r}: letter {letter!r} is not a single token "
                                     f"({tokens}); use `scoring: generate`")
            ids.append(tokens[0])
        return ids

    def _letter_scores(self, next_token: torch.Tensor, n: int) -> tuple[str, list[float]]:
        """The option letter with the highest next-token logit, and the softmax over the letters."""
        ids = self._letter_token_ids.get(n)
        if ids is None:  # once per option count: the device thread need not wait on the prefetch thread's lock
            with self._tokenizer_lock:
                ids = self._letter_token_ids[n] = self._letter_ids(n)
        probs = torch.softmax(next_token.float()[ids], dim=0)
        return letters(n)[int(torch.argmax(probs))], probs.tolist()


@dataclass
class PreparedBatch:
    """One batch after the host-side work: which positions share a prefix, and the tensors for both paths."""

    n: int
    keys: list[tuple]
    groups: list[SharedGroup]
    full_reasons: dict[int, str]
    shared: dict | None
    full: dict | None
    full_positions: list[int]


class PaliGemmaModel(HfVlmModel):
    """PaliGemma takes the bare prompt after its image token (the processor adds BOS and the closing newline)."""

    def __init__(self, spec: ModelSpec, device: str = "cpu"):
        super().__init__(spec, device)
        from transformers import PaliGemmaForConditionalGeneration

        if not isinstance(self.model, PaliGemmaForConditionalGeneration):
            raise ModelLoadError(f"model {spec.name!r}: {spec.model_id} is a {type(self.model).__name__}, "
                                 "not PaliGemma; use `family: hf_vlm`")

    def format_prompt(self, prompt: str, n_images: int = 1) -> str:
        return self.processor.image_token * n_images + prompt
