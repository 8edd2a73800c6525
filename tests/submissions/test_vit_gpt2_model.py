"""vit_gpt2 with torch: local pretrained folders loaded offline, training, resume, decoding.

Every model here is built from config at toy sizes, so the file runs in seconds on a CPU."""

import json
import socket

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from cadbench.datasets.base import Sample  # noqa: E402
from cadbench.errors import InputError  # noqa: E402
from cadbench.submissions import Sampling  # noqa: E402
from cadbench.program import Body, CircleLoop, Line, PathLoop, Plane, Program  # noqa: E402
from submissions.vit_gpt2 import VitGpt2Submission, weights  # noqa: E402


def program(i: int) -> str:
    w, h, t = (8 + i % 7) / 16, (4 + i % 5) / 16, (1 + i % 3) / 32
    loops = [PathLoop((0.0, 0.0), (Line((w, 0.0)), Line((w, h)), Line((0.0, h)),
                                   Line((0.0, 0.0))))]
    loops += [CircleLoop((w * (k + 1) / 6, h / 2), h / 8) for k in range(1 + i % 4)]  # holes
    return Program.of(Body(Plane.xy((-w / 2, -h / 2, 0.0)), tuple(loops), t)).to_code()


def samples(n: int, offset: int = 0) -> list[Sample]:
    rng = np.random.default_rng(offset)
    return [Sample(f"s{offset + i}", program(offset + i),
                   rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)) for i in range(n)]


def micro(tmp_path, **kw) -> VitGpt2Submission:
    opts = dict(size="micro", epochs=1, batch_size=4, val_samples=0, progress=False,
                checkpoint_dir=str(tmp_path / "state"), max_new_tokens=48)
    opts.update(kw)
    return VitGpt2Submission(**opts)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A toy ViT and a toy GPT-2 (with GPT-2-style tokenizer files) saved in HF format."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, ViTConfig, ViTModel
    root = tmp_path_factory.mktemp("pretrained")
    torch.manual_seed(0)
    vit = ViTModel(ViTConfig(image_size=32, patch_size=16, hidden_size=32, num_hidden_layers=1,
                             num_attention_heads=2, intermediate_size=64))
    vit.save_pretrained(root / "vit")
    (root / "vit" / "preprocessor_config.json").write_text(json.dumps(
        {"image_mean": [0.4, 0.4, 0.4], "image_std": [0.2, 0.2, 0.2], "size": 32}))
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([program(i) for i in range(30)], vocab_size=400,
                            special_tokens=["<|endoftext|>"])
    (root / "gpt2").mkdir()
    bpe.save_model(str(root / "gpt2"))
    eos = bpe.token_to_id("<|endoftext|>")
    gpt = GPT2LMHeadModel(GPT2Config(vocab_size=bpe.get_vocab_size(), n_positions=256,
                                     n_embd=32, n_layer=1, n_head=2, bos_token_id=eos,
                                     eos_token_id=eos))
    gpt.save_pretrained(root / "gpt2")
    return {"root": root, "vit_patch": vit.embeddings.patch_embeddings.projection.weight.detach(),
            "gpt_wte": gpt.transformer.wte.weight.detach()}


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test at once (no hang); a local
    Unix socket (the sandbox's hatchery, execute/hatchery.py) is not the network."""
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    def guarded(original):
        def connect(self, *args, **kwargs):
            if self.family == socket.AF_UNIX:
                return original(self, *args, **kwargs)
            return refuse()
        return connect
    monkeypatch.setattr(socket.socket, "connect", guarded(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(socket.socket.connect_ex))
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_local_pretrained_folders_load_with_the_network_disabled(pretrained, tmp_path,
                                                                 monkeypatch, no_network):
    monkeypatch.setenv("CADBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_hf_cache"))
    weights.import_model(pretrained["root"] / "gpt2", name="gpt2")   # found by hub name
    sub = micro(tmp_path, encoder=str(pretrained["root"] / "vit"), decoder="gpt2")
    train = samples(4)
    sub.fit(train, epochs=1)
    # the first training step changed them, so compare what was loaded before training
    assert sub.meta["encoder"]["path"] == str((pretrained["root"] / "vit").resolve())
    assert sub.meta["decoder"]["source"] == "cadbench"
    assert sub.tokenizer.kind == "gpt2"                          # the decoder's own tokenizer
    assert sub.image_spec.mean == (0.4, 0.4, 0.4)                # the encoder's preprocessor
    out = sub.generate(samples(2, offset=50))
    assert len(out) == 2 and all(isinstance(c, str) for c in out)


def test_the_halves_hold_the_saved_weights(pretrained, tmp_path, no_network):
    sub = micro(tmp_path, encoder=str(pretrained["root"] / "vit"),
                decoder=str(pretrained["root"] / "gpt2"))
    sub._build([program(i) for i in range(4)], tmp_path / "state", "fp")
    assert torch.equal(sub.model.encoder.embeddings.patch_embeddings.projection.weight,
                       pretrained["vit_patch"])
    assert torch.equal(sub.model.decoder.transformer.wte.weight, pretrained["gpt_wte"])
    # cross-attention was added to the pretrained decoder
    assert sub.model.decoder.config.add_cross_attention


def test_base_without_local_weights_says_so_or_refuses(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CADBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_hf_cache"))
    sub = VitGpt2Submission(size="base")
    assert sub._resolve_half("encoder") is None
    err = capsys.readouterr().err
    assert "google/vit-base-patch16-224-in21k" in err and "from config" in err
    strict = VitGpt2Submission(size="base", require_pretrained=True)
    with pytest.raises(InputError, match="not found on this machine"):
        strict._resolve_half("decoder")
    with pytest.raises(InputError, match="unknown size"):
        VitGpt2Submission(size="huge")


def test_train_save_load_generate(tmp_path):
    sub = micro(tmp_path, save_dtype="float32", val_samples=1)
    sub.fit(samples(8), samples(1, offset=100), epochs=1, seed=0)
    t = sub.meta["training"]
    assert t["epochs_done"] == 1 and t["steps"] == 2 and t["stopped_by"] == "epochs"
    assert "vsr" in t["history"][-1]["val"]          # the per-epoch validation ran
    assert sub.meta["token_lengths"]["max"] > 32     # programs are longer than 32 tokens...
    assert sub.meta["max_new_tokens"] == 48          # ...and the option sets the output length
    test = samples(3, offset=200)
    before = sub.generate(test)
    sub.save(tmp_path / "ckpt")
    back = VitGpt2Submission.load(tmp_path / "ckpt", batch_size=2)
    assert back.generate(test) == before
    assert back.num_parameters() == sub.num_parameters() > 0
    many = back.generate_many(test, Sampling(k=3, seed=1))
    assert len(many) == 3 and all(len(c) == 3 for c in many)
    assert back.generate_many(test, Sampling(k=3, seed=1)) == many  # seeded
    with pytest.raises(InputError, match="checkpoint has size="):
        VitGpt2Submission.load(tmp_path / "ckpt", size="tiny")
    meta = back.metadata()
    # generate decodes 1 greedy + `rerank` samples per image; generate_many 3 per image, twice
    assert meta["generation"]["outputs"] == 3 * (1 + back.options["rerank"]) + 9 + 9


def test_default_output_length_covers_the_longest_program(tmp_path):
    sub = micro(tmp_path, max_new_tokens=0)
    sub._build([program(i) for i in range(6)], tmp_path / "state", "fp")
    longest = sub.meta["token_lengths"]["max"]
    assert sub.meta["max_new_tokens"] >= longest + 1
    assert sub.meta["n_positions"] > sub.meta["max_new_tokens"]


def test_resume_continues_and_time_budget_stops(tmp_path):
    from submissions.vit_gpt2 import model as M
    from submissions.vit_gpt2.preprocess import ImageSpec
    from submissions.vit_gpt2.train import TrainConfig, train
    spec = M.SIZES["micro"]
    images = np.zeros((8, 32, 32, 3), dtype=np.uint8)
    tokens = [[3, 4, 5, 6][: 1 + i % 4] for i in range(8)]

    def fresh():
        torch.manual_seed(0)
        return M.assemble(M.encoder_from_config(spec), M.decoder_from_config(
            spec, 16, 32, 1, 2, 0), 1, 2, 0, 16)

    cfg = TrainConfig(epochs=1, batch_size=4, lr=1e-3, warmup_steps=1, progress=False,
                      checkpoint_dir=tmp_path)
    first = train(fresh(), images, tokens, 2, 31, ImageSpec(32), cfg)
    assert first.steps == 2 and (tmp_path / "train_state.pt").is_file()
    cfg.epochs = 2
    second = train(fresh(), images, tokens, 2, 31, ImageSpec(32), cfg)
    assert second.resumed_from_step == 2 and second.steps == 4 and second.epochs_done == 2
    cfg2 = TrainConfig(epochs=50, batch_size=4, max_minutes=1e-6, progress=False,
                       checkpoint_dir=tmp_path / "budget")
    stopped = train(fresh(), images, tokens, 2, 31, ImageSpec(32), cfg2)
    assert stopped.stopped_by == "time budget" and stopped.epochs_done < 1
    # a finished run, resumed, trains nothing more (also when its budget is spent)
    cfg.max_minutes = 1e-6
    again = train(fresh(), images, tokens, 2, 31, ImageSpec(32), cfg)
    assert again.steps == 4 and len(again.history) == 2


def test_decoding_repairs_a_truncated_output_and_counts_it(tmp_path):
    from submissions.vit_gpt2.decode import DecodeConfig, finish
    from submissions.vit_gpt2.repair import RepairStats
    from submissions.vit_gpt2.tokenizer import CodeTokenizer
    tok = CodeTokenizer.train([program(i) for i in range(20)], vocab_size=300)
    code = program(3)
    cut = code[: code.index("extrude(") + len("extrude(")]     # stopped mid-call
    row = np.array([tok.bos_id, *tok.encode(cut)])               # no end token: truncated
    stats = RepairStats()
    fixed = finish(tok, row, DecodeConfig(max_new_tokens=10), stats)
    assert fixed != cut and fixed.startswith(cut[: cut.rindex("\n")])
    compile(fixed, "<fixed>", "exec")
    assert stats.truncated == 1 and stats.repaired == 1
    raw = finish(tok, row, DecodeConfig(max_new_tokens=10, repair=False), stats)
    assert raw == cut and stats.unparsed == 1
    whole = np.array([tok.bos_id, *tok.encode(code), tok.eos_id, tok.pad_id])
    assert finish(tok, whole, DecodeConfig(max_new_tokens=10), stats) == code
    assert stats.parsed_raw == 1 and stats.truncated == 2


def test_loading_local_folders_in_a_process_without_network(pretrained, tmp_path):
    """Stronger than the socket patch: a child process in its own empty network namespace
    (`unshare -n`, when the machine allows it) builds the model from the local folders."""
    import shutil
    import subprocess
    import sys
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n is not available here")
    script = (
        "import sys\n"
        "from submissions.vit_gpt2 import VitGpt2Submission\n"
        f"sub = VitGpt2Submission(size='micro', encoder={str(pretrained['root'] / 'vit')!r}, "
        f"decoder={str(pretrained['root'] / 'gpt2')!r}, checkpoint_dir={str(tmp_path)!r})\n"
        "from pathlib import Path\n"
        "sub._build(['solid = 1\\n'] * 3, Path(sub.options['checkpoint_dir']), 'fp')\n"
        "print('built', sub.tokenizer.kind, sub.num_parameters())\n")
    r = subprocess.run(["unshare", "-n", sys.executable, "-c", script], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "built gpt2" in r.stdout


def test_image_size_option_sets_the_from_config_encoder(tmp_path):
    sub = micro(tmp_path, image_size=48)
    sub._build([program(i) for i in range(4)], tmp_path / "state", "fp")
    assert sub.image_spec.size == 48 and sub.model.encoder.config.image_size == 48
    out = sub.generate(samples(1))
    assert len(out) == 1
