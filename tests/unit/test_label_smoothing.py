"""ESPnet's label-smoothing loss (KL with eps / (V - 1)) against the formula by hand."""

import math

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from audiokit.losses import HybridCTCAttentionLoss, LabelSmoothingKL
from audiokit.losses.label_smoothing import label_smoothing_kl


def test_value_and_gradient_by_hand():
    # one token, V = 3, logits (0, ln 2, 0): p = (1/4, 1/2, 1/4); target 1, eps = 0.1
    logits = torch.tensor([[[0.0, math.log(2.0), 0.0]]], requires_grad=True)
    target = torch.tensor([[1]])
    loss = label_smoothing_kl(logits, target, 0.1)
    # q = (0.05, 0.9, 0.05): KL = sum q ln(q / p)
    expected = 0.9 * math.log(0.9 / 0.5) + 2 * 0.05 * math.log(0.05 / 0.25)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-6)
    loss.backward()
    # d KL / d logits = p - q
    torch.testing.assert_close(logits.grad[0, 0], torch.tensor([0.25 - 0.05, 0.5 - 0.9, 0.25 - 0.05]))


def test_padding_and_normalisation():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 5)
    targets = torch.tensor([[1, 4, -1], [0, -1, -1]])
    eps, v = 0.2, 5
    total = 0.0
    for b, t in [(0, 0), (0, 1), (1, 0)]:
        p = logits[b, t].softmax(-1)
        q = torch.full((v,), eps / (v - 1))
        q[targets[b, t]] = 1 - eps
        total += float((q * (q / p).log()).sum())
    assert float(label_smoothing_kl(logits, targets, eps)) == pytest.approx(total / 2, rel=1e-5)
    by_tokens = LabelSmoothingKL(eps, normalize_length=True)(logits, targets)
    assert float(by_tokens) == pytest.approx(total / 3, rel=1e-5)
    # eps = 0: the KL of a one-hot q is the plain negative log-likelihood
    nll = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1, reduction="sum") / 2
    torch.testing.assert_close(label_smoothing_kl(logits, targets, 0.0), nll)


def test_differs_from_torch_cross_entropy_smoothing():
    """torch's label_smoothing puts eps / V on every class (the target gets 1 - eps + eps / V):
    a different target distribution, so a different gradient, and a value offset by H(q)."""
    torch.manual_seed(1)
    v, eps = 7, 0.1
    logits = torch.randn(4, v, requires_grad=True)
    target = torch.randint(0, v, (4,))
    espnet = label_smoothing_kl(logits, target, eps)  # a batch of 4 one-token sequences
    (g_espnet,) = torch.autograd.grad(espnet, logits)
    torch_ce = F.cross_entropy(logits, target, label_smoothing=eps, reduction="sum") / 4
    (g_torch,) = torch.autograd.grad(torch_ce, logits)
    p = logits.detach().softmax(-1)
    q_espnet = torch.full((4, v), eps / (v - 1)).scatter(1, target[:, None], 1 - eps)
    q_torch = torch.full((4, v), eps / v).scatter(1, target[:, None], 1 - eps + eps / v)
    torch.testing.assert_close(g_espnet, (p - q_espnet) / 4)
    torch.testing.assert_close(g_torch, (p - q_torch) / 4)
    # on the target class the two gradients differ by eps / V per token
    diff = (g_torch - g_espnet)[torch.arange(4), target] * 4
    torch.testing.assert_close(diff, torch.full((4,), -eps / v))
    # the values: torch's is a cross-entropy H(q_torch, p); ESPnet's is KL(q_espnet || p) =
    # H(q_espnet, p) - H(q_espnet); neither the constant nor the smoothing mass agree
    h = -(q_espnet * q_espnet.log()).sum(-1)
    ce_espnet_q = -(q_espnet * p.log()).sum(-1)
    assert float(espnet) == pytest.approx(float((ce_espnet_q - h).mean()), rel=1e-5)
    assert abs(float(espnet) - float(torch_ce)) > 0.1


def test_hybrid_loss_selects_the_espnet_form():
    torch.manual_seed(2)
    logits = torch.randn(2, 4, 6)
    targets = torch.tensor([[1, 2, 5, -1], [3, 5, -1, -1]])
    espnet = HybridCTCAttentionLoss(ctc_weight=0.0, label_smoothing=0.1, smoothing_form="espnet")
    torch.testing.assert_close(espnet.attention(logits, targets),
                               label_smoothing_kl(logits, targets, 0.1))
    with pytest.raises(ValueError, match="smoothing_form"):
        HybridCTCAttentionLoss(smoothing_form="fairseq")


@pytest.mark.parametrize("experiment,form", [("fsdd_conformer", "espnet"),
                                             ("librispeech_conformer", "espnet"),
                                             ("fsdd_attention", "espnet"),
                                             ("fsdd_conformer_aug", "torch")])
def test_experiment_smoothing_form(experiment, form):
    from hydra import compose, initialize_config_dir

    from audiokit.cli.train import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = compose(config_name="train", overrides=[f"experiment=asr/{experiment}"])
    assert cfg.loss.smoothing_form == form
    assert instantiate(cfg.loss, blank_id=0).smoothing_form == form
