"""Text condition units for models that read a caption or transcript as token ids.

Two units: ``char`` (each character; an unseen character is an error, since a transcript's
alphabet is closed) and ``word`` (whitespace-separated words, with ``<unk>`` at id 0 for a word
the training text never had: captions are open, so an unseen word is mapped to ``<unk>`` and
counted, never silently dropped).
"""

from __future__ import annotations

from collections.abc import Iterable

UNK = "<unk>"
TEXT_UNITS = ("char", "word")


def check_unit(unit: str) -> str:
    if unit not in TEXT_UNITS:
        raise ValueError(f"text unit must be one of {TEXT_UNITS}, got {unit!r}")
    return unit


def split_units(text: str, unit: str) -> list[str]:
    """The units of ``text``: its characters, or its whitespace-separated words."""
    return text.split() if check_unit(unit) == "word" else list(text)


def build_vocab(texts: Iterable[str], unit: str) -> list[str]:
    """Sorted units of ``texts``; a word vocabulary starts with ``<unk>`` (id 0)."""
    units = sorted({u for t in texts for u in split_units(t, unit)})
    if unit == "word":
        return [UNK] + [u for u in units if u != UNK]
    return units


class TextUnits:
    """Text -> ids with a fixed vocabulary; ``encode`` also returns the units it did not know
    (``word``: mapped to ``<unk>``; ``char``: the caller decides, see :meth:`encode`)."""

    def __init__(self, vocab: list[str], unit: str = "char") -> None:
        self.unit = check_unit(unit)
        self.index = {u: i for i, u in enumerate(vocab)}
        if unit == "word" and self.index.get(UNK) != 0:
            raise ValueError(f"a word vocabulary starts with {UNK!r}, this one with "
                             f"{vocab[0] if vocab else None!r}")

    def encode(self, text: str) -> tuple[list[int], list[str]]:
        """(ids, unknown units in order of appearance). Unknown words become ``<unk>``;
        unknown characters are left out of ``ids`` (a ``char`` caller raises on them)."""
        ids, unknown = [], []
        for u in split_units(text, self.unit):
            i = self.index.get(u)
            if i is None:
                unknown.append(u)
                if self.unit == "word":
                    ids.append(0)
            else:
                ids.append(i)
        return ids, unknown
