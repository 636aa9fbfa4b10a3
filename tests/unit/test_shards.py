"""WebDataset shards: dump a data dir, stream it back, split it over simulated DDP ranks."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
import torch
from conftest import write_wav
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from audiokit.cli.prep import main as prep_main
from audiokit.cli.train import CONF_DIR, build_task, build_trainer
from audiokit.data.audio import load_audio
from audiokit.data.datadir import DataDir, DataDirError, read_list
from audiokit.data.shards import read_index, write_shards
from audiokit.data.streaming import ShardDataModule, plan_epoch

RATE = 8000
PCM16 = 1e-4  # a 16-bit round trip is off by at most ~1.5 steps of 1/32768


@pytest.fixture(scope="module")
def shards(tiny_fsdd, tmp_path_factory):
    """Train: flac, 12 equal shards (via the CLI); valid: wav, one shard."""
    out = tmp_path_factory.mktemp("shards")
    n = len(DataDir.load(tiny_fsdd / "train"))
    assert n % 12 == 0, n
    prep_main(["shards", str(tiny_fsdd / "train"), "--out", str(out / "train"),
               "--max-per-shard", str(n // 12)])
    write_shards(tiny_fsdd / "valid", out / "valid", audio_format="wav")
    return out / "train", out / "valid"


def datamodule(shards, **kw) -> ShardDataModule:
    args = {"sample_rate": RATE, "max_batch_seconds": 6.0, "shuffle_buffer": 40, "num_workers": 0}
    return ShardDataModule(str(shards[0]), str(shards[1]), **(args | kw))


def run_epoch(loader) -> list[dict]:
    batches = list(loader)
    assert len(batches) == len(loader)  # the length Lightning plans the epoch with is exact
    return batches


def test_index_describes_the_shards(shards, tiny_fsdd):
    data = DataDir.load(tiny_fsdd / "train")
    index = read_index(shards[0])
    assert len(index["shards"]) == 12
    assert {s["count"] for s in index["shards"]} == {len(data) // 12}
    assert index["num_samples"] == len(data) and index["sample_rate"] == RATE
    assert index["fields"] == ["text", "labels", "speaker"]
    assert index["labels"] == read_list(tiny_fsdd / "labels.txt")
    durations = sorted(d for s in index["shards"] for d in s["durations"])
    assert durations == pytest.approx(sorted(data.utt2dur.values()), abs=1e-3)
    assert all(Path(s["path"]).is_file() and s["path"].endswith(".tar") for s in index["shards"])
    valid = read_index(shards[1] / "shards.json")
    assert valid["audio_format"] == "wav" and len(valid["shards"]) == 1


@pytest.mark.parametrize("split", ["train", "valid"])
def test_round_trip(shards, tiny_fsdd, split):
    """Every utterance once, with its audio (16-bit precision), label, text and speaker."""
    data = DataDir.load(tiny_fsdd / split)
    labels = read_list(tiny_fsdd / "labels.txt")
    dm = datamodule(shards)
    loader = dm.train_dataloader() if split == "train" else dm.val_dataloader()
    seen = Counter()
    for batch in run_epoch(loader):
        longest = int(batch["audio_lens"].max())
        assert len(batch["ids"]) == 1 or len(batch["ids"]) * longest / RATE <= 6.0 + 1e-3
        for i, utt in enumerate(batch["ids"]):
            seen[utt] += 1
            audio = batch["audio"][i, : batch["audio_lens"][i]]
            ref = load_audio(data.wav_scp[utt], RATE, utt=utt)
            assert audio.shape == ref.shape
            assert (audio - ref).abs().max() < PCM16, utt
            assert batch["label"][i] == labels.index(data.utt2label[utt][0])
            assert batch["text"][i] == data.text[utt]
            assert batch["speaker"][i] == data.utt2spk[utt]
    assert seen == Counter(data.utt_ids)
    assert dm.task_kwargs() == {"labels": labels}


def test_two_ranks_two_workers_exact(shards, tiny_fsdd):
    """A simulated 2-rank x 2-worker run: every sample exactly once per epoch, equal batch
    counts on both ranks (or DDP would hang), and a new order every epoch."""
    utts = DataDir.load(tiny_fsdd / "train").utt_ids
    ranks = [datamodule(shards, num_workers=2, rank=r, world_size=2) for r in range(2)]
    orders = []
    for _ in range(2):  # epochs 0 and 1: each train_dataloader() call is the next epoch
        epoch = [run_epoch(dm.train_dataloader()) for dm in ranks]
        assert len(epoch[0]) == len(epoch[1])
        ids = [utt for batches in epoch for batch in batches for utt in batch["ids"]]
        assert Counter(ids) == Counter(utts)
        orders.append(ids)
        for batches in epoch:
            for batch in batches:
                cost = len(batch["ids"]) * int(batch["audio_lens"].max()) / RATE
                assert len(batch["ids"]) == 1 or cost <= 6.0 + 1e-3
    assert orders[0] != orders[1]


def test_resampled_epoch_length(shards, tiny_fsdd):
    utts = set(DataDir.load(tiny_fsdd / "train").utt_ids)
    ranks = [datamodule(shards, num_workers=2, rank=r, world_size=2, resampled=True,
                        epoch_utterances=100) for r in range(2)]
    epoch = [run_epoch(dm.train_dataloader()) for dm in ranks]
    assert len(epoch[0]) == len(epoch[1])
    for batches in epoch:
        ids = [utt for batch in batches for utt in batch["ids"]]
        assert len(ids) == 50 and set(ids) <= utts


def _plan_samples(plan, rank: int) -> list[tuple[int, int]]:
    """(shard, position) of every batched sample of a rank, checking the batch bound."""
    out = []
    for worker in plan.ranks[rank]:
        stream = [(s, p) for s, positions in worker.units for p in positions]
        for batches in worker.buffers:
            for batch in batches:
                out.extend(stream[i] for i in batch)
    return out


@pytest.mark.parametrize("sizes,world,workers", [([37, 12, 50, 3, 20, 9], 3, 2), ([45], 2, 3)])
def test_plan_is_exact_and_even(sizes, world, workers):
    """Uneven shards (more or fewer than the slots): equal batch counts over ranks, every
    sample within the duration limits exactly once, every batch within max_seconds."""
    rng = random.Random(0)
    durations = [[round(rng.uniform(0.3, 12.0), 2) for _ in range(n)] for n in sizes]
    for epoch in range(3):
        plan = plan_epoch(durations, world_size=world, num_workers=workers, max_seconds=20.0,
                          buffer_size=16, epoch=epoch, max_duration=11.0)
        counts = {plan.num_batches(r) for r in range(world)}
        assert len(counts) == 1
        samples = [x for r in range(world) for x in _plan_samples(plan, r)]
        wanted = [(s, p) for s, ds in enumerate(durations) for p, d in enumerate(ds) if d <= 11.0]
        assert sorted(samples) == wanted
        for r in range(world):
            for worker in plan.ranks[r]:
                stream = [durations[s][p] for s, positions in worker.units for p in positions]
                for batches in worker.buffers:
                    for batch in batches:
                        assert len(batch) * max(stream[i] for i in batch) <= 20.0


def test_plan_that_cannot_be_even():
    """One rank gets a single sample, the other five that each need a batch of their own."""
    durations = [[1.0], [9.0] * 5]
    kw = {"world_size": 2, "num_workers": 1, "max_seconds": 10.0, "buffer_size": 8}
    with pytest.raises(ValueError, match="drop_uneven"):
        plan_epoch(durations, **kw)
    plan = plan_epoch(durations, drop_uneven=True, **kw)
    assert [plan.num_batches(r) for r in range(2)] == [1, 1]
    assert sorted(plan.dropped) == [0, 4]


def test_bad_audio_is_named_or_skipped(tmp_path):
    wav_scp = {f"utt{i}": str(write_wav(tmp_path / f"utt{i}.wav", seed=i)) for i in range(3)}
    (tmp_path / "broken.wav").write_bytes(b"not audio at all")
    wav_scp["broken"] = str(tmp_path / "broken.wav")
    d = DataDir(path=tmp_path / "data", wav_scp=wav_scp)
    d.write()
    with pytest.raises(DataDirError, match="broken"):
        write_shards(d.path, tmp_path / "out")
    index = write_shards(d.path, tmp_path / "out", on_bad_audio="skip")
    assert list(index["skipped"]) == ["broken"] and index["num_samples"] == 3
    assert "broken" in (tmp_path / "out" / "bad_audio.txt").read_text()
    assert json.loads((tmp_path / "out" / "shards.json").read_text())["fields"] == []


def test_fsdd_cnn_trains_on_shards(shards, tiny_fsdd, tmp_path):
    """`data=shards` swaps the datamodule under an unchanged experiment; one training step."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=cls/fsdd_cnn", "data=shards", "debug=fast_dev_run",
            f"paths.train_shards={shards[0]}", f"paths.valid_shards={shards[1]}",
            f"paths.label_list={tiny_fsdd}/labels.txt", f"exp_dir={tmp_path}/exp"])
    dm = instantiate(cfg.data)
    assert isinstance(dm, ShardDataModule)
    assert dm.augment is not None  # the experiment's speed perturbation
    task = build_task(cfg, dm.task_kwargs())
    trainer = build_trainer(cfg, Path(cfg.exp_dir))
    trainer.fit(task, datamodule=dm)
    assert trainer.global_step == 1
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    assert trainer.reload_dataloaders_every_n_epochs == 1
