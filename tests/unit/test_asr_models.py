"""ASR network pieces: relative attention, conformer/transformer encoders, decoder, hybrid loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from audiokit.losses import HybridCTCAttentionLoss
from audiokit.models.asr import ASRModel, ConformerEncoder, TransformerDecoder, TransformerEncoder
from audiokit.models.asr.attention import RelPositionalEncoding, RelPositionMultiHeadAttention
from audiokit.models.asr.subsampling import Conv2dSubsampling

torch.manual_seed(0)


def test_rel_position_attention_matches_explicit_offsets():
    """Score (i, j) must use the embedding of offset i - j (brute force over every pair)."""
    d, heads, t = 8, 2, 5
    attn = RelPositionMultiHeadAttention(d, heads).eval()
    x = torch.randn(1, t, d)
    _, pos = RelPositionalEncoding(d, 0.0)(x)          # offsets t-1 .. -(t-1)
    out = attn(x, pos, None)

    q = attn.query(x).view(1, t, heads, -1).transpose(1, 2)
    k = attn.key(x).view(1, t, heads, -1).transpose(1, 2)
    v = attn.value(x).view(1, t, heads, -1).transpose(1, 2)
    p = attn.pos(pos).view(1, 2 * t - 1, heads, -1).transpose(1, 2)
    scores = torch.zeros(1, heads, t, t)
    for i in range(t):
        for j in range(t):
            r = p[:, :, (t - 1) - (i - j)]              # row of offset i - j
            scores[:, :, i, j] = ((q[:, :, i] + attn.pos_bias_u) * k[:, :, j]).sum(-1) + (
                (q[:, :, i] + attn.pos_bias_v) * r).sum(-1)
    expected = attn.out((scores / math.sqrt(d // heads)).softmax(-1).matmul(v)
                        .transpose(1, 2).reshape(1, t, d))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("factor,min_frames", [(4, 7), (6, 11), (8, 15)])
def test_subsampling_lengths_and_min_frames(factor, min_frames):
    sub = Conv2dSubsampling(20, 16, factor)
    lens = torch.tensor([min_frames - 1, min_frames, 100])
    x, out_lens = sub(torch.randn(3, 100, 20), lens)
    assert sub.min_frames == min_frames
    assert out_lens.tolist()[:2] == [0, 1]
    assert x.size(1) == out_lens[2]                     # the longest fills the batch exactly
    assert abs(out_lens[2].item() - 100 / factor) < 3


@pytest.mark.parametrize("encoder_cls", [ConformerEncoder, TransformerEncoder])
def test_encoder_output_ignores_padding(encoder_cls):
    """An utterance encodes the same alone and padded inside a batch."""
    kwargs = dict(d_model=32, num_heads=4, ffn_dim=64, num_blocks=2)
    if encoder_cls is ConformerEncoder:
        kwargs["kernel_size"] = 5
    enc = encoder_cls(input_dim=20, **kwargs).eval()
    short, long = torch.randn(1, 40, 20), torch.randn(1, 64, 20)
    batch = torch.cat([F.pad(short, (0, 0, 0, 24), value=3.0), long])
    h, lens = enc(batch, torch.tensor([40, 64]))
    alone, alone_lens = enc(short, torch.tensor([40]))
    assert lens[0] == alone_lens[0]
    torch.testing.assert_close(h[0, : lens[0]], alone[0], atol=1e-5, rtol=1e-4)


def test_encoder_intermediate_outputs():
    enc = ConformerEncoder(20, d_model=16, num_heads=2, ffn_dim=32, num_blocks=3, kernel_size=3,
                           intermediate_layers=[1, 2]).eval()
    h, lens, inner = enc(torch.randn(2, 30, 20), torch.tensor([30, 20]), return_intermediate=True)
    assert len(inner) == 2 and inner[0].shape == h.shape


def test_decoder_is_causal_and_step_matches_forward():
    dec = TransformerDecoder(vocab_size=11, memory_dim=24, d_model=16, num_heads=2, ffn_dim=32,
                             num_blocks=2).eval()
    memory, memory_lens = torch.randn(2, 9, 24), torch.tensor([9, 6])
    ys = torch.randint(0, 11, (2, 5))
    logits = dec(ys, torch.tensor([5, 5]), memory, memory_lens)
    changed = ys.clone()
    changed[:, 3:] = (changed[:, 3:] + 1) % 11
    logits2 = dec(changed, torch.tensor([5, 5]), memory, memory_lens)
    torch.testing.assert_close(logits[:, :3], logits2[:, :3])       # future tokens invisible
    logp, state = dec.step(ys[:, :4], None, memory, memory_lens)
    torch.testing.assert_close(logp, logits[:, 3].log_softmax(-1), atol=1e-5, rtol=1e-5)
    # padded memory frames are invisible too
    padded = torch.cat([memory, torch.randn(2, 3, 24)], 1)
    torch.testing.assert_close(dec(ys, torch.tensor([5, 5]), padded, memory_lens), logits,
                               atol=1e-5, rtol=1e-5)


def test_decoder_step_cache_equals_full_recomputation_after_reordering():
    """Token by token with the key/value cache, rows reordered between steps as beam search
    does, the log-probs equal the full forward pass of each row's prefix."""
    from audiokit.decoding.beam_search import select_state

    torch.manual_seed(0)
    dec = TransformerDecoder(vocab_size=11, memory_dim=24, d_model=16, num_heads=2, ffn_dim=32,
                             num_blocks=2).eval()
    memory, memory_lens = torch.randn(4, 9, 24), torch.tensor([9, 6, 7, 9])
    ys = torch.randint(0, 11, (4, 1))
    state = None
    for _ in range(5):
        logp, state = dec.step(ys, state, memory, memory_lens)
        lens = torch.full((4,), ys.size(1))
        full = dec(ys, lens, memory, memory_lens)[:, -1].log_softmax(-1)
        torch.testing.assert_close(logp, full, atol=1e-5, rtol=1e-5)
        parent = torch.randint(0, 4, (4,))  # beam pruning: rows copied and reordered
        ys = torch.cat([ys[parent], torch.randint(0, 11, (4, 1))], dim=1)
        memory, memory_lens = memory[parent], memory_lens[parent]
        state = select_state(state, parent)
    # a prefix longer than one token on the first call (no cache yet) works too
    logp, _ = dec.step(ys, None, memory, memory_lens)
    full = dec(ys, torch.full((4,), ys.size(1)), memory, memory_lens)[:, -1].log_softmax(-1)
    torch.testing.assert_close(logp, full, atol=1e-5, rtol=1e-5)


def test_asr_model_builds_parts_from_configs():
    model = ASRModel(
        input_dim=80, vocab_size=13,
        encoder={"_target_": "audiokit.models.asr.ConformerEncoder", "d_model": 144,
                 "num_heads": 4, "ffn_dim": 576, "num_blocks": 4, "kernel_size": 15},
        decoder={"_target_": "audiokit.models.asr.TransformerDecoder", "d_model": 144,
                 "num_heads": 4, "ffn_dim": 576, "num_blocks": 2})
    out = model.encode(torch.randn(2, 50, 80), torch.tensor([50, 30]))
    assert out.ctc_log_probs.shape == (2, 11, 13)
    torch.testing.assert_close(out.ctc_log_probs.exp().sum(-1), torch.ones(2, 11))
    assert model.min_input_frames == 7
    # ESPnet's peer model has 3,275,306 parameters with a 13-token list (word digits):
    # same architecture, so the same count up to ESPnet's few extra bias terms.
    n = sum(p.numel() for p in model.parameters())
    assert abs(n - 3_275_306) / 3_275_306 < 0.01, n


def test_hybrid_loss_matches_its_parts():
    torch.manual_seed(1)
    B, T, L, V = 3, 12, 4, 7
    log_probs = torch.randn(B, T, V).log_softmax(-1)
    enc_lens = torch.tensor([12, 10, 8])
    targets = torch.tensor([[1, 2, 3, 4], [2, 2, -1, -1], [5, -1, -1, -1]])
    target_lens = torch.tensor([4, 2, 1])
    logits = torch.randn(B, L + 1, V)
    dec_targets = torch.cat([targets, torch.full((B, 1), -1)], 1)
    dec_targets[torch.arange(B), target_lens] = V - 1     # eos after each target
    loss = HybridCTCAttentionLoss(ctc_weight=0.3, label_smoothing=0.1)
    parts = loss(ctc_log_probs=log_probs, enc_lens=enc_lens, targets=targets,
                 target_lens=target_lens, decoder_logits=logits, decoder_targets=dec_targets)
    # CTC: per-utterance negative log-likelihoods, averaged over the batch
    ctc_ref = F.ctc_loss(log_probs.transpose(0, 1), targets.clamp(min=0), enc_lens, target_lens,
                         reduction="none").mean()
    # attention: smoothed CE summed over each utterance's tokens, by hand
    att_ref = 0.0
    for b in range(B):
        for pos in range(target_lens[b] + 1):
            lp = logits[b, pos].log_softmax(-1)
            y = dec_targets[b, pos]
            att_ref += -(0.9 * lp[y] + 0.1 * lp.mean())
    att_ref = att_ref / B
    torch.testing.assert_close(parts["ctc"], ctc_ref)
    torch.testing.assert_close(parts["attention"], att_ref)
    torch.testing.assert_close(parts["loss"], 0.3 * ctc_ref + 0.7 * att_ref)
    # impossible CTC alignments (more tokens than frames) give 0, not inf
    short = loss.ctc(log_probs[:, :2], torch.tensor([2, 2, 2]), targets, target_lens)
    assert torch.isfinite(short)


def test_hybrid_loss_weights():
    with pytest.raises(ValueError, match="ctc_weight"):
        HybridCTCAttentionLoss(ctc_weight=1.5)
    assert not HybridCTCAttentionLoss(ctc_weight=1.0).uses_attention
    assert not HybridCTCAttentionLoss(ctc_weight=0.0).uses_ctc
