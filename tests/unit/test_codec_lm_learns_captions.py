"""Cross-attention conditioning learns: a tiny delay-pattern codec LM trained on two captions,
each always paired with its own fixed code pattern, generates (greedily) the pattern of the
caption it is given, and classifier-free guidance at w=3 keeps it; the unconditional model
(w=0) cannot tell the two apart, so it gives both captions the same codes."""

from __future__ import annotations

import pytest
import torch

from audiokit.data.text_units import TextUnits, build_vocab
from audiokit.models.codec_lm import CodecLM, generate

pytestmark = pytest.mark.usefixtures("one_thread")

K, CARD, FRAMES = 2, 8, 6
CAPTIONS = ["a slow chorale played on organ", "a fast chorale played on flute"]


def patterns() -> torch.Tensor:
    """Two distinct, non-constant [K, FRAMES] code patterns."""
    g = torch.Generator().manual_seed(1)
    a = torch.randint(0, CARD, (K, FRAMES), generator=g)
    return torch.stack([a, (a + 3) % CARD])


def test_cross_conditioned_lm_generates_the_pattern_of_its_caption():
    vocab = build_vocab(CAPTIONS, "word")
    units = TextUnits(vocab, "word")
    ids = [torch.tensor(units.encode(c)[0]) for c in CAPTIONS]
    text = torch.stack(ids)                      # both captions have 6 words
    text_lens = torch.full((2,), text.shape[1])
    codes = patterns()
    torch.manual_seed(0)
    lm = CodecLM(K, CARD, len(vocab), pattern="delay", condition="cross", d_model=32,
                 num_heads=4, ffn_dim=64, num_layers=1, text_layers=1, dropout=0.0,
                 cond_dropout=0.2)
    opt = torch.optim.Adam(lm.parameters(), lr=3e-3)
    which = torch.arange(8) % 2                  # a batch of 8: 4 of each caption
    lm.train()
    for _ in range(300):
        logits, targets = lm(codes[which], torch.full((8,), FRAMES), text[which], text_lens[which])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 2), targets.flatten(),
                                                 ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
    lm.eval()
    for w in (None, 3.0):
        out = generate(lm, text=text, text_lens=text_lens, num_frames=FRAMES, temperature=0,
                       guidance=w)
        for i in range(2):
            assert torch.equal(out.codes[i], codes[i]), (w, i, out.codes[i], codes[i])
    uncond = generate(lm, text=text, text_lens=text_lens, num_frames=FRAMES, temperature=0,
                      guidance=0.0)
    assert torch.equal(uncond.codes[0], uncond.codes[1])
