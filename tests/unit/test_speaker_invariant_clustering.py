"""Speaker-invariant clustering: Sinkhorn balance and the swapped-prediction formula, the
frame pooling, starting from an MAE, freezing, and the two-view task."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from audiokit.losses.swapped_prediction import sinkhorn, swapped_prediction_loss
from audiokit.models.classification import ASTClassifier
from audiokit.models.ssl import AudioMAE
from audiokit.models.ssl.speaker_invariant_clustering import SpeakerInvariantClustering

BINS = 16
ENCODER = {"patch_size": (4, 4), "patch_stride": (4, 4), "d_model": 16, "num_layers": 2,
           "num_heads": 2, "ffn_dim": 32, "dropout": 0.0, "max_frames": 40}
HEADS = {"num_clusters": 6, "proj_dim": 8}


def reference_sinkhorn(scores: torch.Tensor, eps: float, iters: int) -> torch.Tensor:
    """Sinkhorn-Knopp written out entry by entry: alternately rescale columns to 1/K and rows
    to 1/M of the total, starting from exp(scores / eps) summing to one."""
    m, k = scores.shape
    q = [[float(torch.exp(scores[i, j] / eps)) for j in range(k)] for i in range(m)]
    total = sum(map(sum, q))
    q = [[v / total for v in row] for row in q]
    for _ in range(iters):
        for j in range(k):
            col = sum(q[i][j] for i in range(m))
            for i in range(m):
                q[i][j] /= col * k
        for i in range(m):
            row = sum(q[i])
            q[i] = [v / (row * m) for v in q[i]]
    return torch.tensor(q, dtype=torch.float64) * m


def test_sinkhorn_matches_the_reference_and_balances() -> None:
    torch.manual_seed(0)
    scores = torch.randn(12, 4, dtype=torch.float64) * 0.3
    q = sinkhorn(scores, eps=0.5, iters=3)
    torch.testing.assert_close(q.double(), reference_sinkhorn(scores, 0.5, 3), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(q.sum(1), torch.ones(12, dtype=q.dtype))     # rows: distributions
    many = sinkhorn(scores, eps=0.5, iters=50)
    torch.testing.assert_close(many.sum(0), torch.full((4,), 3.0, dtype=q.dtype), rtol=1e-4, atol=1e-4)


def test_sinkhorn_spreads_items_that_all_prefer_one_cluster() -> None:
    scores = torch.tensor([[1.0, 0.0]] * 4) + torch.tensor([[0.0, 0.1], [0.0, 0.2],
                                                             [0.0, 0.3], [0.0, 0.4]])
    q = sinkhorn(scores, eps=0.05, iters=20)
    assert q.argmax(1).tolist() == [0, 0, 1, 1]    # the two closest to cluster 1 move there


def test_swapped_prediction_loss_by_hand() -> None:
    logits_a = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    logits_b = torch.tensor([[0.0, 0.0], [1.0, 3.0]])
    targets_a = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    targets_b = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    log_a, log_b = F.log_softmax(logits_a, -1), F.log_softmax(logits_b, -1)
    by_hand = -0.25 * (log_a[0, 1] + log_a[1, 0] + log_b[0, 0]
                       + 0.5 * log_b[1, 0] + 0.5 * log_b[1, 1])
    torch.testing.assert_close(swapped_prediction_loss(logits_a, logits_b, targets_a, targets_b),
                               by_hand)


def test_frames_average_the_frequency_rows_and_mark_padding() -> None:
    torch.manual_seed(0)
    model = SpeakerInvariantClustering(BINS, **ENCODER, **HEADS).eval()
    feats, lens = torch.randn(2, 40, BINS), torch.tensor([40, 21])  # 21 frames: 6 patches
    frames, valid = model.frames(feats, lens)
    assert frames.shape == (2, 10, 16) and valid.sum(1).tolist() == [10, 6]
    x, patch_lens = model.encoder.patch_input(feats, lens)
    tokens, padding = model.encoder.embed(x, patch_lens)
    out = model.encoder.encode(tokens, padding)[0, 1:].view(4, 10, 16)   # 4 frequency rows
    torch.testing.assert_close(frames[0], out.mean(0))


def test_identical_views_agree_and_the_loss_trains_the_unfrozen_blocks() -> None:
    torch.manual_seed(0)
    model = SpeakerInvariantClustering(BINS, **ENCODER, **HEADS, freeze=1)
    feats, lens = torch.randn(3, 40, BINS), torch.tensor([40, 32, 24])
    same = model(feats, feats, lens)
    assert same["metrics"]["agreement"] == 1.0
    assert 1.0 <= same["metrics"]["perplexity"] <= 6.0
    out = model(feats, feats + 0.5 * torch.randn_like(feats), lens)
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    assert model.encoder.encoder.layers[0].linear1.weight.grad is None      # frozen
    assert model.encoder.encoder.layers[1].linear1.weight.grad is not None
    assert model.prototypes.grad is not None


def test_starts_from_an_mae_and_initialises_an_ast(tmp_path: Path) -> None:
    torch.manual_seed(0)
    mae = AudioMAE(BINS, **ENCODER, decoder_dim=8, decoder_layers=1, decoder_heads=2,
                   decoder_ffn_dim=16)
    mae_file = tmp_path / "mae.pt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in mae.state_dict().items()}}, mae_file)
    model = SpeakerInvariantClustering(BINS, **ENCODER, **HEADS, pretrained=mae_file)
    for key, value in mae.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[key], value), key
    # its own model.pt initialises the AST classifier the same way an MAE's does
    spin_file = tmp_path / "spin.pt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, spin_file)
    ast = ASTClassifier(BINS, 10, **ENCODER, pretrained=spin_file)
    for key, value in model.encoder.state_dict().items():
        assert torch.equal(ast.state_dict()[key], value), key


def task_config(**frontend) -> dict:
    return {"frontend": {"_target_": "audiokit.frontends.LogMel", "sample_rate": 8000,
                         "n_mels": BINS, **frontend},
            "model": {"_target_": "audiokit.models.ssl.speaker_invariant_clustering."
                                  "SpeakerInvariantClustering", **ENCODER, **HEADS},
            "optim": {"_target_": "torch.optim.AdamW", "lr": 1e-3}}


def test_view_task_perturbs_each_view_and_fixes_validation() -> None:
    from audiokit.tasks.view_pretraining import ViewPretrainingTask

    torch.manual_seed(0)
    task = ViewPretrainingTask(**task_config(vtln_warp=[0.8, 1.2]), labels=["a"])
    seen = []
    forward = task.model.forward
    task.model.forward = lambda a, b, lens: seen.append((a, b)) or forward(a, b, lens)
    batch = {"audio": torch.randn(2, 3000), "audio_lens": torch.tensor([3000, 2000]),
             "ids": ["u1", "u2"]}
    logged = []
    task.log = lambda name, value, **kwargs: logged.append((name, value))
    task.eval()
    task.validation_step(batch, 0)
    task.validation_step(batch, 0)
    assert not task.frontend.training                       # left as Lightning set it
    assert not torch.equal(*seen[0])                         # two different warps
    torch.testing.assert_close(seen[0][0], seen[1][0])       # the same ones each epoch
    assert logged[0][0] == "valid/loss" and torch.equal(logged[0][1], logged[len(logged) // 2][1])
    task.train()
    task.training_step(batch, 0).backward()
    assert not torch.equal(*seen[-1])


def test_view_task_without_a_perturbing_frontend_is_an_error() -> None:
    from audiokit.tasks.view_pretraining import ViewPretrainingTask

    with pytest.raises(ValueError, match="vtln_warp"):
        ViewPretrainingTask(**task_config())
