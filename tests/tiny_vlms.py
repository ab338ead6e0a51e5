"""Tiny random generative VLMs of the real transformers classes, saved like a hub snapshot (offline, seconds).

The tokenizers are byte-level BPEs trained here on a few sentences and saved beside the weights, so
``AutoProcessor.from_pretrained(folder)`` runs the same code path as for a downloaded model. At the default
initialisation (std 0.02) such a model says nearly the same thing whatever it is shown; ``weight_std`` redraws
the weight matrices wider so that answers depend on the image, the text and the positions (what an equality
test between two computations of the same answers needs to be able to fail). The image size parameters give
the number of image tokens a real model would use (256: PaliGemma-224, Qwen2.5-VL at 448×448).
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

CORPUS = [
    "Answer with a single letter, no extra details.",
    "Question:What is the modality? A) light microscopy B) electron microscopy C) none of the above",
    "How many nuclei are visible? Which shape? round elongated irregular user assistant",
] * 4
QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]
# Qwen's chat layout, reduced to what a single user turn with one image needs.
QWEN_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _bpe(special: list[str], unk: str | None) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE(unk_token=unk))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS, trainer)
    return tokenizer


def _redraw(model, weight_std: float | None, seed: int):
    if weight_std is not None:
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for param in model.parameters():
                if param.ndim >= 2:
                    param.copy_(torch.randn(param.shape, generator=generator) * weight_std)
    return model


def save_tiny_paligemma(folder: Path, seed: int = 0, *, weight_std: float | None = None, image_size: int = 32,
                        patch_size: int = 16) -> Path:
    from transformers import (GemmaTokenizer, PaliGemmaConfig, PaliGemmaForConditionalGeneration,
                              PaliGemmaProcessor, SiglipImageProcessor)

    tokenizer = GemmaTokenizer(tokenizer_object=_bpe(["<pad>", "<eos>", "<bos>", "<unk>"], "<unk>"),
                               bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>")
    processor = PaliGemmaProcessor(
        image_processor=SiglipImageProcessor(size={"height": image_size, "width": image_size},
                                             image_seq_length=(image_size // patch_size) ** 2),
        tokenizer=tokenizer,  # the processor adds <image> and the <loc>/<seg> tokens
    )
    config = PaliGemmaConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=image_size, patch_size=patch_size, projection_dim=32),
        text_config=dict(model_type="gemma", hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16, vocab_size=len(tokenizer)),
        image_token_id=processor.image_token_id, projection_dim=32,
    )
    config.pad_token_id = tokenizer.pad_token_id
    torch.manual_seed(seed)
    _redraw(PaliGemmaForConditionalGeneration(config), weight_std, seed).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def save_tiny_qwen25_vl(folder: Path, seed: int = 0, *, weight_std: float | None = None,
                        max_pixels: int = 56 * 56, min_pixels: int = 28 * 28) -> Path:
    from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor,
                              Qwen2Tokenizer, Qwen2VLImageProcessor, Qwen2VLVideoProcessor)

    tokenizer = Qwen2Tokenizer(tokenizer_object=_bpe(QWEN_SPECIAL, None), eos_token="<|im_end|>",
                               pad_token="<|endoftext|>", unk_token=None)
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=min_pixels, max_pixels=max_pixels),
        tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor(), chat_template=QWEN_TEMPLATE,
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN_SPECIAL}
    config = Qwen2_5_VLConfig(
        vision_config=dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32,
                           fullatt_block_indexes=[0], window_size=56),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, bos_token_id=None,
                         eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
    )
    torch.manual_seed(seed)
    _redraw(Qwen2_5_VLForConditionalGeneration(config), weight_std, seed).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
