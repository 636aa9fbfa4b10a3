"""BEATs-style iterative pretraining (issue 27 item 2): the random-projection tokenizer, the
masked-prediction loss, the cosine vector quantiser of the distilled tokenizer, the
pretraining model's masking, and loading an audiokit-trained BEATs as SSL features."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from audiokit.models.ssl.beats import BEATs, fbank_patches
from audiokit.models.ssl.beats_pretraining import BEATsMaskedPrediction, masked_cross_entropy
from audiokit.models.ssl.cosine_vq import CosineVectorQuantiser
from audiokit.models.ssl.distilled_tokenizer import DistilledTokenizer
from audiokit.models.ssl.random_projection_tokenizer import RandomProjectionTokenizer
from audiokit.models.ssl.tokenizer_distillation import TokenizerDistillation
from audiokit.models.ssl.upstream import BEATsUpstream

TINY = dict(input_patch_size=8, embed_dim=16, encoder_layers=2, encoder_embed_dim=16,
            encoder_ffn_embed_dim=32, encoder_attention_heads=2, conv_pos=8, conv_pos_groups=2,
            num_buckets=16, max_distance=64, sample_rate=8000, fbank_high_freq=4000.0,
            fbank_mean=12.0, fbank_std=6.0)


def tiny_beats(seed: int = 0, **changes) -> BEATs:
    torch.manual_seed(seed)
    return BEATs(**(TINY | changes))


# ---------------------------------------------------------------- random-projection tokenizer

def test_random_projection_is_fixed_by_its_seed():
    torch.manual_seed(1)
    a = RandomProjectionTokenizer(patch_size=4, dim=8, codebook_size=32, seed=7)
    torch.manual_seed(2)  # the global RNG plays no part
    b = RandomProjectionTokenizer(patch_size=4, dim=8, codebook_size=32, seed=7)
    c = RandomProjectionTokenizer(patch_size=4, dim=8, codebook_size=32, seed=8)
    assert torch.equal(a.projection, b.projection) and torch.equal(a.codebook, b.codebook)
    assert not torch.equal(a.projection, c.projection)
    patches = torch.randn(3, 20, 16)
    assert torch.equal(a(patches), b(patches))
    assert not torch.equal(a(patches), c(patches))
    assert set(a.state_dict()) == {"projection", "codebook"}  # saved with the experiment


def test_random_projection_label_is_the_argmax_cosine():
    tok = RandomProjectionTokenizer(patch_size=4, dim=8, codebook_size=32, seed=0)
    patches = torch.randn(2, 10, 16)
    labels = tok(patches)
    for b in range(2):
        for n in range(10):
            projected = patches[b, n] @ tok.projection
            cos = [F.cosine_similarity(projected, code, dim=0).item() for code in tok.codebook]
            assert labels[b, n].item() == max(range(32), key=cos.__getitem__)
            # the same as the nearest of the normalised vectors (BEATs' own wording)
            dist = (F.normalize(tok.codebook, dim=-1) - F.normalize(projected, dim=0)).norm(dim=-1)
            assert labels[b, n].item() == dist.argmin().item()


def test_fbank_patches_are_in_token_order():
    fbank = torch.randn(2, 20, 128)
    patches, token_lens = fbank_patches(fbank, torch.tensor([20, 9]), 8)
    assert patches.shape == (2, 2 * 16, 64) and token_lens.tolist() == [32, 16]
    for t, f in [(0, 0), (0, 5), (1, 0), (1, 15)]:  # token t * 16 + f, time-major
        assert torch.equal(patches[0, t * 16 + f], fbank[0, t * 8:(t + 1) * 8, f * 8:(f + 1) * 8]
                           .reshape(-1))


# ---------------------------------------------------------------- masked-prediction loss

def test_masked_cross_entropy_ignores_visible_and_padding_tokens():
    torch.manual_seed(0)
    logits, labels = torch.randn(2, 6, 5), torch.randint(5, (2, 6))
    masked = torch.tensor([[True, False, True, False, False, False],
                           [False, True, False, False, False, False]])
    loss = masked_cross_entropy(logits, labels, masked)
    changed = logits.clone()
    changed[~masked] = torch.randn(int((~masked).sum()), 5) * 100
    changed[0, 1, 0] = float("inf")  # not even an infinity at a visible token reaches the loss
    assert masked_cross_entropy(changed, labels, masked).item() == pytest.approx(loss.item())
    changed[0, 0, 0] += 1.0  # a masked token's logits do
    assert masked_cross_entropy(changed, labels, masked).item() != pytest.approx(loss.item())


def test_masked_cross_entropy_by_hand():
    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [5.0, 5.0, 5.0]]])
    labels = torch.tensor([[0, 2, 1]])
    masked = torch.tensor([[True, True, False]])
    first = -math.log(math.exp(2) / (math.exp(2) + 2))
    second = -math.log(1 / (2 + math.e))
    assert masked_cross_entropy(logits, labels, masked).item() == pytest.approx(
        (first + second) / 2, rel=1e-6)
    assert masked_cross_entropy(logits, labels, torch.zeros_like(masked)).item() == 0.0


# ---------------------------------------------------------------- distilled tokenizer

def test_quantiser_returns_codes_with_a_straight_through_gradient():
    vq = CosineVectorQuantiser(codebook_size=8, dim=4).eval()
    z = torch.randn(10, 4, requires_grad=True)
    out, indices, commit = vq(z)
    expected = (F.normalize(z.detach(), dim=-1) @ vq.codebook.T).argmax(-1)
    assert torch.equal(indices, expected)
    assert torch.allclose(out, vq.codebook[indices])  # the code vectors themselves
    weights = torch.randn(10, 4)
    (out * weights).sum().backward()
    # straight through: the gradient of the normalised input, as if no quantiser were there
    z2 = z.detach().clone().requires_grad_(True)
    (F.normalize(z2, dim=-1) * weights).sum().backward()
    assert torch.allclose(z.grad, z2.grad, atol=1e-6)
    assert commit.item() == pytest.approx(
        F.mse_loss(F.normalize(z.detach(), dim=-1), vq.codebook[indices]).item())


def test_quantiser_ema_moves_codes_only_in_training():
    torch.manual_seed(0)
    vq = CosineVectorQuantiser(codebook_size=4, dim=3, decay=0.5).eval()
    before = vq.codebook.clone()
    vq(torch.randn(6, 3))
    assert torch.equal(vq.codebook, before) and not bool(vq.initialised)
    vq.train()
    z = torch.randn(32, 3)
    normed = F.normalize(z, dim=-1)
    vq._initialise(normed)  # what the first training batch does before its EMA step
    assert all(any(torch.allclose(c, v) for v in normed) for c in vq.codebook)
    vq.initialised.fill_(False)
    vq(z)
    assert bool(vq.initialised)
    sums, codes = vq.ema_sum.clone(), vq.codebook.clone()
    _, indices, _ = vq(z)
    for k in range(4):
        members = normed[indices == k]
        if len(members):  # EMA of the sum of its members, renormalised
            assert torch.allclose(vq.ema_sum[k], 0.5 * sums[k] + 0.5 * members.sum(0), atol=1e-6)
            assert torch.allclose(vq.codebook[k], F.normalize(vq.ema_sum[k], dim=0), atol=1e-6)
        else:
            assert torch.allclose(vq.codebook[k], codes[k])
    assert vq.usage.sum().item() == pytest.approx(0.5 * 32 + 0.25 * 32)


def test_distillation_trains_the_tokenizer_not_the_teacher():
    teacher = tiny_beats(0)
    tokenizer = DistilledTokenizer(tiny_beats(1, embed_dim=8, encoder_embed_dim=8,
                                              encoder_ffn_embed_dim=16),
                                   code_dim=4, codebook_size=16, teacher_dim=16)
    model = TokenizerDistillation(1, teacher, tokenizer)
    model.train()
    assert not teacher.training and tokenizer.training
    wav, lens = torch.randn(2, 8000, 1) * 0.1, torch.tensor([8000, 5000])
    out = model(wav, lens)
    out["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert tokenizer.encoder.patch_embedding.weight.grad.abs().sum() > 0  # through the codes
    assert 0.0 <= out["metrics"]["distill_loss"].item() <= 2.0
    labels = tokenizer.eval().labels(*teacher.fbank(wav.squeeze(-1), lens))
    assert labels.shape == out["masked"].shape and int(labels.max()) < 16


# ---------------------------------------------------------------- masked prediction

def test_masked_prediction_masks_three_quarters_and_freezes_the_tokenizer():
    tok = RandomProjectionTokenizer(patch_size=8, dim=8, codebook_size=16, seed=0)
    model = BEATsMaskedPrediction(1, tiny_beats(0), tok, mask_ratio=0.75)
    wav, lens = torch.randn(2, 8000, 1) * 0.1, torch.tensor([8000, 4000])
    out = model(wav, lens, generator=torch.Generator().manual_seed(0))
    # 1 s at 16 kHz after resampling: 98 frames -> 12 time patches x 16 = 192 tokens; 0.5 s: 96
    valid = torch.tensor([192, 96])
    assert out["masked"].sum(1).tolist() == (valid - torch.round(valid * 0.25).long()).tolist()
    assert not out["masked"][1, 96:].any()
    fbank, frames = model.encoder.fbank(wav.squeeze(-1), lens)
    assert torch.equal(out["labels"], tok(fbank_patches(fbank, frames, 8)[0]))
    out["loss"].backward()
    assert model.mask_embedding.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in model.tokenizer.parameters())
    model.train()
    assert not model.tokenizer.training
    with pytest.raises(ValueError, match="patch 4 != encoder patch 8"):
        BEATsMaskedPrediction(1, tiny_beats(0), RandomProjectionTokenizer(patch_size=4))


# ---------------------------------------------------------------- loading as SSL features

def _experiment_file(tmp_path, model: BEATs, arch: dict):
    state = {f"model.encoder.{k}": v for k, v in model.state_dict().items()}
    state["model.head.weight"] = torch.zeros(3, 16)
    exp = tmp_path / "exp"
    exp.mkdir()
    torch.save({"task": "audiokit.tasks.masked_pretraining.MaskedPretrainingTask",
                "hparams": {"model": {"encoder": {
                    "_target_": "audiokit.models.ssl.beats.BEATs", **arch}}},
                "state_dict": state}, exp / "model.pt")
    return exp


def test_an_audiokit_beats_experiment_loads_as_ssl_features(tmp_path):
    trained = tiny_beats(3)
    exp = _experiment_file(tmp_path, trained, TINY)
    torch.manual_seed(9)
    upstream = BEATsUpstream(**TINY, pretrained=exp)
    for key, value in trained.state_dict().items():
        assert torch.equal(upstream.state_dict()[key], value), key
    wav, lens = torch.randn(1, 8000) * 0.1, torch.tensor([8000])
    hidden, _ = upstream.hidden_states(wav, lens)
    tokens, token_lens = trained(wav, lens)
    assert torch.allclose(hidden[-1], trained.to_frames(tokens[-1], token_lens)[0])
    with pytest.raises(ValueError, match=r"fbank_high_freq: config 0.0 vs file 4000.0"):
        BEATsUpstream(**(TINY | {"fbank_high_freq": 0.0}), pretrained=exp / "model.pt")


def test_an_experiment_naming_an_untrusted_class_is_refused(tmp_path):
    from audiokit.utils.trusted_config import UntrustedConfigError

    exp = _experiment_file(tmp_path, tiny_beats(0), TINY)
    saved = torch.load(exp / "model.pt", weights_only=True)
    saved["hparams"]["model"]["encoder"]["_target_"] = "os.system"
    torch.save(saved, exp / "model.pt")
    with pytest.raises(UntrustedConfigError):
        BEATsUpstream(**TINY, pretrained=exp)


def test_masked_pretraining_logs_the_models_own_metrics_beside_the_loss():
    from audiokit.tasks.masked_pretraining import MaskedPretrainingTask

    logged = []

    class Recorder:
        def log(self, name, value, **kwargs):
            logged.append((name, float(value), kwargs["batch_size"], kwargs["sync_dist"]))

    out = {"loss": torch.tensor(1.0),
           "metrics": {"masked_acc": torch.tensor(0.25), "labels_used": torch.tensor(7.0)}}
    batch = {"ids": ["a", "b", "c"]}
    MaskedPretrainingTask._log_model_metrics(Recorder(), out, "valid", batch)
    MaskedPretrainingTask._log_model_metrics(Recorder(), {"loss": out["loss"]}, "train", batch)
    assert logged == [("valid/masked_acc", 0.25, 3, True), ("valid/labels_used", 7.0, 3, True)]
