"""Local generative VLMs through transformers: PaliGemma and any natively supported image-text-to-text model.

Weights come from a local dir, the HF cache or a hub id at the pinned revision (never silently random). Decoding
is greedy; ``scoring: letter_logits`` instead reads one forward pass and picks the option letter with the
highest next-token logit.
"""

from __future__ import annotations

import logging
from typing import Iterator, Sequence

import torch
from PIL import Image

from mubench.models.base import ModelLoadError
from mubench.models.hub import model_dir, torch_dtype
from mubench.models.spec import ModelSpec
from mubench.answering.prompting import letters

log = logging.getLogger(__name__)

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
        log.info("loaded %s (%s) from %s on %s", spec.name, type(self.model).__name__, path, device)

    def format_prompt(self, prompt: str, n_images: int = 1) -> str:
        content = [{"type": "image"}] * n_images + [{"type": "text", "text": prompt}]
        messages = [{"role": "user", "content": content}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def _inputs(self, images: Sequence[Sequence[Image.Image]], prompts: Sequence[str]) -> dict:
        """Every question's images in order; a batch of one-image questions goes in as a flat list, as before."""
        texts = [self.format_prompt(p, len(imgs)) for p, imgs in zip(prompts, images)]
        several = any(len(imgs) != 1 for imgs in images)
        batch = self.processor(text=texts, images=[list(imgs) for imgs in images] if several else
                               [imgs[0] for imgs in images], return_tensors="pt", padding=True)
        batch.pop("labels", None)
        dtype = self.model.dtype
        return {k: v.to(self.device, dtype) if v.is_floating_point() else v.to(self.device) for k, v in batch.items()}

    @torch.inference_mode()
    def generate(
        self, images: Sequence[Sequence[Image.Image]], prompts: Sequence[str], n_options: Sequence[int]
    ) -> Iterator[tuple[int, str, list[float] | None]]:
        inputs = self._inputs(images, prompts)
        if self.spec.scoring == "letter_logits":
            yield from self._letter_choice(inputs, n_options)
            return
        out = self.model.generate(**inputs, max_new_tokens=self.spec.max_new_tokens, do_sample=False, num_beams=1)
        texts = self.tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        for i, text in enumerate(texts):
            yield i, text, None

    def _letter_ids(self, n: int) -> list[int]:
        ids = []
        for letter in letters(n):
            tokens = self.tokenizer.encode(letter, add_special_tokens=False)
            if len(tokens) != 1:
                raise ModelLoadError(f"model {self.spec.name!r}: letter {letter!r} is not a single token "
                                     f"({tokens}); use `scoring: generate`")
            ids.append(tokens[0])
        return ids

    def _letter_choice(self, inputs: dict, n_options: Sequence[int]) -> Iterator[tuple[int, str, list[float]]]:
        next_token = self.model(**inputs).logits[:, -1, :].float()
        for i, n in enumerate(n_options):
            probs = torch.softmax(next_token[i, self._letter_ids(n)], dim=0)
            yield i, letters(n)[int(torch.argmax(probs))], probs.tolist()


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
