"""TTS text front end: token lists, encode/decode, phonemes via gruut, bad text named."""

import pytest

from audiokit.text.tts_frontend import (
    EOS,
    PAD,
    SPACE,
    TextFrontend,
    UnknownSymbolsError,
    phonemes,
    split_text,
)


def test_char_token_list_and_round_trip():
    front = TextFrontend.build("char", "english", ["three one four"])
    assert front.tokens[:2] == [PAD, SPACE] and front.tokens[-1] == EOS
    ids = front.encode("Three, 1 4!")
    assert ids[-1] == front.eos_id and front.pad_id not in ids
    assert front.decode(ids) == "three, one four!"
    again = TextFrontend.from_spec(front.spec())
    assert again.tokens == front.tokens and again.encode("three") == front.encode("three")


def test_phonemes_from_gruut():
    assert phonemes("three one four") == ("θ", "ɹ", "ˈi", SPACE, "w", "ˈʌ", "n", SPACE, "f", "ˈɔ", "ɹ")
    front = TextFrontend.build("phoneme", "english", ["three one four"])
    assert front.decode(front.encode("3, 1")) == "θ ɹ ˈi , | w ˈʌ n"
    # the language's whole inventory is in the list: any English text encodes
    pangram = "The quick brown fox jumps over the lazy dog, $5 at 4:30!"
    assert front.unknown(pangram) == [] and len(front.encode(pangram)) > 40


def test_unknown_symbols_name_the_utterance_and_symbols():
    front = TextFrontend.build("char", "english", ["three"])
    with pytest.raises(UnknownSymbolsError, match=r"utt7: 2 symbol\(s\) .*'中' '文'"):
        front.encode("中文 ok", "utt7")
    assert front.unknown("中文 ok") == ["中", "文"]


@pytest.mark.parametrize("text", ["", "   ", " ... ", "?!"])
def test_empty_text_is_an_error(text):
    front = TextFrontend.build("char", "english", ["three"])
    with pytest.raises(ValueError, match="utt1: nothing to say"):
        front.encode(text, "utt1")


def test_bad_spec():
    with pytest.raises(ValueError):
        TextFrontend("char", "english", ["a", "b"])
    with pytest.raises(ValueError):
        TextFrontend.from_spec({"unit": "char"})


def test_split_text_at_sentences_then_commas_then_words():
    text = "one two three. four five, six seven eight nine ten. eleven"
    pieces = split_text(text, 12, len)
    assert pieces == ["one two", "three.", "four five,", "six seven", "eight nine", "ten.", "eleven"]
    assert all(len(p) <= 12 for p in pieces)
    assert split_text("short", 12, len) == ["short"]
    assert split_text("unbreakableword", 5, len) == ["unbreakableword"]
