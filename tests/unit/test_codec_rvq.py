"""Residual vector quantiser: round trip, k-means init, EMA update by hand, dead codes, dropout."""

from __future__ import annotations

import random

import torch

from audiokit.models.codec.rvq import EMAVectorQuantizer, ResidualVectorQuantizer, kmeans


def test_rvq_round_trip_codes_vectors_codes():
    """Codebooks at falling scales, as a trained RVQ's residuals: any codes decode to vectors
    that encode back to the same codes; encode and forward agree."""
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(dim=8, codebook_size=16, num_quantizers=3, kmeans_init=False)
    for layer, scale in zip(rvq.layers, (10.0, 1.0, 0.1), strict=True):
        layer.embed.copy_(scale * torch.randn(16, 8))
    rvq.eval()
    codes = torch.randint(0, 16, (3, 3, 20))
    vectors = rvq.decode(codes)
    assert vectors.shape == (3, 8, 20)
    assert torch.equal(rvq.encode(vectors), codes)
    quantized, codes2, _ = rvq(vectors)
    assert torch.equal(codes2, codes)
    torch.testing.assert_close(quantized, vectors)


def test_trained_codebook_round_trip():
    torch.manual_seed(0)
    vq = EMAVectorQuantizer(dim=8, codebook_size=16, kmeans_iters=5)
    vq.train()
    vq(torch.randn(200, 8))
    vq.eval()
    codes = torch.arange(16)
    assert torch.equal(vq.encode(vq.decode(codes)), codes)


def test_residual_coding_error_shrinks_with_more_codebooks():
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(dim=4, codebook_size=32, num_quantizers=4, quantizer_dropout=0)
    x = torch.randn(2, 4, 400)
    rvq.train()
    rvq(x)
    rvq.eval()
    errors = [float(((rvq.decode(rvq.encode(x, n)) - x) ** 2).mean()) for n in range(1, 5)]
    assert errors == sorted(errors, reverse=True) and errors[-1] < errors[0] / 2


def test_kmeans_finds_separated_clusters():
    torch.manual_seed(0)
    centres = torch.tensor([[5.0, 5.0], [-5.0, 5.0], [0.0, -5.0]])
    x = torch.cat([c + 0.1 * torch.randn(100, 2) for c in centres])
    found, counts = kmeans(x, 3, iters=10)
    dist = torch.cdist(centres, found).min(dim=1).values
    assert (dist < 0.1).all()
    assert sorted(counts.tolist()) == [100.0, 100.0, 100.0]


def test_first_training_batch_initialises_codebook_by_kmeans():
    torch.manual_seed(0)
    vq = EMAVectorQuantizer(dim=2, codebook_size=3, decay=1.0, dead_code_threshold=0)
    assert not bool(vq.inited)
    centres = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    x = torch.cat([c + 0.05 * torch.randn(50, 2) for c in centres])
    vq.train()
    vq(x)
    assert bool(vq.inited)
    assert (torch.cdist(centres, vq.embed).min(dim=1).values < 0.05).all()
    # a second batch does not re-initialise (decay 1: the EMA leaves the codebook as it is)
    before = vq.embed.clone()
    vq(x + 10)
    torch.testing.assert_close(vq.embed, before)


def test_ema_update_matches_by_hand():
    torch.manual_seed(0)
    decay, eps, k = 0.9, 1e-5, 4
    vq = EMAVectorQuantizer(dim=3, codebook_size=k, decay=decay, epsilon=eps, kmeans_init=False,
                            dead_code_threshold=0)
    cluster_size, embed_avg = vq.cluster_size.clone(), vq.embed_avg.clone()
    x = torch.randn(10, 3)
    codes = torch.tensor([0, 0, 1, 1, 1, 2, 0, 1, 0, 1])
    vq.ema_update(x, codes)
    # by hand, code by code
    for j in range(k):
        members = x[codes == j]
        cluster_size[j] = decay * cluster_size[j] + (1 - decay) * len(members)
        embed_avg[j] = decay * embed_avg[j] + (1 - decay) * members.sum(0)
    total = cluster_size.sum()
    smoothed = (cluster_size + eps) / (total + k * eps) * total
    torch.testing.assert_close(vq.cluster_size, cluster_size)
    torch.testing.assert_close(vq.embed_avg, embed_avg)
    torch.testing.assert_close(vq.embed, embed_avg / smoothed[:, None])


def test_dead_codes_restart_on_batch_vectors():
    torch.manual_seed(0)
    vq = EMAVectorQuantizer(dim=2, codebook_size=4, kmeans_init=False, dead_code_threshold=1.0)
    vq.cluster_size.copy_(torch.tensor([5.0, 0.1, 3.0, 0.5]))
    vq.embed.copy_(torch.full((4, 2), 100.0))
    alive = vq.embed[[0, 2]].clone()
    x = torch.randn(6, 2)
    assert vq.restart_dead_codes(x) == 2
    for j in (1, 3):   # each dead code is now one of the batch vectors
        assert (x - vq.embed[j]).abs().sum(dim=1).min() == 0
        assert vq.cluster_size[j] == 1.0
        torch.testing.assert_close(vq.embed_avg[j], vq.embed[j] * 1.0)
    torch.testing.assert_close(vq.embed[[0, 2]], alive)


def test_codes_unused_in_training_get_restarted():
    """A codebook initialised far from the data: every code but the nearest starves and is
    moved onto the data, so usage spreads out."""
    torch.manual_seed(0)
    vq = EMAVectorQuantizer(dim=2, codebook_size=8, decay=0.5, kmeans_init=False,
                            dead_code_threshold=1.0)
    vq.embed.copy_(torch.randn(8, 2) + 50)
    vq.train()
    for _ in range(5):
        _, codes, _ = vq(torch.randn(256, 2))
    assert len(codes.unique()) >= 6


def test_straight_through_and_commitment():
    torch.manual_seed(0)
    vq = EMAVectorQuantizer(dim=2, codebook_size=4, kmeans_init=False, dead_code_threshold=0)
    vq.eval()
    x = torch.randn(5, 2, requires_grad=True)
    quantized, codes, commitment = vq(x)
    torch.testing.assert_close(quantized, vq.embed[codes])
    torch.testing.assert_close(commitment, ((x - vq.embed[codes]) ** 2).mean())
    quantized.sum().backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x))   # identity gradient


def test_quantizer_dropout_draws_among_choices():
    random.seed(0)
    rvq = ResidualVectorQuantizer(dim=4, codebook_size=8, num_quantizers=6,
                                  n_q_choices=[2, 4, 6], quantizer_dropout=1.0)
    rvq.train()
    seen = {rvq(torch.randn(1, 4, 30))[1].shape[1] for _ in range(30)}
    assert seen == {2, 4, 6}
    rvq.eval()
    assert rvq(torch.randn(1, 4, 30))[1].shape[1] == 6
    rvq.quantizer_dropout = 0.0
    rvq.train()
    assert {rvq(torch.randn(1, 4, 30))[1].shape[1] for _ in range(5)} == {6}
