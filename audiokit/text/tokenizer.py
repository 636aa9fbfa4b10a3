"""Tokenizers: text <-> token ids for ASR, with ESPnet-compatible token lists.

Token conventions
-----------------
A token dir (written by ``audiokit-prep tokens``, i.e. :func:`train_tokenizer`) holds:

- ``tokens.txt``: one token per line; the line number, counted from 0, is the token id.
- ``tokenizer.json``: ``{"kind": "char" | "word" | "bpe" | "unigram", ...}`` plus the training
  options and counts (for the record; only ``kind`` and ``model`` are read back).
- ``sp.model``: the sentencepiece model (bpe and unigram only).

Every token list has the same fixed ids:

- id 0, ``<blank>``: the CTC blank. ``encode`` never produces it.
- id 1, ``<unk>``: stands for every piece not in the list (``unknown(text)`` lists those pieces).
- last id, ``<sos/eos>``: one shared start/end-of-sentence token for attention decoders and LMs.
  ``encode`` never produces it.

Between them come the tokens proper:

- ``char``: the characters seen in training, sorted by code point; the space is written
  ``<space>`` and is always in the list.
- ``word``: the whitespace-separated words seen in training, sorted.
- ``bpe`` / ``unigram``: sentencepiece's pieces in sentencepiece's own order (``▁`` marks the
  start of a word). sentencepiece is trained with ``<blank>`` as its padding piece (id 0),
  ``<unk>`` as its unknown piece (id 1) and no bos/eos, so a sentencepiece id *is* our id;
  ``<sos/eos>`` comes after its last piece. ``vocab_size`` counts every line of ``tokens.txt``
  (sentencepiece's own vocabulary is one smaller) and is required.

Char and word tokenizers keep the pieces seen at least ``min_count`` times and, given a
``vocab_size``, only the most frequent ones (ties alphabetically), so that ``tokens.txt`` has at
most ``vocab_size`` lines.

Text: ``encode`` collapses runs of whitespace and strips the ends (sentencepiece does the same),
so ``decode(encode(text)) == " ".join(text.split())`` whenever no piece is unknown; empty text
encodes to ``[]``. ``decode`` skips ``<blank>`` and ``<sos/eos>`` and writes unknown pieces as
``<unk>``. Tokenizers change neither case nor punctuation: prepare the training text the way
the model should write.

``spec()`` is a plain JSON-able dict (kind, tokens and, for sentencepiece, the model as base64
text) that :func:`tokenizer_from_spec` rebuilds; tasks keep it in their hyperparameters, so a
``model.pt`` needs no token dir.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

BLANK, UNK, SOS_EOS, SPACE = "<blank>", "<unk>", "<sos/eos>", "<space>"
KINDS = ("char", "word", "bpe", "unigram")
SP_MODEL_FILE = "sp.model"


def _check_text(text: object, where: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{where}: expected text (str), got {type(text).__name__}: {text!r:.80}")
    return text


def _check_tokens(tokens: Iterable[str], where: str) -> list[str]:
    tokens = list(tokens)
    if len(tokens) < 3 or tokens[0] != BLANK or tokens[1] != UNK or tokens[-1] != SOS_EOS:
        raise ValueError(f"{where}: a token list starts with {BLANK}, {UNK} and ends with "
                         f"{SOS_EOS}; got {tokens[:2]} ... {tokens[-1:]}")
    bad = [t for t in tokens if not isinstance(t, str) or not t or any(c.isspace() for c in t)]
    if bad:
        raise ValueError(f"{where}: tokens must be non-empty and without whitespace: {bad[:3]!r}")
    dups = [t for t, n in Counter(tokens).items() if n > 1]
    if dups:
        raise ValueError(f"{where}: duplicate tokens {dups[:5]!r}")
    return tokens


class Tokenizer:
    """A token list plus the rule that cuts text into pieces (see the module docstring)."""

    kind = ""
    blank_id = 0
    unk_id = 1

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = _check_tokens(tokens, type(self).__name__)
        # <blank> and <sos/eos> never stand for a piece of text: such a "word" maps to <unk>
        self._ids = {t: i for i, t in enumerate(self.tokens) if t not in (BLANK, SOS_EOS)}

    @property
    def sos_id(self) -> int:
        return len(self.tokens) - 1

    @property
    def eos_id(self) -> int:
        return len(self.tokens) - 1

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def pieces(self, text: str) -> list[str]:
        """The surface pieces that ``encode`` maps to ids, one each."""
        raise NotImplementedError

    def _join(self, tokens: list[str]) -> str:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        text = _check_text(text, f"{type(self).__name__}.encode")
        return [self._ids.get(p, self.unk_id) for p in self.pieces(text)]

    def unknown(self, text: str) -> list[str]:
        """The pieces of ``text`` that ``encode`` maps to ``<unk>``."""
        text = _check_text(text, f"{type(self).__name__}.unknown")
        return [p for p in self.pieces(text) if p not in self._ids]

    def decode(self, ids: Iterable[int]) -> str:
        return self._join([self.tokens[i] for i in self._content_ids(ids)])

    def _content_ids(self, ids: Iterable[int]) -> list[int]:
        """``ids`` as ints (tensor and numpy elements too) without blank and sos/eos."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"{type(self).__name__}.decode: id {i} is not in 0..{len(self.tokens) - 1}")
            if i != self.blank_id and i != self.sos_id:
                out.append(i)
        return out

    def spec(self) -> dict:
        return {"kind": self.kind, "tokens": list(self.tokens)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


class CharTokenizer(Tokenizer):
    """One token per character; the space is ``<space>``."""

    kind = "char"

    def pieces(self, text: str) -> list[str]:
        return [SPACE if c == " " else c for c in " ".join(text.split())]

    def _join(self, tokens: list[str]) -> str:
        return " ".join("".join(" " if t == SPACE else t for t in tokens).split())


class WordTokenizer(Tokenizer):
    """One token per whitespace-separated word."""

    kind = "word"

    def pieces(self, text: str) -> list[str]:
        return text.split()

    def _join(self, tokens: list[str]) -> str:
        return " ".join(tokens)


class SentencePieceTokenizer(Tokenizer):
    """BPE or unigram pieces from a sentencepiece model trained by :func:`train_tokenizer`."""

    def __init__(self, kind: str, model: bytes, tokens: Sequence[str] | None = None) -> None:
        import sentencepiece as spm

        if kind not in ("bpe", "unigram"):
            raise ValueError(f"SentencePieceTokenizer: kind must be 'bpe' or 'unigram', not {kind!r}")
        self.kind = kind
        self._model = bytes(model)
        try:
            self._sp = spm.SentencePieceProcessor(model_proto=self._model)
        except RuntimeError as e:
            raise ValueError(f"SentencePieceTokenizer: not a sentencepiece model ({e})") from None
        pieces = [self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())] + [SOS_EOS]
        if tokens is not None and list(tokens) != pieces:
            given = list(tokens)
            first = next((i for i, (a, b) in enumerate(zip(given, pieces, strict=False)) if a != b),
                         min(len(given), len(pieces)))
            raise ValueError(f"SentencePieceTokenizer: token list ({len(given)} tokens) does not "
                             f"match the sentencepiece model ({len(pieces)} with {SOS_EOS}); "
                             f"first difference at id {first}")
        super().__init__(pieces)
        if self._sp.unk_id() != self.unk_id or self._sp.pad_id() != self.blank_id:
            raise ValueError(f"SentencePieceTokenizer: model was not trained with {UNK} at id 1 and "
                             f"{BLANK} at id 0 (train it with train_tokenizer)")

    def pieces(self, text: str) -> list[str]:
        return self._sp.encode(text, out_type=str)

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(_check_text(text, f"{type(self).__name__}.encode"), out_type=int)

    def unknown(self, text: str) -> list[str]:
        text = _check_text(text, f"{type(self).__name__}.unknown")
        ids = self._sp.encode(text, out_type=int)
        return [p for p, i in zip(self.pieces(text), ids, strict=True) if i == self.unk_id]

    def decode(self, ids: Iterable[int]) -> str:
        return self._sp.decode(self._content_ids(ids))

    def spec(self) -> dict:
        return {**super().spec(), "sp_model": base64.b64encode(self._model).decode("ascii")}

    # The processor is rebuilt from the model bytes: pickling it (DataLoader workers) may fail.
    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_sp"}

    def __setstate__(self, state: dict) -> None:
        import sentencepiece as spm

        self.__dict__.update(state)
        self._sp = spm.SentencePieceProcessor(model_proto=self._model)


def tokenizer_from_spec(spec: Mapping) -> Tokenizer:
    """Rebuild a tokenizer from :meth:`Tokenizer.spec` (or :func:`load_token_dir`)."""
    if not isinstance(spec, Mapping) or "kind" not in spec or "tokens" not in spec:
        raise ValueError(f"tokenizer spec: expected a dict with 'kind' and 'tokens', got {spec!r:.120}")
    kind = spec["kind"]
    if kind == "char":
        return CharTokenizer(spec["tokens"])
    if kind == "word":
        return WordTokenizer(spec["tokens"])
    if kind in ("bpe", "unigram"):
        if not spec.get("sp_model"):
            raise ValueError(f"tokenizer spec: kind {kind!r} needs 'sp_model' (base64 model bytes)")
        return SentencePieceTokenizer(kind, base64.b64decode(spec["sp_model"]), spec["tokens"])
    raise ValueError(f"tokenizer spec: unknown kind {kind!r} (known: {', '.join(KINDS)})")


def _read_token_list(path: Path) -> list[str]:
    """tokens.txt, strictly: a blank line would shift every later id."""
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for lineno, line in enumerate(lines, start=1):
        if not line or line != line.strip():
            raise ValueError(f"{path}:{lineno}: a token line must be one token without spaces: {line!r}")
    return lines


def load_token_dir(path: str | Path) -> dict:
    """The spec of a token dir (checked: it rebuilds a tokenizer)."""
    path = Path(path)
    meta_file, tokens_file = path / "tokenizer.json", path / "tokens.txt"
    for f in (meta_file, tokens_file):
        if not f.is_file():
            raise FileNotFoundError(f"{f}: missing (token dirs are written by 'audiokit-prep tokens')")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{meta_file}: not valid JSON ({e})") from None
    spec = {"kind": meta.get("kind"), "tokens": _read_token_list(tokens_file)}
    if spec["kind"] in ("bpe", "unigram"):
        model_file = path / meta.get("model", SP_MODEL_FILE)
        if not model_file.is_file():
            raise FileNotFoundError(f"{model_file}: missing (named by {meta_file})")
        spec["sp_model"] = base64.b64encode(model_file.read_bytes()).decode("ascii")
    try:
        tokenizer_from_spec(spec)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return spec


def _counted_tokenizer(kind: str, texts: list[str], vocab_size: int | None,
                       min_count: int) -> tuple[Tokenizer, dict]:
    cls = CharTokenizer if kind == "char" else WordTokenizer
    cutter = cls([BLANK, UNK, SOS_EOS])  # pieces() needs no vocabulary
    counts = Counter(p for t in texts for p in cutter.pieces(t))
    always = [SPACE] if kind == "char" else []
    for special in (BLANK, UNK, SOS_EOS, *always):
        counts.pop(special, None)
    kept = [p for p, n in counts.items() if n >= min_count]
    if vocab_size is not None:
        room = vocab_size - 3 - len(always)
        if room < 1:
            raise ValueError(f"train_tokenizer: vocab_size {vocab_size} leaves no room for "
                             f"{kind} tokens next to {BLANK}, {UNK}, {SOS_EOS}{', ' + SPACE if always else ''}")
        kept = sorted(kept, key=lambda p: (-counts[p], p))[:room]
    tokenizer = cls([BLANK, UNK, *sorted(kept + always), SOS_EOS])
    info = {"min_count": min_count, "max_vocab_size": vocab_size, "pieces_seen": len(counts),
            "pieces_dropped": len(counts) - len(kept)}
    return tokenizer, info


# Settings that make a sentencepiece id equal our id; not to be overridden.
_SP_FIXED = dict(pad_id=0, pad_piece=BLANK, unk_id=1, unk_piece=UNK, unk_surface=UNK,
                 bos_id=-1, eos_id=-1)


def _train_sentencepiece(kind: str, texts: list[str], vocab_size: int,
                         character_coverage: float, sp_options: Mapping | None) -> bytes:
    import sentencepiece as spm

    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError("train_tokenizer: no non-empty text to train sentencepiece on")
    clash = sorted(set(sp_options or {}) & (set(_SP_FIXED) | {"model_type", "vocab_size"}))
    if clash:
        raise ValueError(f"train_tokenizer: sp_options may not set {clash} (fixed by the token conventions)")
    # one thread: the same text gives the same model, so the tokens stage is idempotent
    settings = dict(model_type=kind, vocab_size=vocab_size - 1, character_coverage=character_coverage,
                    num_threads=1, minloglevel=2, **_SP_FIXED)
    settings.update(sp_options or {})
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_writer=model, **settings)
    except RuntimeError as e:
        limit = re.search(r"Vocabulary size too high .*<= (\d+)", str(e))
        if limit:  # sentencepiece counts without <sos/eos>
            raise ValueError(f"train_tokenizer: vocab_size {vocab_size} is too large for this text; "
                             f"{kind} allows at most {int(limit.group(1)) + 1}") from None
        raise ValueError(f"train_tokenizer: sentencepiece training failed: {e}") from None
    return model.getvalue()


def train_tokenizer(kind: str, texts: Iterable[str], out_dir: str | Path,
                    vocab_size: int | None = None, *, min_count: int = 1,
                    character_coverage: float = 1.0, sp_options: Mapping | None = None,
                    source: str = "texts") -> dict:
    """Build a tokenizer from training text, write its token dir, return its spec.

    ``vocab_size``: total number of tokens (lines of tokens.txt); required for bpe/unigram,
    an optional cap for char/word. ``min_count`` (char/word): drop rarer pieces.
    ``character_coverage`` and ``sp_options`` go to sentencepiece's trainer. ``source`` names
    the texts in error messages (e.g. the text file they came from).
    """
    if kind not in KINDS:
        raise ValueError(f"train_tokenizer: unknown kind {kind!r} (known: {', '.join(KINDS)})")
    texts = [_check_text(t, f"train_tokenizer: text #{k} of {source}") for k, t in enumerate(texts)]
    out_dir = Path(out_dir)
    if kind in ("char", "word"):
        tokenizer, meta = _counted_tokenizer(kind, texts, vocab_size, min_count)
    else:
        if vocab_size is None:
            raise ValueError(f"train_tokenizer: kind {kind!r} needs a vocab_size")
        model = _train_sentencepiece(kind, texts, vocab_size, character_coverage, sp_options)
        tokenizer = SentencePieceTokenizer(kind, model)
        meta = {"model": SP_MODEL_FILE, "character_coverage": character_coverage,
                "sp_options": dict(sp_options or {})}
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / SP_MODEL_FILE).write_bytes(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tokens.txt").write_text("".join(t + "\n" for t in tokenizer.tokens), encoding="utf-8")
    meta = {"kind": kind, "vocab_size": tokenizer.vocab_size, **meta, "num_texts": len(texts)}
    (out_dir / "tokenizer.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return tokenizer.spec()
