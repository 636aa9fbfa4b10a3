"""Sampling from a :class:`CodecLM`: KV-cached (or recomputed) steps, temperature / top-k /
top-p, classifier-free guidance, batched over utterances, with a maximum length.

Per step the LM gives logits for every codebook of the next step column; positions that hold
no code in the pattern get ``pad_id`` instead of a sample. An utterance ends when codebook 0
emits eos at frame T and the steps of frames < T are all generated (``num_steps(T)``); one that
reaches ``max_frames`` first is cut there and listed in :attr:`Generated.hit_max` and in a
warning, never silently.

A fixed length beyond the model's context is generated in windows (:func:`generate_windowed`,
MusicGen's extension): each window after the first begins with the last frames of the one
before as ``continuation``, codes forced into the LM's own stream (so any LM can continue,
trained with prompts or not), and adds ``stride`` new frames.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

from audiokit.models.codec_lm.lm import CodecLM

log = logging.getLogger(__name__)


@dataclass
class Generated:
    """Per utterance: ``codes[b]`` ``[K', T_b]`` (K' = the codebooks the LM generates) and
    whether it was cut at the maximum length."""

    codes: list[torch.Tensor]
    hit_max: list[bool]
    ids: list[str] = field(default_factory=list)
    steps: int = 0  # LM steps run (for speed figures)


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0,
                  top_p: float = 1.0) -> torch.Tensor:
    """Logits ``[..., V]`` scaled by 1/temperature, with everything outside the top ``top_k``
    and outside the nucleus (the smallest set of most likely tokens whose probability reaches
    ``top_p``) set to -inf."""
    logits = logits / temperature
    if top_k and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        before = probs.cumsum(-1) - probs  # mass of the strictly more likely tokens
        drop_sorted = before >= top_p      # the nucleus already holds top_p without this one
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Token ids ``[...]`` from logits ``[..., V]``; temperature 0 is greedy (argmax)."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = filter_logits(logits.float(), temperature, top_k, top_p).softmax(-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).view(probs.shape[:-1])


def _batch_size(*tensors: torch.Tensor | None) -> int:
    for t in tensors:
        if t is not None:
            return t.shape[0]
    return 1


@torch.no_grad()
def generate(model: CodecLM, *, text: torch.Tensor | None = None,
             text_lens: torch.Tensor | None = None, prompt: torch.Tensor | None = None,
             prompt_lens: torch.Tensor | None = None, batch_size: int | None = None,
             num_frames: int | None = None, max_frames: int = 500, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 1.0, guidance: float | None = None,
             use_cache: bool = True, generator: torch.Generator | None = None,
             ids: list[str] | None = None, continuation: torch.Tensor | None = None) -> Generated:
    """Generate codes for a batch of conditions.

    Args:
        text, text_lens: condition tokens ``[B, L]`` (None: the null condition).
        prompt, prompt_lens: prompt codes ``[B, K, P]`` to continue from (its own codes are
            not part of the output).
        num_frames: exactly this many frames per utterance (no eos); else up to
            ``max_frames``, ending at eos (needs a model trained with ``eos``).
        guidance: classifier-free guidance weight w: logits = uncond + w (cond - uncond),
            the unconditional run using the null text; None runs the conditional model alone.
        use_cache: keep keys/values of past steps (else every step recomputes the sequence).
        continuation: codes ``[B, K, C]`` that are the output's first C frames, fed to the LM
            as if it had generated them (stepped through, not prefilled in parallel).
    """
    if num_frames is None and not model.eos:
        raise ValueError("this LM was trained without eos: give num_frames")
    given = continuation.shape[2] if continuation is not None else 0
    if num_frames is not None and num_frames <= given:
        raise ValueError(f"num_frames={num_frames} leaves nothing to generate after a "
                         f"continuation of {given} frames")
    pattern, device = model.pattern, next(model.parameters()).device
    b = batch_size or _batch_size(text, prompt)
    ids = ids or [str(i) for i in range(b)]
    limit = num_frames if num_frames is not None else max_frames
    total = pattern.num_steps(limit)
    cfg = guidance is not None
    if cfg:  # the batch twice: conditional, then with the null text
        if text is None:
            text, text_lens = model.null_text(b, device)
        null, null_lens = model.null_text(b, device)
        width = max(text.shape[1], 1)
        text = torch.cat([text, torch.nn.functional.pad(null, (0, width - 1))], dim=0)
        text_lens = torch.cat([text_lens, null_lens])
        if prompt is not None:
            prompt, prompt_lens = torch.cat([prompt, prompt]), torch.cat([prompt_lens] * 2)
    rows = b * (2 if cfg else 1)
    pre = model.prefix(rows, device, text, text_lens, prompt, prompt_lens)
    width = pre["x"].shape[1]
    frames = pattern.frame_of(total).to(device)                        # [K, S]
    ar = torch.zeros(model.n_q, dtype=torch.bool, device=device)
    ar[pattern.ar_rows()] = True
    holds = (frames >= 0) & ar[:, None]                                # the LM samples there
    steps = torch.full((b, model.n_q, total), model.pad_id, dtype=torch.long, device=device)
    end = torch.full((b,), -1, dtype=torch.long, device=device)        # frame of eos, if seen
    if num_frames is not None:
        end.fill_(num_frames)
    done = torch.zeros(b, dtype=torch.bool, device=device)
    # steps that hold every code of frames < T, for each possible end frame T
    needed = torch.tensor([pattern.num_steps(t) for t in range(limit + 2)], device=device)
    caches = [{} for _ in model.layers] if use_cache else None
    key_valid = torch.arange(width, device=device)[None] >= (width - pre["lens"])[:, None]
    start = torch.full((rows, model.n_q, 1), model.pad_id, dtype=torch.long, device=device)
    n_run = 0
    for s in range(total):
        if use_cache:
            col = start if s == 0 else steps[:, :, s - 1:s].repeat(rows // b, 1, 1)
            x = model.embed_codes(col)
            if s == 0:
                x = torch.cat([pre["x"], x], dim=1)
            key_valid = torch.cat([key_valid, key_valid.new_ones(rows, 1)], dim=1)
            lk = key_valid.shape[1]
            positions = (torch.arange(lk - x.shape[1], lk, device=device)[None]
                         - (width - pre["lens"])[:, None])
        else:
            cols = torch.cat([start, steps[:, :, :s].repeat(rows // b, 1, 1)], dim=2)
            x = torch.cat([pre["x"], model.embed_codes(cols)], dim=1)
            key_valid = torch.cat([key_valid[:, :width], key_valid.new_ones(rows, s + 1)], 1)
            positions = torch.arange(x.shape[1], device=device)[None] - (width - pre["lens"])[:, None]
        hidden = model.run(x, positions, key_valid, caches, pre["memory"], pre["memory_mask"])
        logits = model.logits(hidden[:, -1:])[:, :, 0].float()           # [rows, K, V]
        n_run += 1
        if cfg:
            cond, uncond = logits[:b], logits[b:]
            logits = uncond + guidance * (cond - uncond)
        # eos only on codebook 0, and only when the length is not given
        if num_frames is not None or not model.eos:
            logits[:, :, model.eos_id] = float("-inf")
        else:
            logits[:, 1:, model.eos_id] = float("-inf")
        tokens = sample(logits, temperature, top_k, top_p, generator)    # [b, K]
        f = frames[:, s]                                                 # [K]
        open_ = holds[:, s][None] & ((end[:, None] < 0) | (f[None] < end[:, None]))
        tokens = torch.where(open_, tokens, torch.full_like(tokens, model.pad_id))
        if given:  # no per-step check (a device sync) without a continuation
            forced = holds[:, s] & (f < given)                           # [K]
            known = continuation[:, torch.arange(model.n_q, device=device), f.clamp(0, given - 1)]
            tokens = torch.where(forced[None], known.to(tokens), tokens)
        if model.eos:  # a given length: feed the eos the LM was trained to see there
            at_end = holds[0, s] & (end >= 0) & (f[0] == end)
            tokens[:, 0] = torch.where(at_end, model.eos_id, tokens[:, 0])
        steps[:, :, s] = tokens
        new_end = (end < 0) & open_[:, 0] & (tokens[:, 0] == model.eos_id)
        end = torch.where(new_end, f[0].expand_as(end), end)
        done |= (end >= 0) & (s + 1 >= needed[end.clamp(min=0)])
        if done.all():
            break
    hit_max = [bool(not done[i]) for i in range(b)]
    codes = []
    for i in range(b):
        n = limit if hit_max[i] else int(end[i])
        codes.append(pattern.revert(steps[i: i + 1, :, :pattern.num_steps(n)], n)[0][ar])
    cut = [ids[i] for i in range(b) if hit_max[i]]
    if cut and num_frames is None:
        log.warning("%d of %d utterances reached max_frames=%d without an end and were cut "
                    "there: %s", len(cut), b, limit, ", ".join(cut))
    return Generated(codes, hit_max if num_frames is None else [False] * b, ids, n_run)


def generate_windowed(model: CodecLM, *, num_frames: int, window: int, stride: int,
                      generator: torch.Generator | None = None, **kw) -> Generated:
    """``num_frames`` per utterance with a model whose context is ``window`` frames: the first
    window generates ``window`` frames, each next one keeps the last ``window - stride`` of
    them as its beginning (``continuation``) and adds up to ``stride`` new frames. For models
    that generate every codebook (not VALL-E's AR stage); ``kw`` as :func:`generate`."""
    if num_frames <= window:
        return generate(model, num_frames=num_frames, max_frames=window, generator=generator, **kw)
    if not 0 < stride <= window:
        raise ValueError(f"stride {stride} must be in 1..window ({window})")
    if model.pattern.ar_rows() != list(range(model.n_q)):
        raise ValueError("windowed generation needs an LM that generates every codebook")
    first = generate(model, num_frames=window, max_frames=window, generator=generator, **kw)
    codes, steps, keep = torch.stack(first.codes), first.steps, window - stride
    while codes.shape[2] < num_frames:
        new = min(stride, num_frames - codes.shape[2])
        nxt = generate(model, num_frames=keep + new, max_frames=window, generator=generator,
                       continuation=codes[:, :, codes.shape[2] - keep:] if keep else None, **kw)
        codes, steps = torch.cat([codes, torch.stack(nxt.codes)[:, :, keep:]], 2), steps + nxt.steps
    return Generated(list(codes), [False] * len(codes), first.ids, steps)
