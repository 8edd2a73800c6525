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
from .repair import Repair, RepairStats, fix_degenerate_arcs, parses, repair
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
    number_grammar: bool = True  # code-num tokenizers: numbers only where a literal can stand
    fix_arcs: bool = True        # degenerate threePointArc -> lineTo (counted apart)


def number_grammar(tokenizer, device: str):
    """A logits processor for "code-num" tokenizers: a number token may follow only text that
    ends where a literal can start (`(`, `,`, `[`, `=`, a space), and the token after a number
    must be text that can follow a literal (not a digit, letter, `.` or `_`, nor a number).
    It removes the malformed joins (`0.25 0.5`, `0.25e`) the decoder could otherwise write."""
    from transformers import LogitsProcessor
    numbers = tokenizer.number_ids
    before = torch.zeros(tokenizer.vocab_size, dtype=torch.bool)
    after = torch.zeros(tokenizer.vocab_size, dtype=torch.bool)
    for i in range(numbers.start):
        t = tokenizer.tok.decode([i], skip_special_tokens=False)
        before[i] = bool(t) and t[-1] in "(,[= "
        after[i] = bool(t) and not (t[0].isalnum() or t[0] in "._")
    for special in (tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id):
        before[special] = after[special] = False
    may_precede = before.to(device)
    never_after = (~after).nonzero(as_tuple=True)[0].to(device)

    class NumberGrammar(LogitsProcessor):
        def __call__(self, input_ids, scores):
            last = input_ids[:, -1]
            last_is_number = (last >= numbers.start) & (last < numbers.stop)
            block_numbers = ~may_precede[last] | last_is_number
            scores[block_numbers, numbers.start:numbers.stop] = -float("inf")
            # after a number: only text that can follow a literal
            rows = last_is_number.nonzero(as_tuple=True)[0]
            scores[rows[:, None], never_after[None, :]] = -float("inf")
            return scores

    return NumberGrammar()


def generate_texts(model, tokenizer: CodeTokenizer, images_uint8: np.ndarray,
                   image_spec: ImageSpec, cfg: DecodeConfig, device: str = "cpu",
                   stats: RepairStats | None = None, seed: int | None = None,
                   progress: bool = False) -> list[list[str]]:
    """`cfg.num_return` programs per image (repaired when cfg.repair), in image order."""
    if seed is not None:
        torch.manual_seed(seed)
    model.eval()
    processors = None
    if cfg.number_grammar and getattr(tokenizer, "number_ids", None) is not None:
        from transformers import LogitsProcessorList
        processors = LogitsProcessorList([number_grammar(tokenizer, device)])
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
        if processors is not None:
            kwargs["logits_processor"] = processors
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
    if not cfg.fix_arcs:
        return fixed.code
    code, arcs = fix_degenerate_arcs(fixed.code)
    if stats is not None:
        stats.add_arc_fix(arcs)
    return code
