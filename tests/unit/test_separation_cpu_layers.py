"""The CPU-friendly PReLU and depthwise conv equal torch's layers in value and gradient, and load
the same state dicts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from audiokit.models.separation.cpu_layers import DepthwiseConv1d, PReLU


def _value_and_grads(layer: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    x = x.detach().clone().requires_grad_()
    y = layer(x)
    y.backward(torch.linspace(-1, 1, y.numel()).reshape(y.shape))
    return [y.detach(), x.grad, *(p.grad for p in layer.parameters())]


@pytest.mark.parametrize("num_parameters", [1, 4])
def test_prelu_equals_torch(num_parameters: int) -> None:
    torch.manual_seed(0)
    reference = nn.PReLU(num_parameters, init=0.3)
    fast = PReLU(num_parameters)
    fast.load_state_dict(reference.state_dict())
    x = torch.randn(2, 4, 7)
    for got, want in zip(_value_and_grads(fast, x), _value_and_grads(reference, x), strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize(("kernel", "dilation", "bias"),
                         [(3, 1, True), (3, 4, True), (5, 2, False)])
def test_depthwise_conv_equals_grouped_conv(kernel: int, dilation: int, bias: bool) -> None:
    torch.manual_seed(0)
    reference = nn.Conv1d(6, 6, kernel, dilation=dilation, groups=6, bias=bias)
    fast = DepthwiseConv1d(6, kernel, dilation, bias=bias)
    fast.load_state_dict(reference.state_dict())
    x = torch.randn(3, 6, 40)
    for got, want in zip(_value_and_grads(fast, x), _value_and_grads(reference, x), strict=True):
        torch.testing.assert_close(got, want)


def test_depthwise_conv_rejects_input_shorter_than_its_reach() -> None:
    with pytest.raises(ValueError, match="shorter than the receptive field"):
        DepthwiseConv1d(2, 3, dilation=4)(torch.randn(1, 2, 8))
    assert DepthwiseConv1d(2, 3, dilation=4)(F.pad(torch.randn(1, 2, 1), (4, 4))).shape == (1, 2, 1)
