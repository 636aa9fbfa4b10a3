"""HiFi-GAN generator: the published sizes (Kong et al. 2020, table 1: V1 13.92 M, V2 0.92 M,
V3 1.46 M parameters at 22.05 kHz), output length frames x hop for any kernel >= rate, the
shipped V1/V3 configs at 8 kHz, and weight-norm removal keeping the output."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from audiokit.cli.train import CONF_DIR
from audiokit.models.vocoder import HiFiGANGenerator

V3 = dict(resblock=2, resblock_kernels=(3, 5, 7), resblock_dilations=((1, 2), (2, 6), (3, 12)))


@pytest.mark.parametrize("channels,rates,kernels,extra,millions", [
    (512, (8, 8, 2, 2), (16, 16, 4, 4), {}, 13.92),
    (128, (8, 8, 2, 2), (16, 16, 4, 4), {}, 0.92),
    (256, (8, 8, 4), (16, 16, 8), V3, 1.46),
])
def test_published_sizes(channels, rates, kernels, extra, millions):
    g = HiFiGANGenerator(80, channels, rates, kernels, **extra)
    g.remove_weight_norm()  # the paper counts plain weights
    assert sum(p.numel() for p in g.parameters()) / 1e6 == pytest.approx(millions, abs=0.01)  # the paper rounds


@pytest.mark.parametrize("kernels", [(10, 8, 4, 4), (11, 9, 5, 5), (5, 4, 2, 2)])
def test_output_is_frames_times_hop(kernels):
    g = HiFiGANGenerator(20, 16, (5, 4, 2, 2), kernels)
    assert g.hop_length == 80
    assert g(torch.randn(2, 13, 20)).shape == (2, 13 * 80)


@pytest.mark.parametrize("model", ["hifigan_v1", "hifigan_v3"])
def test_configs_at_8khz(model):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=voc/fsdd_hifigan", f"model={model}",
                                          "model.channels=32"])
    g = instantiate(cfg.model)
    frontend = instantiate({**cfg.frontend, "stats_file": None})
    assert g.hop_length == frontend.hop_length == 80


def test_remove_weight_norm_keeps_output():
    torch.manual_seed(0)
    g = HiFiGANGenerator(20, 16, (5, 4, 4), **V3).eval()
    x = torch.randn(1, 9, 20)
    with torch.no_grad():
        before = g(x)
        g.remove_weight_norm()
        torch.testing.assert_close(g(x), before, rtol=1e-4, atol=1e-5)
