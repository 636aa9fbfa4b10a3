"""PIT BCE for diarization: against a brute-force loop over permutations, planted permutations,
padding, gradients, label padding for EDA, and the attractor existence loss."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from audiokit.losses.pit_bce import (
    PITBCELoss,
    attractor_existence_loss,
    count_speakers,
    permute_labels,
    pit_bce,
)


def random_batch(num_speakers: int, batch: int = 3, frames: int = 40, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(batch, frames, num_speakers, generator=gen)
    labels = (torch.rand(batch, frames, num_speakers, generator=gen) < 0.4).float()
    lens = torch.randint(frames // 2, frames + 1, (batch,), generator=gen)
    lens[0] = frames  # one utterance without padding
    return logits, labels, lens


def brute_force(logits, labels, lens):
    """Per utterance: min over every permutation of the label columns of the mean BCE."""
    losses, perms = [], []
    for b in range(logits.shape[0]):
        n = int(lens[b])
        best = None
        for perm in itertools.permutations(range(labels.shape[-1])):
            loss = F.binary_cross_entropy_with_logits(logits[b, :n], labels[b, :n][:, list(perm)])
            if best is None or loss < best[0]:
                best = (loss, perm)
        losses.append(best[0])
        perms.append(best[1])
    return torch.stack(losses).mean(), torch.tensor(perms)


@pytest.mark.parametrize("num_speakers", [2, 3, 5])  # 5: Hungarian vs all 120 permutations
def test_matches_brute_force(num_speakers):
    logits, labels, lens = random_batch(num_speakers)
    loss, perm = pit_bce(logits, labels, lens)
    ref_loss, ref_perm = brute_force(logits, labels, lens)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
    assert perm.dtype == torch.long and perm.shape == (3, num_speakers)
    assert torch.equal(perm, ref_perm)


def test_exhaustive_and_hungarian_agree():
    logits, labels, lens = random_batch(4, batch=6, seed=3)
    loss_ex, perm_ex = pit_bce(logits, labels, lens, method="exhaustive")
    loss_hu, perm_hu = pit_bce(logits, labels, lens, method="hungarian")
    torch.testing.assert_close(loss_ex, loss_hu)
    assert torch.equal(perm_ex, perm_hu)


@pytest.mark.parametrize("num_speakers", [2, 3, 4, 6])
def test_finds_planted_permutation(num_speakers):
    _, labels, lens = random_batch(num_speakers, batch=4, frames=60, seed=num_speakers)
    gen = torch.Generator().manual_seed(1)
    planted = torch.stack([torch.randperm(num_speakers, generator=gen) for _ in range(4)])
    permuted = labels.gather(2, planted.unsqueeze(1).expand(-1, labels.shape[1], -1))
    logits = 20.0 * (2 * permuted - 1)
    loss, perm = pit_bce(logits, labels, lens)
    assert torch.equal(perm, planted)
    assert torch.equal(permute_labels(labels, perm), permuted)
    assert loss < 1e-6


def test_padding_content_is_ignored():
    logits, labels, lens = random_batch(3, batch=4, seed=5)
    loss, perm = pit_bce(logits, labels, lens)
    pad = torch.arange(logits.shape[1]).view(1, -1, 1) >= lens.view(-1, 1, 1)
    noisy_logits = torch.where(pad, torch.full_like(logits, float("nan")), logits)
    noisy_labels = torch.where(pad, torch.ones_like(labels), labels)
    noisy_logits.requires_grad_(True)
    loss2, perm2 = pit_bce(noisy_logits, noisy_labels, lens)
    torch.testing.assert_close(loss2, loss)
    assert torch.equal(perm2, perm)
    loss2.backward()
    assert torch.isfinite(noisy_logits.grad).all()
    assert (noisy_logits.grad[pad.expand_as(logits)] == 0).all()
    # And each utterance alone, cut to its length, gives the same per-utterance mean.
    alone = [pit_bce(logits[b:b + 1, :n], labels[b:b + 1, :n], lens[b:b + 1])[0]
             for b, n in enumerate(lens.tolist())]
    torch.testing.assert_close(loss, torch.stack(alone).mean())


def test_gradient_flows():
    logits, labels, lens = random_batch(2, seed=7)
    logits.requires_grad_(True)
    loss, _ = pit_bce(logits, labels, lens)
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_fewer_label_speakers_are_padded_silent():
    logits, labels, lens = random_batch(3, seed=9)
    loss, perm = pit_bce(logits, labels[..., :2], lens)
    padded = torch.cat([labels[..., :2], torch.zeros_like(labels[..., :1])], dim=-1)
    ref_loss, ref_perm = pit_bce(logits, padded, lens)
    torch.testing.assert_close(loss, ref_loss)
    assert torch.equal(perm, ref_perm)
    assert permute_labels(labels[..., :2], perm).shape == logits.shape
    with pytest.raises(ValueError, match="only outputs 2"):
        pit_bce(logits[..., :2], labels, lens)


def test_existence_loss_formula():
    gen = torch.Generator().manual_seed(0)
    attractor_logits = torch.randn(4, 5, generator=gen)
    counts = torch.tensor([0, 1, 2, 4])
    terms = []
    for b, n in enumerate(counts.tolist()):
        for a in range(n + 1):  # n existing attractors, then one that must not exist
            p = torch.sigmoid(attractor_logits[b, a])
            terms.append(-torch.log(p) if a < n else -torch.log(1 - p))
    expected = torch.stack(terms).mean()
    torch.testing.assert_close(attractor_existence_loss(attractor_logits, counts), expected)
    with pytest.raises(ValueError, match="one attractor more"):
        attractor_existence_loss(attractor_logits, torch.tensor([5, 1, 1, 1]))


def test_module_wrapper():
    logits, labels, lens = random_batch(2, seed=11)
    attractor_logits = torch.randn(3, 5)
    loss, perm = PITBCELoss(existence_weight=0.5)(logits, labels, lens, attractor_logits)
    ref, ref_perm = pit_bce(logits, labels, lens)
    ref = ref + 0.5 * attractor_existence_loss(attractor_logits, count_speakers(labels, lens))
    torch.testing.assert_close(loss, ref)
    assert torch.equal(perm, ref_perm)
    per_utt, _ = PITBCELoss(reduction="none")(logits, labels, lens)
    assert per_utt.shape == (3,)
    torch.testing.assert_close(per_utt.mean(), pit_bce(logits, labels, lens)[0])
