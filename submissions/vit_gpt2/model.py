"""Build the ViT encoder + GPT-2 decoder (`transformers.VisionEncoderDecoderModel`).

Sizes (`micro` also exists, for tests and smoke runs):
  tiny  2.9M parameters that train on a 2-core CPU: 96 px input, 16 px patches (36 image
        tokens), a 3-layer ViT of width 128 and a 3-layer GPT-2 of width 192 with
        cross-attention, over the code-num tokenizer (1,024 BPE text tokens + 1,025 number
        tokens, 1,751 ids in use on synth: ~40 tokens per synth program).
  base  the shapes of google/vit-base-patch16-224-in21k (86M) + gpt2 (124M, 50257 tokens).

Each half comes from a local Hugging Face folder when one is given (weights.resolve), else
from config at the requested size. Import this module only when torch is wanted.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from .weights import enforce_offline

enforce_offline()  # before transformers is imported anywhere through this module

import torch  # noqa: E402
from transformers import (AutoConfig, AutoModel, AutoModelForCausalLM, GPT2Config,  # noqa: E402
                          GPT2LMHeadModel, VisionEncoderDecoderModel, ViTConfig, ViTModel)

@dataclass(frozen=True)
class SizeSpec:
    image_size: int
    patch_size: int
    enc_width: int
    enc_layers: int
    enc_heads: int
    dec_width: int
    dec_layers: int
    dec_heads: int
    vocab_size: int          # of the code-bpe tokenizer trained when no pretrained one is local
    n_positions: int         # decoder positions (raised to cover the longest program)

    def to_dict(self) -> dict:
        return asdict(self)


SIZES: dict[str, SizeSpec] = {
    # for tests and smoke runs only: seconds per epoch, learns nothing useful
    "micro": SizeSpec(image_size=32, patch_size=16, enc_width=32, enc_layers=1, enc_heads=2,
                      dec_width=32, dec_layers=1, dec_heads=2, vocab_size=512,
                      n_positions=64),
    "tiny": SizeSpec(image_size=96, patch_size=16, enc_width=128, enc_layers=3, enc_heads=2,
                     dec_width=192, dec_layers=3, dec_heads=3, vocab_size=1024,
                     n_positions=256),
    "base": SizeSpec(image_size=224, patch_size=16, enc_width=768, enc_layers=12, enc_heads=12,
                     dec_width=768, dec_layers=12, dec_heads=12, vocab_size=50257,
                     n_positions=1024),
}


def size_spec(size: str) -> SizeSpec:
    from cadbench.errors import InputError
    if size not in SIZES:
        raise InputError(f"vit_gpt2: unknown size {size!r}; choose one of {', '.join(SIZES)}")
    return SIZES[size]


def encoder_from_config(spec: SizeSpec) -> ViTModel:
    cfg = ViTConfig(image_size=spec.image_size, patch_size=spec.patch_size,
                    hidden_size=spec.enc_width, num_hidden_layers=spec.enc_layers,
                    num_attention_heads=spec.enc_heads, intermediate_size=4 * spec.enc_width)
    return ViTModel(cfg, add_pooling_layer=False)


def decoder_from_config(spec: SizeSpec, vocab_size: int, n_positions: int, bos_id: int,
                        eos_id: int, pad_id: int) -> GPT2LMHeadModel:
    cfg = GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=spec.dec_width,
                     n_layer=spec.dec_layers, n_head=spec.dec_heads, add_cross_attention=True,
                     is_decoder=True, bos_token_id=bos_id, eos_token_id=eos_id,
                     pad_token_id=pad_id)
    return GPT2LMHeadModel(cfg)


def encoder_from_folder(folder: str):
    """A pretrained vision encoder from a local folder (no network: local_files_only)."""
    return AutoModel.from_pretrained(folder, local_files_only=True)


def decoder_from_folder(folder: str):
    """A pretrained causal LM from a local folder, with cross-attention layers added (those
    start untrained: transformers reports them as newly initialised)."""
    cfg = AutoConfig.from_pretrained(folder, local_files_only=True)
    cfg.is_decoder = True
    cfg.add_cross_attention = True
    return AutoModelForCausalLM.from_pretrained(folder, config=cfg, local_files_only=True)


def assemble(encoder, decoder, bos_id: int, eos_id: int, pad_id: int,
             vocab_size: int) -> VisionEncoderDecoderModel:
    """Join the halves; resize the decoder's vocabulary to the tokenizer's when they differ."""
    if decoder.get_input_embeddings().num_embeddings != vocab_size:
        decoder.resize_token_embeddings(vocab_size)
    model = VisionEncoderDecoderModel(encoder=encoder, decoder=decoder)
    for cfg in (model.config, model.generation_config):
        cfg.decoder_start_token_id = bos_id
        cfg.bos_token_id = bos_id
        cfg.eos_token_id = eos_id
        cfg.pad_token_id = pad_id
    model.config.vocab_size = vocab_size
    return model


def init_number_embeddings(model: VisionEncoderDecoderModel, number_ids: range,
                           values: torch.Tensor) -> None:
    """Start the number tokens' embeddings (tied with the output layer) as sinusoids of their
    values, so neighbouring values start out similar: the order of the numbers is given, not
    something the decoder must discover from 1,025 unrelated rows."""
    emb = model.decoder.get_input_embeddings().weight
    width = emb.shape[1]
    # periods from ~2 grid steps (1/128) to ~12 units: fine and coarse position of a value
    freqs = torch.exp(torch.linspace(math.log(0.5), math.log(800.0), width // 2))
    angles = values.float()[:, None] * freqs[None, :]
    feats = torch.zeros(len(values), width)
    feats[:, 0:2 * (width // 2):2], feats[:, 1:2 * (width // 2):2] = angles.sin(), angles.cos()
    with torch.no_grad():
        emb[number_ids.start:number_ids.stop] = feats * (0.02 * math.sqrt(2.0))


@contextmanager
def quiet_transformers():
    """Silence transformers' info/warnings for calls whose messages are expected noise
    (the unused ViT pooler at load time, the padding hint at generation)."""
    from transformers.utils import logging as hf_logging
    before = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
        if bars:
            hf_logging.enable_progress_bar()


def load_saved(folder: Path, device: str = "cpu") -> VisionEncoderDecoderModel:
    """A model saved by `save_pretrained` (our checkpoints), in float32 on `device`."""
    with quiet_transformers():
        model = VisionEncoderDecoderModel.from_pretrained(str(folder), local_files_only=True,
                                                          dtype=torch.float32)
    if getattr(model.encoder, "pooler", None) is not None:
        model.encoder.pooler = None  # rebuilt by from_config, unused by the decoder
    return model.to(device).eval()


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def state_for_saving(module: torch.nn.Module, dtype: str) -> dict:
    """The module's state dict, floating tensors cast to float16 when `dtype` is "float16"
    (half the file; weights are cast back to float32 on load)."""
    state = module.state_dict()
    if dtype == "float16":
        state = {k: v.to(torch.float16) if v.is_floating_point() else v
                 for k, v in state.items()}
    return state
