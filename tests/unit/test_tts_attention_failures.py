"""The attention failure detector flags planted skip, repeat and no-stop matrices and passes
a clean diagonal."""

import torch

from audiokit.models.tts.attention_failures import detect_attention_failures


def path_matrix(path, n_tokens, sharp=8.0):
    """A soft attention matrix whose argmax walks ``path``."""
    logits = torch.zeros(len(path), n_tokens)
    for t, n in enumerate(path):
        logits[t, n] = sharp
        if n + 1 < n_tokens:
            logits[t, n + 1] = sharp / 2
    return torch.softmax(logits, 1)


def diagonal(n_tokens=10, per_token=3):
    return [n for n in range(n_tokens) for _ in range(per_token)]


def test_clean_diagonal_passes():
    result = detect_attention_failures(path_matrix(diagonal(), 10), stopped=True)
    assert not result.any and result.count == 0 and result.names() == []


def test_skip_is_flagged():
    path = [0, 0, 1, 1, 2, 2, 7, 7, 8, 8, 9, 9]  # tokens 3..6 never said
    result = detect_attention_failures(path_matrix(path, 10), stopped=True)
    assert result.skip and not result.repeat and not result.no_stop
    assert "jump from token 2 to 7" in result.details[0]


def test_stopping_early_is_a_skip():
    result = detect_attention_failures(path_matrix(diagonal()[:15], 10), stopped=True)
    assert result.skip and result.names() == ["skip"]


def test_repeat_is_flagged():
    path = diagonal()[:21] + diagonal()  # back to the start after token 6
    result = detect_attention_failures(path_matrix(path, 10), stopped=True)
    assert result.repeat and not result.skip and result.names() == ["repeat"]


def test_no_stop_is_flagged():
    path = diagonal() + [9] * 40  # stuck on the last token until the length guard
    result = detect_attention_failures(path_matrix(path, 10), stopped=False)
    assert result.no_stop and not result.skip and not result.repeat and result.count == 1


def test_small_wobbles_pass():
    path = [0, 1, 2, 1, 2, 3, 5, 5, 6, 7, 9]  # one token back, two forward: within bounds
    assert not detect_attention_failures(path_matrix(path, 10), stopped=True).any
