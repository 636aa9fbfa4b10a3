"""Text -> token ids for speech synthesis: a cleaner, then characters or phonemes.

    front = TextFrontend.build("char", "english", texts)   # from the training text
    front.encode("Three, 1 4!")      # ids of "three, one four!" + <eos>
    TextFrontend.from_spec(front.spec())                    # what model.pt keeps

Token list: id 0 ``<pad>``, id 1 ``<space>`` (word boundary), the symbols, and last ``<eos>``,
which :meth:`encode` appends (the decoder knows where the text ends).

- ``unit="char"``: every character of cleaned English (:data:`~audiokit.text.cleaners.CHARACTERS`)
  plus any other character of the training text, so any English text encodes.
- ``unit="phoneme"``: the phonemes ``gruut`` gives (offline, its English lexicon and rules; IPA,
  stress marks kept on the vowel) for the cleaned text, plus the punctuation; gruut speaks
  numbers itself, but the cleaner has written them out before. The list holds gruut-ipa's
  phoneme inventory of the language (each with and without stress marks) and any other
  phoneme of the training text.

A symbol outside the list is an error that names the utterance and the symbols
(:class:`UnknownSymbolsError`), never a silent drop.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from audiokit.text.cleaners import CHARACTERS, PUNCTUATION, get_cleaner

PAD, SPACE, EOS = "<pad>", "<space>", "<eos>"
UNITS = ("char", "phoneme")


class UnknownSymbolsError(ValueError):
    """A text holds symbols the model has no token for; the message names them."""


@lru_cache(maxsize=65536)
def phonemes(text: str, lang: str = "en-us") -> tuple[str, ...]:
    """Cleaned text -> phoneme symbols, with SPACE between words and punctuation kept."""
    import gruut

    out: list[str] = []
    for sentence in gruut.sentences(text, lang=lang, major_breaks=True, minor_breaks=True):
        for word in sentence:
            if word.is_break or not word.phonemes:
                if word.text in PUNCTUATION and word.text != "'":
                    if out and out[-1] == SPACE:
                        out.pop()
                    out += [word.text, SPACE]
                continue
            out += [*word.phonemes, SPACE]
    while out and out[-1] == SPACE:
        out.pop()
    return tuple(out)


def language_phonemes(lang: str = "en-us") -> list[str]:
    """gruut-ipa's phoneme inventory of ``lang``, each also with primary and secondary stress."""
    import gruut_ipa

    base = [p.text for p in gruut_ipa.Phonemes.from_language(lang).phonemes]
    return [f"{mark}{p}" for p in base for mark in ("", "\u02c8", "\u02cc")]


class TextFrontend:
    def __init__(self, unit: str, cleaner: str, tokens: list[str], lang: str = "en-us") -> None:
        if unit not in UNITS:
            raise ValueError(f"text unit must be one of {UNITS}, not {unit!r}")
        tokens = list(tokens)
        if tokens[:2] != [PAD, SPACE] or tokens[-1] != EOS or len(set(tokens)) != len(tokens):
            raise ValueError(f"a TTS token list starts with {PAD}, {SPACE}, ends with {EOS} and "
                             f"has no duplicates; got {tokens[:3]} ... {tokens[-1:]}")
        self.unit, self.cleaner_name, self.lang = unit, cleaner, lang
        self.cleaner = get_cleaner(cleaner)
        self.tokens = tokens
        self._ids = {t: i for i, t in enumerate(tokens)}

    # -- building and saving ----------------------------------------------------------------
    @classmethod
    def build(cls, unit: str, cleaner: str, texts: Iterable[str], lang: str = "en-us") -> TextFrontend:
        """The token list for ``texts`` (the training text; see the module docstring)."""
        probe = cls(unit, cleaner, [PAD, SPACE, EOS], lang)
        if unit == "char":
            symbols = set(CHARACTERS) - {" "}
        else:
            symbols = set(language_phonemes(lang)) | (set(PUNCTUATION) - {"'"})
        for text in texts:
            symbols |= set(probe.symbols(text))
        symbols.discard(SPACE)
        return cls(unit, cleaner, [PAD, SPACE, *sorted(symbols), EOS], lang)

    def spec(self) -> dict:
        return {"unit": self.unit, "cleaner": self.cleaner_name, "lang": self.lang,
                "tokens": list(self.tokens)}

    @classmethod
    def from_spec(cls, spec: dict) -> TextFrontend:
        if not isinstance(spec, dict) or not {"unit", "cleaner", "tokens"} <= set(spec):
            raise ValueError(f"TTS text spec: expected unit, cleaner and tokens, got {spec!r:.120}")
        return cls(spec["unit"], spec["cleaner"], spec["tokens"], spec.get("lang", "en-us"))

    # -- use --------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def eos_id(self) -> int:
        return len(self.tokens) - 1

    def clean(self, text: str) -> str:
        return self.cleaner(text)

    def symbols(self, text: str) -> list[str]:
        """Cleaned ``text`` as symbols (characters or phonemes), spaces as SPACE."""
        cleaned = self.clean(text)
        if self.unit == "char":
            return [SPACE if c == " " else c for c in cleaned]
        return list(phonemes(cleaned, self.lang))

    def unknown(self, text: str) -> list[str]:
        """The symbols of ``text`` that have no token, each once, in order of appearance."""
        return list(dict.fromkeys(s for s in self.symbols(text) if s not in self._ids))

    def encode(self, text: str, utt: str = "text") -> list[int]:
        """Token ids + eos; an empty text or unknown symbols are errors naming ``utt``."""
        if not isinstance(text, str):
            raise TypeError(f"{utt}: expected text (str), got {type(text).__name__}")
        symbols = self.symbols(text)
        if not [s for s in symbols if s != SPACE and s not in PUNCTUATION]:
            raise ValueError(f"{utt}: nothing to say (the text {text!r:.60} is empty after cleaning)")
        bad = [s for s in symbols if s not in self._ids]
        if bad:
            shown = " ".join(repr(s) for s in dict.fromkeys(bad))
            raise UnknownSymbolsError(f"{utt}: {len(bad)} symbol(s) not in the model's {self.unit} "
                                      f"token list: {shown} (in {text!r:.80})")
        return [self._ids[s] for s in symbols] + [self.eos_id]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text (chars) or space-separated phonemes; pad and eos left out."""
        pieces = [self.tokens[int(i)] for i in ids if int(i) not in (self.pad_id, self.eos_id)]
        if self.unit == "char":
            return "".join(" " if p == SPACE else p for p in pieces)
        return " ".join("|" if p == SPACE else p for p in pieces)

    def __repr__(self) -> str:
        return f"TextFrontend(unit={self.unit!r}, cleaner={self.cleaner_name!r}, vocab_size={self.vocab_size})"


_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
_CLAUSE_END = re.compile(r"(?<=[,])\s+")


def split_text(text: str, max_symbols: int, count) -> list[str]:
    """Cut cleaned ``text`` into pieces of at most ``max_symbols`` (``count(piece)``), at
    sentence ends, then commas, then between words; a single word longer than the limit is
    its own piece (the caller decides what to do with it)."""
    if count(text) <= max_symbols:
        return [text]
    pieces: list[str] = []
    for splitter in (_SENTENCE_END, _CLAUSE_END, re.compile(r"\s+")):
        parts = splitter.split(text)
        if len(parts) > 1:
            current = ""
            for part in parts:
                joined = f"{current} {part}".strip()
                if current and count(joined) > max_symbols:
                    pieces.append(current)
                    current = part
                else:
                    current = joined
            pieces.append(current)
            return [q for p in pieces for q in split_text(p, max_symbols, count)]
    return [text]
