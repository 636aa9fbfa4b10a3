"""The EMA callback: closed-form averages after k optimizer steps, the weight swap for
validation, what checkpoints hold, and resume continuing the average."""

from __future__ import annotations

from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from audiokit.callbacks import EMA

W0 = torch.tensor([1.0, -2.0, 0.5])
C = torch.tensor([1.0, 2.0, -1.0])  # the gradient of every step
LR = 0.25  # dyadic values: the SGD weights are exact in float32


class ConstantGrad(pl.LightningModule):
    """loss = w . c: SGD moves w by -LR * c per step, so w_k = W0 - k * LR * c."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(W0.clone())
        self.frozen = torch.nn.Parameter(torch.ones(2), requires_grad=False)
        self.seen_in_validation: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        return (self.w * C).sum() + 0 * batch[0].sum()

    def validation_step(self, batch, batch_idx):
        self.seen_in_validation.append(self.w.detach().clone())

    def configure_optimizers(self):
        return torch.optim.SGD([self.w], lr=LR)


def weights_after(k: int) -> torch.Tensor:
    return W0 - k * LR * C


def closed_form_ema(k: int, d: float) -> torch.Tensor:
    """ema_k = d^k w_0 + sum_j (1-d) d^(k-j) w_j with w_j = W0 - j*LR*C, summed in closed form:
    sum_j (1-d) d^(k-j) j = k - d (1 - d^k) / (1 - d)."""
    return (W0.double() - LR * C.double() * (k - d * (1 - d**k) / (1 - d))).float()


def fit(module, ema, tmp_path, max_epochs=2, ckpt_path=None, **trainer_kwargs):
    loader = DataLoader(TensorDataset(torch.zeros(3, 1)), batch_size=1)  # 3 steps per epoch
    ckpt = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, save_top_k=0)
    trainer = pl.Trainer(max_epochs=max_epochs, accelerator="cpu", logger=False,
                         callbacks=[ema, ckpt], enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=1,
                         **trainer_kwargs)
    trainer.fit(module, train_dataloaders=loader, val_dataloaders=loader, ckpt_path=ckpt_path)
    return trainer


def test_closed_form_after_k_steps(tmp_path):
    module, ema = ConstantGrad(), EMA(decay=0.9)
    fit(module, ema, tmp_path)
    assert ema.num_updates == 6
    assert list(ema.ema) == ["w"]  # trainable weights only
    assert ema.ema["w"].dtype == torch.float32
    torch.testing.assert_close(ema.ema["w"], closed_form_ema(6, 0.9), rtol=1e-6, atol=1e-6)
    assert torch.equal(module.w.detach(), weights_after(6))
    # without validate_with_ema, validation sees the training weights
    assert [w.tolist() for w in module.seen_in_validation] == [weights_after(3).tolist(),
                                                               weights_after(6).tolist()]


def test_warmup_decay(tmp_path):
    ema = EMA(decay=0.5, warmup=True)
    decays = []
    for n in range(11):
        ema.num_updates = n
        decays.append(ema.current_decay())
    assert decays[:3] == [1 / 10, 2 / 11, 3 / 12] and decays[8] == 0.5 and decays[10] == 0.5
    module, ema = ConstantGrad(), EMA(decay=0.5, warmup=True)
    fit(module, ema, tmp_path)
    ref = W0.double()
    for k in range(1, 7):
        d = min(0.5, k / (9 + k))  # n = k - 1 earlier updates
        ref = d * ref + (1 - d) * weights_after(k).double()
    torch.testing.assert_close(ema.ema["w"], ref.float(), rtol=1e-6, atol=1e-6)


def test_gradient_accumulation_updates_once_per_optimizer_step(tmp_path):
    module, ema = ConstantGrad(), EMA(decay=0.8)
    fit(module, ema, tmp_path, accumulate_grad_batches=3)  # 6 batches, 2 optimizer steps
    assert ema.num_updates == 2
    torch.testing.assert_close(ema.ema["w"], closed_form_ema(2, 0.8), rtol=1e-6, atol=1e-6)


def test_validate_with_ema_swaps_and_checkpoints_hold_ema(tmp_path):
    module, ema = ConstantGrad(), EMA(decay=0.9, validate_with_ema=True)
    fit(module, ema, tmp_path)
    for seen, k in zip(module.seen_in_validation, (3, 6), strict=True):
        torch.testing.assert_close(seen, closed_form_ema(k, 0.9), rtol=1e-6, atol=1e-6)
    assert torch.equal(module.w.detach(), weights_after(6))  # swapped back exactly
    ckpt = torch.load(tmp_path / "ckpt/last.ckpt", weights_only=True)
    torch.testing.assert_close(ckpt["state_dict"]["w"], closed_form_ema(6, 0.9), rtol=1e-6, atol=1e-6)
    state = ckpt["callbacks"][ema.state_key]
    assert torch.equal(state["training_weights"]["w"], weights_after(6))
    assert state["num_updates"] == 6 and torch.equal(state["ema"]["w"], ema.ema["w"])
    assert torch.equal(ckpt["state_dict"]["frozen"], torch.ones(2))


@pytest.mark.parametrize("validate_with_ema", [False, True])
def test_resume_continues_the_average(tmp_path, validate_with_ema):
    fit(ConstantGrad(), EMA(decay=0.9, validate_with_ema=validate_with_ema), tmp_path)
    module, ema = ConstantGrad(), EMA(decay=0.9, validate_with_ema=validate_with_ema)
    fit(module, ema, tmp_path, max_epochs=4, ckpt_path=tmp_path / "ckpt/last.ckpt")
    assert ema.num_updates == 12
    torch.testing.assert_close(ema.ema["w"], closed_form_ema(12, 0.9), rtol=1e-6, atol=1e-6)
    # training went on from the training weights, not from the EMA weights in state_dict
    assert torch.equal(module.w.detach(), weights_after(12))


def test_state_round_trip(tmp_path):
    ema = EMA(decay=0.99)
    ema.ema, ema.num_updates = {"w": torch.tensor([0.5, 0.25, -1.0])}, 7
    torch.save(ema.state_dict(), tmp_path / "state.pt")
    back = EMA(decay=0.99)
    back.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    module = ConstantGrad()
    back.on_fit_start(SimpleNamespace(global_step=7), module)
    assert back.num_updates == 7 and list(back.ema) == ["w"]
    assert torch.equal(back.ema["w"], torch.tensor([0.5, 0.25, -1.0]))
    assert torch.equal(module.w.detach(), W0)  # no training weights saved: model untouched

    bad = EMA(decay=0.99)
    bad.load_state_dict({"decay": 0.99, "num_updates": 1, "ema": {"v": torch.zeros(3)}})
    with pytest.raises(ValueError, match=r"names parameters the model does not have: \['v'\]"):
        bad.on_fit_start(SimpleNamespace(global_step=0), module)


def test_swap_in_and_out_restores_exact_weights():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3)).to(torch.bfloat16)
    original = {n: p.detach().clone() for n, p in net.named_parameters()}
    ema = EMA(decay=0.9)
    ema.ema = {n: torch.randn(p.shape) for n, p in net.named_parameters()}
    ema.swap_in(net)
    for n, p in net.named_parameters():
        assert torch.equal(p, ema.ema[n].to(torch.bfloat16))
    ema.swap_out(net)
    for n, p in net.named_parameters():
        assert p.dtype == torch.bfloat16 and torch.equal(p, original[n])


def test_bad_decay():
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\)"):
        EMA(decay=1.0)
