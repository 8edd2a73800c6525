"""Decoding: greedy, beam search, and K samples per image (best-of-N), then the light repair.

Output length is `max_new_tokens`, chosen from the training split's longest program (see
submission.py); a generation that reaches it without an end token is counted as truncated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .model import quiet_transformers
from .preprocess import ImageSpec, to_pixel_values
from .repair import Repair, RepairStats, parses, repair
from .tokenizer import CodeTokenizer


@dataclass(frozen=True)
class DecodeConfig:
    max_new_tokens: int
    beams: int = 1               # 1 = greedy
    sample: bool = False         # sample instead of greedy/beam (best-of-N candidates)
    num_return: int = 1          # sequences per image
    temperature: float = 1.0
    top_p: float = 1.0
    batch_size: int = 32
    repair: bool = True


def generate_texts(model, tokenizer: CodeTokenizer, images_uint8: np.ndarray,
                   image_spec: ImageSpec, cfg: DecodeConfig, device: str = "cpu",
                   stats: RepairStats | None = None, seed: int | None = None,
                   progress: bool = False) -> list[list[str]]:
    """`cfg.num_return` programs per image (repaired when cfg.repair), in image order."""
    if seed is not None:
        torch.manual_seed(seed)
    model.eval()
    out: list[list[str]] = []
    batches = range(0, len(images_uint8), cfg.batch_size)
    if progress:
        from tqdm import tqdm
        batches = tqdm(batches, desc="vit_gpt2 generate", unit="batch", leave=False)
    for start in batches:
        px = to_pixel_values(images_uint8[start:start + cfg.batch_size], image_spec, device)
        kwargs = dict(max_new_tokens=cfg.max_new_tokens, num_return_sequences=cfg.num_return,
                      decoder_start_token_id=tokenizer.bos_id, eos_token_id=tokenizer.eos_id,
                      pad_token_id=tokenizer.pad_id)
        if cfg.sample:
            kwargs.update(do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p,
                          num_beams=1)
        else:
            kwargs.update(do_sample=False, num_beams=cfg.beams,
                          early_stopping=cfg.beams > 1)
        with torch.inference_mode(), quiet_transformers():
            seqs = model.generate(pixel_values=px, **kwargs).cpu().numpy()
        texts = [finish(tokenizer, row, cfg, stats) for row in seqs]
        out += [texts[i:i + cfg.num_return] for i in range(0, len(texts), cfg.num_return)]
    return out


def finish(tokenizer: CodeTokenizer, row: np.ndarray, cfg: DecodeConfig,
           stats: RepairStats | None) -> str:
    """Token ids (starting with the decoder start token) -> program text, repaired if asked."""
    body = row[1:]  # drop the decoder start token
    truncated = not bool((body == tokenizer.eos_id).any())
    text = tokenizer.decode(body)
    raw_ok = parses(text)
    fixed = repair(text) if (cfg.repair and not raw_ok) else Repair(text)
    if stats is not None:
        stats.add(fixed, raw_ok, truncated)
    return fixed.code
