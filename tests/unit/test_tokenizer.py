"""Tokenizers: token list conventions, round trips, <unk>, specs, token dirs, audiokit-prep tokens."""

from __future__ import annotations

import json
import pickle
import random

import pytest
import sentencepiece as spm

from audiokit.cli.prep import main as prep_main
from audiokit.text.tokenizer import (
    BLANK,
    SOS_EOS,
    UNK,
    CharTokenizer,
    SentencePieceTokenizer,
    WordTokenizer,
    load_token_dir,
    tokenizer_from_spec,
    train_tokenizer,
)

WORDS = ("the a cat dog sat on mat ran fast slow big small red blue house tree under over "
         "near little bird sang song green field river stone").split()


def english_like(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))) for _ in range(n)]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return english_like(300, seed=0)


def test_char_token_list_and_round_trip(tmp_path):
    spec = train_tokenizer("char", ["ab  a", "ba", "c"], tmp_path, min_count=2)
    # c seen once: dropped by min_count; <space> always kept; sorted by code point
    assert spec["tokens"] == [BLANK, UNK, "<space>", "a", "b", SOS_EOS]
    assert (tmp_path / "tokens.txt").read_text() == "".join(t + "\n" for t in spec["tokens"])
    meta = json.loads((tmp_path / "tokenizer.json").read_text())
    assert meta["kind"] == "char" and meta["vocab_size"] == 6 and meta["pieces_dropped"] == 1
    tok = tokenizer_from_spec(spec)
    assert isinstance(tok, CharTokenizer)
    assert (tok.blank_id, tok.unk_id, tok.sos_id, tok.eos_id, tok.vocab_size) == (0, 1, 5, 5, 6)
    assert tok.encode(" ab  ba ") == [3, 4, 2, 4, 3]  # whitespace collapsed and stripped
    assert tok.decode(tok.encode("ab ba")) == "ab ba"
    assert tok.encode("") == [] and tok.encode("   ") == [] and tok.decode([]) == ""
    # decode skips blank and sos/eos; ids may be numpy/tensor scalars
    import numpy as np
    assert tok.decode(np.array([0, 3, 0, 2, 4, 5])) == "a b"
    with pytest.raises(ValueError, match="id 6 is not in 0..5"):
        tok.decode([6])


def test_unknown_pieces_map_to_unk():
    tok = CharTokenizer([BLANK, UNK, "<space>", "a", "b", SOS_EOS])
    assert tok.encode("abc a") == [3, 4, 1, 2, 3]
    assert tok.unknown("abc a") == ["c"] and tok.unknown("ab") == []
    assert tok.decode(tok.encode("abc")) == "ab<unk>"
    words = WordTokenizer([BLANK, UNK, "cat", "the", SOS_EOS])
    assert words.encode("the dog cat") == [3, 1, 2]
    assert words.unknown("the dog cat <blank>") == ["dog", "<blank>"]  # never id 0
    assert words.encode("<sos/eos>") == [1]
    assert words.decode([3, 1, 2, 4]) == "the <unk> cat"


def test_word_tokenizer_min_count_and_vocab_cap(tmp_path):
    texts = ["the cat", "the dog", "the cat sat", "a bird"]
    assert train_tokenizer("word", texts, tmp_path / "all")["tokens"] == [
        BLANK, UNK, "a", "bird", "cat", "dog", "sat", "the", SOS_EOS]
    assert train_tokenizer("word", texts, tmp_path / "min2", min_count=2)["tokens"] == [
        BLANK, UNK, "cat", "the", SOS_EOS]
    # the cap keeps the most frequent (ties alphabetically), then sorts
    capped = train_tokenizer("word", texts, tmp_path / "cap", vocab_size=6)
    assert capped["tokens"] == [BLANK, UNK, "a", "cat", "the", SOS_EOS]
    with pytest.raises(ValueError, match="no room"):
        train_tokenizer("word", texts, tmp_path / "tiny", vocab_size=3)


def test_non_text_input_names_its_source(tmp_path):
    with pytest.raises(TypeError, match=r"text #1 of data/train/text: expected text \(str\), got int"):
        train_tokenizer("char", ["ab", 3], tmp_path, source="data/train/text")
    tok = WordTokenizer([BLANK, UNK, "a", SOS_EOS])
    with pytest.raises(TypeError, match="WordTokenizer.encode: expected text"):
        tok.encode(b"a")
    with pytest.raises(ValueError, match="unknown kind 'phone'"):
        train_tokenizer("phone", ["a"], tmp_path)


def test_bad_token_lists_are_rejected():
    with pytest.raises(ValueError, match="starts with <blank>, <unk>"):
        WordTokenizer([UNK, BLANK, "a", SOS_EOS])
    with pytest.raises(ValueError, match="duplicate tokens"):
        WordTokenizer([BLANK, UNK, "a", "a", SOS_EOS])
    with pytest.raises(ValueError, match="without whitespace"):
        WordTokenizer([BLANK, UNK, "a b", SOS_EOS])
    with pytest.raises(ValueError, match="unknown kind"):
        tokenizer_from_spec({"kind": "phone", "tokens": []})


@pytest.mark.parametrize("kind", ["char", "word", "bpe", "unigram"])
def test_spec_round_trip_through_json_and_token_dir(kind, corpus, tmp_path):
    spec = train_tokenizer(kind, corpus, tmp_path, vocab_size=45 if kind in ("bpe", "unigram") else None)
    tok = tokenizer_from_spec(json.loads(json.dumps(spec)))
    assert load_token_dir(tmp_path) == spec
    assert (tmp_path / "tokens.txt").read_text().splitlines() == tok.tokens
    assert tok.tokens[:2] == [BLANK, UNK] and tok.tokens[-1] == SOS_EOS
    again = pickle.loads(pickle.dumps(tok))  # DataLoader workers
    held_out = english_like(50, seed=1)
    for text in corpus[:50] + held_out:
        ids = tok.encode(text)
        assert ids and all(0 < i < tok.sos_id for i in ids)  # never blank or sos/eos
        assert tok.unknown(text) == []
        assert tok.decode(ids) == text
        assert again.encode(text) == ids


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_sentencepiece_ids_are_sentencepiece_ids(kind, corpus, tmp_path):
    spec = train_tokenizer(kind, corpus, tmp_path, vocab_size=50)
    tok = tokenizer_from_spec(spec)
    assert isinstance(tok, SentencePieceTokenizer) and tok.kind == kind
    assert tok.vocab_size == 50 and json.loads((tmp_path / "tokenizer.json").read_text())["vocab_size"] == 50
    # the model file read on its own gives the same id -> piece map as tokens.txt
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "sp.model"))
    tokens = (tmp_path / "tokens.txt").read_text().splitlines()
    assert sp.get_piece_size() == 49
    assert tokens == [sp.id_to_piece(i) for i in range(49)] + [SOS_EOS]
    assert tokens[0] == BLANK and tokens[1] == UNK and sp.unk_id() == 1
    text = "the big cat sang near the river"
    assert tok.encode(text) == sp.encode(text)
    assert [tok.tokens[i] for i in tok.encode(text)] == sp.encode(text, out_type=str)
    assert tok.encode("") == [] and tok.decode([]) == ""
    # unseen characters: one <unk>, decoded as <unk>
    ids = tok.encode("the cat Qé sat")
    assert ids.count(tok.unk_id) == 1
    assert tok.unknown("the cat Qé sat") == ["Qé"]
    assert tok.decode(ids) == "the cat <unk> sat"
    assert tok.decode([0, *tok.encode("red bird"), tok.eos_id, 0]) == "red bird"


def test_sentencepiece_training_is_repeatable_and_checked(corpus, tmp_path):
    train_tokenizer("bpe", corpus, tmp_path / "a", vocab_size=40)
    train_tokenizer("bpe", corpus, tmp_path / "b", vocab_size=40)
    assert (tmp_path / "a/sp.model").read_bytes() == (tmp_path / "b/sp.model").read_bytes()
    with pytest.raises(ValueError, match="needs a vocab_size"):
        train_tokenizer("bpe", corpus, tmp_path / "c")
    with pytest.raises(ValueError, match=r"vocab_size 5000 is too large for this text; unigram allows at most \d+"):
        train_tokenizer("unigram", corpus, tmp_path / "d", vocab_size=5000)
    with pytest.raises(ValueError, match="may not set"):
        train_tokenizer("bpe", corpus, tmp_path / "e", vocab_size=40, sp_options={"unk_id": 0})


def test_token_dir_errors_name_the_file(corpus, tmp_path):
    train_tokenizer("bpe", corpus, tmp_path / "bpe", vocab_size=40)
    tokens = (tmp_path / "bpe/tokens.txt").read_text().splitlines()
    (tmp_path / "bpe/tokens.txt").write_text("\n".join(tokens[:5] + tokens[6:]) + "\n")
    with pytest.raises(ValueError, match="does not match the sentencepiece model.*id 5"):
        load_token_dir(tmp_path / "bpe")
    train_tokenizer("word", ["a b"], tmp_path / "word")
    (tmp_path / "word/tokens.txt").write_text(f"{BLANK}\n{UNK}\n\na\n{SOS_EOS}\n")
    with pytest.raises(ValueError, match="tokens.txt:3: a token line"):
        load_token_dir(tmp_path / "word")
    with pytest.raises(FileNotFoundError, match="tokenizer.json: missing"):
        load_token_dir(tmp_path / "nowhere")


def test_prep_tokens_command(corpus, tmp_path, capsys):
    text = tmp_path / "text"
    lines = [f"utt{k:03d} {t}" for k, t in enumerate(corpus)] + ["utt_silent"]  # empty text is valid
    text.write_text("\n".join(lines) + "\n")
    for kind in ("char", "word"):
        prep_main(["tokens", "--kind", kind, "--text", str(text), "--out", str(tmp_path / kind)])
        out = capsys.readouterr().out
        n = len(tokenizer_from_spec(load_token_dir(tmp_path / kind)).tokens)
        assert f"{kind} tokens, vocab size {n} (tokens.txt), from 301 utterances" in out
        assert "0 of 301 training utterances contain unknown pieces" in out
    prep_main(["tokens", "--kind", "bpe", "--vocab-size", "45", "--text", str(text),
               "--out", str(tmp_path / "bpe")])
    assert "vocab size 45" in capsys.readouterr().out
    # rare words left out: the count of utterances with unknown pieces is reported
    prep_main(["tokens", "--kind", "word", "--vocab-size", "10", "--text", str(text),
               "--out", str(tmp_path / "capped")])
    assert "of 301 training utterances contain unknown pieces, e.g. utt000" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="needs a vocab_size"):
        prep_main(["tokens", "--kind", "unigram", "--text", str(text), "--out", str(tmp_path / "u")])
    with pytest.raises(SystemExit, match="no such file"):
        prep_main(["tokens", "--kind", "char", "--text", str(tmp_path / "none"), "--out", str(tmp_path / "x")])
