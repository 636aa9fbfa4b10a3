"""Decoding for Whisper-style models: language identification, batched greedy search and beam
search from the task prompt, with Whisper's timestamp rules.

Rules applied to every step's logits, in the order of OpenAI's logit filters
(``whisper.decoding``; Radford et al. 2022, section 4.5 / appendix):
- blank suppression (``suppress_blank``, OpenAI's ``SuppressBlank``): at the first generated
  step neither the space token nor <|endoftext|> may be chosen;
- suppressed tokens: sot, the task tokens, sot_lm, sot_prev and nospeech are never generated,
  nor <|notimestamps|> when timestamps are on; with ``suppress_non_speech`` (OpenAI's default
  ``suppress_tokens="-1"``) neither are OpenAI's non-speech tokens (speaker tags, music signs,
  brackets) of its GPT-2 vocabularies; the audiokit tokenizer's <blank> and <sos/eos> never
  are (Whisper has no use for them). ``suppress_special_tokens`` also bans the language tokens,
  <|notimestamps|>, and every timestamp when timestamps are off: OpenAI leaves these to the
  model, so the default (False) decodes as ``whisper.decoding.decode`` does;
- timestamps: the first token is a timestamp no later than ``max_initial_timestamp``; timestamps
  come in pairs (a segment's end, then the next segment's start, which may repeat the end);
  they never decrease; and when the total probability of all timestamps exceeds that of the
  best text token, a timestamp is forced.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch
from torch import Tensor

from audiokit.models.whisper.model import Whisper
from audiokit.models.whisper.tokens import TIME_PRECISION, Segment, WhisperVocab


@dataclass
class DecodingOptions:
    language: str | None = None  # None: identify it (or the vocabulary's only language)
    task: str = "transcribe"
    timestamps: bool = False
    beam_size: int = 1  # 1 = greedy
    max_new_tokens: int | None = None  # None: half the decoder context, as Whisper does
    max_initial_timestamp: float = 1.0
    suppress_blank: bool = True  # OpenAI's SuppressBlank
    suppress_non_speech: bool = True  # OpenAI's suppress_tokens="-1"
    suppress_special_tokens: bool = False  # also ban language tokens (and timestamps when off)


def decoding_options(settings: dict) -> DecodingOptions:
    """DecodingOptions from config-style settings. Also takes audiokit-infer's generic names:
    ``beam`` for beam_size, and ``mode``, which must be ``attention`` (a Whisper model has no
    CTC head, so the other ASR modes do not apply)."""
    settings = dict(settings)
    mode = settings.pop("mode", "attention")
    if mode != "attention":
        raise ValueError(f"decoding.mode={mode!r}: a Whisper model decodes with its attention "
                         "decoder only; use decoding.mode=attention (beam=1 is greedy search)")
    if "beam" in settings:
        settings["beam_size"] = settings.pop("beam")
    known = {f.name for f in fields(DecodingOptions)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"unknown Whisper decoding option(s) {unknown}; known: "
                         f"{', '.join(sorted(known | {'beam', 'mode'}))}")
    return DecodingOptions(**settings)


@dataclass
class DecodingResult:
    tokens: list[int]  # generated tokens after the prompt, without <|endoftext|>
    language: str
    avg_logprob: float
    text: str | None = None  # None when the vocabulary has no text tokenizer
    segments: list[Segment] = field(default_factory=list)


@torch.no_grad()
def detect_language(model: Whisper, vocab: WhisperVocab, audio: Tensor,
                    audio_lens: Tensor | None = None) -> tuple[list[str], Tensor]:
    """(best language code per utterance, probabilities [N, n_languages]) from the logits at the
    position after <|startoftranscript|>, restricted to the language tokens.
    ``audio`` is the encoder output [N, T, D]."""
    sot = torch.full((audio.size(0), 1), vocab.sot, dtype=torch.long, device=audio.device)
    logits = model.decoder(sot, audio, audio_lens)[0][:, 0]
    ids = torch.tensor(list(vocab.language_ids.values()), device=audio.device)
    probs = logits[:, ids].softmax(-1)
    return [vocab.languages[int(i)] for i in probs.argmax(-1)], probs.cpu()


# OpenAI's ``tokenizer.non_speech_tokens`` per vocabulary size. audiokit ships no GPT-2 /
# tiktoken vocabulary, so the ids were computed once with the openai-whisper package (version
# 20250625): ``whisper.tokenizer.get_tokenizer(multilingual, num_languages=n).non_speech_tokens``
# for (False, 99), (True, 99) and (True, 100); the multilingual sizes share one base vocabulary.
_GPT2_NON_SPEECH = (
    1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92, 93, 357,
    366, 438, 532, 685, 705, 796, 930, 1058, 1220, 1267, 1279, 1303, 1343, 1377, 1391, 1635, 1782,
    1875, 2162, 2361, 2488, 3467, 4008, 4211, 4600, 4808, 5299, 5855, 6329, 7203, 9609, 9959,
    10563, 10786, 11420, 11709, 11907, 13163, 13697, 13700, 14808, 15306, 16410, 16791, 17992,
    19203, 19510, 20724, 22305, 22935, 27007, 30109, 30420, 33409, 34949, 40283, 40493, 40549,
    47282, 49146)
_MULTILINGUAL_NON_SPEECH = (
    1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92, 93, 359,
    503, 522, 542, 873, 893, 902, 918, 922, 931, 1350, 1853, 1982, 2460, 2627, 3246, 3253, 3268,
    3536, 3846, 3961, 4183, 4667, 6585, 6647, 7273, 9061, 9383, 10428, 10929, 11938, 12033, 12331,
    12562, 13793, 14157, 14635, 15265, 15618, 16553, 16604, 18362, 18956, 20075, 21675, 22520,
    26130, 26161, 26435, 28279, 29464, 31650, 32302, 32470, 36865, 42863, 47425, 49870, 50254)
OPENAI_NON_SPEECH_TOKENS = {51864: _GPT2_NON_SPEECH, 51865: _MULTILINGUAL_NON_SPEECH,
                            51866: _MULTILINGUAL_NON_SPEECH}
OPENAI_SPACE_TOKEN = 220  # tokenizer.encode(" ") in both vocabularies (same derivation)


def _is_openai_text_vocab(vocab: WhisperVocab) -> bool:
    return vocab.tokenizer is None and vocab.n_vocab in OPENAI_NON_SPEECH_TOKENS


def suppressed_tokens(vocab: WhisperVocab, timestamps: bool, *, non_speech: bool = True,
                      special: bool = False) -> list[int]:
    """Tokens never generated after the prompt (see the module docstring)."""
    ids = [vocab.sot, vocab.translate, vocab.transcribe, vocab.sot_lm, vocab.sot_prev,
           vocab.no_speech]
    if timestamps or special:
        ids.append(vocab.no_timestamps)
    if special:
        ids += vocab.language_ids.values()
        if not timestamps:
            ids += range(vocab.timestamp_begin, vocab.n_vocab)
    if non_speech and _is_openai_text_vocab(vocab):
        ids += OPENAI_NON_SPEECH_TOKENS[vocab.n_vocab]
    tok = vocab.tokenizer
    if tok is not None:  # audiokit's CTC blank and <sos/eos> have no role in Whisper
        ids += [tok.blank_id, tok.sos_id]
    return sorted(set(ids))


def blank_tokens(vocab: WhisperVocab) -> list[int]:
    """What OpenAI's SuppressBlank bans at the first step: the space token and <|endoftext|>.
    An audiokit tokenizer's space is its ``<space>`` (char) or bare ``▁`` (sentencepiece)
    token, where it has one."""
    ids = [vocab.eot]
    if _is_openai_text_vocab(vocab):
        ids.append(OPENAI_SPACE_TOKEN)
    elif vocab.tokenizer is not None:
        ids += [i for i, t in enumerate(vocab.tokenizer.tokens) if t in ("<space>", "\u2581")]
    return ids


def apply_timestamp_rules(logits: Tensor, sampled: list[list[int]], vocab: WhisperVocab,
                          max_initial_timestamp: float | None) -> None:
    """Mask ``logits`` [N, V] in place so that each row's continuation of ``sampled[n]`` (the
    tokens generated so far, prompt excluded) obeys the timestamp rules."""
    tb, eot = vocab.timestamp_begin, vocab.eot
    neg = float("-inf")
    for n, seq in enumerate(sampled):
        row = logits[n]
        last_ts = len(seq) >= 1 and seq[-1] >= tb
        penult_ts = len(seq) < 2 or seq[-2] >= tb
        if last_ts:
            if penult_ts:  # a segment just started: text (or the end) follows
                row[tb:] = neg
            else:  # a segment just ended: the next start (or the end) follows
                row[:eot] = neg
        stamps = [t for t in seq if t >= tb]
        if stamps:  # never go back in time; a new start may repeat the last end
            floor = stamps[-1] if last_ts and not penult_ts else stamps[-1] + 1
            row[tb:floor] = neg
        if not seq:
            row[:tb] = neg  # the transcript opens with a timestamp
            if max_initial_timestamp is not None:
                last_allowed = tb + round(max_initial_timestamp / TIME_PRECISION)
                row[last_allowed + 1:] = neg
    # if timestamps together are likelier than any single text token, take a timestamp
    logp = logits.float().log_softmax(-1)
    ts_mass = logp[:, tb:].logsumexp(-1)
    best_text = logp[:, :tb].max(-1).values
    logits[ts_mass > best_text, :tb] = neg


class _Rules:
    """Blank suppression + suppressed tokens + timestamp rules, prepared once per decode call."""

    def __init__(self, vocab: WhisperVocab, options: DecodingOptions, device) -> None:
        self.vocab, self.options = vocab, options
        self.suppress = torch.tensor(
            suppressed_tokens(vocab, options.timestamps, non_speech=options.suppress_non_speech,
                              special=options.suppress_special_tokens), device=device)
        self.blank = torch.tensor(blank_tokens(vocab), device=device)

    def __call__(self, logits: Tensor, sampled: list[list[int]], first_step: bool) -> Tensor:
        logits = logits.float()
        if first_step and self.options.suppress_blank:
            logits = logits.index_fill(-1, self.blank, float("-inf"))
        logits = logits.index_fill(-1, self.suppress, float("-inf"))
        if self.options.timestamps:
            apply_timestamp_rules(logits, sampled, self.vocab, self.options.max_initial_timestamp)
        return logits


def _finish(vocab: WhisperVocab, tokens: list[int], language: str, logprob: float
            ) -> DecodingResult:
    avg = logprob / (len(tokens) + 1)  # +1: the <|endoftext|> is scored too
    result = DecodingResult(tokens, language, avg)
    if vocab.tokenizer is not None:
        result.text, result.segments = vocab.parse(tokens)
    return result


def _max_new_tokens(model: Whisper, options: DecodingOptions, prompt_len: int) -> int:
    room = model.dims.n_text_ctx - prompt_len
    wanted = options.max_new_tokens or model.dims.n_text_ctx // 2
    return max(1, min(wanted, room))


def _languages(model: Whisper, vocab: WhisperVocab, options: DecodingOptions, audio: Tensor,
               audio_lens: Tensor | None) -> list[str]:
    n = audio.size(0)
    if options.language is not None:
        vocab.language_token(options.language)  # an unknown language is an error here
        return [options.language] * n
    if not vocab.multilingual or len(vocab.languages) == 1:
        return [vocab.languages[0]] * n
    return detect_language(model, vocab, audio, audio_lens)[0]


@torch.no_grad()
def greedy_decode(model: Whisper, vocab: WhisperVocab, mel: Tensor, mel_lens: Tensor | None,
                  options: DecodingOptions) -> list[DecodingResult]:
    """Batched greedy search with a key/value cache; mel [N, T, n_mels]."""
    audio, audio_lens = model.embed_audio(mel, mel_lens)
    langs = _languages(model, vocab, options, audio, audio_lens)
    prompts = [vocab.prompt(lang, options.task, options.timestamps) for lang in langs]
    tokens = torch.tensor(prompts, dtype=torch.long, device=mel.device)
    rules = _Rules(vocab, options, mel.device)
    n = tokens.size(0)
    sampled: list[list[int]] = [[] for _ in range(n)]
    logprob = torch.zeros(n, device=mel.device)
    done = torch.zeros(n, dtype=torch.bool, device=mel.device)
    cache, fed = None, 0
    for step in range(_max_new_tokens(model, options, tokens.size(1))):
        logits, cache = model.decoder(tokens[:, fed:], audio, audio_lens, cache)
        fed = tokens.size(1)
        logits = rules(logits[:, -1], sampled, first_step=step == 0)
        logp = logits.log_softmax(-1)
        nxt = logp.argmax(-1).masked_fill(done, vocab.eot)
        logprob += logp.gather(1, nxt[:, None])[:, 0].masked_fill(done, 0.0)
        for i in range(n):
            if not done[i] and nxt[i] != vocab.eot:
                sampled[i].append(int(nxt[i]))
        done |= nxt == vocab.eot
        if bool(done.all()):
            break
        tokens = torch.cat([tokens, nxt[:, None]], 1)
    return [_finish(vocab, s, lang, float(lp)) for s, lang, lp in zip(sampled, langs, logprob,
                                                                       strict=True)]


@torch.no_grad()
def beam_decode(model: Whisper, vocab: WhisperVocab, mel: Tensor, mel_lens: Tensor | None,
                options: DecodingOptions) -> list[DecodingResult]:
    """Beam search, one utterance at a time with its beams batched; hypotheses are ranked by
    their average token log-probability (Whisper's default length normalisation). The search
    stops when k hypotheses have ended and the best live beam's average so far (an estimate,
    as in Hugging Face's beam search) no longer beats the worst of them, or at the length cap."""
    audio, audio_lens = model.embed_audio(mel, mel_lens)
    langs = _languages(model, vocab, options, audio, audio_lens)
    rules = _Rules(vocab, options, mel.device)
    k = options.beam_size
    results = []
    for u, lang in enumerate(langs):
        prompt = vocab.prompt(lang, options.task, options.timestamps)
        memory = audio[u: u + 1].expand(k, -1, -1)
        memory_lens = audio_lens[u: u + 1].expand(k) if audio_lens is not None else None
        tokens = torch.tensor([prompt] * k, dtype=torch.long, device=mel.device)
        # only the first beam is live at the start, so the k beams do not all pick the same token
        scores = torch.full((k,), float("-inf"), device=mel.device)
        scores[0] = 0.0
        sampled: list[list[int]] = [[] for _ in range(k)]
        finished: list[tuple[list[int], float]] = []
        cache, fed = None, 0
        for step in range(_max_new_tokens(model, options, len(prompt))):
            logits, cache = model.decoder(tokens[:, fed:], memory, memory_lens, cache)
            fed = tokens.size(1)
            logp = rules(logits[:, -1], sampled, first_step=step == 0).log_softmax(-1)
            total = (scores[:, None] + logp).flatten()
            top = total.topk(min(2 * k, total.numel()))
            keep_beam, keep_tok, keep_score = [], [], []
            # best first: endings that outrank the k-th live continuation are finished
            for score, flat in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                if score == float("-inf") or len(keep_beam) == k:
                    break
                beam, tok = divmod(flat, logp.size(1))
                if tok == vocab.eot:
                    finished.append((sampled[beam], score))
                else:
                    keep_beam.append(beam)
                    keep_tok.append(tok)
                    keep_score.append(score)
            # keep the k best endings; stop once no live beam looks able to beat them
            finished = sorted(finished, key=_normalised, reverse=True)[:k]
            if not keep_beam or (len(finished) == k and _normalised(finished[-1])
                                 >= max(keep_score) / (len(sampled[0]) + 2)):
                break
            while len(keep_beam) < k:  # pad with dead beams to keep the batch shape
                keep_beam.append(keep_beam[0])
                keep_tok.append(keep_tok[0])
                keep_score.append(float("-inf"))
            index = torch.tensor(keep_beam, device=mel.device)
            cache = [tuple(t.index_select(0, index) for t in layer) for layer in cache]
            tokens = torch.cat([tokens.index_select(0, index),
                                torch.tensor(keep_tok, device=mel.device)[:, None]], 1)
            sampled = [sampled[b] + [t] for b, t in zip(keep_beam, keep_tok, strict=True)]
            scores = torch.tensor(keep_score, device=mel.device)
        if not finished:  # ran out of length: keep the live beams as they are
            finished = [(s, float(sc)) for s, sc in zip(sampled, scores.tolist(), strict=True)
                        if sc > float("-inf")]
        best, score = max(finished, key=_normalised)
        results.append(_finish(vocab, best, lang, score))
    return results


def _normalised(hyp: tuple[list[int], float]) -> float:
    """Average log-probability per token (the +1 counts <|endoftext|>)."""
    return hyp[1] / (len(hyp[0]) + 1)


def decode(model: Whisper, vocab: WhisperVocab, mel: Tensor, mel_lens: Tensor | None = None,
           options: DecodingOptions | None = None) -> list[DecodingResult]:
    """Greedy (``beam_size=1``) or beam search; mel [N, T, n_mels] from the Whisper frontend."""
    options = options or DecodingOptions()
    if options.beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {options.beam_size}")
    search = greedy_decode if options.beam_size == 1 else beam_decode
    return search(model, vocab, mel, mel_lens, options)
