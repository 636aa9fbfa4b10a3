"""Audio-MAE: exact masking share, encoder sees only visible patches, masked-only loss,
and an AST classifier initialised (and frozen) from an MAE checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from audiokit.models.classification import ASTClassifier
from audiokit.models.ssl import AudioMAE, PatchMasker, masked_patch_mse
from audiokit.models.ssl.audio_mae import normalise_patches
from audiokit.models.ssl.masking import MODES

BINS = 16
ENCODER = {"patch_size": (4, 4), "patch_stride": (4, 4), "d_model": 16, "num_layers": 2,
           "num_heads": 2, "ffn_dim": 32, "dropout": 0.0, "max_frames": 40}


def small_mae(**kwargs) -> AudioMAE:
    return AudioMAE(BINS, **ENCODER, decoder_dim=8, decoder_layers=1, decoder_heads=2,
                    decoder_ffn_dim=16, **kwargs).eval()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("ratio", [0.8, 0.75, 0.5])
def test_masker_keeps_exact_share(mode: str, ratio: float) -> None:
    freq, time = 4, 10  # 40 patches per full utterance
    time_lens = torch.tensor([10, 7, 3])
    padding = ~(torch.arange(time) < time_lens[:, None]).repeat(1, freq)
    keep, keep_padding, masked = PatchMasker(ratio, mode)(padding, freq)
    valid = (~padding).sum(1)
    visible = valid - masked.sum(1)
    assert visible.tolist() == [round(v * (1 - ratio)) for v in valid.tolist()]
    assert ((~keep_padding).sum(1) == visible).all()
    for b in range(3):  # kept indices are the visible patches, never padding or masked ones
        kept = keep[b][~keep_padding[b]]
        assert not padding[b, kept].any() and not masked[b, kept].any()
        assert len(set(kept.tolist())) == len(kept)
    assert not (masked & padding).any()


def test_structured_masking_hides_whole_columns_or_rows() -> None:
    freq, time = 4, 10
    padding = torch.zeros(500, freq * time, dtype=torch.bool)  # 500 draws: no lucky pass
    _, _, masked = PatchMasker(0.8, "time")(padding, freq)  # 8 of 10 columns exactly
    grid = masked.view(-1, freq, time)
    assert (grid.all(1).sum(1) == 8).all() and ((~grid).all(1).sum(1) == 2).all()
    _, _, masked = PatchMasker(0.75, "frequency")(padding, freq)  # 3 of 4 rows exactly
    grid = masked.view(-1, freq, time)
    assert (grid.all(2).sum(1) == 3).all() and ((~grid).all(2).sum(1) == 1).all()


def test_encoder_sees_only_visible_patches() -> None:
    torch.manual_seed(0)
    model = small_mae(mask_ratio=0.75)
    feats, lens = torch.randn(1, 40, BINS), torch.tensor([40])  # 4 x 10 = 40 patches
    lengths = []
    hook = model.encoder.encoder.layers[0].register_forward_hook(
        lambda module, args, out: lengths.append(args[0].shape[1]))
    out = model(feats, lens, generator=torch.Generator().manual_seed(1))
    hook.remove()
    assert lengths == [1 + 10]  # CLS + 25 % of 40

    # Changing a masked patch's input leaves the encoder's output unchanged.
    masked = out["masked"][0].view(4, 10)
    f, t = [int(i) for i in masked.nonzero()[0]]
    changed = feats.clone()
    changed[0, 4 * t:4 * t + 4, 4 * f:4 * f + 4] += 5.0
    captured = []
    model.encoder.norm.register_forward_hook(lambda module, args, out: captured.append(out))
    model(feats, lens, generator=torch.Generator().manual_seed(1))
    model(changed, lens, generator=torch.Generator().manual_seed(1))
    assert torch.equal(captured[0], captured[1])
    # ... while a visible patch's input changes it
    f, t = [int(i) for i in (~masked).nonzero()[0]]
    changed = feats.clone()
    changed[0, 4 * t:4 * t + 4, 4 * f:4 * f + 4] += 5.0
    model(changed, lens, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(captured[0], captured[2])


def test_masked_mse_by_hand() -> None:
    pred = torch.tensor([[[1.0, 2.0], [0.0, 0.0], [3.0, 3.0]]])
    target = torch.tensor([[[0.0, 0.0], [5.0, 5.0], [1.0, 2.0]]])
    masked = torch.tensor([[True, False, True]])
    # patch 0: (1 + 4) / 2 = 2.5; patch 2: (4 + 1) / 2 = 2.5; patch 1 is visible
    assert masked_patch_mse(pred, target, masked).item() == pytest.approx(2.5)


def test_loss_ignores_visible_patches() -> None:
    torch.manual_seed(0)
    pred, target = torch.randn(2, 12, 6), torch.randn(2, 12, 6)
    masked = torch.rand(2, 12) < 0.7
    changed = pred.clone()
    changed[~masked] = 100.0
    assert torch.equal(masked_patch_mse(pred, target, masked),
                       masked_patch_mse(changed, target, masked))
    by_hand = ((pred - target) ** 2).mean(-1)[masked].mean()
    assert masked_patch_mse(pred, target, masked).item() == pytest.approx(by_hand.item())


def test_model_loss_is_masked_mse_of_normalised_patches() -> None:
    torch.manual_seed(0)
    model = small_mae()
    feats, lens = torch.randn(2, 40, BINS), torch.tensor([40, 22])
    out = model(feats, lens, generator=torch.Generator().manual_seed(3))
    # target patch (f=1, t=2) of utterance 0, normalised by hand
    patch = feats[0, 8:12, 4:8].T.reshape(-1)
    by_hand = (patch - patch.mean()) / (patch.var(unbiased=False) + 1e-6).sqrt()
    assert torch.allclose(out["target"][0, 1 * 10 + 2], by_hand, atol=1e-5)
    assert torch.allclose(normalise_patches(patch[None]), by_hand[None], atol=1e-5)
    expected = masked_patch_mse(out["pred"], out["target"], out["masked"])
    assert torch.equal(out["loss"], expected)
    # padding patches (utterance 1 has 22 frames -> 6 time patches) are never in the loss
    assert not out["masked"][1].view(4, 10)[:, 6:].any()


def save_mae(path: Path, model: AudioMAE) -> Path:
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"task": "audiokit.tasks.masked_pretraining.MaskedPretrainingTask",
                "hparams": {}, "state_dict": state}, path)
    return path


def test_ast_from_mae_checkpoint_has_encoder_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    mae = small_mae()
    path = save_mae(tmp_path / "model.pt", mae)
    ast = ASTClassifier(BINS, 10, **ENCODER, pretrained=path)
    ast_state = ast.state_dict()
    for key, value in mae.encoder.state_dict().items():
        assert torch.equal(ast_state[key], value), key
    scratch = ASTClassifier(BINS, 10, **ENCODER)
    assert not torch.equal(scratch.pos_embed, mae.encoder.pos_embed)


def test_ast_from_mismatched_checkpoint_is_an_error(tmp_path: Path) -> None:
    path = save_mae(tmp_path / "model.pt", small_mae())
    with pytest.raises(ValueError, match="does not match"):
        ASTClassifier(BINS, 10, **{**ENCODER, "max_frames": 80}, pretrained=path)
    torch.save({"state_dict": {"model.conv.weight": torch.zeros(1)}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="no 'model.encoder"):
        ASTClassifier(BINS, 10, **ENCODER, pretrained=tmp_path / "other.pt")


@pytest.mark.parametrize("freeze", ["none", "all", 1])
def test_freezing(freeze) -> None:
    model = ASTClassifier(BINS, 10, **ENCODER, freeze=freeze)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.randn(2, 40, BINS), torch.tensor([40, 30])).sum().backward()
    optimizer.step()
    after = model.state_dict()

    def changed(prefix: str) -> bool:
        return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))

    assert changed("head.")
    first = ["patch_embed.", "pos_embed", "cls_token", "encoder.layers.0."]
    assert all(changed(p) for p in first) == (freeze == "none")
    assert (not any(changed(p) for p in first)) == (freeze != "none")
    assert changed("encoder.layers.1.") == (freeze != "all")
    assert changed("norm.") == (freeze != "all")


def test_freeze_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="freeze"):
        ASTClassifier(BINS, 10, **ENCODER, freeze=3)


def test_pretraining_task_ignores_labels_and_fixes_validation_masks() -> None:
    from audiokit.tasks.masked_pretraining import MaskedPretrainingTask

    torch.manual_seed(0)
    model = {"_target_": "audiokit.models.ssl.AudioMAE", **ENCODER, "decoder_dim": 8,
             "decoder_layers": 1, "decoder_heads": 2, "decoder_ffn_dim": 16}
    task = MaskedPretrainingTask(
        frontend={"_target_": "audiokit.frontends.LogMel", "sample_rate": 8000, "n_mels": BINS},
        model=model, optim={"_target_": "torch.optim.AdamW", "lr": 1e-3},
        loss={"_target_": "torch.nn.CrossEntropyLoss"}, labels=["a", "b"])
    assert "labels" not in task.hparams and "loss" not in task.hparams
    batch = {"audio": torch.randn(2, 3000), "audio_lens": torch.tensor([3000, 2000]),
             "ids": ["u1", "u2"], "label": torch.tensor([0, 1])}
    logged = []
    task.log = lambda name, value, **kwargs: logged.append((name, value))
    task.eval()
    task.validation_step(batch, 0)
    task.validation_step(batch, 0)
    assert logged[0][0] == "valid/loss" and torch.equal(logged[0][1], logged[1][1])
    task.train()
    loss = task.training_step(batch, 0)
    loss.backward()
    assert task.model.encoder.patch_embed.weight.grad is not None


def test_ast_mean_pool_reads_the_mean_patch_output_and_ignores_padding() -> None:
    torch.manual_seed(0)
    model = ASTClassifier(BINS, 3, **ENCODER, pool="mean").eval()
    lens = torch.tensor([40, 13])
    feats = torch.randn(2, 40, BINS)
    with torch.no_grad():
        batched = model(feats, lens)
        alone = model(feats[1:, :13], lens[1:])
        x, patch_lens = model.patch_input(feats[1:, :13], lens[1:])
        out = model.encode(*model.embed(x, patch_lens))
        by_hand = model.head(out[0, 1:].mean(0))  # 13 frames -> 4 x 4 patches, none padding
    torch.testing.assert_close(batched[1], alone[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(alone[0], by_hand, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="pool"):
        ASTClassifier(BINS, 3, **ENCODER, pool="max")
