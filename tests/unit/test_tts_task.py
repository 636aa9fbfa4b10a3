"""The TTS task on a synthetic batch: mel statistics from the first batch, a finite loss with
every part, gradients reach the model, and the length guard follows the training rate."""

import math

import torch

from audiokit.tasks.tts import GUARD_FACTOR, TTSTask
from audiokit.text.tts_frontend import TextFrontend

FRONTEND = {"_target_": "audiokit.frontends.LogMel", "sample_rate": 8000, "n_mels": 20, "n_fft": 256}
MODEL = {"_target_": "audiokit.models.tts.tacotron2.Tacotron2", "embed_dim": 16, "attention_rnn_dim": 24,
         "decoder_rnn_dim": 24, "attention_dim": 8, "location_filters": 4, "location_kernel": 5,
         "prenet_dim": 8, "postnet_dim": 8, "postnet_layers": 2, "reduction_factor": 3}


def task(**kw):
    torch.manual_seed(0)
    text = TextFrontend.build("char", "english", ["three one four"]).spec()
    return TTSTask(text=text, frontend=FRONTEND, model=MODEL,
                   loss={"_target_": "audiokit.losses.tacotron2.Tacotron2Loss"},
                   optim={"_target_": "torch.optim.Adam"}, num_val_plots=0, **kw)


def test_training_step():
    t = task()
    audio = 0.1 * torch.randn(2, 8000)
    batch = {"ids": ["a", "b"], "text": ["three one", "4"], "audio": audio,
             "audio_lens": torch.tensor([8000, 6000])}
    assert not bool(t.mel_stats_ready)
    parts, out, tokens, token_lens, frame_lens = t._step(batch)
    assert bool(t.mel_stats_ready) and t.mel_std.min() > 0
    feats, lens = t.features(audio, batch["audio_lens"])
    valid = feats[0, : int(lens[0])]
    assert torch.allclose(t.denormalise(t.normalise(valid)), valid, atol=1e-4)
    assert set(parts) == {"l1", "mse", "stop", "guided_attention", "loss"}
    assert all(torch.isfinite(v) for v in parts.values())
    assert token_lens.tolist() == [len("three one") + 1, len("four") + 1]
    assert out.attention.shape == (2, math.ceil(int(frame_lens.max()) / 3), int(token_lens.max()))
    parts["loss"].backward()
    assert t.model.encoder.embed.weight.grad.abs().sum() > 0


def test_length_guard_follows_the_training_rate():
    t = task(max_seconds_per_symbol=0.1)
    frames = GUARD_FACTOR * 0.1 * 100 * 12  # 100 frames per second, 12 symbols
    assert t.max_decoder_steps(12) == math.ceil(frames / 3) + 10
    assert task().max_decoder_steps(12) == t.model.max_decoder_steps  # no rate known: the cap
