"""vit_gpt2's number handling: one token per number on a grid ("code-num"), Gaussian
targets over neighbouring values, and the number grammar applied while decoding."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tokenizers")
pytest.importorskip("transformers")

from submissions.vit_gpt2.decode import number_grammar  # noqa: E402
from submissions.vit_gpt2.tokenizer import (CodeTokenizer, NumericCodeTokenizer,  # noqa: E402
                                            length_stats)
from submissions.vit_gpt2.train import number_aware_loss, shift_right  # noqa: E402

# the plate programs of the tokenizer tests (pytest puts this folder on sys.path; it is not a
# package, since as one it would be named `submissions` and shadow the real package)
from test_vit_gpt2_tokenizer import programs  # noqa: E402


def test_numbers_on_the_grid_round_trip_exactly_and_each_is_one_token():
    progs = programs()
    tok = NumericCodeTokenizer.train(progs, vocab_size=400)
    assert tok.kind == "code-num"
    for p in progs:  # these programs use multiples of 1/32: on the 1/256 grid
        assert tok.decode([tok.bos_id, *tok.encode(p), tok.eos_id, tok.pad_id]) == p
    ids = tok.encode("solid0=wp_sketch0.add(loop0).extrude(0.125)")
    assert sum(i in tok.number_ids for i in ids) == 1
    assert tok.number_text(tok.number_id(-0.75)) == "-0.75"
    # ordered, contiguous block after the text vocabulary
    values = [float(tok.number_text(i)) for i in tok.number_ids]
    assert values == sorted(values) and values[0] == -2.0 and values[-1] == 2.0
    assert tok.vocab_size == tok.number_ids.stop


def test_off_grid_numbers_snap_and_identifier_digits_and_integers_stay_text():
    tok = NumericCodeTokenizer.train(programs(), vocab_size=400)
    text = "loop12=wp_sketch0.moveTo(0.3438, -0.0229).polygon(6, 0.5)"
    back = tok.decode(tok.encode(text))
    assert back == "loop12=wp_sketch0.moveTo(0.34375, -0.0234375).polygon(6, 0.5)"
    # float noise and unit constants are not measurements: they stay in the text idiom
    noise = "cq.Vector(6.123233995736766e-17, 1.0, 0.0)"
    assert tok.decode(tok.encode(noise)) == noise
    assert not any(i in tok.number_ids for i in tok.encode(noise))
    before = tok.clamped
    assert tok.decode(tok.encode("f(7.5)")) == "f(2.0)" and tok.clamped == before + 1


def test_numbers_shorten_programs_against_plain_bpe():
    progs = programs(60)
    plain = CodeTokenizer.train(progs, vocab_size=400)
    grid = NumericCodeTokenizer.train(progs, vocab_size=400)
    n_plain = length_stats([len(t) for t in plain.encode_batch(progs)]).mean
    n_grid = length_stats([len(t) for t in grid.encode_batch(progs)]).mean
    assert n_grid < n_plain


def test_save_and_load_keep_the_kind_and_the_grid(tmp_path):
    tok = NumericCodeTokenizer.train(programs(), vocab_size=300)
    tok.save(tmp_path)
    back = CodeTokenizer.load(tmp_path)
    assert isinstance(back, NumericCodeTokenizer)
    assert back.number_ids == tok.number_ids and back.grid == tok.grid
    p = programs()[5]
    assert back.encode(p) == tok.encode(p) and back.decode(back.encode(p)) == p


def test_gaussian_number_targets():
    V, start, stop = 20, 10, 20
    logits = torch.randn(1, 3, V)
    labels = torch.tensor([[3, 14, -100]])
    ce = torch.nn.functional.cross_entropy(logits[0, :2], labels[0, :2])
    # sigma 0 (or no number block) is plain cross-entropy over the real positions
    assert torch.allclose(number_aware_loss(logits, labels, None, 1.5), ce)
    assert torch.allclose(number_aware_loss(logits, labels, range(start, stop), 0.0), ce)
    # with sigma > 0 the loss grows with the distance of the predicted value from the
    # target; plain cross-entropy charges every wrong value the same
    def peaked_at(k):
        x = torch.zeros(1, 1, V)
        x[0, 0, k] = 4.0
        return x
    target = torch.tensor([[14]])
    soft = [number_aware_loss(peaked_at(k), target, range(start, stop), 1.5).item()
            for k in (14, 15, 16, 19)]
    assert soft == sorted(soft) and soft[0] < soft[1] < soft[3]
    plain = [number_aware_loss(peaked_at(k), target, None, 0.0).item() for k in (15, 19)]
    assert plain[0] == pytest.approx(plain[1])
    near = peaked_at(15)
    # text targets are untouched by sigma
    text = torch.tensor([[3]])
    assert torch.allclose(number_aware_loss(near, text, range(start, stop), 1.5),
                          number_aware_loss(near, text, None, 0.0))


def test_shift_right_feeds_the_start_token_then_the_labels():
    labels = torch.tensor([[5, 6, 7], [5, -100, -100]])
    assert shift_right(labels, 1).tolist() == [[1, 5, 6], [1, 5, 1]]


def test_number_grammar_masks_numbers_where_no_literal_can_stand():
    tok = NumericCodeTokenizer.train(programs(), vocab_size=400)
    grammar = number_grammar(tok, "cpu")
    after_paren = tok.encode("solid0=wp_sketch0.add(loop0).extrude(")
    number = tok.number_id(0.5)
    rows = torch.tensor([after_paren[-1:], [number], [tok.bos_id]])
    scores = grammar(rows, torch.zeros(3, tok.vocab_size))
    numbers = slice(tok.number_ids.start, tok.number_ids.stop)
    assert torch.isfinite(scores[0, numbers]).all()          # after "(": a number may come
    assert torch.isinf(scores[1, numbers]).all()             # never two numbers in a row
    assert torch.isinf(scores[2, numbers]).all()             # a program starts with text
    closing = tok.encode(")")[0]
    assert torch.isfinite(scores[1, closing])                # ")" may follow a number
    letter = next(i for i in range(tok.number_ids.start)
                  if tok.tok.decode([i]).startswith("l"))
    assert torch.isinf(scores[1, letter])                    # "0.5l" may not

