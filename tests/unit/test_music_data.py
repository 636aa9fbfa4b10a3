"""Music LM data and task: crops and transpositions fixed by (seed, epoch) and in range,
validation windows that score every token once, the task's shifted targets, and the
inference pipeline's windowed NLL and sampling."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from audiokit.data.music_datamodule import MusicDataModule, Transposer, windows
from audiokit.music.events import EventConfig, write_token_dir
from audiokit.text.tokenizer import tokenizer_from_spec


@pytest.fixture
def token_dir(tmp_path):
    write_token_dir(tmp_path / "tok", EventConfig())
    return tmp_path / "tok"


def write_events(path, pieces: dict[str, list[str]]) -> str:
    path.write_text("".join(f"{k} {' '.join(v)}\n" for k, v in pieces.items()))
    return str(path)


def piece(n_chords: int, low: int) -> list[str]:
    out = []
    for i in range(n_chords):
        p = [low + (i % 5), low + 7 + (i % 3)]
        out += [f"on{x}" for x in p] + ["shift4"] + [f"off{x}" for x in p]
    return out


def test_crops_fixed_by_seed_and_epoch_and_pitches_stay_in_range(tmp_path, token_dir):
    pieces = {"a": piece(60, 2), "b": piece(10, 117), "c": piece(3, 60)}  # b near the top
    train = write_events(tmp_path / "train", pieces)
    dm = MusicDataModule(train, train, str(token_dir), max_len=64, batch_size=2, transpose=5)
    dm.setup("fit")
    loader = dm.train_dataloader()
    sampler = loader.batch_sampler
    lengths = [len(s) for s in dm.train_seqs]
    assert sampler.counts == [-(-(n - 1) // 64) for n in lengths]  # ~one crop per 64 tokens
    first = [b for b in sampler]
    assert first == [b for b in sampler]
    sampler.set_epoch(1)
    assert [b for b in sampler] != first
    tp = Transposer(dm.tokenizer)
    for batch in loader:
        for row, n in zip(batch["tokens"], batch["token_lens"], strict=True):
            p = tp.pitches(row[:n].numpy())
            assert p.min() >= 0 and p.max() <= 127 and n <= 65
    # piece a (pitches 2..13) can go down by 2 at most, piece b (up to 126) up by 1
    draws = [d for epoch in range(20) for b in (sampler.set_epoch(epoch) or sampler) for d in b]
    shifts = {p: {k for q, _, k in draws if q == p} for p in range(3)}
    assert min(shifts[0]) == -2 and max(shifts[0]) == 5
    assert max(shifts[1]) == 1 and min(shifts[1]) == -5


def test_validation_windows_score_every_token_once():
    seq = np.arange(23)
    ws = windows(seq, 5)
    targets = np.concatenate([w[1:] for w in ws])
    assert targets.tolist() == list(range(1, 23))
    assert all(ws[k + 1][0] == ws[k][-1] for k in range(len(ws) - 1))


def test_task_trains_tokens_shifted_by_one(tmp_path, token_dir):
    from audiokit.music.events import read_event_config
    from audiokit.tasks.music import MusicLMTask
    from audiokit.text.tokenizer import load_token_dir

    spec = load_token_dir(token_dir)
    task = MusicLMTask(spec, {"_target_": "audiokit.models.music.MusicTransformer", "d_model": 16,
                              "num_heads": 2, "ffn_dim": 32, "num_layers": 1, "max_len": 16},
                       {"_target_": "torch.optim.AdamW"},
                       events=read_event_config(token_dir).__dict__)
    tokens = torch.tensor([[274, 5, 6, 7, 274], [274, 8, 9, 274, 274]])
    logits, target = task(tokens, torch.tensor([5, 4]))
    assert target.tolist() == [[5, 6, 7, 274], [8, 9, 274, -100]]
    assert logits.shape == (2, 4, 275)
    assert task.hparams["events"]["steps_per_quarter"] == 4


class _Task(SimpleNamespace):
    pass


def pipeline(token_dir, **options):
    from audiokit.inference.music import MusicGenerator
    from audiokit.text.tokenizer import load_token_dir

    torch.manual_seed(0)
    from audiokit.models.music import MusicTransformer

    model = MusicTransformer(275, d_model=16, num_heads=2, ffn_dim=32, num_layers=2,
                             dropout=0.0, max_len=8)
    task = _Task(model=model, tokenizer=tokenizer_from_spec(load_token_dir(token_dir)),
                 events=EventConfig().__dict__)
    return MusicGenerator(task, music=options)


@torch.no_grad()
def test_windowed_nll(token_dir):
    gen = pipeline(token_dir, stride=4)
    model, eos = gen.model, gen.tokenizer.eos_id
    short = [10, 11, 12]
    seq = torch.tensor([eos, *short, eos])
    full = F.cross_entropy(model(seq[None, :-1])[0], seq[1:], reduction="sum")
    assert gen.piece_nll(short) == (pytest.approx(float(full), rel=1e-5), 4)
    # 13 tokens (12 targets), context 8, stride 4: window 0 scores targets 1..8, window at 4
    # scores targets 9..12 with inputs 4..11
    long = list(range(10, 21))
    seq = torch.tensor([eos, *long, eos])
    w0 = F.cross_entropy(model(seq[None, 0:8])[0], seq[1:9], reduction="sum")
    w1 = F.cross_entropy(model(seq[None, 4:12])[0][4:], seq[9:13], reduction="sum")
    total, n = gen.piece_nll(long)
    assert n == 12 and total == pytest.approx(float(w0 + w1), rel=1e-5)


def test_sampling_greedy_and_bounded(token_dir):
    gen = pipeline(token_dir, top_k=1)
    a = gen.sample([[], [10, 11]], torch.Generator().manual_seed(0))
    b = gen.sample([[], [10, 11]], torch.Generator().manual_seed(1))
    assert a == b  # top-1 is greedy whatever the seed
    # context 8 holds sos, the longest prompt (2) and all new tokens but the last: 6 new at most
    assert all(len(x) <= 6 for x in a)
    assert all(t not in (0, 1) for s in a for t in s)  # never <blank> or <unk>
    from audiokit.utils.errors import UserError

    gen.options["max_events"] = 20
    with pytest.raises(UserError, match="context is 8 tokens"):
        gen.sample([[]], torch.Generator())
