"""Whisper's special tokens, the decoder prompt, training targets, and parsing decoded output.

The vocabulary is a base text vocabulary (ids ``0 .. base_size - 1``) followed by Whisper's
specials in OpenAI's order::

    <|endoftext|> <|startoftranscript|> <|en|> <|zh|> ... <|translate|> <|transcribe|>
    <|startoflm|> <|startofprev|> <|nospeech|> <|notimestamps|> <|0.00|> <|0.02|> ... <|30.00|>

The base vocabulary is either an audiokit :class:`~audiokit.text.tokenizer.Tokenizer` (for
models trained or fine-tuned here), or, for OpenAI's released checkpoints, GPT-2 / tiktoken BPE
of the size implied by ``n_vocab``. The tiktoken vocabulary files are not shipped with audiokit,
so for a released checkpoint the network and the special tokens work (language ID, the prompt,
timestamp tokens) but text cannot be encoded or decoded: :meth:`WhisperVocab.encode_text` and
:meth:`~WhisperVocab.decode_text` raise a clear error instead of producing wrong text.

Prompt (``timestamps=False``)::

    <|startoftranscript|> <|en|> <|transcribe|> <|notimestamps|> text... <|endoftext|>

with ``timestamps=True`` there is no ``<|notimestamps|>`` and each segment's text sits between
its start and end timestamp tokens. OpenAI's English-only models (``multilingual=False``) have no
language or task token in the prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# OpenAI's language order: the language token ids of released checkpoints follow it.
# (99 languages for the multilingual models up to large-v2; large-v3 adds "yue".)
OPENAI_LANGUAGES = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no "
    "th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw "
    "gl mr pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl "
    "mg as tt haw ln ha ba jw su yue"
).split()

TASKS = ("transcribe", "translate")
N_TIMESTAMPS = 1501  # <|0.00|> ... <|30.00|>
N_OTHER_SPECIALS = 8  # endoftext, startoftranscript, translate ... notimestamps
TIME_PRECISION = 0.02  # seconds per timestamp step
IGNORE_INDEX = -100  # target value that cross-entropy skips


@dataclass
class Segment:
    """A stretch of decoded text; times are None when decoded without timestamps."""

    start: float | None
    end: float | None
    text: str


class WhisperVocab:
    """Token ids of Whisper's specials on top of a base text vocabulary.

    Args:
        base_size: number of text tokens before ``<|endoftext|>``.
        languages: language codes, in token order.
        tokenizer: the audiokit text tokenizer whose ids are the base vocabulary, or None when
            the text vocabulary is not available (OpenAI's tiktoken BPE).
        multilingual: whether the prompt carries language and task tokens.
    """

    def __init__(self, base_size: int, languages: Sequence[str], tokenizer=None,
                 multilingual: bool = True) -> None:
        if tokenizer is not None and tokenizer.vocab_size != base_size:
            raise ValueError(f"tokenizer has {tokenizer.vocab_size} tokens, base_size={base_size}")
        if not languages:
            raise ValueError("need at least one language")
        if len(set(languages)) != len(languages):
            raise ValueError(f"repeated language codes in {list(languages)}")
        self.base_size = base_size
        self.languages = list(languages)
        self.tokenizer = tokenizer
        self.multilingual = multilingual
        self.eot = base_size
        self.sot = base_size + 1
        self.language_ids = {lang: self.sot + 1 + i for i, lang in enumerate(self.languages)}
        after = self.sot + 1 + len(self.languages)
        (self.translate, self.transcribe, self.sot_lm, self.sot_prev, self.no_speech,
         self.no_timestamps) = range(after, after + 6)
        self.timestamp_begin = after + 6
        self.n_vocab = self.timestamp_begin + N_TIMESTAMPS

    @classmethod
    def from_tokenizer(cls, tokenizer, languages: Sequence[str] = ("en",)) -> WhisperVocab:
        return cls(tokenizer.vocab_size, languages, tokenizer, multilingual=True)

    @classmethod
    def for_openai(cls, n_vocab: int) -> WhisperVocab:
        """The layout of a released checkpoint with ``n_vocab`` tokens (51864: English-only,
        51865: multilingual, 51866: large-v3 with 100 languages)."""
        multilingual = n_vocab >= 51865
        num_languages = n_vocab - 51765 - int(multilingual)
        if not 1 <= num_languages <= len(OPENAI_LANGUAGES):
            raise ValueError(f"n_vocab={n_vocab} is not an OpenAI Whisper vocabulary size")
        return cls.for_size(n_vocab, OPENAI_LANGUAGES[:num_languages], multilingual=multilingual)

    @classmethod
    def for_size(cls, n_vocab: int, languages: Sequence[str], tokenizer=None,
                 multilingual: bool = True) -> WhisperVocab:
        """The layout of a model with ``n_vocab`` tokens and these languages."""
        base = n_vocab - N_TIMESTAMPS - N_OTHER_SPECIALS - len(languages)
        if base < 1:
            raise ValueError(f"n_vocab={n_vocab} is too small for Whisper's special tokens")
        return cls(base, languages, tokenizer, multilingual)

    # ---- token names ----
    def special_tokens(self) -> dict[str, int]:
        """Every special token's text form -> id, in id order."""
        names = {"<|endoftext|>": self.eot, "<|startoftranscript|>": self.sot}
        names.update({f"<|{lang}|>": i for lang, i in self.language_ids.items()})
        names.update({"<|translate|>": self.translate, "<|transcribe|>": self.transcribe,
                      "<|startoflm|>": self.sot_lm, "<|startofprev|>": self.sot_prev,
                      "<|nospeech|>": self.no_speech, "<|notimestamps|>": self.no_timestamps})
        names.update({f"<|{k * TIME_PRECISION:.2f}|>": self.timestamp_begin + k
                      for k in range(N_TIMESTAMPS)})
        return names

    def language_token(self, language: str) -> int:
        if language not in self.language_ids:
            raise ValueError(f"language {language!r} is not in the vocabulary "
                             f"({', '.join(self.languages)})")
        return self.language_ids[language]

    def task_token(self, task: str) -> int:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        return self.transcribe if task == "transcribe" else self.translate

    def is_timestamp(self, token: int) -> bool:
        return token >= self.timestamp_begin

    def timestamp_token(self, seconds: float) -> int:
        """The timestamp token nearest to ``seconds`` (0.02 s steps, 0 to 30 s)."""
        step = round(seconds / TIME_PRECISION)
        if not 0 <= step < N_TIMESTAMPS:
            raise ValueError(f"time {seconds} s is outside Whisper's 0-30 s timestamp range")
        return self.timestamp_begin + step

    def token_time(self, token: int) -> float:
        if not self.is_timestamp(token):
            raise ValueError(f"token {token} is not a timestamp token")
        return round((token - self.timestamp_begin) * TIME_PRECISION, 2)

    # ---- text ----
    def _need_tokenizer(self):
        if self.tokenizer is None:
            raise RuntimeError(
                "this Whisper vocabulary has no text tokenizer: OpenAI's released checkpoints "
                "use GPT-2/tiktoken BPE whose vocabulary file audiokit does not ship. The "
                "network, language ID and special tokens work; to encode or decode text, "
                "fine-tune with an audiokit tokenizer (task.vocab_mismatch=reinit)")
        return self.tokenizer

    def encode_text(self, text: str) -> list[int]:
        return self._need_tokenizer().encode(text)

    def decode_text(self, ids: Sequence[int]) -> str:
        """Text of the base-vocabulary ids in ``ids`` (specials and timestamps are skipped)."""
        return self._need_tokenizer().decode([i for i in ids if i < self.base_size])

    # ---- prompt and targets ----
    def prompt(self, language: str | None = "en", task: str = "transcribe",
               timestamps: bool = False) -> list[int]:
        """The tokens before the text: sot [lang task] [notimestamps]."""
        ids = [self.sot]
        if self.multilingual:
            ids += [self.language_token(language), self.task_token(task)]
        if not timestamps:
            ids.append(self.no_timestamps)
        return ids

    def sequence(self, text_ids: Sequence[int] | None = None, *, language: str | None = "en",
                 task: str = "transcribe",
                 segments: Sequence[tuple[float, float, Sequence[int]]] | None = None
                 ) -> tuple[list[int], int]:
        """(full token sequence ending in <|endoftext|>, prompt length).

        Either ``text_ids`` (no timestamps) or ``segments`` = [(start_s, end_s, text_ids)] (with
        timestamps: each segment's text between its start and end timestamp tokens).
        """
        if (text_ids is None) == (segments is None):
            raise ValueError("give exactly one of text_ids and segments")
        prompt = self.prompt(language, task, timestamps=segments is not None)
        body: list[int] = []
        if segments is None:
            body = list(text_ids)
        else:
            for start, end, ids in segments:
                if end < start:
                    raise ValueError(f"segment ends ({end} s) before it starts ({start} s)")
                body += [self.timestamp_token(start), *ids, self.timestamp_token(end)]
        return prompt + body + [self.eot], len(prompt)

    def training_pair(self, sequence: Sequence[int], prompt_len: int,
                      score_language: bool = False) -> tuple[list[int], list[int]]:
        """Teacher-forcing (input, target): input = sequence[:-1], target = sequence[1:] with the
        prompt's positions set to IGNORE_INDEX, so only text, timestamps and <|endoftext|> are
        scored. ``score_language`` also scores the language token (trains language ID)."""
        inputs, targets = list(sequence[:-1]), list(sequence[1:])
        for i in range(prompt_len - 1):
            lang_position = self.multilingual and i == 0
            if not (score_language and lang_position):
                targets[i] = IGNORE_INDEX
        return inputs, targets

    # ---- decoded output ----
    def parse(self, tokens: Sequence[int]) -> tuple[str, list[Segment]]:
        """Decoded tokens (after the prompt; may end with <|endoftext|>) -> (text, segments).

        Timestamps pair up as <|start|> text <|end|>; text with no timestamps around it becomes
        one segment with unknown times, and text after a start but no end gets end=None.
        """
        segments: list[Segment] = []
        text_ids: list[int] = []  # all text, for the full transcript
        pending: list[int] = []  # text of the current segment
        start: float | None = None
        for tok in tokens:
            if tok == self.eot:
                break
            if self.is_timestamp(tok):
                t = self.token_time(tok)
                if pending:
                    segments.append(Segment(start, t, self.decode_text(pending)))
                    pending, start = [], None
                else:
                    start = t  # a segment's start (a repeated timestamp moves it)
            elif tok < self.base_size:
                pending.append(tok)
                text_ids.append(tok)
        if pending:
            segments.append(Segment(start, None, self.decode_text(pending)))
        return self.decode_text(text_ids), segments
