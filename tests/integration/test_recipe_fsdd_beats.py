"""BEATs-style iterative pretraining on a tiny slice of real FSDD audio (tiny_fsdd), a couple
of steps per training: in process, iteration 1 on random-projection labels, the tokenizer
distilled from it and iteration 2 on that tokenizer's labels; then recipes/fsdd/beats end to
end (the same, plus the digit classifier on iteration 2's frozen encoder through the
SSL-features frontend, inference and scoring)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch
from conftest import REPO
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from audiokit.cli.train import CONF_DIR, train
from audiokit.data.datadir import read_kaldi_map
from audiokit.inference.loading import load_task
from audiokit.models.ssl.distilled_tokenizer import DistilledTokenizer
from audiokit.models.ssl.random_projection_tokenizer import RandomProjectionTokenizer

pytestmark = pytest.mark.usefixtures("one_thread")
RUN = REPO / "recipes/fsdd/beats/run.sh"
BIN = Path(sys.executable).parent
FEW_STEPS = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2",
             "+trainer.limit_val_batches=1", "data.num_workers=0", "callbacks.progress=null"]


def pretrain(tiny_fsdd: Path, exp_dir: Path, experiment: str, *overrides: str) -> Path:
    """A couple of steps of one pretraining on the tiny training set's audio (labels unused)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[
            f"experiment={experiment}", f"exp_dir={exp_dir}", f"paths.data_root={tiny_fsdd}",
            "logger=none", "callbacks.lr_monitor=null", "trainer.num_sanity_val_steps=0", "data.max_batch_seconds=4.0",
            *FEW_STEPS, *overrides])
    return train(cfg)


def test_two_iterations_the_second_on_distilled_labels(tiny_fsdd, tmp_path):
    iter1 = pretrain(tiny_fsdd, tmp_path / "iter1", "ssl/fsdd_beats_iter1")
    tok = pretrain(tiny_fsdd, tmp_path / "tokenizer", "ssl/fsdd_beats_tokenizer",
                   f"model.teacher.pretrained={iter1}")
    iter2 = pretrain(tiny_fsdd, tmp_path / "iter2", "ssl/fsdd_beats_iter2",
                     f"model.tokenizer.pretrained={tok}")
    for exp in (iter1, tok, iter2):
        assert (exp / "model.pt").is_file(), exp

    first, _ = load_task(iter1)
    second, _ = load_task(iter2)
    teacher = load_task(tok)[0].model.teacher
    assert isinstance(first.model.tokenizer, RandomProjectionTokenizer)
    assert isinstance(second.model.tokenizer, DistilledTokenizer)
    for key, value in first.model.encoder.state_dict().items():  # distilled from iteration 1
        assert torch.equal(teacher.state_dict()[key], value), key
    # iteration 2's tokenizer is the one just trained, weight for weight (EMA codebook too)
    distilled = torch.load(tok / "model.pt", weights_only=True)["state_dict"]
    for key, value in second.model.tokenizer.state_dict().items():
        assert torch.equal(value, distilled[f"model.tokenizer.{key}"]), key
    assert bool(second.model.tokenizer.quantiser.initialised)

    # the labels iteration 2 learns from are the distilled tokenizer's, not the random ones
    wavs = list(read_kaldi_map(tiny_fsdd / "test" / "wav.scp").values())[:8]
    audio = [torch.from_numpy(sf.read(path, dtype="float32")[0]) for path in wavs]
    lens = torch.tensor([len(a) for a in audio])
    wav = torch.nn.utils.rnn.pad_sequence(audio, batch_first=True)
    with torch.no_grad():
        out = second(wav, lens, generator=torch.Generator().manual_seed(0))
        fbank, frames = second.model.encoder.fbank(wav, lens)
        distilled_labels = second.model.tokenizer.labels(fbank, frames)
        random_labels = first.model.tokenizer.labels(fbank, frames)
    valid = torch.arange(out["labels"].shape[1]) < (frames // 8 * 16)[:, None]
    assert valid.sum() > 100
    assert torch.equal(out["labels"][valid], distilled_labels[valid])
    assert (distilled_labels[valid] != random_labels[valid]).float().mean() > 0.5


@pytest.mark.slow
def test_recipe_two_iterations_end_to_end(tiny_fsdd, tmp_path):
    exp = tmp_path / "exp"
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", OMP_NUM_THREADS="1")
    few = " ".join(FEW_STEPS)
    proc = subprocess.run(
        [str(RUN), "--exp-dir", str(exp), "--train-set", str(tiny_fsdd / "train"),
         "--valid-set", str(tiny_fsdd / "valid"), "--test-sets", str(tiny_fsdd / "test"),
         "--labels-per-class", "2", "--classifiers", "iter2", "--iter1-overrides", few,
         "--tokenizer-overrides", few, "--iter2-overrides", few, "--", *FEW_STEPS],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for n in range(1, 8):
        assert (exp / ".done" / f"stage{n}").is_file()
    for run in ("iter1", "tokenizer", "iter2", "iter2_2pc"):
        assert (exp / run / "model.pt").is_file(), run
    assert not (exp / "data/pretrain/utt2label").exists()  # pretraining saw no labels

    iter2, _ = load_task(exp / "iter2")
    assert isinstance(iter2.model.tokenizer, DistilledTokenizer)

    # the classifier's frozen upstream is iteration 2's encoder, loaded from its exp dir
    cls = torch.load(exp / "iter2_2pc/model.pt", weights_only=True)["state_dict"]
    for key, value in iter2.model.encoder.state_dict().items():
        assert torch.equal(cls[f"frontend.upstream.{key}"], value), key
    results = (exp / "RESULTS.md").read_text()
    assert "# iter2_2pc" in results and "| accuracy |" in results
