"""VADNet: frame-rate logits, padding handling, size, and it learns a toy speech/silence task."""

import pytest
import torch

from audiokit.models.diarization import VADNet


def test_shapes_lengths_and_padding():
    torch.manual_seed(0)
    model = VADNet(40, num_outputs=3).eval()
    feats = torch.randn(3, 50, 40)
    lens = torch.tensor([50, 20, 0])
    logits, out_lens = model(feats, lens)
    assert logits.shape == (3, 50, 3)
    assert torch.equal(out_lens, lens)
    assert logits[1, 20:].abs().max() == 0 and logits[2].abs().max() == 0
    # Padding content never reaches real frames (conv and backward GRU included).
    noisy = feats.clone()
    noisy[1, 20:] = 1e3
    torch.testing.assert_close(model(noisy, lens)[0][1, :20], logits[1, :20])
    # A lone utterance gives the same scores as inside a padded batch.
    torch.testing.assert_close(model(feats[1:2, :20], lens[1:2])[0][0], logits[1, :20])
    with pytest.raises(ValueError, match="40 feature bins"):
        model(torch.randn(1, 5, 80), torch.tensor([5]))


@pytest.mark.parametrize(("input_dim", "hidden_dim", "num_layers"),
                         [(40, 64, 2), (80, 64, 2), (64, 96, 1)])
def test_parameter_count_in_range(input_dim, hidden_dim, num_layers):
    model = VADNet(input_dim, hidden_dim=hidden_dim, num_layers=num_layers)
    assert 100_000 <= sum(p.numel() for p in model.parameters()) <= 300_000


def test_gradients_reach_every_parameter():
    model = VADNet(40)
    logits, _ = model(torch.randn(2, 30, 40), torch.tensor([30, 17]))
    logits.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def toy_batch(generator, batch=8, frames=120, dim=40):
    """Speech frames are loud (log energies around +1), silence quiet (around -1); runs of
    5-30 frames alternate, so the model must label each frame, not the utterance."""
    labels = torch.zeros(batch, frames)
    for b in range(batch):
        t, state = 0, int(torch.randint(2, (1,), generator=generator))
        while t < frames:
            run = int(torch.randint(5, 31, (1,), generator=generator))
            labels[b, t:t + run] = state
            t, state = t + run, 1 - state
    level = 2 * labels - 1  # +1 speech, -1 silence
    feats = level.unsqueeze(-1) + 0.7 * torch.randn(batch, frames, dim, generator=generator)
    return feats, labels


def test_overfits_toy_speech_task():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = VADNet(40, hidden_dim=32, num_layers=1, dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    feats, labels = toy_batch(generator)
    lens = torch.tensor([120, 120, 100, 90, 120, 60, 120, 110])
    mask = torch.arange(120)[None] < lens[:, None]
    for _ in range(80):  # ~99 % after 60 steps; kept short for the 2-core CI machine
        logits, _ = model(feats, lens)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[..., 0][mask],
                                                                    labels[mask])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    test_feats, test_labels = toy_batch(generator)  # fresh frames from the same task
    with torch.no_grad():
        logits, _ = model.eval()(test_feats, torch.full((8,), 120))
    accuracy = ((logits[..., 0] > 0).float() == test_labels).float().mean()
    assert accuracy > 0.95


def test_subsampling_keeps_every_sth_frame():
    import torch

    from audiokit.models.diarization.vad_net import VADNet

    net = VADNet(8, hidden_dim=8, subsampling=4).eval()
    feats, lens = torch.randn(2, 10, 8), torch.tensor([10, 5])
    logits, out_lens = net(feats, lens)
    assert logits.shape == (2, 3, 1) and out_lens.tolist() == [3, 2]
    assert (logits[1, 2:] == 0).all()  # padding frames stay 0
    alone, _ = net(feats[1:, :5], lens[1:])
    assert torch.allclose(alone[0], logits[1, :2], atol=1e-5)
