"""Relative self-attention: the skew equals the naive O(L^2) gather of Q·E_rel by (j - i);
the Music Transformer and its vanilla control are causal and their cached step() matches
the full forward pass."""

from __future__ import annotations

import pytest
import torch

from audiokit.models.music import MusicTransformer, RelativeCausalSelfAttention, skew


def naive_relative_logits(q: torch.Tensor, e: torch.Tensor, past: int) -> torch.Tensor:
    """S[i, j] = q_i · E[(K-1) + (j - (past + i))] for keys j <= past + i (else 0), looped."""
    n, h, t, _ = q.shape
    k = past + t
    out = torch.zeros(n, h, t, k)
    for i in range(t):
        for j in range(past + i + 1):
            out[:, :, i, j] = (q[:, :, i] * e[:, (k - 1) + j - (past + i)]).sum(-1)
    return out


@pytest.mark.parametrize("t,past", [(7, 0), (1, 6), (3, 4)])
def test_skew_equals_naive(t, past):
    torch.manual_seed(0)
    q, e = torch.randn(2, 3, t, 5), torch.randn(3, past + t, 5)
    fast = skew(torch.matmul(q, e.transpose(-1, -2).unsqueeze(0)))
    causal = torch.ones(t, past + t, dtype=torch.bool).tril(past)
    ref = naive_relative_logits(q, e, past)
    assert torch.allclose(fast.masked_fill(~causal, 0), ref, atol=1e-5)


def test_attention_module_uses_relative_logits_by_distance():
    """The module's logits equal (Q K^T + S_rel) / sqrt(d) with S_rel computed naively."""
    torch.manual_seed(0)
    att = RelativeCausalSelfAttention(8, 2, max_len=10, relative=True).eval()
    x = torch.randn(1, 6, 8)
    out, _ = att(x)
    q, k, v = att.qkv(x).view(1, 6, 3, 2, 4).unbind(2)
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    logits = (q @ k.transpose(-1, -2) + naive_relative_logits(q, att.rel[:, -6:], 0)) / 2.0
    logits = logits.masked_fill(~torch.ones(6, 6, dtype=torch.bool).tril(), float("-inf"))
    ref = att.out((logits.softmax(-1) @ v).transpose(1, 2).reshape(1, 6, 8))
    assert torch.allclose(out, ref, atol=1e-5)
    assert att.rel.shape == (2, 10, 4)  # O(L·D) relative embeddings, not O(L²·D)


@pytest.mark.parametrize("relative", [True, False])
def test_causal_and_cached_step_matches_forward(relative):
    torch.manual_seed(0)
    m = MusicTransformer(20, d_model=16, num_heads=2, ffn_dim=32, num_layers=2, dropout=0.0,
                         max_len=12, relative=relative, absolute_positions=not relative).eval()
    ys = torch.randint(0, 20, (2, 9))
    full = m(ys).log_softmax(-1)
    changed = ys.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 20
    assert torch.allclose(m(changed)[:, :6].log_softmax(-1), full[:, :6], atol=1e-5)
    state, steps = None, []
    for t in range(1, 10):
        logp, state = m.step(ys[:, :t], state)
        steps.append(logp)
    assert torch.allclose(torch.stack(steps, 1), full, atol=1e-5)
    with pytest.raises(ValueError, match="max_len=12"):
        m(torch.zeros(1, 13, dtype=torch.long))


def test_relative_and_vanilla_differ_only_in_positions():
    rel = MusicTransformer(20, d_model=16, num_heads=2, ffn_dim=32, num_layers=2, max_len=12)
    van = MusicTransformer(20, d_model=16, num_heads=2, ffn_dim=32, num_layers=2, max_len=12,
                           relative=False, absolute_positions=True)
    extra = {k for k in rel.state_dict()} - {k for k in van.state_dict()}
    assert extra == {"layers.0.attn.rel", "layers.1.attn.rel"}
