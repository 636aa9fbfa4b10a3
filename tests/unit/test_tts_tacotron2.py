"""Tacotron 2: shapes, padding, teacher forcing is causal, the stop token and the length
guard, and the loss against a hand computation."""

import math

import pytest
import torch
import torch.nn.functional as F

from audiokit.losses.tacotron2 import Tacotron2Loss
from audiokit.models.tts.tacotron2 import Tacotron2

SMALL = dict(n_mels=8, embed_dim=16, attention_rnn_dim=24, decoder_rnn_dim=24, attention_dim=8,
             location_filters=4, location_kernel=5, prenet_dim=8, postnet_dim=8, postnet_layers=2)


def model(r=1, dropout=0.0, **kw):
    torch.manual_seed(0)
    return Tacotron2(vocab_size=12, reduction_factor=r, dropout=dropout, rnn_dropout=0.0, **SMALL, **kw).eval()


@pytest.mark.parametrize("r", [1, 2, 3])
def test_shapes(r):
    m = model(r)
    tokens = torch.randint(1, 12, (2, 7))
    out = m(tokens, torch.tensor([7, 4]), torch.randn(2, 6 * r, 8))
    assert out.before.shape == out.after.shape == (2, 6 * r, 8)
    assert out.stop_logits.shape == (2, 6 * r)
    assert out.attention.shape == (2, 6, 7)
    assert torch.allclose(out.attention.sum(-1), torch.ones(2, 6))
    assert float(out.attention[1, :, 4:].detach().abs().max()) == 0.0  # padded tokens get no attention
    with pytest.raises(ValueError, match="multiple of r=2"):
        model(2)(tokens, torch.tensor([7, 4]), torch.randn(2, 5, 8))


def test_padding_does_not_change_an_utterance():
    m = model()
    tokens = torch.randint(1, 12, (1, 5))
    mels = torch.randn(1, 6, 8)
    alone = m(tokens, torch.tensor([5]), mels)
    padded = m(torch.cat([tokens, torch.zeros(1, 3, dtype=torch.long)], 1), torch.tensor([5]), mels)
    assert torch.allclose(alone.before, padded.before, atol=1e-5)
    assert torch.allclose(alone.attention, padded.attention[:, :, :5], atol=1e-6)


@pytest.mark.parametrize("r", [1, 2])
def test_teacher_forcing_is_causal(r):
    """Decoder step s sees true frames of steps < s only (its input: the last frame of s - 1)."""
    m = model(r)
    tokens = torch.randint(1, 12, (1, 6))
    mels = torch.randn(1, 8 * r, 8)
    changed = mels.clone()
    changed[:, 3 * r - 1 :] += 1.0  # the last frame of step 2 and everything after
    a = m(tokens, torch.tensor([6]), mels).before
    b = m(tokens, torch.tensor([6]), changed).before
    assert torch.equal(a[:, : 3 * r], b[:, : 3 * r])      # steps 0..2 unchanged
    assert not torch.allclose(a[:, 3 * r :], b[:, 3 * r :])  # step 3 reads the changed frame


def test_stop_token_and_length_guard():
    m = model(r=2)
    tokens = torch.randint(1, 12, (5,))
    with torch.no_grad():
        m.stop.weight.zero_()
        m.stop.bias.copy_(torch.tensor([-5.0, 5.0]))  # the second frame of the first step stops
    frames, attention, stopped = m.inference(tokens, max_steps=10)
    assert stopped and frames.shape == (2, 8) and attention.shape == (1, 5)
    with torch.no_grad():
        m.stop.bias.fill_(-5.0)  # never stops: the guard ends it
    frames, attention, stopped = m.inference(tokens, max_steps=10)
    assert not stopped and frames.shape == (20, 8) and attention.shape == (10, 5)


def test_prenet_dropout_stays_on_at_inference():
    m = model(dropout=0.5)
    x = torch.ones(4, 8)
    assert not torch.equal(m.prenet(x), m.prenet(x))


def test_loss_by_hand():
    torch.manual_seed(1)
    before, after, target = torch.randn(3, 2, 4, 2).unbind(0)  # [B=2, T=4, n_mels=2]
    stop = torch.randn(2, 4)
    attention = torch.softmax(torch.randn(2, 2, 3), -1)       # r = 2: 2 steps
    frame_lens, token_lens = torch.tensor([4, 3]), torch.tensor([3, 2])
    loss = Tacotron2Loss(stop_pos_weight=5.0)
    parts = loss(before, after, stop, attention, target, frame_lens, token_lens, r=2)
    valid = [(b, t) for b in range(2) for t in range(int(frame_lens[b]))]
    cells = len(valid) * 2
    l1 = sum(float((before[b, t] - target[b, t]).abs().sum() + (after[b, t] - target[b, t]).abs().sum())
             for b, t in valid) / cells
    mse = sum(float((before[b, t] - target[b, t]).square().sum() + (after[b, t] - target[b, t]).square().sum())
              for b, t in valid) / cells
    bce = 0.0
    for b, t in valid:
        y = 1.0 if t == int(frame_lens[b]) - 1 else 0.0
        p = torch.sigmoid(stop[b, t])
        bce += -(5.0 * y * math.log(p) + (1 - y) * math.log(1 - p))
    assert abs(float(parts["l1"]) - l1) < 1e-5
    assert abs(float(parts["mse"]) - mse) < 1e-5
    assert abs(float(parts["stop"]) - bce / len(valid)) < 1e-5
    # guided attention over ceil(frames / r) = [2, 2] steps and [3, 2] tokens
    ga, n_cells = 0.0, 0
    for b, (T, N) in enumerate([(2, 3), (2, 2)]):
        for t in range(T):
            for n in range(N):
                ga += (1 - math.exp(-((n / N - t / T) ** 2) / 0.32)) * float(attention[b, t, n])
                n_cells += 1
    assert abs(float(parts["guided_attention"]) - ga / n_cells) < 1e-5
    total = parts["l1"] + parts["mse"] + parts["stop"] + parts["guided_attention"]
    assert torch.allclose(parts["loss"], total)


def test_a_few_steps_learn_one_utterance():
    """Teacher-forced loss on one utterance falls well within 60 Adam steps."""
    torch.manual_seed(0)
    m = Tacotron2(vocab_size=12, reduction_factor=2, dropout=0.0, rnn_dropout=0.0, **SMALL)
    tokens, mels = torch.randint(1, 12, (1, 6)), torch.randn(1, 20, 8).cumsum(1) / 5
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    losses = []
    for _ in range(60):
        out = m(tokens, torch.tensor([6]), mels)
        loss = F.l1_loss(out.after, mels) + F.l1_loss(out.before, mels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
