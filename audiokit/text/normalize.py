"""Text normalisation before scoring, so that WER counts word errors, not formatting.

    norm = TextNormalizer(remove_tokens=("<unk>", "uh", "um"))
    norm("Well, UH -- it's <unk> the U.S., um!")   # -> "well it's the u s"

Steps, in this order:

1. split on whitespace;
2. ``lowercase``: lowercase every word (``str.lower``);
3. ``remove_tokens``: drop words equal to one of these (compared after lowercasing when
   ``lowercase`` is on), e.g. ``<unk>``, ``[noise]`` or fillers; whole words only, checked
   before and again after punctuation removal (so ``um!`` goes too);
4. ``remove_punctuation``: every Unicode punctuation character (category ``P*``: ``.,!?;:"()[]-``
   and so on) becomes a space, so ``well-known`` scores as two words; an apostrophe between two
   letters or digits stays (``it's``, ``o'clock``; a typographic ``’`` there becomes ``'``) when
   ``keep_apostrophes``. Symbols (categories ``S*``: ``<``, ``>``, ``$``, ``+``, ``=``) stay,
   so ``<unk>`` survives; note that ``%``, ``&``, ``#``, ``@`` and ``*`` are punctuation
   in Unicode and go;
5. whitespace is collapsed to single spaces and stripped at the ends (always).

References and hypotheses go through the same normaliser.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass

_APOSTROPHES = ("'", "\u2019")


def _strip_punctuation(word: str, keep_apostrophes: bool) -> str:
    out = []
    for k, ch in enumerate(word):
        if not unicodedata.category(ch).startswith("P"):
            out.append(ch)
        elif (keep_apostrophes and ch in _APOSTROPHES and 0 < k < len(word) - 1
              and word[k - 1].isalnum() and word[k + 1].isalnum()):
            out.append("'")
        else:
            out.append(" ")
    return "".join(out)


@dataclass(frozen=True)
class TextNormalizer:
    """Callable ``str -> str``; see the module docstring for what each option does."""

    lowercase: bool = True
    remove_punctuation: bool = True
    keep_apostrophes: bool = True
    remove_tokens: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # a list passed by a caller would make the frozen dataclass unhashable
        object.__setattr__(self, "remove_tokens", tuple(self.remove_tokens))

    def __call__(self, text: str) -> str:
        if not isinstance(text, str):
            raise TypeError(f"TextNormalizer: expected text (str), got {type(text).__name__}")
        words = text.split()
        if self.lowercase:
            words = [w.lower() for w in words]
        drop = {t.lower() if self.lowercase else t for t in self.remove_tokens}
        words = [w for w in words if w not in drop]
        if self.remove_punctuation:
            words = " ".join(_strip_punctuation(w, self.keep_apostrophes) for w in words).split()
            words = [w for w in words if w not in drop]
        return " ".join(words)

    def describe(self) -> str:
        """One line for reports: what was done to the text before scoring."""
        steps = []
        if self.lowercase:
            steps.append("lowercased")
        if self.remove_tokens:
            steps.append("removed " + ", ".join(f"`{t}`" for t in self.remove_tokens))
        if self.remove_punctuation:
            steps.append("punctuation removed" + (" (in-word apostrophes kept)" if self.keep_apostrophes else ""))
        steps.append("whitespace collapsed")
        return "; ".join(steps)

    def to_dict(self) -> dict:
        return {**asdict(self), "remove_tokens": list(self.remove_tokens)}


def collapse_whitespace(text: str) -> str:
    """The only normalisation applied when scoring with ``normalize=false``."""
    return " ".join(text.split())
