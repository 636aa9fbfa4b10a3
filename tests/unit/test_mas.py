"""Monotonic alignment search against a brute-force search over all monotonic paths."""

import itertools

import pytest
import torch

from audiokit.models.tts.alignment import monotonic_alignment


def brute_force(log_p, n_tokens, n_frames):
    """Best path by trying every split of the frames into n_tokens non-empty runs."""
    best, best_path = -float("inf"), None
    for cuts in itertools.combinations(range(1, n_frames), n_tokens - 1):
        bounds = [0, *cuts, n_frames]
        score = sum(float(log_p[n, bounds[n]:bounds[n + 1]].sum()) for n in range(n_tokens))
        if score > best:
            best = score
            best_path = torch.zeros(log_p.shape)
            for n in range(n_tokens):
                best_path[n, bounds[n]:bounds[n + 1]] = 1
    return best, best_path


def dynamic_programme(log_p, n_tokens, n_frames):
    """The textbook recursion Q[n, t] = log_p[n, t] + max(Q[n, t-1], Q[n-1, t-1])."""
    q = torch.full((n_tokens, n_frames), -float("inf"), dtype=torch.float64)
    q[0, 0] = log_p[0, 0]
    for t in range(1, n_frames):
        for n in range(min(t + 1, n_tokens)):
            prev = max(q[n, t - 1], q[n - 1, t - 1] if n else -float("inf"))
            q[n, t] = log_p[n, t] + prev
    return float(q[n_tokens - 1, n_frames - 1])


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force(seed):
    torch.manual_seed(seed)
    text_lens, feat_lens = torch.tensor([3, 4, 2, 1]), torch.tensor([7, 8, 5, 3])
    log_p = torch.randn(4, 4, 8)
    path = monotonic_alignment(log_p, text_lens, feat_lens)
    for b in range(4):
        n, t = int(text_lens[b]), int(feat_lens[b])
        best, best_path = brute_force(log_p[b, :n, :t], n, t)
        assert torch.equal(path[b, :n, :t], best_path)
        assert abs(float((path[b] * log_p[b]).sum()) - best) < 1e-5
        assert abs(dynamic_programme(log_p[b].double(), n, t) - best) < 1e-5
        assert float(path[b].sum()) == t and float(path[b, n:].sum()) == 0 and float(path[b, :, t:].sum()) == 0


def test_fewer_frames_than_tokens_is_an_error():
    with pytest.raises(ValueError, match="item 0 has 2 frames for 3 tokens"):
        monotonic_alignment(torch.randn(1, 3, 4), torch.tensor([3]), torch.tensor([2]))
