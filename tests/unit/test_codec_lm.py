"""Codec LM: the delay pattern's causality through the real network, teacher-forced logits
agree with generation, KV-cached generation equals recomputed generation, classifier-free
guidance at w=1 equals the conditional model, top-k 1 is greedy, top-p on a worked example,
eos and the maximum length, left-padded prefixes, continuations and windowed generation past
the context, and VALL-E's NAR stage."""

from __future__ import annotations

import logging

import pytest
import torch

from audiokit.models.codec_lm import CodecLM, CodecNAR, generate, generate_windowed, sample
from audiokit.models.codec_lm.generate import filter_logits
from audiokit.models.codec_lm.lm import IGNORE

K, CARD, VOCAB = 3, 12, 7


pytestmark = pytest.mark.usefixtures("one_thread")


def small(pattern="delay", condition="prefix", **kw) -> CodecLM:
    torch.manual_seed(0)
    args = {"d_model": 32, "num_heads": 4, "ffn_dim": 64, "num_layers": 2, "dropout": 0.0} | kw
    return CodecLM(K, CARD, VOCAB, pattern=pattern, condition=condition, **args).eval()


def batch(seed=0, b=3, t=6):
    g = torch.Generator().manual_seed(seed)
    return {"codes": torch.randint(0, CARD, (b, K, t), generator=g),
            "code_lens": torch.tensor([t, t - 2, 1][:b]),
            "text": torch.randint(0, VOCAB, (b, 5), generator=g),
            "text_lens": torch.tensor([5, 2, 4][:b]),
            "prompt": torch.randint(0, CARD, (b, K, 4), generator=g),
            "prompt_lens": torch.tensor([4, 1, 0][:b])}


# ---- training layout ---------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["delay", "flattened", "parallel", "valle"])
def test_a_prediction_depends_only_on_earlier_steps(pattern):
    """Change one code (k, t): only predictions at later step columns may change, checked
    through the whole network (perturbation, not just the layout)."""
    lm = small(pattern, condition="none")
    codes, t = torch.randint(0, CARD, (1, K, 5)), 5
    lens = torch.tensor([t])
    base, targets = lm(codes, lens)
    cols, _ = lm.pattern.index(t)
    for k in lm.pattern.ar_rows():
        for u in range(t):
            changed = codes.clone()
            changed[0, k, u] = (codes[0, k, u] + 1) % CARD
            out, _ = lm(changed, lens)
            diff = (out - base).abs().amax(-1)[0]               # [K, S]
            s = int(cols[k, u])
            assert diff[:, : s + 1].max() < 1e-5, (k, u)        # the column itself included
            if s + 1 < diff.shape[1]:
                assert diff[:, s + 1].max() > 1e-6              # the next column does see it
    assert targets.shape == base.shape[:3]


def test_targets_hold_codes_eos_and_ignore():
    lm = small("delay", condition="none")
    codes = torch.tensor([[[1, 2, 3], [4, 5, 6], [7, 8, 9]]] * 2)
    _, targets = lm(codes, torch.tensor([3, 2]))
    e, i = CARD, IGNORE
    assert targets[0].tolist() == [[1, 2, 3, e, i, i], [i, 4, 5, 6, i, i], [i, i, 7, 8, 9, i]]
    assert targets[1].tolist() == [[1, 2, e, i, i, i], [i, 4, 5, i, i, i], [i, i, 7, 8, i, i]]


def test_condition_dropout_replaces_text_by_null():
    lm = small(cond_dropout=1.0).train()
    b = batch()
    text, lens = lm.drop_text(b["text"], b["text_lens"], torch.tensor([True, False, True]))
    assert text[0, 0] == lm.null_id and lens.tolist() == [1, 2, 1]
    assert torch.equal(text[1], b["text"][1])
    dropped, _ = lm(b["codes"], b["code_lens"], b["text"], b["text_lens"])
    null, null_lens = lm.null_text(3, torch.device("cpu"))
    torch.manual_seed(0)
    expected, _ = lm(b["codes"], b["code_lens"], null, null_lens)
    torch.testing.assert_close(dropped, expected)


@pytest.mark.parametrize("condition", ["prefix", "cross"])
def test_left_padded_prefix_equals_the_utterance_alone(condition):
    lm, b = small(condition=condition), batch()
    logits, targets = lm(**b)
    for i in range(3):
        one = {k: v[i: i + 1] for k, v in b.items()}
        n = int(b["code_lens"][i])
        one["codes"], one["text"] = one["codes"][..., :n], one["text"][:, : int(b["text_lens"][i])]
        alone, t_alone = lm(**one)
        keep = t_alone[0] != IGNORE
        torch.testing.assert_close(alone[0][keep], logits[i, :, : alone.shape[2]][keep],
                                   atol=1e-4, rtol=1e-4)


# ---- generation --------------------------------------------------------------------------


def conditions(b):
    return {k: b[k] for k in ("text", "text_lens", "prompt", "prompt_lens")}


@pytest.mark.parametrize("pattern", ["delay", "flattened", "parallel", "valle"])
@pytest.mark.parametrize("condition", ["prefix", "cross"])
def test_cached_generation_equals_recomputed(pattern, condition):
    lm, b = small(pattern, condition), batch(1)
    cached = generate(lm, **conditions(b), max_frames=8, temperature=0)
    plain = generate(lm, **conditions(b), max_frames=8, temperature=0, use_cache=False)
    assert all(torch.equal(x, y) for x, y in zip(cached.codes, plain.codes, strict=True))
    # sampling too, with the same random stream
    kw = {"max_frames": 6, "temperature": 1.0, "top_k": 5}
    a = generate(lm, **conditions(b), **kw, generator=torch.Generator().manual_seed(3))
    c = generate(lm, **conditions(b), **kw, use_cache=False,
                 generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a.codes, c.codes, strict=True))


@pytest.mark.parametrize("pattern", ["delay", "flattened", "parallel"])
def test_greedy_generation_is_the_argmax_of_teacher_forcing(pattern):
    """What generation samples at each position is what the training forward predicts there
    given the same earlier codes: the two layouts agree."""
    lm, b = small(pattern), batch(2)
    gen = generate(lm, **conditions(b), num_frames=5, temperature=0)
    codes = torch.stack(gen.codes)
    logits, targets = lm(codes, torch.full((3,), 5), **conditions(b))
    logits[..., lm.eos_id] = float("-inf")
    pred = logits.argmax(-1)
    keep = targets != IGNORE
    keep &= targets != lm.eos_id
    assert torch.equal(pred[keep], targets[keep])


@pytest.mark.parametrize("pattern", ["delay", "flattened", "parallel"])
def test_a_continuation_starts_the_output_and_is_read_as_the_lms_own_codes(pattern):
    lm, b = small(pattern), batch(2)
    plain = torch.stack(generate(lm, **conditions(b), num_frames=6, temperature=0).codes)
    # its own first 3 frames forced back in: greedy decoding goes on exactly as before
    again = generate(lm, **conditions(b), num_frames=6, temperature=0,
                     continuation=plain[:, :, :3])
    assert torch.equal(torch.stack(again.codes), plain)
    # other codes: they are the output's start and change what follows
    other = torch.randint(0, CARD, (3, K, 3), generator=torch.Generator().manual_seed(5))
    cont = torch.stack(generate(lm, **conditions(b), num_frames=6, temperature=0,
                                continuation=other).codes)
    assert torch.equal(cont[:, :, :3], other) and not torch.equal(cont[:, :, 3:], plain[:, :, 3:])
    with pytest.raises(ValueError, match="nothing to generate"):
        generate(lm, **conditions(b), num_frames=3, continuation=other)


def test_windowed_generation_reaches_any_length_from_the_first_window_on():
    lm, b = small("delay"), batch(3)
    kw = conditions(b) | {"temperature": 1.0, "top_k": 5}

    def seeded():
        return torch.Generator().manual_seed(4)

    long = generate_windowed(lm, num_frames=11, window=6, stride=2, generator=seeded(), **kw)
    first = generate(lm, num_frames=6, max_frames=6, generator=seeded(), **kw)
    assert all(c.shape == (K, 11) and 0 <= c.min() and c.max() < CARD for c in long.codes)
    assert all(torch.equal(c[:, :6], f) for c, f in zip(long.codes, first.codes, strict=True))
    assert long.steps > first.steps and long.hit_max == [False] * 3
    # within one window it is plain generation
    short = generate_windowed(lm, num_frames=5, window=6, stride=2, generator=seeded(), **kw)
    plain = generate(lm, num_frames=5, generator=seeded(), **kw)
    assert all(torch.equal(x, y) for x, y in zip(short.codes, plain.codes, strict=True))
    with pytest.raises(ValueError, match="stride"):
        generate_windowed(lm, num_frames=11, window=6, stride=0, **kw)
    with pytest.raises(ValueError, match="every codebook"):
        generate_windowed(small("valle"), num_frames=11, window=6, stride=2, **kw)


def test_guidance_one_equals_the_conditional_model_and_guidance_matters():
    lm, b = small(condition="cross"), batch(3)
    cond = generate(lm, **conditions(b), max_frames=8, temperature=0)
    w1 = generate(lm, **conditions(b), max_frames=8, temperature=0, guidance=1.0)
    assert all(torch.equal(x, y) for x, y in zip(cond.codes, w1.codes, strict=True))
    w0 = generate(lm, **conditions(b), max_frames=8, temperature=0, guidance=0.0)
    null, null_lens = lm.null_text(3, torch.device("cpu"))
    uncond = generate(lm, text=null, text_lens=null_lens, prompt=b["prompt"],
                      prompt_lens=b["prompt_lens"], max_frames=8, temperature=0)
    assert all(torch.equal(x, y) for x, y in zip(w0.codes, uncond.codes, strict=True))
    w3 = generate(lm, **conditions(b), max_frames=8, temperature=0, guidance=3.0)
    assert any(not torch.equal(x, y) for x, y in zip(cond.codes, w3.codes, strict=True))


def test_top_k_one_is_greedy_and_top_p_on_a_worked_example():
    logits = torch.randn(50, 9)
    assert torch.equal(sample(logits, 1.3, top_k=1), logits.argmax(-1))
    assert torch.equal(sample(logits, 0.0), logits.argmax(-1))
    # p = (0.5, 0.3, 0.15, 0.05): the nucleus for top_p 0.7 is {0.5, 0.3} -> (0.625, 0.375)
    probs = torch.tensor([0.15, 0.5, 0.05, 0.3])
    kept = filter_logits(probs.log(), 1.0, top_p=0.7).softmax(-1)
    torch.testing.assert_close(kept, torch.tensor([0.0, 0.625, 0.0, 0.375]))
    # top_p 0.8 exactly reached by two tokens; 0.81 needs the third
    assert (filter_logits(probs.log(), top_p=0.8).softmax(-1) > 0).sum() == 2
    kept = filter_logits(probs.log(), top_p=0.81).softmax(-1)
    torch.testing.assert_close(kept, torch.tensor([0.15, 0.5, 0.0, 0.3]) / 0.95)
    # temperature 2 on log-probs = square roots, renormalised
    t2 = filter_logits(probs.log(), 2.0).softmax(-1)
    torch.testing.assert_close(t2, probs.sqrt() / probs.sqrt().sum())
    # sampled frequencies follow the filtered distribution
    g = torch.Generator().manual_seed(0)
    draws = sample(probs.log().expand(20000, 4), top_p=0.7, generator=g)
    freq = torch.bincount(draws, minlength=4) / 20000
    assert abs(freq[1] - 0.625) < 0.02 and freq[0] == 0 and freq[2] == 0


def test_eos_ends_and_max_length_is_reported(caplog):
    lm, b = small(), batch(4)
    with torch.no_grad():
        lm.heads[0].bias[lm.eos_id] = -1e4   # never ends
    with caplog.at_level(logging.WARNING):
        out = generate(lm, **conditions(b), max_frames=4, temperature=0, ids=["a", "b", "c"])
    assert out.hit_max == [True] * 3 and all(c.shape == (K, 4) for c in out.codes)
    assert "3 of 3 utterances reached max_frames=4" in caplog.text and "a, b, c" in caplog.text
    with torch.no_grad():
        lm.heads[0].bias[lm.eos_id] = 1e4    # ends at once
    out = generate(lm, **conditions(b), max_frames=4, temperature=0)
    assert out.hit_max == [False] * 3 and all(c.shape == (K, 0) for c in out.codes)
    assert out.steps == lm.pattern.num_steps(1) - 2  # eos at column 0: done after one step
    # codebooks > 0 never emit eos, and no code is the pad
    lm2 = small()
    with torch.no_grad():
        for h in lm2.heads[1:]:
            h.bias[lm2.eos_id] = 1e4
    out = generate(lm2, **conditions(b), num_frames=5, temperature=0)
    assert all(int(c.max()) < CARD for c in out.codes)


def test_eos_only_for_variable_length():
    lm = small(eos=False)
    with pytest.raises(ValueError, match="without eos: give num_frames"):
        generate(lm, batch_size=2)
    out = generate(lm, batch_size=2, num_frames=3, temperature=0)
    assert [c.shape for c in out.codes] == [(K, 3)] * 2


def test_valle_ar_generates_codebook_zero_and_nar_fills_the_rest():
    lm, b = small("valle"), batch(5)
    out = generate(lm, **conditions(b), num_frames=6, temperature=0)
    assert all(c.shape == (1, 6) for c in out.codes)
    torch.manual_seed(0)
    nar = CodecNAR(K, CARD, VOCAB, d_model=32, num_heads=4, ffn_dim=64, num_layers=2,
                   dropout=0.0).eval()
    first = torch.cat(out.codes)                                    # [B, T]
    lens = torch.tensor([6, 4, 2])
    full = nar.fill(first, lens, **conditions(b))
    assert full.shape == (3, K, 6) and torch.equal(full[:, 0], first)
    # stage 2 of fill is the argmax given the filled stage 1: the same as teacher forcing
    logits, targets = nar(full, lens, **conditions(b), stage=2)
    keep = targets[:, 0] != IGNORE
    assert torch.equal(logits[:, 0].argmax(-1)[keep], full[:, 2][keep])
    # the NAR's prediction of a padded utterance equals the utterance alone
    alone = nar.stage_logits(1, full[2:, :, :2], lens[2:], b["text"][2:, :4],
                             b["text_lens"][2:], b["prompt"][2:, :, :0], b["prompt_lens"][2:])
    batched = nar.stage_logits(1, full, lens, **conditions(b))
    torch.testing.assert_close(alone[0], batched[2, :2], atol=1e-4, rtol=1e-4)


def test_an_empty_text_is_the_null_condition():
    lm, b = small(condition="cross"), batch(6)
    empty = torch.tensor([0, 2, 0])
    logits, _ = lm(b["codes"], b["code_lens"], b["text"], empty)
    null, _ = lm.drop_text(b["text"], empty, empty == 0)
    expected, _ = lm(b["codes"], b["code_lens"], null, torch.tensor([1, 2, 1]))
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(logits, expected)
