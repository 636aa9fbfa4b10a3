"""HiFi-GAN's (MelGAN's) multi-scale discriminator (Kong et al. 2020, sec. 2.3)."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

from audiokit.models.gan.conv_stack import conv_stack, gather
from audiokit.models.gan.receptive_field import receptive_field

# (out channels, kernel, stride, groups) of MelGAN/HiFi-GAN's scale discriminator, scaled by
# `width` (1.0 = the published 16 -> 1024 channels).
_LAYERS = [(128, 15, 1, 1), (128, 41, 2, 4), (256, 41, 2, 16), (512, 41, 4, 16),
           (1024, 41, 4, 16), (1024, 41, 1, 16), (1024, 5, 1, 1)]


class ScaleDiscriminator(nn.Module):
    """Strided grouped 1-D convs on the raw (or average-pooled) waveform."""

    def __init__(self, width: float = 1.0, use_spectral_norm: bool = False) -> None:
        super().__init__()
        norm = spectral_norm if use_spectral_norm else weight_norm
        layers, c_in = [], 1
        for c, k, s, g in _LAYERS:
            c = max(g, int(c * width) // g * g)  # channels stay a multiple of the groups
            g = min(g, c_in) if c_in % min(g, c_in) == 0 else 1
            layers.append(norm(nn.Conv1d(c_in, c, k, s, groups=g, padding=k // 2)))
            c_in = c
        self.convs = nn.ModuleList(layers)
        self.post = norm(nn.Conv1d(c_in, 1, 3, 1, padding=1))
        self.kernels = [k for _, k, _, _ in _LAYERS] + [3]
        self.strides = [s for _, _, s, _ in _LAYERS] + [1]

    def receptive_field(self) -> int:
        return receptive_field(self.kernels, self.strides)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        x = x.unsqueeze(1)
        return conv_stack(self.convs, self.post, x, 0.1)


class MultiScaleDiscriminator(nn.Module):
    """``num_scales`` scale discriminators on the waveform average-pooled by 1, 2, 4, ...
    (kernel 4, stride 2, as HiFi-GAN); the first uses spectral norm, as published."""

    def __init__(self, num_scales: int = 3, width: float = 1.0) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            ScaleDiscriminator(width, use_spectral_norm=(i == 0)) for i in range(num_scales))
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, x: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        outputs = []
        for i, d in enumerate(self.discriminators):
            if i > 0:
                x = self.pool(x.unsqueeze(1)).squeeze(1)
            outputs.append(d(x))
        return gather(outputs)
