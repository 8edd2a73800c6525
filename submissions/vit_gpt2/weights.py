"""Offline model management: find pretrained weights on this machine, never on the network.

A model spec (`--opt encoder=...` / `--opt decoder=...`) is either
  - a local folder in Hugging Face format (`config.json` + `model.safetensors` or
    `pytorch_model.bin`), given as a path, or
  - a hub name (`gpt2`, `google/vit-base-patch16-224-in21k`) that is looked up ONLY in
      1. cadbench's model folder (`$CADBENCH_HOME/models/`, filled by `cadbench models import`),
      2. the local Hugging Face cache (`$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`).
Nothing here opens a socket: a hub name that is not on disk resolves to None and the caller
says so and falls back to a from-config initialisation. Everything that later loads weights
goes through `from_pretrained(<local folder>, local_files_only=True)` with offline mode set.

A whole VisionEncoderDecoder folder (model_type "vision-encoder-decoder") is imported as it
is (the `hf` submission scores it) and also split into its halves, NAME/encoder and
NAME/decoder, which is what `--opt encoder=` / `--opt decoder=` take.

This module imports only the standard library (the CLI's `cadbench models` uses it); the
split alone imports transformers, inside `split_encoder_decoder`.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from cadbench.config import cadbench_home
from cadbench.errors import InputError

# The pretrained models the `base` size is shaped after (used when they are on disk).
DEFAULT_ENCODER = "google/vit-base-patch16-224-in21k"
DEFAULT_DECODER = "gpt2"

VED_TYPE = "vision-encoder-decoder"   # config.json model_type of a whole encoder-decoder
HALVES = ("encoder", "decoder")
# What each half takes along from the whole folder (image preprocessing, tokenizer).
HALF_FILES = {"encoder": ("preprocessor_config.json",),
              "decoder": ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
                          "special_tokens_map.json", "added_tokens.json")}

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "HF_HUB_DISABLE_TELEMETRY": "1"}


def enforce_offline() -> None:
    """Switch Hugging Face libraries to offline mode. Call before importing transformers:
    huggingface_hub reads HF_HUB_OFFLINE once, at import time."""
    os.environ.update(OFFLINE_ENV)


@dataclass(frozen=True)
class LocalModel:
    """A Hugging Face-format model folder found on this machine."""

    name: str            # hub-style name or folder name
    path: str            # the folder holding config.json
    source: str          # "path", "cadbench", "hf-cache"
    model_type: str      # config.json's model_type ("vit", "gpt2", ...)
    has_weights: bool
    has_tokenizer: bool  # tokenizer.json, or vocab.json + merges.txt (GPT-2 style)

    def to_dict(self) -> dict:
        return asdict(self)


def models_dir() -> Path:
    """Where `cadbench models import` puts model folders."""
    return cadbench_home() / "models"


def hf_hub_cache() -> Path:
    """The local Hugging Face hub cache, by the same rules huggingface_hub uses."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def has_tokenizer_files(folder: Path) -> bool:
    return (folder / "tokenizer.json").is_file() or (
        (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file())


def inspect_folder(folder: Path, name: str | None = None, source: str = "path") -> LocalModel:
    """Describe a model folder; InputError when it is not in Hugging Face format."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError(f"{folder}: no such model folder (expected a Hugging Face model "
                         f"folder with config.json and model weights)")
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise InputError(f"{folder}: not a Hugging Face model folder: no config.json")
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{cfg_path}: unreadable config ({e})") from None
    if not isinstance(cfg, dict):
        raise InputError(f"{cfg_path}: expected a JSON object")
    return LocalModel(name=name or folder.name, path=str(folder.resolve()), source=source,
                      model_type=str(cfg.get("model_type", "?")),
                      has_weights=any((folder / f).is_file() for f in WEIGHT_FILES),
                      has_tokenizer=has_tokenizer_files(folder))


def looks_like_path(spec: str) -> bool:
    """A spec naming a folder (absolute, ./, ../, ~, or existing) rather than a hub name."""
    return (os.path.isabs(spec) or spec.startswith(("./", "../", "~", ".\\"))
            or spec in (".", "..") or Path(spec).expanduser().exists())


def _safe_name(name: str) -> str:
    return name.strip("/").replace("/", "--")


def _cadbench_entry(name: str) -> Path | None:
    folder = models_dir() / _safe_name(name)
    return folder if (folder / "config.json").is_file() else None


def _hf_cache_entry(name: str) -> Path | None:
    """The snapshot folder of a hub name in the local cache (refs/main first, else newest)."""
    repo = hf_hub_cache() / f"models--{_safe_name(name)}"
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo / "refs" / "main"
    if ref.is_file():
        snap = snapshots / ref.read_text().strip()
        if (snap / "config.json").is_file():
            return snap
    candidates = [s for s in snapshots.iterdir() if (s / "config.json").is_file()]
    return max(candidates, key=lambda s: s.stat().st_mtime) if candidates else None


def resolve(spec: str, role: str | None = None) -> LocalModel | None:
    """A local folder or a cached hub name -> LocalModel; a hub name not on disk -> None.

    A folder that exists but holds no weights is an error (a half-copied model would silently
    train from scratch otherwise). `role`: "model" takes any folder as it is; "encoder" or
    "decoder" turns an imported whole VisionEncoderDecoder into that half; None (a half is
    wanted, which one unsaid) refuses a whole VisionEncoderDecoder with a message naming
    its halves, rather than letting transformers fail on it later."""
    model = _resolve(spec)
    if model is None or model.model_type != VED_TYPE or role == "model":
        return model
    if role in HALVES:
        half = _cadbench_entry(f"{model.name}/{role}") if model.source == "cadbench" else None
        if half is not None:
            return inspect_folder(half, name=f"{model.name}/{role}", source="cadbench")
    if model.source == "cadbench" and imported_halves(model.name):
        use = (f"use its halves: --opt encoder={model.name}/encoder --opt "
               f"decoder={model.name}/decoder")
    else:
        use = (f"import it with `cadbench models import {model.path} --name NAME` and use "
               f"--opt encoder=NAME/encoder --opt decoder=NAME/decoder")
    raise InputError(f"{spec}: a whole VisionEncoderDecoder model, not one half: {use}; or "
                     f"score it as it is with --model hf --opt model={spec}")


def _resolve(spec: str) -> LocalModel | None:
    spec = spec.strip()
    if not spec:
        return None
    if looks_like_path(spec):
        model = inspect_folder(Path(spec))
    else:
        places = ((_cadbench_entry(spec), "cadbench"), (_hf_cache_entry(spec), "hf-cache"))
        found = next((inspect_folder(folder, name=spec, source=source)
                      for folder, source in places if folder is not None), None)
        if found is None:
            return None
        model = found
    if not model.has_weights:
        raise InputError(f"{model.path}: model folder without weights (expected one of "
                         f"{', '.join(WEIGHT_FILES)})")
    return model


def list_models() -> list[LocalModel]:
    """Every model folder cadbench can use: imported ones, then the Hugging Face cache."""
    out: list[LocalModel] = []
    if models_dir().is_dir():
        for folder in sorted(models_dir().iterdir()):
            if (folder / "config.json").is_file():
                out.append(inspect_folder(folder, name=folder.name.replace("--", "/"),
                                          source="cadbench"))
    cache = hf_hub_cache()
    if cache.is_dir():
        for repo in sorted(cache.glob("models--*")):
            name = repo.name[len("models--"):].replace("--", "/")
            snap = _hf_cache_entry(name)
            if snap is not None:
                out.append(inspect_folder(snap, name=name, source="hf-cache"))
    return out


def import_model(src: Path, name: str | None = None, link: bool = False) -> LocalModel:
    """Copy (or symlink) a Hugging Face-format folder into cadbench's model folder, so that
    `--opt encoder=NAME` / `--opt decoder=NAME` (or `hf`'s `--opt model=NAME`) finds it by
    name. A whole VisionEncoderDecoder is also split into NAME/encoder and NAME/decoder."""
    model = inspect_folder(Path(src))
    if not model.has_weights:
        raise InputError(f"{src}: model folder without weights (expected one of "
                         f"{', '.join(WEIGHT_FILES)})")
    name = name or Path(model.path).name
    dest = models_dir() / _safe_name(name)
    halves = {h: models_dir() / _safe_name(f"{name}/{h}") for h in HALVES}
    for old in (dest, *halves.values()):
        _remove(old)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if link:
        dest.symlink_to(Path(model.path), target_is_directory=True)
    else:
        shutil.copytree(model.path, dest)
    if model.model_type == VED_TYPE:
        try:
            split_encoder_decoder(Path(model.path), halves["encoder"], halves["decoder"])
        except BaseException:
            for folder in (dest, *halves.values()):   # no half-imported model stays behind
                _remove(folder)
            raise
    return inspect_folder(dest, name=name, source="cadbench")


def imported_halves(name: str) -> dict[str, LocalModel]:
    """The encoder and decoder folders an import split a VisionEncoderDecoder into."""
    out = {}
    for h in HALVES:
        folder = _cadbench_entry(f"{name}/{h}")
        if folder is not None:
            out[h] = inspect_folder(folder, name=f"{name}/{h}", source="cadbench")
    return out


def split_encoder_decoder(src: Path, encoder_dir: Path, decoder_dir: Path) -> None:
    """Save a VisionEncoderDecoder's encoder and decoder as two Hugging Face folders (weights
    as stored, the decoder's cross-attention included), each with the files of its side."""
    enforce_offline()
    from transformers import VisionEncoderDecoderModel
    from transformers.utils import logging as hf_logging

    before, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()   # loading/saving chatter and progress bars
    hf_logging.disable_progress_bar()
    try:
        try:
            model = VisionEncoderDecoderModel.from_pretrained(str(src), local_files_only=True,
                                                              dtype="auto")
        except (OSError, ValueError, KeyError) as e:
            raise InputError(f"{src}: a vision-encoder-decoder config, but the model does not "
                             f"load: {type(e).__name__}: {str(e).strip()[:300]}") from None
        for half, folder in (("encoder", encoder_dir), ("decoder", decoder_dir)):
            getattr(model, half).save_pretrained(str(folder))
            for fname in HALF_FILES[half]:
                if (src / fname).is_file():
                    shutil.copy2(src / fname, folder / fname)
    finally:
        hf_logging.set_verbosity(before)
        if bars:
            hf_logging.enable_progress_bar()


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
