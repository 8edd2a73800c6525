"""Load a local Hugging Face image-to-text checkpoint, offline, with what it needs to read
images and write text. Import only when torch and transformers are wanted.

Two kinds of folder:
  vision-encoder-decoder  VisionEncoderDecoderModel (config.json model_type
                          "vision-encoder-decoder"), its image processor
                          (preprocessor_config.json) and tokenizer; the image is the input.
  image-text-to-text      anything transformers' AutoModelForImageTextToText (or, in older
                          versions, AutoModelForVision2Seq) maps (LLaVA, Qwen-VL, SmolVLM,
                          ...), with its processor; the image goes in a chat with the prompt.
Never downloads (local_files_only, HF_HUB_OFFLINE) and never runs code from the folder
(no trust_remote_code).
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cadbench.errors import InputError
from submissions.vit_gpt2.weights import WEIGHT_FILES, enforce_offline

VED = "vision-encoder-decoder"
ITT = "image-text-to-text"
# Auto classes tried for image-text-to-text folders, newest first (transformers 5 has only
# the first; 4.x had the second too).
AUTO_CLASSES = ("AutoModelForImageTextToText", "AutoModelForVision2Seq")


@dataclass
class LoadedModel:
    model: Any               # a torch module in eval mode on `device`
    kind: str                # VED or ITT
    tokenizer: Any           # decodes outputs (the processor's tokenizer for ITT)
    image_processor: Any     # VED: the image processor; ITT: the processor (text + image)
    device: str
    dtype: str
    model_class: str
    model_type: str


def pick_device(requested: str) -> str:
    import torch
    if requested in ("", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"hf: device {requested!r} requested but torch sees no CUDA device")
    return requested


def pick_dtype(requested: str, device: str):
    import torch
    if requested == "auto":
        if not device.startswith("cuda"):
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return getattr(torch, requested)


def read_config(folder: Path) -> dict:
    path = folder / "config.json"
    try:
        cfg = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not a readable Hugging Face config ({e})") from None
    if not isinstance(cfg, dict):
        raise InputError(f"{path}: expected a JSON object")
    return cfg


def folder_fingerprint(folder: Path) -> str:
    """A cheap identity of a checkpoint for records: config.json's bytes and the names and
    sizes of the weight files (hashing gigabytes of weights per run would cost minutes)."""
    h = hashlib.sha256((folder / "config.json").read_bytes())
    for f in sorted(folder.iterdir()):
        if f.is_file() and (f.suffix in (".safetensors", ".bin") or f.name in WEIGHT_FILES):
            h.update(f"{f.name}\0{f.stat().st_size}\0".encode())
    return h.hexdigest()[:16]


def load_model(folder: Path, device: str = "auto", dtype: str = "auto") -> LoadedModel:
    enforce_offline()   # before transformers reads the switches
    import transformers

    cfg = read_config(folder)
    model_type = str(cfg.get("model_type", "?"))
    dev = pick_device(device)
    dt = pick_dtype(dtype, dev)
    with quiet():   # weight-loading chatter and progress bars are not news
        if model_type == VED:
            model = _from_pretrained(transformers.VisionEncoderDecoderModel, folder, dt)
            tokenizer = _component(transformers.AutoTokenizer, folder, "tokenizer",
                                   "tokenizer.json or vocab files")
            image_processor = _component(transformers.AutoImageProcessor, folder,
                                         "image processor", "preprocessor_config.json")
            kind = VED
        else:
            model = _image_text_to_text(transformers, folder, dt, model_type)
            image_processor = _component(transformers.AutoProcessor, folder, "processor",
                                         "processor_config.json / preprocessor_config.json")
            tokenizer = getattr(image_processor, "tokenizer", None)
            if tokenizer is None:
                raise InputError(f"{folder}: its processor has no tokenizer; an "
                                 f"image-text-to-text model needs one to read the prompt")
            kind = ITT
    model = model.to(dev).eval()
    return LoadedModel(model=model, kind=kind, tokenizer=tokenizer,
                       image_processor=image_processor, device=dev,
                       dtype=str(dt).replace("torch.", ""), model_class=type(model).__name__,
                       model_type=model_type)


@contextmanager
def quiet():
    """transformers' info, warnings and progress bars off for a call whose messages are
    expected noise (loading weights; the padding hint at generation)."""
    from transformers.utils import logging as hf_logging
    before, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
        if bars:
            hf_logging.enable_progress_bar()


def _from_pretrained(cls, folder: Path, dtype):
    try:
        return cls.from_pretrained(str(folder), local_files_only=True, dtype=dtype)
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"{folder}: cannot load the model with {cls.__name__}: "
                         f"{type(e).__name__}: {_first_line(e)}") from None


def _image_text_to_text(transformers, folder: Path, dtype, model_type: str):
    tried = []
    for name in AUTO_CLASSES:
        cls = getattr(transformers, name, None)
        if cls is None:
            continue
        tried.append(name)
        try:
            return cls.from_pretrained(str(folder), local_files_only=True, dtype=dtype)
        except ValueError as e:
            if "Unrecognized configuration class" in str(e) or "model type" in str(e):
                continue  # not this auto class's: try the next
            raise InputError(f"{folder}: {name} cannot load it: {_first_line(e)}") from None
        except (OSError, KeyError) as e:
            raise InputError(f"{folder}: {name} cannot load it: {type(e).__name__}: "
                             f"{_first_line(e)}") from None
    raise InputError(f"{folder}: model_type {model_type!r} is neither "
                     f"{VED!r} nor an image-text-to-text model transformers "
                     f"{transformers.__version__} knows ({', '.join(tried)}); models that need "
                     f"trust_remote_code are not run")


def _component(cls, folder: Path, what: str, files: str):
    try:
        return cls.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{folder}: no usable {what} ({files}): {type(e).__name__}: "
                         f"{_first_line(e)}") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__
