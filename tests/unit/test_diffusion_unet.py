"""The text-conditioned 1-D U-Net denoiser: shapes for any length, an utterance's output
independent of its padding and batch, the caption changing the output, and the null caption
taking the caption's place under caption dropout (and for an empty caption)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from audiokit.models.diffusion import MelUNet

pytestmark = pytest.mark.usefixtures("one_thread")

N_MELS, VOCAB = 12, 9


def unet(**kw) -> MelUNet:
    torch.manual_seed(0)
    args = {"channels": (16, 24, 32), "blocks": 1, "attn_levels": (1,), "num_heads": 2,
            "emb_dim": 32, "text_dim": 16, "text_layers": 1, "text_heads": 2,
            "cond_dropout": 0.0} | kw
    model = MelUNet(N_MELS, VOCAB, **args)
    for m in model.modules():  # the zero-initialised output layers would hide everything
        if isinstance(m, nn.Conv1d) and not m.weight.abs().sum():
            nn.init.normal_(m.weight, std=0.2)
    return model.eval()


def inputs(b: int = 2, frames: int = 37):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(b, N_MELS, frames, generator=g)
    t = torch.tensor([10, 700, 300][:b])
    text = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 0], [7, 0, 0, 0]][:b])
    return x, t, text, torch.tensor([4, 2, 1][:b])


@pytest.mark.parametrize("frames", [1, 8, 37, 64])
@torch.no_grad()
def test_output_has_the_input_shape(frames):
    model = unet()
    x, t, text, lens = inputs(2, frames)
    out = model(x, t, text, lens)
    assert out.shape == (2, N_MELS, frames)
    assert float(out.abs().mean()) > 1e-3


@torch.no_grad()
def test_output_does_not_depend_on_padding_or_batch():
    model = unet()
    x, t, text, text_lens = inputs(2, 37)
    lens = torch.tensor([37, 21])
    x[1, :, 21:] = 100.0                                   # garbage in the padding
    out = model(x, t, text, text_lens, lens)
    x2 = x.clone()
    x2[1, :, 21:] = -7.0                                   # other garbage
    assert torch.allclose(out, model(x2, t, text, text_lens, lens), atol=1e-5)
    alone = model(x[1:, :, :21], t[1:], text[1:, :2], text_lens[1:])
    assert torch.allclose(out[1, :, :21], alone[0], atol=1e-5)
    assert float(out[1, :, 21:].abs().max()) == 0.0       # padding frames stay zero


@torch.no_grad()
def test_caption_changes_the_output():
    model = unet()
    x, t, text, lens = inputs(2, 24)
    same = torch.stack([text[0], text[0]]), torch.stack([lens[0], lens[0]])
    a = model(torch.stack([x[0], x[0]]), torch.stack([t[0], t[0]]), *same)
    assert torch.allclose(a[0], a[1], atol=1e-6)
    other = model(torch.stack([x[0], x[0]]), torch.stack([t[0], t[0]]), text, lens)
    assert float((other[0] - other[1]).abs().mean()) > 1e-2  # caption 0 vs caption 1
    null = model(x, t)                                          # no caption: the null one
    assert float((null - model(x, t, text, lens)).abs().mean()) > 1e-2


def test_caption_dropout_uses_the_null_caption():
    x, t, text, lens = inputs(2, 16)
    model = unet(cond_dropout=1.0)
    with torch.no_grad():
        null = model(x, t)                       # eval: the null caption
        empty = model(x, t, torch.zeros(2, 0, dtype=torch.long), torch.zeros(2, dtype=torch.long))
        conditioned = model(x, t, text, lens)
        model.train()                            # every caption dropped
        dropped = model(x, t, text, lens)
        model.cond_dropout = 0.0                 # none dropped
        kept = model(x, t, text, lens)
    assert torch.allclose(dropped, null, atol=1e-6)
    assert torch.allclose(empty, null, atol=1e-6)
    assert torch.allclose(kept, conditioned, atol=1e-6)
    assert not torch.allclose(null, conditioned, atol=1e-3)
    dropped_text, dropped_lens = model.drop_text(text, lens, torch.tensor([True, False]))
    assert dropped_text[0].tolist() == [VOCAB, 0, 0, 0] and dropped_lens.tolist() == [1, 2]
    assert dropped_text[1].tolist() == text[1].tolist()


def test_bad_attention_level_is_named():
    with pytest.raises(ValueError, match=r"attn_levels \[3\] outside the 3 levels"):
        unet(attn_levels=(3,))
