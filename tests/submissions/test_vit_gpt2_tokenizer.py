"""vit_gpt2's tokenizers: a code-aware BPE trained offline, and GPT-2 files read locally."""

import pytest

pytest.importorskip("tokenizers")

from cadbench.program import Body, CircleLoop, Line, PathLoop, Plane, Program  # noqa: E402
from submissions.vit_gpt2.tokenizer import CodeTokenizer, length_stats  # noqa: E402


def programs(n=40):
    out = []
    for i in range(n):
        w, h, t = (8 + i % 7) / 16, (4 + i % 5) / 16, (1 + i % 3) / 32
        loops = [PathLoop((0.0, 0.0), (Line((w, 0.0)), Line((w, h)), Line((0.0, h)),
                                       Line((0.0, 0.0))))]
        if i % 2:
            loops.append(CircleLoop((w / 2, h / 2), h / 4))
        plane = (Plane.xy, Plane.xz, Plane.yz)[i % 3]((-w / 2, -h / 2, 0.0))
        out.append(Program.of(Body(plane, tuple(loops), t)).to_code())
    return out


def test_trained_tokenizer_round_trips_and_compresses():
    progs = programs()
    tok = CodeTokenizer.train(progs, vocab_size=400)
    assert tok.kind == "code-bpe" and tok.vocab_size <= 400
    for p in progs[:5]:
        ids = tok.encode(p)
        assert tok.decode([tok.bos_id, *ids, tok.eos_id, tok.pad_id]) == p
        assert len(ids) < len(p) / 4  # the idiom between numbers merges into long tokens
    # a frequent measurement is one token, never glued to the text around it
    pieces = [tok.tok.id_to_token(i) for i in tok.encode(progs[0])]
    assert "0.5" in pieces and not any("0.5" in p and p != "0.5" for p in pieces)


def test_identifiers_with_digits_are_not_split_as_numbers():
    tok = CodeTokenizer.train(programs(), vocab_size=400)
    text = "loop12=wp_sketch0.moveTo(0.5, -0.25)"
    assert tok.decode(tok.encode(text)) == text


def test_save_and_load(tmp_path):
    tok = CodeTokenizer.train(programs(), vocab_size=300)
    tok.save(tmp_path)
    back = CodeTokenizer.load(tmp_path)
    p = programs()[3]
    assert back.encode(p) == tok.encode(p)
    assert (back.bos_id, back.eos_id, back.pad_id, back.kind) == \
        (tok.bos_id, tok.eos_id, tok.pad_id, tok.kind)


def test_gpt2_style_files_are_read_from_a_local_folder(tmp_path):
    from tokenizers import ByteLevelBPETokenizer
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(programs(), vocab_size=400, special_tokens=["<|endoftext|>"])
    bpe.save_model(str(tmp_path))  # vocab.json + merges.txt, GPT-2's layout
    tok = CodeTokenizer.from_model_folder(tmp_path)
    assert tok.kind == "gpt2" and tok.bos_id == tok.eos_id == tok.pad_id
    p = programs()[1]
    assert tok.decode([tok.bos_id, *tok.encode(p), tok.eos_id]) == p


def test_length_stats():
    s = length_stats([10, 20, 30, 40, 100])
    assert (s.count, s.max, s.p50) == (5, 100, 30) and s.mean == 40.0
    assert "max 100" in s.line()
