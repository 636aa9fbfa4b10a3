"""The Python API a newcomer expects (issue 25 item 10): top-level imports, and every
pipeline takes numpy or torch, [T] or [channels, T], any float dtype, and sample_rate=."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from audiokit.inference.waveform import prepare_waveform
from audiokit.utils.errors import UserError


def test_top_level_imports_are_lazy():
    code = ("import sys, audiokit; assert 'torch' not in sys.modules, 'torch imported'; "
            "from audiokit import AudioClassifier, Speech2Text, SpeakerEmbedder, Separator, "
            "Diarizer, Codec, Vocoder; print(AudioClassifier.__module__, Diarizer.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["audiokit.inference.classify", "Diarizer"]
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        import audiokit

        audiokit.Nope  # noqa: B018


def test_numpy_float64_and_torch_float32_give_the_same_samples():
    x = np.random.default_rng(0).standard_normal(800) * 0.1
    a = prepare_waveform(x, 8000)
    b = prepare_waveform(torch.from_numpy(x).float(), 8000)
    c = prepare_waveform(torch.from_numpy(x).half(), 8000)
    assert a.dtype == torch.float32 and a.shape == (800,)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c, atol=1e-3, rtol=1e-2)


def test_channels_are_averaged_in_either_layout():
    left, right = torch.ones(1000), -0.5 * torch.ones(1000)
    stereo = torch.stack([left, right])  # [channels, T]
    torch.testing.assert_close(prepare_waveform(stereo, 8000), 0.25 * torch.ones(1000))
    torch.testing.assert_close(prepare_waveform(stereo.T.numpy(), 8000), 0.25 * torch.ones(1000))
    torch.testing.assert_close(prepare_waveform(left[None], 8000), left)  # [1, T]


def test_sample_rate_resamples_as_torchaudio_does():
    x = torch.randn(44100) * 0.1
    y = prepare_waveform(x, 8000, sample_rate=44100)
    torch.testing.assert_close(y, torchaudio.functional.resample(x, 44100, 8000))
    assert y.shape == (8000,)


def test_a_file_is_read_at_its_own_rate(tmp_path):
    x = (np.random.default_rng(1).standard_normal((16000, 2)) * 0.1).astype("float32")
    sf.write(tmp_path / "a.wav", x, 16000, subtype="FLOAT")
    expected = torchaudio.functional.resample(torch.from_numpy(x.mean(1)), 16000, 8000)
    torch.testing.assert_close(prepare_waveform(str(tmp_path / "a.wav"), 8000), expected)
    with pytest.raises(UserError, match="no such file"):
        prepare_waveform(tmp_path / "missing.wav", 8000)
    with pytest.raises(UserError, match="is at 16000 Hz, but sample_rate=8000"):
        prepare_waveform(tmp_path / "a.wav", 8000, sample_rate=8000)


@pytest.mark.parametrize(("audio", "rate", "message"), [
    (np.zeros(10, dtype=np.int16), None, r"floats in \[-1, 1\], got torch.int16 \(int16 PCM"),
    (torch.zeros(2, 3, 100), None, r"\[T\] or \[channels, T\], got shape \[2, 3, 100\]"),
    (torch.zeros(0), None, "empty"),
    (torch.tensor([0.0, float("nan")]), None, "NaN"),
    (torch.zeros(100), 0, "sample_rate must be a positive whole number"),
    ("a string that is no file", None, "no such file"),
    ({"audio": 1}, None, "a torch tensor, a numpy array or a file path, got dict"),
])
def test_bad_input_is_refused_with_a_message(audio, rate, message):
    with pytest.raises(UserError, match=message):
        prepare_waveform(audio, 8000, sample_rate=rate)


@pytest.fixture(scope="module")
def classifier():
    from hydra import compose, initialize_config_dir

    from audiokit import AudioClassifier
    from audiokit.cli.train import CONF_DIR, build_task

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=cls/fsdd_cnn"])
    torch.manual_seed(0)
    return AudioClassifier(build_task(cfg, {"labels": list("abcdefghij")}).eval(), 8000)


def test_classifier_takes_every_input_form(classifier):
    x = torch.randn(8000) * 0.1
    expected = classifier.posteriors(x[None], torch.tensor([8000]))
    label = classifier.labels[int(expected.argmax())]
    assert classifier(x) == label
    assert classifier(x.double().numpy()) == label
    assert classifier(torch.stack([x, x])) == label  # [2, T], identical channels
    at_44k = torchaudio.functional.resample(x, 8000, 44100)
    y = prepare_waveform(at_44k, 8000, sample_rate=44100)
    post = classifier.posteriors(y[None], torch.tensor([len(y)]))
    assert classifier(at_44k, sample_rate=44100) == classifier.labels[int(post.argmax())]


def test_from_exp_dir_names_the_pipeline_an_experiment_needs(classifier):
    from audiokit import Separator, Speech2Text
    from audiokit.inference.waveform import check_kind

    check_kind(classifier.task, type(classifier), "E")
    with pytest.raises(UserError, match="E: a ClassificationTask experiment, not one for "
                                        "Speech2Text; its pipeline: AudioClassifier"):
        check_kind(classifier.task, Speech2Text, "E")
    with pytest.raises(UserError, match="not one for Separator"):
        check_kind(classifier.task, Separator, "E")


def test_audio_too_short_for_the_model_is_named(classifier):
    with pytest.raises(UserError, match=r"the audio: 100 samples \(0.013 s\) or fewer is too "
                                        r"short for this model"):
        classifier(np.zeros(100))
