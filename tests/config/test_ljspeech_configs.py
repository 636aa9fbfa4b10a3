"""The LJSpeech experiments compose to the published 22.05 kHz setups: 1024-sample window and
FFT, 256-sample hop, 80 mels; HiFi-GAN V1's generator; Tacotron 2 predicts exactly the
features the HiFi-GAN vocoder reads."""

from __future__ import annotations

import math

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf

from audiokit.cli.train import CONF_DIR

EXPERIMENTS = ["voc/ljspeech_hifigan_v1", "tts/ljspeech_tacotron2", "tts/ljspeech_vits"]


def compose_experiment(name: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("train", overrides=[f"experiment={name}"])


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_frames_are_the_published_ones(experiment):
    cfg = compose_experiment(experiment)
    assert cfg.data.sample_rate == 22050
    frontend = instantiate(cfg.frontend)
    assert (frontend.win_length, frontend.hop_length, frontend.n_fft) == (1024, 256, 1024)
    assert frontend.output_dim == 80
    if not experiment.endswith("tacotron2"):  # a HiFi-GAN V1 generator (VITS: its decoder)
        decoder = cfg.model.decoder if experiment.endswith("vits") else cfg.model
        assert math.prod(decoder.upsample_rates) == 256  # one hop of samples per frame
        assert list(decoder.upsample_kernels) == [16, 16, 4, 4]
        assert decoder.channels == 512 and list(decoder.resblock_kernels) == [3, 7, 11]
    if "mel" in cfg.loss:  # the GAN mel loss at the same resolution
        assert list(cfg.loss.mel.n_ffts) == [1024] and list(cfg.loss.mel.hop_lengths) == [256]
    assert cfg.trainer.max_time is not None and cfg.trainer.max_steps > 0


def test_hifigan_v1_generator_and_segments():
    cfg = compose_experiment("voc/ljspeech_hifigan_v1")
    assert list(cfg.model.upsample_rates) == [8, 8, 2, 2]
    assert [list(d) for d in cfg.model.resblock_dilations] == [[1, 3, 5]] * 3
    assert round(cfg.data.segment_seconds * 22050) == 8192
    assert cfg.frontend.f_max == 8000.0
    # HiFi-GAN decays 0.999 per epoch of 12,600 / 16 batches; the scheduler steps per batch
    assert cfg.scheduler.gamma ** (12600 / 16) == pytest.approx(0.999, abs=1e-6)
    assert compose_experiment("tts/ljspeech_vits").scheduler.gamma ** (12600 / 32) == pytest.approx(0.999875, abs=1e-7)


def test_tacotron2_predicts_what_the_vocoder_reads():
    voc = OmegaConf.to_container(compose_experiment("voc/ljspeech_hifigan_v1").frontend, resolve=True)
    tts = OmegaConf.to_container(compose_experiment("tts/ljspeech_tacotron2").frontend, resolve=True)
    assert tts == voc
