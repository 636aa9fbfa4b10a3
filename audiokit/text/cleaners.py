"""Text cleaners for speech synthesis: written English -> the words a speaker would say.

    english_cleaner("Dr. Smith paid $5.50 at 4:30, 3% more!")
    # -> "doctor smith paid five dollars fifty cents at four thirty, three percent more!"

Steps, in this order:

1. Unicode to ASCII where a letter has an ASCII base (``café`` -> ``cafe``); typographic
   quotes and dashes become ASCII ones;
2. abbreviations (``mr.``, ``dr.``, ``st.`` ...) written out;
3. numbers written out (:mod:`num2words`): times ``4:30`` -> ``four thirty``, ``4:05`` ->
   ``four oh five``, ``4:00`` -> ``four o'clock``; money ``$5`` -> ``five dollars``, ``$5.50``
   -> ``five dollars fifty cents``, ``£``/``€`` likewise; percent ``3%`` -> ``three percent``;
   ordinals ``21st`` -> ``twenty-first`` (as words); decimals ``3.14`` -> ``three point one
   four``; ``1,000`` -> ``one thousand``; any other digit run as a cardinal;
4. symbols said as words: ``&`` and, ``+`` plus, ``=`` equals, ``@`` at, ``%`` percent,
   ``#`` number;
5. lowercase; hyphens and slashes between words become spaces; brackets and quotes go;
   ``;`` and ``:`` become commas; runs of ``.?!`` keep their first mark;
6. whitespace collapsed.

What is left is in :data:`CHARACTERS` for ordinary English text. Anything else (letters of
other scripts, emoji) stays, so that the tokenizer can name it rather than drop it silently.
"""

from __future__ import annotations

import re
import unicodedata

from num2words import num2words

# What cleaned English text is written with: letters, apostrophe, space and the
# punctuation that carries prosody.
LETTERS = "abcdefghijklmnopqrstuvwxyz"
PUNCTUATION = "',.?!-"
CHARACTERS = LETTERS + PUNCTUATION + " "

_ABBREVIATIONS = {
    "mr": "mister", "mrs": "missus", "ms": "miss", "dr": "doctor", "st": "saint",
    "jr": "junior", "sr": "senior", "prof": "professor", "mt": "mount", "vs": "versus",
    "etc": "et cetera", "no": "number", "ft": "fort", "co": "company", "ltd": "limited",
}
_TYPOGRAPHIC = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                "\u2014": " - ", "\u2026": "...", "\u00a0": " "}
_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
               "€": ("euro", "euros", "cent", "cents")}
_SYMBOLS = {"&": " and ", "+": " plus ", "=": " equals ", "@": " at ", "%": " percent ",
            "#": " number "}

_ABBREV_RE = re.compile(r"\b(" + "|".join(_ABBREVIATIONS) + r")\.", re.IGNORECASE)
_TIME_RE = re.compile(r"\b(\d{1,2}):(\d{2})(?!\d)(?:\s*([ap])\.?m\b\.?)?", re.IGNORECASE)
_MONEY_RE = re.compile(r"([$£€])\s*(\d[\d,]*)(?:\.(\d{1,2}))?\b")
_PERCENT_RE = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*%")
_ORDINAL_RE = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_DECIMAL_RE = re.compile(r"\b(\d+)\.(\d+)\b")
_COMMA_NUMBER_RE = re.compile(r"\b\d{1,3}(?:,\d{3})+\b")
_NUMBER_RE = re.compile(r"\d+")


def _words(text: str) -> str:
    """num2words output as plain words: no commas, no hyphens."""
    return text.replace(",", "").replace("-", " ")


def cardinal(n: int) -> str:
    return _words(num2words(n))


def _time(m: re.Match) -> str:
    hour, minute, half = int(m.group(1)), int(m.group(2)), m.group(3)
    if minute == 0:
        said = f"{cardinal(hour)} o'clock" if not half else cardinal(hour)
    elif minute < 10:
        said = f"{cardinal(hour)} oh {cardinal(minute)}"
    else:
        said = f"{cardinal(hour)} {cardinal(minute)}"
    return said + (f" {half.lower()} m" if half else "")


def _money(m: re.Match) -> str:
    one, many, cent, cents = _CURRENCIES[m.group(1)]
    whole = int(m.group(2).replace(",", ""))
    frac = int((m.group(3) or "0").ljust(2, "0"))
    parts = []
    if whole or not frac:
        parts.append(f"{cardinal(whole)} {one if whole == 1 else many}")
    if frac:
        parts.append(f"{cardinal(frac)} {cent if frac == 1 else cents}")
    return " ".join(parts)


def _decimal(m: re.Match) -> str:
    return f"{cardinal(int(m.group(1)))} point " + " ".join(cardinal(int(d)) for d in m.group(2))


def _percent(m: re.Match) -> str:
    number = m.group(1).replace(",", "")
    said = _DECIMAL_RE.sub(_decimal, number) if "." in number else cardinal(int(number))
    return f"{said} percent"


def expand_numbers(text: str) -> str:
    """Digits -> words (see the module docstring, step 3)."""
    text = _TIME_RE.sub(_time, text)
    text = _MONEY_RE.sub(_money, text)
    text = _PERCENT_RE.sub(_percent, text)
    text = _ORDINAL_RE.sub(lambda m: _words(num2words(int(m.group(1)), to="ordinal")), text)
    text = _COMMA_NUMBER_RE.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _DECIMAL_RE.sub(_decimal, text)
    return _NUMBER_RE.sub(lambda m: f" {cardinal(int(m.group(0)))} ", text)


def to_ascii(text: str) -> str:
    """Accents off letters that have an ASCII base; other characters are kept as they are."""
    text = "".join(_TYPOGRAPHIC.get(c, c) for c in text)
    out = []
    for c in text:
        base = unicodedata.normalize("NFKD", c).encode("ascii", "ignore").decode("ascii")
        out.append(base if base and c.isalpha() else c)
    return "".join(out)


def english_cleaner(text: str) -> str:
    """Written English -> lowercase spoken words with prosodic punctuation (module docstring)."""
    if not isinstance(text, str):
        raise TypeError(f"english_cleaner: expected text (str), got {type(text).__name__}")
    text = to_ascii(text)
    text = _ABBREV_RE.sub(lambda m: _ABBREVIATIONS[m.group(1).lower()], text)
    text = expand_numbers(text)
    for symbol, said in _SYMBOLS.items():
        text = text.replace(symbol, said)
    text = text.lower()
    text = re.sub(r"(?<=\w)[-/](?=\w)", " ", text)       # well-known -> well known
    text = re.sub(r"[\"()\[\]{}<>*_~`^|\\/]", " ", text)  # brackets, quotes, markup
    text = re.sub(r"[;:]", ",", text)
    text = re.sub(r"\s+-+\s+|--+", ", ", text)             # a dash between words is a pause
    text = re.sub(r"([.?!])[.?!]+", r"\1", text)           # ... -> .   ?! -> ?
    text = re.sub(r"\s+([,.?!])", r"\1", text)             # no space before punctuation
    text = re.sub(r",+", ",", text)
    text = " ".join(text.split())
    return text.strip(" ,")


def basic_cleaner(text: str) -> str:
    """Lowercase and collapse whitespace only (for text that is already spoken words)."""
    return " ".join(text.lower().split())


CLEANERS = {"english": english_cleaner, "basic": basic_cleaner, "none": lambda t: " ".join(t.split())}


def get_cleaner(name: str):
    if name not in CLEANERS:
        raise ValueError(f"unknown text cleaner {name!r} (known: {', '.join(CLEANERS)})")
    return CLEANERS[name]
