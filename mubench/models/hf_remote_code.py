"""The paper's remote-code VLMs: Qwen-VL-Chat and CogVLM-chat-hf, each through its own repo's chat interface.

Their modelling code lives in the hub repo and runs only when the entry says ``trust_remote_code: true`` (review
it and pin ``revision``). That code was written for transformers 4.3x and breaks on newer releases, so these
models run in their own image (containers/legacy-remote-code.def), pinned by containers/legacy-remote-code.lock
(transformers 4.36.2, torch 2.1.2, …; that file gives the reason for each pin).
Loading refuses any transformers outside LEGACY_TRANSFORMERS with a message saying so.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

from PIL import Image

from mubench.checks import MISSING, Check
from mubench.models.base import ModelLoadError
from mubench.models.hub import folder_or_hub_check, model_dir, torch_dtype
from mubench.models.spec import ModelSpec

log = logging.getLogger(__name__)

LEGACY_TRANSFORMERS = ("4.32.0", "4.40.0")  # [low, high): the releases the repos' code supports
LEGACY_PIN = "transformers==4.36.2"  # containers/legacy-remote-code.lock


def check_legacy_transformers(spec: ModelSpec, installed: str) -> None:
    from packaging.version import Version

    low, high = (Version(v) for v in LEGACY_TRANSFORMERS)
    if not low <= Version(installed) < high:
        raise ModelLoadError(
            f"model {spec.name!r}: its remote code needs transformers >={low},<{high} but {installed} is "
            f"installed. Run it in the legacy-remote-code container (or an env with {LEGACY_PIN})."
        )


class RemoteCodeModel:
    """One question at a time (the repos' chat helpers take a single conversation), greedy decoding."""

    def __init__(self, spec: ModelSpec, device: str = "cpu"):
        import transformers

        if not spec.trust_remote_code:
            raise ModelLoadError(
                f"model {spec.name!r}: {spec.model_id} runs Python code from its hub repo; review that code, pin "
                "`revision`, and set `trust_remote_code: true` in the model's entry to allow it"
            )
        if spec.scoring != "generate":
            raise ModelLoadError(f"model {spec.name!r}: remote-code models support only `scoring: generate`")
        check_legacy_transformers(spec, transformers.__version__)
        path = model_dir(spec.name, spec.model_id, spec.revision)
        model_type = json.loads((Path(path) / "config.json").read_text()).get("model_type")
        if model_type not in ("qwen", "cogvlm"):
            raise ModelLoadError(f"model {spec.name!r}: remote-code model type {model_type!r} is not supported "
                                 "(known: qwen = Qwen-VL-Chat, cogvlm = CogVLM-chat-hf)")
        self.spec, self.device, self.model_type = spec, device, model_type
        tokenizer_source = _tokenizer_dir(spec) if model_type == "cogvlm" else path
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_source, trust_remote_code=True)
        self.model = transformers.AutoModelForCausalLM.from_pretrained(
            path, torch_dtype=torch_dtype(spec.dtype), trust_remote_code=True
        ).to(device).eval()
        log.info("loaded remote-code %s (%s) from %s", spec.name, model_type, path)
        log.info("model %s: no image-prefix reuse (its chat helper answers one conversation at a time): every "
                 "question encodes its image and prefills in full", spec.name)

    def generate(
        self, images: Sequence[Sequence[Image.Image]], prompts: Sequence[str], n_options: Sequence[int]
    ) -> Iterator[tuple[int, str, None]]:
        """One image per question (multi-image questions are skipped for this family before they get here)."""
        answer = self._qwen if self.model_type == "qwen" else self._cogvlm
        for i, (question_images, prompt) in enumerate(zip(images, prompts)):
            if len(question_images) != 1:
                raise ValueError(f"model {self.spec.name!r} takes one image per question, got {len(question_images)}")
            yield i, answer(question_images[0], prompt), None

    def _qwen(self, image: Image.Image, prompt: str) -> str:
        """Qwen-VL-Chat reads images from paths named inside its query."""
        with tempfile.TemporaryDirectory() as tmp:
            image_path = Path(tmp) / "image.png"
            image.save(image_path)
            query = self.tokenizer.from_list_format([{"image": str(image_path)}, {"text": prompt}])
            response, _history = self.model.chat(
                self.tokenizer, query=query, history=None,
                do_sample=False, top_p=None, top_k=None, max_new_tokens=self.spec.max_new_tokens,
            )
        return response

    def _cogvlm(self, image: Image.Image, prompt: str) -> str:
        import torch

        built = self.model.build_conversation_input_ids(self.tokenizer, query=prompt, history=[], images=[image])
        inputs = {
            "input_ids": built["input_ids"].unsqueeze(0).to(self.device),
            "token_type_ids": built["token_type_ids"].unsqueeze(0).to(self.device),
            "attention_mask": built["attention_mask"].unsqueeze(0).to(self.device),
            "images": [[built["images"][0].to(self.device, torch_dtype(self.spec.dtype))]],
        }
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.spec.max_new_tokens, do_sample=False)
        return self.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def _tokenizer_dir(spec: ModelSpec) -> str:
    """CogVLM ships no tokenizer: it uses Vicuna's (``tokenizer_id``), resolved like any weights."""
    if not spec.tokenizer_id:
        raise ModelLoadError(f"model {spec.name!r}: CogVLM needs `tokenizer_id` (lmsys/vicuna-7b-v1.5 or a folder)")
    return model_dir(spec.name, spec.tokenizer_id, spec.tokenizer_revision)


def weights_check(item: str, spec: ModelSpec) -> Check:
    """Weights hook: the model's folder or snapshot, and CogVLM's separate tokenizer (``tokenizer_id``)."""
    check = folder_or_hub_check(item, spec.model_id or "", spec.revision)
    if check.passed and spec.tokenizer_id:
        tokenizer = folder_or_hub_check(item, spec.tokenizer_id, spec.tokenizer_revision)
        if not tokenizer.passed:
            return Check(item, MISSING, f"tokenizer {tokenizer.detail}", tokenizer.remedy)
    return check
