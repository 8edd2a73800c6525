"""The `hf` submission on tiny models built from config and saved into tmp folders (a ViT +
GPT-2 VisionEncoderDecoder and a LLaVA image-text-to-text model, character-level tokenizers):
end to end through `cadbench run`, batching, seeded sampling, clear errors, offline; and
`cadbench models import` of a whole VisionEncoderDecoder folder (split into its halves, which
vit_gpt2's loaders read). Random weights: the tests check the pipeline, not the scores."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from cadbench.cli import main as cli_main  # noqa: E402
from cadbench.datasets.base import TaskInput  # noqa: E402
from cadbench.errors import InputError  # noqa: E402
from cadbench.run import RunSettings, run_model  # noqa: E402
from cadbench.submissions import Sampling, get_submission  # noqa: E402
from submissions.hf import HFSubmission  # noqa: E402
from submissions.vit_gpt2 import weights  # noqa: E402

CHARS = sorted(set("0123456789.,()=\n _abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "-+*/[]:'\"`<>|#"))
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<image>"]
PAD, BOS, EOS, IMAGE = 0, 1, 2, 4


def char_tokenizer():
    """A character-level fast tokenizer (one token per character) with the special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    vocab = {t: i for i, t in enumerate(SPECIALS + CHARS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>", unk_token="<unk>")
    fast.add_special_tokens({"additional_special_tokens": ["<image>"]})
    return fast


def save_tiny_ved(folder):
    import torch
    from transformers import (
        GPT2Config,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )
    tok = char_tokenizer()
    enc = ViTConfig(image_size=32, patch_size=16, hidden_size=32, num_hidden_layers=1,
                    num_attention_heads=2, intermediate_size=64, initializer_range=0.5)
    dec = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=1, n_head=2,
                     add_cross_attention=True, is_decoder=True, bos_token_id=BOS,
                     eos_token_id=EOS, pad_token_id=PAD, initializer_range=0.5)
    cfg = VisionEncoderDecoderConfig.from_encoder_decoder_configs(enc, dec)
    cfg.decoder_start_token_id, cfg.pad_token_id, cfg.eos_token_id = BOS, PAD, EOS
    torch.manual_seed(0)
    model = VisionEncoderDecoderModel(config=cfg)
    gc = model.generation_config
    gc.decoder_start_token_id, gc.pad_token_id, gc.eos_token_id = BOS, PAD, EOS
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(str(folder))
    return folder


CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {% for p in m['content'] %}"
    "{% if p['type'] == 'image' %}<image>{% else %}{{ p['text'] }}{% endif %}{% endfor %}\n"
    "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}")


def save_tiny_llava(folder):
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )
    tok = char_tokenizer()
    vis = CLIPVisionConfig(image_size=32, patch_size=16, hidden_size=32, intermediate_size=64,
                           num_hidden_layers=1, num_attention_heads=2, projection_dim=32)
    txt = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                      max_position_embeddings=512, bos_token_id=BOS, eos_token_id=EOS,
                      pad_token_id=PAD)
    cfg = LlavaConfig(vision_config=vis, text_config=txt, image_token_index=IMAGE,
                      vision_feature_layer=-1, vision_feature_select_strategy="default",
                      image_seq_length=4)
    torch.manual_seed(0)
    LlavaForConditionalGeneration(cfg).save_pretrained(str(folder))
    ip = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=16,
                   vision_feature_select_strategy="default", chat_template=CHAT_TEMPLATE,
                   num_additional_image_tokens=1).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def ved(tmp_path_factory):
    return save_tiny_ved(tmp_path_factory.mktemp("hf") / "tiny-ved")


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    return save_tiny_llava(tmp_path_factory.mktemp("hf") / "tiny-llava")


@pytest.fixture(scope="module")
def synth3():
    from cadbench.datasets.synth import load_synth
    return load_synth("test", size=3, image_size=64, n_jobs=1, progress=False)


def tasks(n, seed=0):
    rng = np.random.default_rng(seed)
    return [TaskInput(f"t{i}", rng.integers(0, 256, (40, 40, 3), np.uint8)) for i in range(n)]


def run(tmp_path, name, samples, opts):
    return run_model(RunSettings(model="hf", dataset="tiny", split="test", options=opts),
                     run_dir=tmp_path / name, record_path=tmp_path / f"{name}.json",
                     workers=1, progress=False, load_samples=lambda ds, split: samples)


def test_a_vision_encoder_decoder_folder_scores_end_to_end(ved, synth3, tmp_path):
    rec = run(tmp_path, "ved", synth3, {"model": str(ved), "max_new_tokens": 12,
                                        "batch_size": 2})
    # one leaderboard row per local folder: hf-<folder name>
    assert (tmp_path / "ved.json").exists() and rec.model == f"hf-{ved.name}"
    assert rec.n_references == 3 and sum(rec.status_counts.values()) == 3
    rows = [json.loads(line) for line in (tmp_path / "ved" / "predictions.jsonl")
            .read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == sorted(s.id for s in synth3)
    assert all(isinstance(r["code"], str) for r in rows)
    sub = rec.submission
    assert sub["architecture"]["kind"] == "vision-encoder-decoder"
    assert sub["architecture"]["model_class"] == "VisionEncoderDecoderModel"
    assert sub["device"] == "cpu" and sub["dtype"] == "float32"
    assert sub["label"] == "hf-tiny-ved"
    gen = sub["generation"]
    assert gen["images"] == 3 and gen["generate_calls"] == 2      # batches of 2 and 1
    assert 0 < gen["generated_tokens"] <= 3 * 12
    from transformers import VisionEncoderDecoderModel
    reference = VisionEncoderDecoderModel.from_pretrained(str(ved), local_files_only=True)
    assert sub["num_parameters"] == sum(p.numel() for p in reference.parameters())
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_batched_greedy_decoding_equals_one_image_at_a_time(ved):
    images = tasks(4)
    batched = HFSubmission(model=str(ved), max_new_tokens=10, batch_size=4).generate(images)
    single = HFSubmission(model=str(ved), max_new_tokens=10, batch_size=1).generate(images)
    assert batched == single and len(batched) == 4
    assert len(set(batched)) > 1     # the images differ, so (random) outputs differ too


def test_sampling_is_seeded_per_sample_and_candidate(ved):
    sub = HFSubmission(model=str(ved), max_new_tokens=8)
    two = tasks(2)
    sampling = Sampling(k=2, temperature=1.0, seed=4)
    first = sub.generate_many(two, sampling)
    assert [len(c) for c in first] == [2, 2]
    gen = sub.metadata()["generation"]
    assert (gen["images"], gen["candidates"], gen["generate_calls"]) == (2, 4, 4)
    assert len(set(first[0] + first[1])) > 1                   # candidates differ
    # the same seeds alone as in a batch of two: batch-independent (and reproducible)
    assert sub.generate_many(two[1:], sampling) == first[1:]
    assert sub.generate_many(two[:1], Sampling(k=2, temperature=1.0, seed=5)) != first[:1]
    with pytest.raises(InputError, match="3 copies of one output"):
        sub.generate_many(two, Sampling(k=3))


def test_an_image_text_to_text_folder_scores_end_to_end(llava, synth3, tmp_path):
    rec = run(tmp_path, "llava", synth3[:2], {"model": str(llava), "max_new_tokens": 8,
                                              "batch_size": 2})
    assert rec.n_references == 2 and sum(rec.status_counts.values()) == 2
    arch = rec.submission["architecture"]
    assert arch["kind"] == "image-text-to-text"
    assert arch["model_class"] == "LlavaForConditionalGeneration"
    gen = rec.submission["generation"]
    assert gen["images"] == 2 and gen["generate_calls"] == 1
    assert 0 < gen["generated_tokens"] <= 2 * 8
    # The chat the model saw: the system prompt, the image token and GenCAD-Code's prompt.
    sub = HFSubmission(model=str(llava), max_new_tokens=4)
    text = sub._chat_text(sub.loaded.image_processor)
    assert text.startswith("system: You are an expert CAD engineer")
    assert "user: <image>Generate the CADQuery code" in text and text.endswith("assistant: ")
    # Left padding in a batch does not change what each image gets (greedy).
    images = tasks(3)
    assert sub.generate(images) == [sub.generate([t])[0] for t in images]


def test_clear_errors_for_what_cannot_be_scored(tmp_path, ved):
    with pytest.raises(InputError, match="no model given"):
        HFSubmission()
    with pytest.raises(InputError, match="no such model folder"):
        HFSubmission(model=str(tmp_path / "absent"))
    with pytest.raises(InputError, match="'no-such-model' not found on this machine"):
        HFSubmission(model="no-such-model")
    with pytest.raises(InputError, match="dtype"):
        HFSubmission(model=str(ved), dtype="float8")
    no_processor = tmp_path / "no-processor"
    shutil.copytree(ved, no_processor)
    (no_processor / "preprocessor_config.json").unlink()
    with pytest.raises(InputError, match="no usable image processor"):
        HFSubmission(model=str(no_processor))
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=1,
                               n_head=2)).save_pretrained(str(tmp_path / "text-only"))
    with pytest.raises(InputError, match="neither 'vision-encoder-decoder' nor an "
                                         "image-text-to-text model"):
        HFSubmission(model=str(tmp_path / "text-only"))
    with pytest.raises(InputError, match="sample t0 has no image"):
        HFSubmission(model=str(ved), max_new_tokens=2).generate([TaskInput("t0", None)])
    assert get_submission("hf") is HFSubmission


def test_models_import_of_a_whole_vision_encoder_decoder_folder(ved, tmp_path, monkeypatch,
                                                                capsys):
    monkeypatch.setenv("CADBENCH_HOME", str(tmp_path / "home"))
    assert cli_main(["models", "import", str(ved), "--name", "me/tiny-ved"]) == 0
    out = capsys.readouterr().out
    assert "split: me/tiny-ved/encoder (vit)" in out
    assert "split: me/tiny-ved/decoder (gpt2)" in out
    assert "--opt encoder=me/tiny-ved/encoder --opt decoder=me/tiny-ved/decoder" in out

    # The halves load the way vit_gpt2 loads pretrained halves, with the whole's weights.
    from transformers import VisionEncoderDecoderModel

    from submissions.vit_gpt2.model import decoder_from_folder, encoder_from_folder
    enc = weights.resolve("me/tiny-ved/encoder")
    dec = weights.resolve("me/tiny-ved/decoder")
    assert enc.model_type == "vit" and dec.model_type == "gpt2" and dec.has_tokenizer
    assert weights.resolve("me/tiny-ved", role="encoder") == enc
    whole = VisionEncoderDecoderModel.from_pretrained(str(ved), local_files_only=True)
    encoder, decoder = encoder_from_folder(enc.path), decoder_from_folder(dec.path)
    assert np.array_equal(encoder.embeddings.patch_embeddings.projection.weight.detach(),
                          whole.encoder.embeddings.patch_embeddings.projection.weight.detach())
    cross = decoder.transformer.h[0].crossattention.c_attn.weight.detach()
    assert np.array_equal(cross, whole.decoder.transformer.h[0].crossattention.c_attn.weight
                          .detach())

    # Asked for as one half, the whole model says which names to use instead.
    with pytest.raises(InputError, match="--opt encoder=me/tiny-ved/encoder"):
        weights.resolve("me/tiny-ved")
    # The whole is scored by name, as from its folder.
    images = tasks(2)
    by_name = HFSubmission(model="me/tiny-ved", max_new_tokens=6).generate(images)
    assert by_name == HFSubmission(model=str(ved), max_new_tokens=6).generate(images)
    listed = {m.name for m in weights.list_models()}
    assert {"me/tiny-ved", "me/tiny-ved/encoder", "me/tiny-ved/decoder"} <= listed


if __name__ == "__main__":  # the tiny folders, to try `cadbench run --model hf` by hand
    import sys
    from pathlib import Path

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/tiny-hf-models")
    for name, build in (("tiny-ved", save_tiny_ved), ("tiny-llava", save_tiny_llava)):
        print(f"{build(out / name)}: random weights, for trying the pipeline only")
