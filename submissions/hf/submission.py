"""The `hf` submission: a local Hugging Face image-to-text checkpoint as an image-to-CadQuery
model, offline (loading.py says which folders and how).

Greedy decoding and beam search run batched (`batch_size` images per generate call).
Sampling (do_sample, or the run's --temperature > 0) runs one generate call per candidate,
seeded by `sampling.seed_for(id, candidate)`: which samples share a batch, or what a resume
left to do, then changes nothing. Chat models' replies go through the same code extraction
as the `openai` submission; a VisionEncoderDecoder's output is taken as the program.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from cadbench.errors import InputError
from cadbench.submissions import Sampling, Submission
from submissions.openai.extract import extract_code
from submissions.openai.naming import run_label

from .settings import DEFAULT_OPTIONS, HFSettings, settings_from


def say(msg: str) -> None:
    print(f"hf: {msg}", file=sys.stderr, flush=True)


# Not decorated with @register_submission: a built-in (BUILTIN_SUBMISSIONS), defined in a
# submodule and re-exported by the package (the decorator would warn).
class HFSubmission(Submission):
    name = "hf"
    description = ("A local Hugging Face image-to-text checkpoint (VisionEncoderDecoder or an "
                   "image-text-to-text VLM), offline; batched generation on cpu or cuda.")
    dependencies = ("torch", "transformers")
    default_options = DEFAULT_OPTIONS
    # It samples when asked to (do_sample or the run's --temperature); K > 1 greedy
    # candidates are refused rather than K copies of one output.
    stochastic = True

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.settings: HFSettings = settings_from(self.options)
        self.folder = _resolve_folder(self.settings.model)
        from .loading import folder_fingerprint, load_model
        self.fingerprint = folder_fingerprint(self.folder)
        t0 = time.perf_counter()
        self.loaded = load_model(self.folder, self.settings.device, self.settings.dtype)
        self.load_s = time.perf_counter() - t0
        say(f"{self.loaded.model_class} ({self.loaded.model_type}, {self.num_parameters():,} "
            f"parameters) from {self.settings.model} on {self.loaded.device} "
            f"({self.loaded.dtype}) in {self.load_s:.1f} s")
        self.stats = {"generate_calls": 0, "images": 0, "candidates": 0,
                      "generated_tokens": 0, "generate_s": 0.0}

    # -- generation ------------------------------------------------------------------------
    def generate(self, samples) -> list[str]:
        return [cands[0] for cands in self.generate_many(samples, Sampling())]

    def generate_many(self, samples, sampling: Sampling) -> list[list[str]]:
        s = self.settings
        sampled = (sampling.temperature > 0 if sampling.temperature is not None
                   else s.do_sample)
        if sampling.k > 1 and not sampled:
            raise InputError(f"hf: {sampling.k} candidates per sample without sampling would "
                             f"be {sampling.k} copies of one output; pass --temperature T "
                             f"(> 0) or --opt do_sample=true, or --samples 1")
        images = [_image_of(smp) for smp in samples]
        self.stats["images"] += len(images)
        if not sampled:
            out: list[list[str]] = []
            for start in range(0, len(images), s.batch_size):
                out += [[t] for t in self._run(images[start:start + s.batch_size], None)]
            return out
        temperature = s.temperature if sampling.temperature is None else sampling.temperature
        top_p = s.top_p if sampling.top_p is None else sampling.top_p
        return [[self._run([image], (sampling.seed_for(smp.id, c), temperature, top_p))[0]
                 for c in range(sampling.k)] for smp, image in zip(samples, images)]

    def _run(self, images: list[np.ndarray], sample: tuple[int, float, float] | None
             ) -> list[str]:
        """One generate call over `images`: greedy/beam when `sample` is None, else sampled
        with (seed, temperature, top_p)."""
        import torch
        from PIL import Image

        s, m = self.settings, self.loaded
        pil = [Image.fromarray(img) for img in images]
        gen: dict[str, Any] = {"max_new_tokens": s.max_new_tokens}
        if sample is None:
            gen.update(do_sample=False, num_beams=s.num_beams)
        else:
            seed, temperature, top_p = sample
            torch.manual_seed(seed)
            gen.update(do_sample=True, num_beams=1, temperature=temperature, top_p=top_p)
        inputs, prompt_len = self._inputs(pil)
        t0 = time.perf_counter()
        from .loading import quiet
        with torch.inference_mode(), quiet():
            out = m.model.generate(**inputs, **gen)
        self.stats["generate_s"] += time.perf_counter() - t0
        new = out[:, prompt_len:]
        pad = m.tokenizer.pad_token_id
        self.stats["generated_tokens"] += int((new != pad).sum()) if pad is not None \
            else int(new.numel())
        self.stats["generate_calls"] += 1
        self.stats["candidates"] += len(images)   # one output per image of this call
        texts = m.tokenizer.batch_decode(new, skip_special_tokens=True)
        return [extract_code(t) if s.extract else t for t in texts]

    def _inputs(self, pil: list) -> tuple[dict, int]:
        """Model inputs for a batch, and how many leading output tokens are the prompt's."""
        from .loading import VED
        m = self.loaded
        if m.kind == VED:
            px = m.image_processor(images=pil, return_tensors="pt").pixel_values
            # the output starts with the decoder start token, not generated
            return {"pixel_values": px.to(m.device, dtype=m.model.dtype)}, 1
        proc = m.image_processor
        proc.tokenizer.padding_side = "left"   # decoder-only: pad before the prompt
        if proc.tokenizer.pad_token is None:   # e.g. LLaMA tokenizers: batches need one
            proc.tokenizer.pad_token = proc.tokenizer.eos_token
        text = self._chat_text(proc)
        batch = proc(images=pil, text=[text] * len(pil), return_tensors="pt", padding=True)
        inputs = {k: v.to(m.device) for k, v in batch.items()}
        if "pixel_values" in inputs and inputs["pixel_values"].is_floating_point():
            inputs["pixel_values"] = inputs["pixel_values"].to(m.model.dtype)
        return inputs, int(inputs["input_ids"].shape[1])

    def _chat_text(self, proc) -> str:
        s = self.settings
        messages: list[dict[str, Any]] = []
        if s.system:
            messages.append({"role": "system", "content": [{"type": "text", "text": s.system}]})
        messages.append({"role": "user", "content": [{"type": "image"},
                                                     {"type": "text", "text": s.prompt}]})
        if getattr(proc, "chat_template", None):
            return proc.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        token = getattr(proc, "image_token", None)
        if not token:
            raise InputError(f"hf: {self.settings.model}: the processor has neither a chat "
                             f"template nor an image token; cannot place the image in the "
                             f"prompt")
        return "\n".join(t for t in (s.system, f"{token}\n{s.prompt}") if t)

    # -- description -----------------------------------------------------------------------
    def num_parameters(self) -> int:
        loaded = getattr(self, "loaded", None)
        return sum(p.numel() for p in loaded.model.parameters()) if loaded else 0

    def run_name(self) -> str:
        """The leaderboard row this run belongs to (the class name `hf` is every folder's)."""
        return run_label("hf", self.settings.model, str(self.options["label"]))

    def metadata(self) -> dict[str, Any]:
        out = super().metadata()
        out["label"] = self.run_name()
        m = self.loaded
        out["architecture"] = {"kind": m.kind, "model_class": m.model_class,
                               "model_type": m.model_type, "model": self.settings.model,
                               "folder_fingerprint": self.fingerprint}
        out["device"], out["dtype"] = m.device, m.dtype
        out["load_s"] = round(self.load_s, 3)
        out["generation"] = {**self.stats, "generate_s": round(self.stats["generate_s"], 3)}
        return out


def _resolve_folder(spec: str) -> Path:
    from submissions.vit_gpt2 import weights
    found = weights.resolve(spec, role="model")
    if found is None:
        raise InputError(f"hf: model {spec!r} not found on this machine (looked in "
                         f"{weights.models_dir()} and the Hugging Face cache "
                         f"{weights.hf_hub_cache()}; nothing is downloaded): pass a folder or "
                         f"import it with `cadbench models import DIR --name {spec}`")
    return Path(found.path)


def _image_of(sample) -> np.ndarray:
    image = getattr(sample, "image", None)
    if not isinstance(image, np.ndarray):
        raise InputError(f"hf: sample {sample.id} has no image (an image-to-code model needs "
                         f"the dataset's images)")
    return np.ascontiguousarray(image, dtype=np.uint8)
