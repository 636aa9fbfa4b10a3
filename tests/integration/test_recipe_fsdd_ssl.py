"""recipes/fsdd/ssl end to end on a tiny slice of real FSDD audio (tiny_fsdd): Audio-MAE
pretraining without labels, a few-label fine-tune from its (frozen) encoder and the same AST
from scratch, a self-training round on the unlabelled rest, inference and scoring."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO

RUN = REPO / "recipes/fsdd/ssl/run.sh"
BIN = Path(sys.executable).parent
SMALL = ["model.num_layers=1", "model.d_model=32", "model.ffn_dim=64", "model.num_heads=2",
         "data.num_workers=0", "callbacks.progress=null"]


@pytest.mark.slow
def test_recipe_end_to_end(tiny_fsdd, tmp_path):
    exp = tmp_path / "exp"
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    pretrain = " ".join(SMALL + ["trainer.max_epochs=1", "model.decoder_layers=1",
                                 "model.decoder_dim=16"])
    proc = subprocess.run(
        [str(RUN), "--exp-dir", str(exp), "--train-set", str(tiny_fsdd / "train"),
         "--valid-set", str(tiny_fsdd / "valid"), "--test-sets", str(tiny_fsdd / "test"),
         "--labels-per-class", "2", "--freeze", "all", "--pretrain-overrides", pretrain,
         "--self-train-rounds", "1", "--pseudo-share", "0.5",
         "--self-train-overrides", "trainer.max_epochs=1", "--", *SMALL, "trainer.max_epochs=2"],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for n in range(1, 8):
        assert (exp / ".done" / f"stage{n}").is_file()
    assert "pretraining: 500 recordings (no labels); fine-tuning: 20 labelled" in proc.stdout
    assert not (exp / "data/pretrain/utt2label").exists()
    labels = (exp / "data/train_2pc/utt2label").read_text().split("\n")
    assert sorted(line.split()[1] for line in labels if line) == sorted(
        [str(d) for d in range(10)] * 2)

    # The frozen encoder of the fine-tuned AST is the pretrained MAE encoder, weight for weight.
    mae = torch.load(exp / "mae/model.pt", weights_only=True)["state_dict"]
    tuned = torch.load(exp / "finetune_2pc/model.pt", weights_only=True)["state_dict"]
    scratch = torch.load(exp / "scratch_2pc/model.pt", weights_only=True)["state_dict"]
    for key in ("patch_embed.weight", "pos_embed", "encoder.layers.0.linear1.weight", "norm.bias"):
        assert torch.equal(tuned[f"model.{key}"], mae[f"model.encoder.{key}"]), key
        assert not torch.equal(scratch[f"model.{key}"], mae[f"model.encoder.{key}"]), key

    # Self-training: the pool is the training audio outside the 20 labelled recordings, and the
    # student's data is those 20 plus at most half the pool (the same count per guessed digit).
    pool = (exp / "data/unlabelled_2pc/wav.scp").read_text().split("\n")
    labelled = {line.split()[0] for line in labels if line}
    assert len([line for line in pool if line]) == 280
    assert not labelled & {line.split()[0] for line in pool if line}
    pseudo = [line.split() for line in (exp / "data/train_selftrain_2pc_r1/pseudo_labels")
              .read_text().split("\n") if line]
    assert 0 < len(pseudo) <= 140 and not labelled & {u for u, _ in pseudo}
    student = (exp / "data/train_selftrain_2pc_r1/utt2label").read_text().split("\n")
    assert len([line for line in student if line]) == 20 + len(pseudo)
    assert "round 1: " in proc.stdout and f"of {len(pseudo)} pseudo-labels right" in proc.stdout

    results = (exp / "RESULTS.md").read_text()
    assert "# finetune_2pc" in results and "# scratch_2pc" in results
    assert "# selftrain_2pc_r1" in results
    assert "| accuracy |" in results


def test_more_labels_per_class_than_the_valid_set_has(tiny_fsdd, tmp_path):
    """--labels-per-class N above a digit's valid recordings (10 here) keeps all of them
    instead of stopping (FSDD's validation set has 25 per digit, so 50 stopped the curve);
    the training subset still has exactly N per digit."""
    exp = tmp_path / "exp"
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    proc = subprocess.run(
        [str(RUN), "--stop-stage", "1", "--exp-dir", str(exp), "--train-set", str(tiny_fsdd / "train"),
         "--valid-set", str(tiny_fsdd / "valid"), "--test-sets", str(tiny_fsdd / "test"),
         "--labels-per-class", "12"],
        env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

    def per_digit(name):
        lines = (exp / "data" / name / "utt2label").read_text().split("\n")
        return sorted(line.split()[1] for line in lines if line)

    assert per_digit("train_12pc") == sorted([str(d) for d in range(10)] * 12)
    assert per_digit("valid_12pc") == sorted([str(d) for d in range(10)] * 10)


def test_spread_speakers_draws_each_digit_from_every_voice(tiny_fsdd, tmp_path):
    """--spread-speakers true: 5 labels per digit from tiny_fsdd's 5 voices are one from each,
    in the training and the validation subset; a second seed draws other recordings."""
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")

    def subset(seed, name):
        exp = tmp_path / f"exp{seed}"
        proc = subprocess.run(
            [str(RUN), "--stop-stage", "1", "--exp-dir", str(exp), "--train-set", str(tiny_fsdd / "train"),
             "--valid-set", str(tiny_fsdd / "valid"), "--test-sets", str(tiny_fsdd / "test"),
             "--labels-per-class", "5", "--spread-speakers", "true", "--seed", str(seed)],
            env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        lines = (exp / "data" / name / "utt2label").read_text().split("\n")
        return {tuple(line.split()) for line in lines if line}

    voices = sorted({line.split()[1] for line in (tiny_fsdd / "train/utt2spk").read_text().split("\n") if line})
    assert len(voices) == 5
    for name in ("train_5pc", "valid_5pc"):
        pairs = sorted((utt.split("_")[0], label) for utt, label in subset(0, name))
        assert pairs == sorted((v, str(d)) for v in voices for d in range(10)), name
    assert subset(0, "train_5pc") != subset(1, "train_5pc")


@pytest.mark.parametrize("args, message", [
    (["--self-train-rounds", "x"], "--self-train-rounds 'x': a whole number"),
    (["--labels-per-class", "all", "--self-train-rounds", "2"], "not with --labels-per-class all"),
    (["--spread-speakers", "yes"], "--spread-speakers must be true or false"),
])
def test_bad_self_training_options_stop_with_one_line(tmp_path, args, message):
    proc = subprocess.run([str(RUN), "--exp-dir", str(tmp_path / "exp"), *args],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_heldout_speaker_is_neither_labelled_nor_pretrained_on(fsdd_root, tmp_path):
    """--heldout-speakers theo: theo's recordings are in no labelled subset and not in the
    pretraining audio; test_heldout holds all 500 of them beside the other voices' test set."""
    from audiokit.data.datadir import DataDir

    exp, data = tmp_path / "exp", tmp_path / "data"
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", FSDD_ROOT=str(fsdd_root))
    recipe = [str(RUN), "--stop-stage", "1", "--data-dir", str(data), "--exp-dir", str(exp)]
    proc = subprocess.run([*recipe, "--heldout-speakers", "theo"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "needs --speakers" in proc.stderr, proc.stderr
    proc = subprocess.run([*recipe, "--speakers", "george,jackson", "--heldout-speakers", "theo"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "pretraining: 1000 recordings (no labels); fine-tuning: 50 labelled" in proc.stdout
    heard = (exp / "data/pretrain/wav.scp").read_text()
    for name in ("train_5pc", "valid_5pc"):
        assert set(DataDir.load(exp / "data" / name).utt2spk.values()) == {"george", "jackson"}
    assert "_theo_" not in heard
    heldout = DataDir.load(data / "test_heldout")
    assert set(heldout.utt2spk.values()) == {"theo"} and len(heldout) == 500
