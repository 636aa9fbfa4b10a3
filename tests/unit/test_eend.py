"""EEND / EEND-EDA: splicing, shapes, padding invariance, count estimation, parameter count,
and tiny models that learn a synthetic two-speaker task (activity and speaker counting)."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from audiokit.losses.pit_bce import attractor_existence_loss, permute_labels, pit_bce
from audiokit.models.diarization.eend import EEND, INACTIVE_LOGIT, splice_and_subsample

BINS = 8


def tiny(**kwargs) -> EEND:
    args = dict(d_model=32, num_heads=2, num_layers=2, ff_dim=64, dropout=0.0)
    args.update(kwargs)
    return EEND(BINS, **args)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_splice_and_subsample_against_loop():
    feats = torch.randn(2, 11, 3)
    lens = torch.tensor([11, 7])
    out, out_lens = splice_and_subsample(feats, lens, context=2, subsampling=3)
    assert out.shape == (2, 4, 15) and out_lens.tolist() == [4, 3]  # ceil(11/3), ceil(7/3)
    for b, n in enumerate(lens.tolist()):
        for k in range(out.shape[1]):
            frames = [feats[b, t] if 0 <= t < n else torch.zeros(3)
                      for t in range(3 * k - 2, 3 * k + 3)]
            torch.testing.assert_close(out[b, k], torch.cat(frames))


@pytest.mark.parametrize("eda", [False, True])
@pytest.mark.parametrize("context,subsampling", [(0, 1), (7, 10), (2, 3)])
def test_shapes(eda, context, subsampling):
    model = tiny(context=context, subsampling=subsampling, eda=eda, num_speakers=3)
    lens = torch.tensor([95, 60, 1])
    out = model(torch.randn(3, 95, BINS), lens)
    frames = -(-95 // subsampling)
    assert torch.equal(out["lens"], model.output_lens(lens))
    assert out["lens"].tolist() == [-(-n // subsampling) for n in lens.tolist()]
    assert out["num_speakers"].shape == (3,) and out["num_speakers"].dtype == torch.long
    if eda:
        assert out["attractor_logits"].shape == (3, model.max_speakers + 1)
        width = max(int(out["num_speakers"].max()), 1)
        assert out["logits"].shape == (3, frames, width)
        given = model(torch.randn(3, 95, BINS), lens, num_speakers=torch.tensor([1, 2, 3]))
        assert given["logits"].shape == (3, frames, 3)
        assert (given["logits"][0, :, 1:] == INACTIVE_LOGIT).all()
        assert model(torch.randn(3, 95, BINS), lens, num_speakers=2)["logits"].shape[-1] == 2
    else:
        assert out["attractor_logits"] is None
        assert out["logits"].shape == (3, frames, 3)
        assert out["num_speakers"].tolist() == [3, 3, 3]
    assert model.out_frame_shift(0.01) == pytest.approx(0.01 * subsampling)


@pytest.mark.parametrize("eda", [False, True])
def test_padded_batch_equals_each_utterance_alone(eda):
    torch.manual_seed(0)
    model = tiny(context=2, subsampling=3, eda=eda, dropout=0.1).eval()
    lens = torch.tensor([40, 25, 13])
    feats = torch.randn(3, 40, BINS)
    feats[1, 25:] = 100.0  # padding content must not matter
    feats[2, 13:] = -7.0
    with torch.no_grad():
        batch = model(feats, lens)
        for b, n in enumerate(lens.tolist()):
            alone = model(feats[b:b + 1, :n], lens[b:b + 1])
            frames = int(alone["lens"][0])
            assert int(batch["lens"][b]) == frames
            width = alone["logits"].shape[-1]
            torch.testing.assert_close(batch["logits"][b, :frames, :width], alone["logits"][0],
                                       atol=1e-5, rtol=1e-5)
            if eda:
                torch.testing.assert_close(batch["attractor_logits"][b],
                                           alone["attractor_logits"][0], atol=1e-5, rtol=1e-5)
                assert batch["num_speakers"][b] == alone["num_speakers"][0]


def test_eda_count_estimation():
    model = tiny(eda=True, max_speakers=3).eval()
    feats, lens = torch.randn(2, 30, BINS), torch.tensor([30, 20])
    with torch.no_grad():
        nn.init.zeros_(model.existence.weight)
        nn.init.constant_(model.existence.bias, 5.0)  # every attractor exists -> capped count
        out = model(feats, lens)
        assert out["num_speakers"].tolist() == [3, 3] and out["logits"].shape == (2, 30, 3)
        nn.init.constant_(model.existence.bias, -5.0)  # none exists -> one silent column
        out = model(feats, lens)
        assert out["num_speakers"].tolist() == [0, 0] and out["logits"].shape == (2, 30, 1)
        assert (out["logits"] == INACTIVE_LOGIT).all()
        # Only leading attractors count: exists, exists, not, exists -> 2.
        logits = torch.tensor([[3.0, 3.0, -3.0, 3.0], [-3.0, 3.0, 3.0, 3.0]])
        assert model.estimate_counts(logits).tolist() == [2, 0]
    # A given count above max_speakers gets enough attractors to score it.
    out = model(feats, lens, num_speakers=torch.tensor([5, 1]))
    assert out["attractor_logits"].shape == (2, 6) and out["logits"].shape == (2, 30, 5)


def test_parameter_count_sa_eend():
    """SA-EEND (4 layers, d 256, 4 heads, FF 1024) on 23 log-mels spliced +-7 (345 inputs)."""
    model = EEND(23, context=7, subsampling=10)
    d, ff, layers = 256, 1024, 4
    per_layer = (4 * d * d + 4 * d) + (d * ff + ff + ff * d + d) + 2 * 2 * d
    expected = (345 * d + d) + 2 * d + layers * per_layer + 2 * d + (d * 2 + 2)
    eda = EEND(23, context=7, subsampling=10, eda=True)
    print(f"SA-EEND params: {n_params(model):,}; with EDA: {n_params(eda):,}")
    assert n_params(model) == expected  # 3,249,154
    lstm = 4 * (d * d + d * d + 2 * d)
    assert n_params(eda) == expected - (d * 2 + 2) + 2 * lstm + d + 1


def test_rejects_bad_input():
    model = tiny()
    with pytest.raises(ValueError, match="feature bins"):
        model(torch.randn(1, 10, BINS + 1), torch.tensor([10]))
    with pytest.raises(ValueError, match="no frames"):
        model(torch.randn(2, 10, BINS), torch.tensor([10, 0]))


# --- tiny training runs on synthetic conversations -------------------------------------------

def synthetic_batch(gen: torch.Generator, batch: int, directions: torch.Tensor,
                    counts: torch.Tensor | None = None, frames: int = 48, block: int = 6):
    """Conversations between ``counts[b]`` (default 2) speakers drawn from a pool: each speaker
    adds its own direction to the frames where it talks, plus noise.

    As the pool is larger than the outputs, which output a speaker lands on depends on the
    utterance. Activity is piecewise constant over ``block``-frame blocks (each on with p = 0.5,
    at least one on), so speakers overlap sometimes. Labels [B, T, max(counts)]: utterances
    with fewer speakers have silent trailing columns.
    """
    if counts is None:
        counts = torch.full((batch,), 2)
    lens = torch.randint(frames * 2 // 3, frames + 1, (batch,), generator=gen)
    labels = torch.zeros(batch, frames, int(counts.max()))
    feats = 0.5 * torch.randn(batch, frames, directions.shape[1], generator=gen)
    for b in range(batch):
        n = int(lens[b])
        speakers = torch.randperm(directions.shape[0], generator=gen)[: int(counts[b])]
        n_blocks = -(-n // block)
        for col, spk in enumerate(speakers.tolist()):
            on = torch.rand(n_blocks, generator=gen) < 0.5
            on[torch.randint(n_blocks, (1,), generator=gen)] = True
            labels[b, :n, col] = on.repeat_interleave(block)[:n].float()
            feats[b] += labels[b, :, col].unsqueeze(-1) * directions[spk]
    return feats, lens, labels, counts


def frame_error(logits: torch.Tensor, labels: torch.Tensor, lens: torch.Tensor) -> float:
    _, perm = pit_bce(logits, labels, lens)
    aligned = permute_labels(labels, perm)
    mask = (torch.arange(labels.shape[1]).view(1, -1) < lens.view(-1, 1)).unsqueeze(-1)
    wrong = ((logits > 0).float() != aligned) & mask
    return wrong.sum().item() / (mask.sum().item() * logits.shape[-1])


def test_tiny_eend_learns_two_speakers():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    directions = 1.5 * torch.randn(4, BINS, generator=gen)  # a pool of 4 speakers
    model = EEND(BINS, d_model=64, num_heads=4, num_layers=2, ff_dim=128, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    start = time.perf_counter()
    for _ in range(150):
        feats, lens, labels, _ = synthetic_batch(gen, 16, directions)
        out = model(feats, lens)
        loss, _ = pit_bce(out["logits"], labels, out["lens"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        feats, lens, labels, _ = synthetic_batch(gen, 64, directions)
        err = frame_error(model(feats, lens)["logits"], labels, lens)
    print(f"EEND synthetic: frame error {err:.3f}, {time.perf_counter() - start:.1f} s")
    assert err < 0.10


def test_tiny_eda_learns_to_count():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    directions = 1.5 * torch.randn(4, BINS, generator=gen)  # a pool of 4 speakers
    model = EEND(BINS, d_model=64, num_heads=4, num_layers=2, ff_dim=128, dropout=0.0,
                 eda=True, max_speakers=3)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    start = time.perf_counter()
    for _ in range(200):
        counts = torch.randint(1, 3, (16,), generator=gen)
        feats, lens, labels, counts = synthetic_batch(gen, 16, directions, counts)
        out = model(feats, lens, num_speakers=counts)
        loss, _ = pit_bce(out["logits"], labels, out["lens"])  # both max(counts) wide
        loss = loss + attractor_existence_loss(out["attractor_logits"], counts)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        counts = torch.randint(1, 3, (64,), generator=gen)
        feats, lens, labels, counts = synthetic_batch(gen, 64, directions, counts)
        accuracy = (model(feats, lens)["num_speakers"] == counts).float().mean().item()
        err = frame_error(model(feats, lens, num_speakers=counts)["logits"], labels, lens)
    print(f"EEND-EDA synthetic: count accuracy {accuracy:.3f}, frame error {err:.3f}, "
          f"{time.perf_counter() - start:.1f} s")
    assert accuracy > 0.9 and err < 0.10
