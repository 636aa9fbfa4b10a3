"""Guided attention loss against its formula on a hand-sized example."""

import math

import torch

from audiokit.losses.guided_attention import GuidedAttentionLoss, guided_attention_weights


def test_weights_follow_the_formula():
    w = guided_attention_weights(torch.tensor([4, 2]), torch.tensor([3, 3]), sigma=0.4)
    assert w.shape == (2, 4, 3)
    for b, (T, N) in enumerate([(4, 3), (2, 3)]):
        for t in range(4):
            for n in range(3):
                want = 1 - math.exp(-((n / N - t / T) ** 2) / (2 * 0.4 ** 2)) if t < T and n < N else 0.0
                assert abs(float(w[b, t, n]) - want) < 1e-6
    # by hand: T = N = 2 block of item 1, t = 1, n = 0: 1 - exp(-(0 - 1/2)^2 / 0.32)
    assert abs(float(w[1, 1, 0]) - (1 - math.exp(-0.25 / 0.32))) < 1e-6


def test_loss_is_the_mean_weighted_attention_over_valid_cells():
    torch.manual_seed(0)
    dec_lens, enc_lens = torch.tensor([4, 2]), torch.tensor([3, 2])
    att = torch.softmax(torch.randn(2, 4, 3), -1)
    loss = GuidedAttentionLoss(0.4)(att, dec_lens, enc_lens)
    total, cells = 0.0, 0
    for b in range(2):
        T, N = int(dec_lens[b]), int(enc_lens[b])
        for t in range(T):
            for n in range(N):
                total += (1 - math.exp(-((n / N - t / T) ** 2) / 0.32)) * float(att[b, t, n])
                cells += 1
    assert abs(float(loss) - total / cells) < 1e-6


def test_diagonal_attention_costs_less_than_off_diagonal():
    eye = torch.eye(5)[None]
    anti = torch.eye(5).flip(1)[None]
    lens = torch.tensor([5])
    loss = GuidedAttentionLoss()
    assert float(loss(eye, lens, lens)) < 0.05 < float(loss(anti, lens, lens))
