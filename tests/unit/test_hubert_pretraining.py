"""HuBERT-style pretraining: the masked prediction loss, label/frame alignment at 8 kHz, the
model's seeded masks, and its encoder loading into the CTC encoder and the layer k-means."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import REPO
from omegaconf import OmegaConf

from audiokit.frontends import RawWaveform
from audiokit.models.asr.wav2vec2 import Wav2Vec2Encoder, arch_of, build_model
from audiokit.models.ssl.hubert import (
    IGNORE,
    HuBERTPretrain,
    align_labels,
    conv_frames,
    masked_prediction_loss,
)
from audiokit.models.ssl.kmeans_targets import mfcc_features, ssl_layer_features
from audiokit.tasks.hubert_pretraining import HuBERTPretrainingTask

pytestmark = pytest.mark.usefixtures("one_thread")

CONF = REPO / "audiokit/conf"
SSL_YAML = REPO / "recipes/fsdd/hubert/conf/ssl_hubert_fsdd.yaml"
SR = 8000


def model_cfg() -> dict:
    return OmegaConf.to_container(OmegaConf.load(CONF / "model/hubert_pretrain.yaml"))


def tiny_arch() -> dict:
    arch = model_cfg()["arch"]
    arch.update(encoder_embed_dim=32, encoder_num_layers=2, encoder_num_heads=2,
                encoder_ff_interm_features=64, encoder_pos_conv_groups=4,
                extractor_conv_layer_config=[[16, k, s] for _, k, s in arch["extractor_conv_layer_config"]])
    return arch


def test_loss_equals_hand_computed_cross_entropy():
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.5, 0.5, 0.0], [0.0, 3.0, 1.0], [1.0, 1.0, 1.0]]])
    labels = torch.tensor([[0, 2, 1, IGNORE]])
    masked = torch.tensor([[True, False, True, True]])   # frame 3 is masked but has no label

    def nll(row, target):
        return -(row[target] - math.log(sum(math.exp(v) for v in row)))

    rows = logits[0].tolist()
    expect_m = (nll(rows[0], 0) + nll(rows[2], 1)) / 2
    expect_u = nll(rows[1], 2)
    out = masked_prediction_loss(logits, labels, masked)
    assert out["loss"].item() == pytest.approx(expect_m, rel=1e-6)
    assert out["loss_u"].item() == pytest.approx(expect_u, rel=1e-6)
    assert out["acc_m"].item() == 1.0   # both masked frames' arg-max is their label
    out = masked_prediction_loss(logits, labels, masked, unmasked_weight=0.5)
    assert out["loss"].item() == pytest.approx(expect_m + 0.5 * expect_u, rel=1e-6)


def test_loss_ignores_unmasked_frames():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 30, 10, generator=gen)
    labels = torch.randint(0, 10, (2, 30), generator=gen)
    masked = torch.rand(2, 30, generator=gen) < 0.5
    changed = logits.clone()
    changed[~masked] = torch.randn(int((~masked).sum()), 10, generator=gen) * 5
    assert torch.equal(masked_prediction_loss(logits, labels, masked)["loss"],
                       masked_prediction_loss(changed, labels, masked)["loss"])
    # ... and the masked ones count: same check on the masked frames changes the loss
    other = logits.clone()
    other[masked] += torch.randn(int(masked.sum()), 10, generator=gen)
    assert masked_prediction_loss(other, labels, masked)["loss"] != masked_prediction_loss(
        logits, labels, masked)["loss"]
    # with an unmasked term the unmasked frames do count
    assert masked_prediction_loss(logits, labels, masked, 1.0)["loss"] != masked_prediction_loss(
        changed, labels, masked, 1.0)["loss"]
    # gradient only through the masked frames
    logits.requires_grad_(True)
    masked_prediction_loss(logits, labels, masked)["loss"].backward()
    assert logits.grad[~masked].abs().sum() == 0 and logits.grad[masked].abs().sum() > 0


def test_encoder_frames_and_mfcc_frames_share_the_10ms_grid():
    """The conv stack strides 80 samples (the MFCC shift at 8 kHz) and its frame count is the
    MFCC frame count plus 1 or 2 (its 100-sample receptive field vs the 200-sample window)."""
    layers = model_cfg()["arch"]["extractor_conv_layer_config"]
    assert math.prod(s for _, _, s in layers) == int(0.010 * SR)
    model = build_model(tiny_arch(), {})
    for n in (200, 201, 279, 280, 1000, 3517, 8000, 12345):
        wav = torch.randn(1, n)
        _, got = model.feature_extractor(wav, torch.tensor([n]))
        assert conv_frames(torch.tensor([n]), layers).item() == got.item() == (n - 100) // 80 + 1
        mfcc = mfcc_features(wav[0], SR).shape[0]
        assert mfcc == (n - 200) // 80 + 1
        assert 1 <= got.item() - mfcc <= 2


def test_align_labels_pads_the_tail_and_refuses_another_frame_rate():
    labels = [torch.tensor([1, 2, 3]), torch.tensor([4, 5])]
    out = align_labels(labels, torch.tensor([5, 3]))
    assert out.tolist() == [[1, 2, 3, IGNORE, IGNORE], [4, 5, IGNORE, IGNORE, IGNORE]]
    with pytest.raises(ValueError, match="utterance 'b': 2 target labels for 6 encoder frames"):
        align_labels(labels, torch.tensor([3, 6]), ids=["a", "b"])
    with pytest.raises(ValueError, match="utterance 'a'"):   # more labels than frames (20 ms?)
        align_labels([torch.arange(8)], torch.tensor([4]), ids=["a"])


def test_model_learns_on_masked_frames_with_seeded_masks():
    torch.manual_seed(0)
    model = HuBERTPretrain(arch=tiny_arch(), num_classes=5, final_dim=8)
    lens = torch.tensor([4000, 2600])
    wav = torch.randn(2, 4000, 1)
    labels = [torch.randint(0, 5, ((n - 200) // 80 + 1,)) for n in lens.tolist()]
    model.eval()   # no dropout: what validation runs (the masks stay on)
    a = model(wav, lens, labels, seed=3)
    state = torch.random.get_rng_state()
    b = model(wav, lens, labels, seed=3)
    assert torch.equal(a["loss"], b["loss"]) and a["loss"].item() > 0
    assert torch.equal(state, torch.random.get_rng_state())   # the global generator is untouched
    assert 0.2 < a["mask_share"].item() < 0.9
    assert not torch.equal(model(wav, lens, labels, seed=4)["loss"], a["loss"])
    model.train()
    model(wav, lens, labels)["loss"].backward()
    assert model.wav2vec2.feature_extractor.conv_layers[0].conv.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="num_classes"):
        model(wav, lens, [lab + 5 for lab in labels])


def test_configs_agree_on_the_architecture():
    """Pretraining, fine-tuning and the iteration-2 feature config build the same network."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        ctc = compose("train", overrides=["experiment=asr/fsdd_hubert_ctc"])
        pre = compose("train", overrides=["experiment=ssl/fsdd_hubert_iter2"])
    ssl = OmegaConf.load(SSL_YAML).upstream.arch
    with torch.device("meta"):
        arches = [arch_of(build_model(OmegaConf.to_container(a), {}))
                  for a in (pre.model.arch, ctc.model.encoder.arch, ssl)]
    assert arches[0] == arches[1] == arches[2]
    assert ctc.model.encoder.model_sample_rate == pre.data.sample_rate == ctc.data.sample_rate
    assert ctc.frontend.normalize == pre.frontend.normalize is True


@pytest.fixture
def pretrained(tmp_path):
    """An exp dir holding a HuBERT pretraining's model.pt, as audiokit-train exports it."""
    arch = tiny_arch()
    task = HuBERTPretrainingTask(
        frontend={"_target_": "audiokit.frontends.RawWaveform", "normalize": True},
        model={"_target_": "audiokit.models.ssl.hubert.HuBERTPretrain", "arch": arch,
               "num_classes": 5, "final_dim": 8},
        optim={"_target_": "torch.optim.AdamW", "lr": 1e-3}, targets="unused")
    with torch.no_grad():
        for p in task.parameters():
            p.normal_()
    cls = type(task)
    torch.save({"task": f"{cls.__module__}.{cls.__qualname__}", "hparams": dict(task.hparams),
                "state_dict": task.state_dict()}, tmp_path / "model.pt")
    return tmp_path, task, arch


def test_ctc_encoder_starts_from_the_pretrained_encoder(pretrained):
    exp, task, arch = pretrained
    enc = Wav2Vec2Encoder(arch=arch, pretrained=exp, mask_time_prob=0.3, sample_rate=SR,
                          model_sample_rate=SR)
    mine = task.model.wav2vec2.state_dict()
    theirs = enc.model.state_dict()
    assert set(mine) == set(theirs) and all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert torch.equal(enc.mask.mask_embedding, task.model.mask.mask_embedding)
    assert enc.pretrained_normalize is True
    with pytest.raises(ValueError, match="expects 8000 Hz audio"):
        Wav2Vec2Encoder(arch=arch, sample_rate=16000, model_sample_rate=SR)
    wider = {**arch, "encoder_ff_interm_features": 128}
    with pytest.raises(ValueError, match="architecture differs"):
        Wav2Vec2Encoder(arch=wider, pretrained=exp / "model.pt")


def test_pretrained_file_is_read_as_data_and_checked(pretrained):
    exp, _, arch = pretrained
    saved = torch.load(exp / "model.pt", weights_only=True)
    saved["hparams"]["frontend"]["_target_"] = "numpy.load"
    torch.save(saved, exp / "model.pt")
    with pytest.raises(Exception, match="numpy.load' is not allowed"):
        Wav2Vec2Encoder(arch=arch, pretrained=exp)
    saved["hparams"]["frontend"]["_target_"] = "audiokit.frontends.RawWaveform"
    saved["task"] = "audiokit.tasks.asr.ASRTask"
    torch.save(saved, exp / "model.pt")
    with pytest.raises(ValueError, match="not a HuBERT pretraining"):
        Wav2Vec2Encoder(arch=arch, pretrained=exp)


def test_layer_features_for_iteration_two_are_one_per_encoder_frame(pretrained, tmp_path):
    exp, task, arch = pretrained
    cfg = OmegaConf.load(SSL_YAML)
    cfg.upstream.arch = arch
    yaml = tmp_path / "ssl.yaml"
    OmegaConf.save(cfg, yaml)
    features = ssl_layer_features(yaml, exp, layer=1, sample_rate=SR)
    wav = torch.randn(3333)
    feats = features(wav, SR)
    assert feats.shape == (conv_frames(torch.tensor([3333]), arch["extractor_conv_layer_config"]).item(),
                           arch["encoder_embed_dim"])
    # the output of the first transformer layer of the pretraining model, run without masks
    x, lens = RawWaveform(normalize=True)(wav[None], torch.tensor([3333]))
    with torch.no_grad():
        hidden = task.model.eval().wav2vec2.extract_features(x[..., 0], lens, num_layers=1)[0][-1]
    assert torch.allclose(feats, hidden[0], atol=1e-4)
