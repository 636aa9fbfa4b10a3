"""Decoding for Whisper-style models: language identification, batched greedy search and beam
search from the task prompt, with Whisper's timestamp rules.

Rules applied to every step's logits (Radford et al. 2022, section 4.5 / appendix):
- tokens that only belong in the prompt (sot, language, task, sot_lm, sot_prev, nospeech,
  notimestamps) are never generated, nor any timestamp when timestamps are off, nor the
  audiokit tokenizer's <blank> and <sos/eos> (Whisper has no use for them);
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


def suppressed_tokens(vocab: WhisperVocab, timestamps: bool) -> list[int]:
    """Tokens never generated after the prompt."""
    ids = [vocab.sot, *vocab.language_ids.values(), vocab.translate, vocab.transcribe,
           vocab.sot_lm, vocab.sot_prev, vocab.no_speech, vocab.no_timestamps]
    if not timestamps:
        ids += range(vocab.timestamp_begin, vocab.n_vocab)
    tok = vocab.tokenizer
    if tok is not None:  # audiokit's CTC blank and <sos/eos> have no role in Whisper
        ids += [tok.blank_id, tok.sos_id]
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
    """Suppression + timestamp rules, prepared once per decode call."""

    def __init__(self, vocab: WhisperVocab, options: DecodingOptions, device) -> None:
        self.vocab, self.options = vocab, options
        self.suppress = torch.tensor(suppressed_tokens(vocab, options.timestamps), device=device)

    def __call__(self, logits: Tensor, sampled: list[list[int]]) -> Tensor:
        logits = logits.float().index_fill(-1, self.suppress, float("-inf"))
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
    for _ in range(_max_new_tokens(model, options, tokens.size(1))):
        logits, cache = model.decoder(tokens[:, fed:], audio, audio_lens, cache)
        fed = tokens.size(1)
        logits = rules(logits[:, -1], sampled)
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
        for _ in range(_max_new_tokens(model, options, len(prompt))):
            logits, cache = model.decoder(tokens[:, fed:], memory, memory_lens, cache)
            fed = tokens.size(1)
            logp = rules(logits[:, -1], sampled).log_softmax(-1)
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
