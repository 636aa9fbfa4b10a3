"""Speaker recognition wiring: speaker labels from utt2spk, trials, the task, embeddings and
scores of any data dir, and EER scoring into RESULTS.md."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from audiokit.data.datadir import DataDir, DataDirError
from audiokit.data.datamodule import AudioDataModule
from audiokit.data.make_trials import make_trials
from audiokit.inference.trials import read_embeddings, read_scores, read_trials, write_trials
from audiokit.metrics.verification import eer

TINY_ECAPA = {"_target_": "audiokit.models.speaker.ecapa_tdnn.ECAPATDNN", "embedding_dim": 16,
              "channels": 16, "mfa_channels": 48, "attention_channels": 8, "se_channels": 8}


def test_speaker_labels_come_from_utt2spk(tiny_fsdd):
    dm = AudioDataModule(str(tiny_fsdd / "train"), str(tiny_fsdd / "valid"), 8000,
                         label_file="utt2spk", num_workers=0)
    speakers = sorted(set(DataDir.load(tiny_fsdd / "train").utt2spk.values()))
    assert dm.task_kwargs()["labels"] == speakers
    dm.setup("fit")
    item = dm.train_set[0]
    assert speakers[item["label"]] == item["speaker"]


def test_speed_perturbed_copies_are_new_speakers(tiny_fsdd):
    from audiokit.data.augment.speed import change_speed

    plain = AudioDataModule(str(tiny_fsdd / "train"), str(tiny_fsdd / "valid"), 8000,
                            label_file="utt2spk", num_workers=0)
    dm = AudioDataModule(str(tiny_fsdd / "train"), str(tiny_fsdd / "valid"), 8000,
                         label_file="utt2spk", num_workers=0, speed_classes=[0.9, 1.1])
    speakers = plain.task_kwargs()["labels"]
    assert dm.task_kwargs()["labels"] == (speakers + [f"sp0.9-{s}" for s in speakers]
                                          + [f"sp1.1-{s}" for s in speakers])
    plain.setup("fit")
    dm.setup("fit")
    n = len(plain.train_set)
    assert len(dm.train_set) == 3 * n and len(dm.valid_set) == len(plain.valid_set)
    for i in (0, n - 1):
        base, slow, fast = dm.train_set[i], dm.train_set[n + i], dm.train_set[2 * n + i]
        assert base["id"] == plain.train_set[i]["id"]
        assert slow["id"] == f"sp0.9-{base['id']}" and fast["id"] == f"sp1.1-{base['id']}"
        labels = dm.task_kwargs()["labels"]
        assert labels[slow["label"]] == slow["speaker"] == f"sp0.9-{base['speaker']}"
        assert labels[fast["label"]] == f"sp1.1-{base['speaker']}"
        assert torch.equal(slow["audio"], change_speed(base["audio"], 8000, 0.9))
        assert dm.train_set.durations[2 * n + i] == pytest.approx(plain.train_set.durations[i] / 1.1)
    with pytest.raises(ValueError, match="1.0 is the recordings themselves"):
        AudioDataModule(str(tiny_fsdd / "train"), str(tiny_fsdd / "valid"), 8000,
                        label_file="utt2spk", speed_classes=[1.0, 1.1])
    with pytest.raises(ValueError, match="speeds must be positive"):
        AudioDataModule(str(tiny_fsdd / "train"), str(tiny_fsdd / "valid"), 8000,
                        label_file="utt2spk", speed_classes=[0.0, 1.1])
    with pytest.raises(ValueError, match="needs class labels"):
        AudioDataModule(str(tiny_fsdd / "train"), str(tiny_fsdd / "valid"), 8000,
                        label_file="utt2nothing", speed_classes=[1.1])


def test_speakers_with_one_training_recording_are_named(caplog):
    from audiokit.data.datamodule import warn_single_recording_speakers

    utt2spk = {"a1": ["alice"], "a2": ["alice"], "b1": ["bob"], "c1": ["carol"]}
    warn_single_recording_speakers(utt2spk, "data/train")
    assert "data/train: 2 speaker(s) have a single training recording" in caplog.text
    assert "bob, carol" in caplog.text


def test_trials_are_balanced_deterministic_and_valid(tiny_fsdd):
    data = DataDir.load(tiny_fsdd / "test")
    trials = make_trials(data, 40, seed=3)
    assert trials == make_trials(data, 40, seed=3) != make_trials(data, 40, seed=4)
    assert len(set(trials)) == 40 and sum(t.target for t in trials) == 20
    for t in trials:
        assert (data.utt2spk[t.enroll] == data.utt2spk[t.test]) == t.target and t.enroll != t.test
    one = DataDir(data.path, {"a": "x"}, utt2spk={"a": "s"})
    with pytest.raises(DataDirError, match="two speakers"):
        make_trials(one, 2)


def test_trials_involving_a_held_out_speaker(tmp_path):
    utt2spk = {f"{s}_{i}": s for s in ("anna", "ben", "carl", "theo") for i in range(8)}
    data = DataDir(tmp_path, {u: f"{u}.wav" for u in utt2spk}, utt2spk=utt2spk)
    trials = make_trials(data, 40, seed=1, involving=["theo"])
    assert trials == make_trials(data, 40, seed=1, involving=["theo"])
    assert len(set(trials)) == 40 and sum(t.target for t in trials) == 20
    for t in trials:
        spk = (utt2spk[t.enroll], utt2spk[t.test])
        assert (spk == ("theo", "theo")) if t.target else (spk[0] == "theo" != spk[1])
    # all 28 theo-theo pairs are used; one more target pair cannot be made
    assert sum(t.target for t in make_trials(data, 56, involving=["theo"])) == 28
    with pytest.raises(DataDirError, match="29 target pairs; only 28"):
        make_trials(data, 58, involving=["theo"])
    with pytest.raises(DataDirError, match="speaker.s. zoe not in utt2spk"):
        make_trials(data, 10, involving=["zoe"])


def build_task(labels):
    from audiokit.tasks.speaker import SpeakerTask

    return SpeakerTask(labels, frontend={"_target_": "audiokit.frontends.KaldiFbank",
                                         "sample_rate": 8000, "n_mels": 24},
                       model=TINY_ECAPA, loss={"_target_": "audiokit.losses.margin.AAMSoftmax",
                                               "margin": 0.2, "scale": 30.0},
                       optim={"_target_": "torch.optim.Adam", "lr": 1e-3})


def test_task_trains_and_embeds():
    task = build_task(["a", "b", "c"])
    audio, lens = torch.randn(3, 4000), torch.tensor([4000, 3000, 2000])
    loss = task.training_step({"ids": ["1", "2", "3"], "audio": audio, "audio_lens": lens,
                               "label": torch.tensor([0, 1, 2])}, 0)
    loss.backward()
    assert torch.isfinite(loss) and task.model.embedding_dim == 16
    task.eval()
    emb = task.embed(audio, lens)
    alone = task.embed(audio[2:, :2000], lens[2:])
    assert emb.shape == (3, 16) and torch.allclose(emb[2], alone[0], atol=1e-4)


def test_validation_loss_leaves_out_the_scheduled_margin(monkeypatch):
    """valid/loss picks the exported checkpoint, so it must not rise as the margin ramps up:
    it is the cross-entropy of the margin-free logits, whatever the margin is."""
    task = build_task(["a", "b", "c"]).eval()
    batch = {"ids": ["1", "2", "3"], "audio": torch.randn(3, 4000),
             "audio_lens": torch.tensor([4000, 3000, 2000]), "label": torch.tensor([0, 1, 2])}
    logged = {}
    monkeypatch.setattr(task, "log", lambda name, value, **kw: logged.__setitem__(name, value))
    losses = []
    for margin in (0.0, 0.5):
        task.loss_fn.margin = margin
        with torch.no_grad():
            task.validation_step(batch, 0)
            no_margin = torch.nn.functional.cross_entropy(
                task.loss_fn.logits(task.embed(batch["audio"], batch["audio_lens"])),
                batch["label"])
        losses.append(logged["valid/loss"])
        assert torch.allclose(logged["valid/loss"], no_margin)
    assert torch.equal(losses[0], losses[1])
    with torch.no_grad():  # the training loss does include the margin
        assert task.loss_fn(task.embed(batch["audio"], batch["audio_lens"]),
                            batch["label"]) > losses[1]


def test_a_batch_of_one_utterance_is_skipped_not_a_crash(caplog):
    """Batch norm cannot train on one embedding: the step is skipped, named, and gives zero
    gradients to every parameter (so DDP ranks stay in step)."""
    task = build_task(["a", "b"])
    with caplog.at_level("WARNING"):
        loss = task.training_step({"ids": ["utt7"], "audio": torch.randn(1, 4000),
                                   "audio_lens": torch.tensor([4000]),
                                   "label": torch.tensor([1])}, 0)
    loss.backward()
    assert loss.item() == 0.0 and "utt7 is alone in its batch" in caplog.text
    assert all(p.grad is not None and not p.grad.any() for p in task.parameters())


def test_embedder_writes_embeddings_and_scores(tiny_fsdd, tmp_path):
    from audiokit.inference.speaker import SpeakerEmbedder

    test = DataDir.load(tiny_fsdd / "test")
    (tmp_path / "test").mkdir()
    data = test.write(tmp_path / "test")
    write_trials(data / "trials", make_trials(test, 20, seed=1))
    task = build_task(sorted(set(test.utt2spk.values()))).eval()
    embedder = SpeakerEmbedder(task, 8000)
    embedder.process_data_dir(str(data), str(tmp_path / "out"))
    emb = read_embeddings(tmp_path / "out/embeddings.npz")
    assert set(emb) == set(test.utt_ids) and next(iter(emb.values())).shape == (16,)
    pairs, scores = read_scores(tmp_path / "out/scores")
    assert len(pairs) == 20 and np.all(np.abs(scores) <= 1 + 1e-6)
    e, t = pairs[0]
    cos = emb[e] @ emb[t] / np.linalg.norm(emb[e]) / np.linalg.norm(emb[t])
    assert scores[0] == pytest.approx(cos, abs=1e-5)
    with pytest.raises(DataDirError, match="too short for an embedding"):
        SpeakerEmbedder(task, 8000, min_seconds=5.0).process_data_dir(str(data), str(tmp_path / "x"))


def test_chunked_embedding_is_the_mean_of_normalised_chunk_embeddings():
    from audiokit.inference.scoring import l2_normalize
    from audiokit.inference.speaker import SpeakerEmbedder

    task = build_task(["a", "b"]).eval()
    whole = SpeakerEmbedder(task, 8000)
    chunked = SpeakerEmbedder(task, 8000, chunk_seconds=0.5)
    wav = torch.randn(2 * 8000 + 1000)  # 2.125 s: chunks at 0, 0.5, 1.0, 1.5 and 1.625 s
    starts = [0, 4000, 8000, 12000, len(wav) - 4000]
    expected = l2_normalize(np.stack([whole(wav[s : s + 4000]) for s in starts])).mean(0)
    assert np.allclose(chunked(wav), expected, atol=1e-5)
    short = wav[:3000]  # shorter than a chunk: embedded whole
    assert np.allclose(chunked(short), whole(short), atol=1e-6)
    batch = torch.stack([wav, torch.nn.functional.pad(short, (0, len(wav) - 3000))])
    both = chunked.embed_batch(batch, torch.tensor([len(wav), 3000]))
    assert np.allclose(both, np.stack([expected, whole(short)]), atol=1e-5)


def test_score_sv_matches_eer_and_writes_results(tmp_path):
    rng = np.random.default_rng(0)
    trials_path, scores_path = tmp_path / "trials", tmp_path / "infer/test/scores"
    scores_path.parent.mkdir(parents=True)
    labels = rng.integers(0, 2, 200)
    scores = rng.normal(labels * 2.0, 1.0)
    trials_path.write_text("".join(f"e{i} t{i} {'target' if y else 'nontarget'}\n"
                                   for i, y in enumerate(labels)))
    # scored in another order than the trial list: pairing is by (enroll, test)
    scores_path.write_text("".join(f"e{i} t{i} {scores[i]:.6f}\n" for i in reversed(range(200))))
    proc = subprocess.run([sys.executable, "-m", "audiokit.cli.score", "task=sv",
                           f"ref={trials_path}", f"hyp={scores_path}", f"exp_dir={tmp_path}/exp"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "exp/scores/test/report.json").read_text())
    assert report["eer"] == pytest.approx(eer(np.round(scores, 6), labels)[0], abs=1e-9)
    assert (tmp_path / "exp/scores/test/det.png").stat().st_size > 1000
    assert "| EER |" in (tmp_path / "exp/RESULTS.md").read_text()
    assert len(read_trials(trials_path)) == 200
    scores_path.write_text("e0 t0 0.5\n")
    short = subprocess.run([sys.executable, "-m", "audiokit.cli.score", "task=sv",
                            f"ref={trials_path}", f"hyp={scores_path}"], capture_output=True,
                           text=True)
    assert short.returncode != 0 and "unscored" in short.stderr
