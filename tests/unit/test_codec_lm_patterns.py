"""Codebook patterns: exact round trips, the layouts by hand, and the delay pattern's causal
structure (which codes a prediction may depend on)."""

from __future__ import annotations

import pytest
import torch

from audiokit.models.codec_lm.patterns import PATTERNS, get_pattern

PAD = 99


@pytest.mark.parametrize("name", sorted(PATTERNS))
@pytest.mark.parametrize("k,t", [(1, 1), (1, 7), (2, 5), (4, 1), (4, 13), (8, 30)])
def test_round_trip_is_exact(name, k, t):
    g = torch.Generator().manual_seed(k * 100 + t)
    codes = torch.randint(0, 64, (3, k, t), generator=g)
    pattern = get_pattern(name, k)
    steps, valid = pattern.build(codes, PAD)
    assert steps.shape == (3, k, pattern.num_steps(t)) and valid.shape == steps.shape[1:]
    assert torch.equal(pattern.revert(steps, t), codes)
    # every position holds a code or the pad, each code exactly one position
    frame = pattern.frame_of(steps.shape[2])
    holds = (frame >= 0) & (frame < t)
    assert int(holds.sum()) == k * t
    assert ((steps == PAD) == ~holds[None]).all()
    assert (valid <= holds).all()   # the AR LM predicts only positions that hold codes


def test_layouts_by_hand():
    codes = torch.tensor([[[1, 2, 3], [4, 5, 6]]])  # K=2, T=3
    p = PAD
    steps, valid = get_pattern("delay", 2).build(codes, p)
    assert steps[0].tolist() == [[1, 2, 3, p], [p, 4, 5, 6]]
    assert valid.tolist() == [[True, True, True, False], [False, True, True, True]]
    steps, _ = get_pattern("flattened", 2).build(codes, p)
    assert steps[0].tolist() == [[1, p, 2, p, 3, p], [p, 4, p, 5, p, 6]]
    steps, valid = get_pattern("parallel", 2).build(codes, p)
    assert steps[0].tolist() == codes[0].tolist() and valid.all()
    steps, valid = get_pattern("valle", 2).build(codes, p)
    assert steps[0].tolist() == codes[0].tolist()
    assert valid.tolist() == [[True] * 3, [False] * 3]   # the NAR model fills codebook 1


def visible(pattern, k: int, t: int, frames: int) -> set[tuple[int, int]]:
    """Codes (j, u) an AR LM has been fed when it predicts code (k, t): the step columns
    before the one holding (k, t), valid positions only."""
    cols, valid = pattern.index(frames)
    s = int(cols[k, t])
    return {(j, u) for j in range(pattern.n_q) for u in range(frames)
            if cols[j, u] < s and valid[j, cols[j, u]]}


@pytest.mark.parametrize("k_total", [2, 4])
def test_delay_never_sees_the_future(k_total):
    pattern, frames = get_pattern("delay", k_total), 9
    for k in range(k_total):
        for t in range(frames):
            seen = visible(pattern, k, t, frames)
            # never its own codebook at this frame or later, never a finer codebook at this
            # frame or later: exactly the codes with u + j < t + k (MusicGen's delay)
            assert not any(j == k and u >= t for j, u in seen)
            assert not any(j > k and u >= t for j, u in seen)
            assert seen == {(j, u) for j in range(k_total) for u in range(frames)
                            if u + j < t + k}
            # and it does see every coarser codebook of its own frame
            assert all((j, t) in seen for j in range(k))


def test_flattened_and_parallel_dependencies():
    frames, kq = 5, 3
    flat, par = get_pattern("flattened", kq), get_pattern("parallel", kq)
    for k in range(kq):
        for t in range(frames):
            assert visible(flat, k, t, frames) == {(j, u) for j in range(kq) for u in range(frames)
                                                  if u < t or (u == t and j < k)}
            assert visible(par, k, t, frames) == {(j, u) for j in range(kq) for u in range(t)}


def test_unknown_pattern_and_wrong_codebook_count():
    with pytest.raises(ValueError, match="unknown codebook pattern 'zigzag'"):
        get_pattern("zigzag", 2)
    with pytest.raises(ValueError, match="built for 4 codebooks, got 2"):
        get_pattern("delay", 4).build(torch.zeros(1, 2, 3, dtype=torch.long), PAD)
