"""Diarization data, tasks and inference pieces: chunks and frame labels, label alignment,
frame-level DER against a per-frame loop, turn merging and overlap-aware second speakers."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from audiokit.data.datadir import DataDirError
from audiokit.data.diarization import (
    DiarizationDataset,
    chunk_bounds,
    collate_diarization,
    speakers_in_order,
)
from audiokit.data.rttm import Turn, write_rttm
from audiokit.inference.diarization import merge_options, merge_turns, second_speakers
from audiokit.metrics.frame_der import frame_der, frame_error_counts
from audiokit.tasks.diarization import align_labels

RATE = 8000


@pytest.fixture
def diar_dir(tmp_path):
    """Two recordings: r1 (4 s, A then B overlapping, then A again), r2 (2 s, C alone)."""
    rng = np.random.default_rng(0)
    lines = []
    for reco, seconds in (("r1", 4.0), ("r2", 2.0)):
        path = tmp_path / f"{reco}.wav"
        sf.write(path, 0.1 * rng.standard_normal(int(seconds * RATE)), RATE)
        lines.append(f"{reco} {path}\n")
    (tmp_path / "wav.scp").write_text("".join(lines))
    write_rttm(tmp_path / "rttm", {
        "r1": [Turn(0.5, 1.5, "A"), Turn(1.2, 2.5, "B"), Turn(3.0, 3.5, "A")],
        "r2": [Turn(0.2, 1.8, "C")]})
    return tmp_path


def test_whole_recordings_give_frame_labels_in_order_of_appearance(diar_dir):
    ds = DiarizationDataset(diar_dir, RATE, frame_shift=0.1)
    assert [c[0] for c in ds.chunks] == ["r1", "r2"] and ds.durations == [4.0, 2.0]
    item = ds[0]
    assert item["id"] == "r1" and item["audio"].shape == (4 * RATE,)
    labels = item["labels"].numpy()
    assert labels.shape == (40, 2)
    # frame i covers [0.1 i, 0.1 (i + 1)); active when its centre lies in a turn
    assert np.flatnonzero(labels[:, 0]).tolist() == [*range(5, 15), *range(30, 35)]
    assert np.flatnonzero(labels[:, 1]).tolist() == list(range(12, 25))


def test_chunks_keep_only_their_speakers(diar_dir):
    ds = DiarizationDataset(diar_dir, RATE, frame_shift=0.1, chunk_seconds=1.5)
    assert [c[0] for c in ds.chunks][:3] == ["r1-0000.00", "r1-0001.50", "r1-0002.50"]
    assert chunk_bounds(4.0, 1.5) == [(0.0, 1.5), (1.5, 3.0), (2.5, 4.0)]
    last = ds[2]  # 2.5..4.0 of r1: only A speaks (3.0..3.5); B ends at 2.5
    assert last["labels"].shape == (15, 1)
    assert np.flatnonzero(last["labels"][:, 0].numpy()).tolist() == list(range(5, 10))
    batch = collate_diarization([ds[0], last, ds[len(ds) - 1]])
    assert batch["labels"].shape == (3, 15, 2) and batch["num_speakers"].tolist() == [2, 1, 1]
    assert batch["labels"][1, :, 1].sum() == 0  # padding speaker column: nobody


def test_bad_diarization_dirs_are_named(diar_dir):
    with pytest.raises(DataDirError, match="recording 'r1' has 2 speakers, more than "
                                           "max_speakers=1"):
        DiarizationDataset(diar_dir, RATE, max_speakers=1)
    write_rttm(diar_dir / "rttm", {"r1": [Turn(0.5, 1.5, "A")]})
    with pytest.raises(DataDirError, match="no turns for 1 recording.*'r2'"):
        DiarizationDataset(diar_dir, RATE)
    (diar_dir / "rttm").unlink()
    with pytest.raises(DataDirError, match="rttm: missing"):
        DiarizationDataset(diar_dir, RATE)


def test_speakers_in_order_of_first_turn():
    turns = [Turn(2.0, 3.0, "B"), Turn(0.0, 1.0, "C"), Turn(1.0, 2.0, "B")]
    assert speakers_in_order(turns) == ["C", "B"]


def test_align_labels_picks_the_centre_frame_and_pads():
    labels = torch.arange(10.0).view(1, 10, 1)
    assert align_labels(labels, 4, 3)[0, :, 0].tolist() == [0.0, 3.0, 6.0, 9.0]
    assert align_labels(labels, 6, 3)[0, :, 0].tolist() == [0.0, 3.0, 6.0, 9.0, 0.0, 0.0]
    assert align_labels(labels, 2, 1)[0, :, 0].tolist() == [0.0, 1.0]


def test_frame_der_matches_a_per_frame_count():
    rng = np.random.default_rng(1)
    active = rng.random((3, 20, 3)) > 0.5
    labels = rng.random((3, 20, 3)) > 0.6
    lens = np.array([20, 13, 7])
    counts = frame_error_counts(torch.tensor(active), torch.tensor(labels), torch.tensor(lens))
    miss = fa = conf = speech = 0
    for b in range(3):
        for t in range(lens[b]):
            n_ref, n_sys = labels[b, t].sum(), active[b, t].sum()
            n_ok = (labels[b, t] & active[b, t]).sum()
            speech += n_ref
            miss += max(n_ref - n_sys, 0)
            fa += max(n_sys - n_ref, 0)
            conf += min(n_ref, n_sys) - n_ok
    assert counts["speech"].item() == speech and counts["missed"].item() == miss
    assert counts["false_alarm"].item() == fa and counts["confusion"].item() == conf
    assert frame_der(counts).item() == pytest.approx((miss + fa + conf) / speech)


def test_merge_turns_joins_touching_turns_of_one_speaker():
    turns = [Turn(0.0, 1.0, "a"), Turn(1.0, 2.0, "a"), Turn(0.5, 1.5, "b"), Turn(2.5, 3.0, "a")]
    assert merge_turns(turns) == [Turn(0.0, 2.0, "a"), Turn(0.5, 1.5, "b"), Turn(2.5, 3.0, "a")]


def test_second_speaker_in_overlap_is_the_nearest_other_speaker():
    turns = [Turn(0.0, 2.0, "a"), Turn(2.0, 4.0, "b"), Turn(6.0, 7.0, "c")]
    # overlap 1.6..2.2 lies mostly in a's turn: the nearest other speaker is b
    assert second_speakers(turns, [(1.6, 2.2)]) == [Turn(1.6, 2.2, "b")]
    # inside b's turn, the nearest other is a (0 s away), not c (2 s away)
    assert second_speakers(turns, [(3.0, 3.5)]) == [Turn(3.0, 3.5, "a")]
    assert second_speakers(turns, [(4.5, 5.0)]) == []  # no speaker there: nothing to add


def test_unknown_diarization_settings_are_errors():
    assert merge_options({"a": 1, "b": 2}, {"a": 3}, None) == {"a": 3, "b": 2}
    with pytest.raises(ValueError, match="diarization.c: unknown setting"):
        merge_options({"a": 1}, {"c": 1})


def _eend_task(**model):
    from audiokit.tasks.diarization import DiarizationTask

    init = model.pop("init", None)
    return DiarizationTask(
        8000, 0.01, frontend={"_target_": "audiokit.frontends.KaldiFbank", "sample_rate": 8000,
                              "n_mels": 16},
        model={"_target_": "audiokit.models.diarization.eend.EEND", "d_model": 16,
               "num_heads": 2, "num_layers": 1, "ff_dim": 32, **model},
        loss={"_target_": "audiokit.losses.pit_bce.PITBCELoss"},
        optim={"_target_": "torch.optim.Adam"}, init_checkpoint=init)


def test_eda_starts_from_a_two_speaker_eend(tmp_path):
    two = _eend_task()
    torch.save({"state_dict": two.state_dict()}, tmp_path / "model.pt")
    eda = _eend_task(eda=True, init=str(tmp_path / "model.pt"))
    own, src = eda.model.state_dict(), two.model.state_dict()
    shared = [k for k in own if k in src and own[k].shape == src[k].shape]
    assert shared and all(torch.equal(own[k], src[k]) for k in shared)
    assert any(k not in src for k in own)  # the attractor LSTMs start fresh
    assert "init_checkpoint" not in eda.hparams  # the file is not needed after training
    torch.save({"state_dict": {"other.weight": torch.zeros(1)}}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="no model weight matches"):
        _eend_task(init=str(tmp_path / "bad.pt"))
