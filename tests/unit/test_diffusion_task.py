"""The text-to-music diffusion task: a tiny model learns two captions' mel patterns and
generates (DDIM, few steps, classifier-free guidance) each caption's own; CMVN statistics from
the first batch when none are given; and, end to end, audiokit-train for two steps on a tiny
captioned data dir, then audiokit-infer on a captions-only data dir writes wav.scp and clips
of exactly the requested duration (Griffin-Lim), unknown words listed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiokit.text.tokenizer import BLANK, SOS_EOS, UNK

pytestmark = pytest.mark.usefixtures("one_thread")

BIN = Path(sys.executable).parent
CAPTIONS = ("a slow chorale played on organ", "a fast chorale played on flute")
N_MELS, FRAMES = 8, 16


def word_spec(captions) -> dict:
    words = sorted({w for c in captions for w in c.split()})
    return {"kind": "word", "tokens": [BLANK, UNK, *words, SOS_EOS]}


def tiny_task(**task_kw):
    from audiokit.tasks.diffusion import DiffusionTask

    torch.manual_seed(0)
    model = {"_target_": "audiokit.models.diffusion.MelUNet", "channels": [32, 48], "blocks": 1,
             "attn_levels": [1], "num_heads": 2, "emb_dim": 64, "text_dim": 32,
             "text_layers": 1, "text_heads": 2, "cond_dropout": 0.2}
    frontend = {"_target_": "audiokit.frontends.LogMel", "sample_rate": 8000, "n_mels": N_MELS,
                "n_fft": 256}
    return DiffusionTask(word_spec(CAPTIONS), frontend, model,
                         optim={"_target_": "torch.optim.Adam", "lr": 3e-3},
                         schedule={"kind": "cosine", "num_steps": 100}, **task_kw)


def patterns() -> torch.Tensor:
    """Caption 0: the upper mel bins loud, the lower quiet; caption 1: the other way round,
    with a beat (every other 4 frames louder)."""
    upper = torch.zeros(N_MELS, FRAMES)
    upper[N_MELS // 2:] = 1.5
    upper[: N_MELS // 2] = -1.5
    beat = torch.where((torch.arange(FRAMES) // 4) % 2 == 0, 0.5, -0.5)
    return torch.stack([upper, -upper + beat])


def test_tiny_model_generates_each_captions_pattern():
    task = tiny_task()
    target = patterns()
    text, text_lens, unknown = task.encode_captions(list(CAPTIONS))
    assert unknown == [[], []] and text_lens.tolist() == [6, 6]
    optimizer = torch.optim.Adam(task.model.parameters(), lr=3e-3)
    task.model.train()
    pick = torch.arange(8) % 2
    lens = torch.full((8,), FRAMES)
    losses = []
    for _ in range(150):
        loss = task.diffusion_loss(target[pick], lens, text[pick], text_lens[pick])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-20:]) < 0.9 * np.mean(losses[:20])  # about 1.09 -> 0.67
    gens = [torch.Generator().manual_seed(k) for k in range(4)]
    mels = task.generate(text[[0, 1, 0, 1]], text_lens[[0, 1, 0, 1]], FRAMES, steps=10,
                         guidance=3.0, generator=gens).transpose(1, 2)  # [4, n_mels, frames]
    # guidance 0 is the unconditional model: the same as sampling with the null caption
    null_text, null_lens = task.model.null_text(2, "cpu")
    uncond = task.generate(text, text_lens, FRAMES, steps=10, guidance=0.0,
                           generator=[torch.Generator().manual_seed(k) for k in range(2)])
    assert torch.allclose(uncond, task.generate(null_text, null_lens, FRAMES, steps=10, guidance=1.0,
                                                generator=[torch.Generator().manual_seed(k)
                                                           for k in range(2)]), atol=1e-5)
    for i, mel in enumerate(mels):
        own, other = target[i % 2], target[1 - i % 2]
        d_own, d_other = (mel - own).square().mean(), (mel - other).square().mean()
        assert d_own < 0.3 * d_other, (i, float(d_own), float(d_other))  # about 0.1


def test_cmvn_from_the_first_batch_and_windows():
    task = tiny_task(crop_seconds=0.5)
    assert not bool(task.stats_ready) and task.crop_frames == round(0.5 * 8000 / 80)
    g = torch.Generator().manual_seed(0)
    audio = 0.1 * torch.randn(2, 8000, generator=g)
    lens = torch.tensor([8000, 3000])
    feats, frame_lens = task.features(audio, lens)
    assert bool(task.stats_ready) and frame_lens.tolist() == [98, 36]
    raw, _ = task.frontend.extract(audio, lens)
    valid = torch.cat([raw[0, :98], raw[1, :36]])
    assert torch.allclose(task.frontend.cmvn.mean, valid.mean(0), atol=1e-4)
    assert torch.allclose(feats[0, :, :98].mean(1), torch.zeros(N_MELS), atol=0.2)
    assert torch.allclose(task.to_log_mel(feats.transpose(1, 2))[0, :98], raw[0, :98], atol=1e-3)
    crop, crop_lens = task.crop(feats, frame_lens, random=True)
    assert crop.shape == (2, N_MELS, 50) and crop_lens.tolist() == [50, 36]
    assert float(crop[1, :, 36:].abs().max()) == 0.0
    first, _ = task.crop(feats, frame_lens, random=False)
    assert torch.equal(first[0], feats[0, :, :50])


def test_task_needs_a_word_token_dir():
    from audiokit.tasks.diffusion import DiffusionTask

    with pytest.raises(ValueError, match="audiokit-prep tokens --kind word"):
        DiffusionTask({"kind": "char", "tokens": [BLANK, UNK, "a", SOS_EOS]},
                      {"_target_": "audiokit.frontends.LogMel", "sample_rate": 8000},
                      {"_target_": "audiokit.models.diffusion.MelUNet"},
                      optim={"_target_": "torch.optim.Adam"})


# ---- audiokit-train + audiokit-infer ----------------------------------------------------------


def write_dir(path: Path, captions: dict[str, str], audio: bool = True) -> Path:
    path.mkdir(parents=True)
    rng = np.random.default_rng(0)
    scp = []
    for utt in captions:
        if audio:
            t = np.arange(16000) / 16000
            freq = 300.0 if "low" in captions[utt] else 1200.0
            wav = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(16000)
            sf.write(path / f"{utt}.wav", wav.astype("float32"), 16000)
            scp.append(f"{utt} {path / f'{utt}.wav'}\n")
    (path / "text").write_text("".join(f"{u} {c}\n" for u, c in captions.items()))
    if audio:
        (path / "wav.scp").write_text("".join(scp))
    return path


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", OMP_NUM_THREADS="1")
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_train_two_steps_then_generate_clips_of_the_requested_length(tmp_path):
    caps = {f"u{i}": ("a low tone" if i % 2 else "a high tone") for i in range(6)}
    train = write_dir(tmp_path / "train", caps)
    valid = write_dir(tmp_path / "valid", {"v0": "a low tone", "v1": "a high tone"})
    prompts = write_dir(tmp_path / "captions", {"c0": "a low tone", "c1": "a purple tone"},
                        audio=False)
    tokens, stats, exp = tmp_path / "tok", tmp_path / "cmvn.json", tmp_path / "exp"
    run([str(BIN / "audiokit-prep"), "tokens", "--kind", "word", "--text", str(train / "text"),
         "--out", str(tokens)], tmp_path)
    small = ["model.channels=[16,16]", "model.attn_levels=[1]", "model.emb_dim=32",
             "model.text_dim=16", "model.text_layers=1", "model.num_heads=2", "model.text_heads=2"]
    run([str(BIN / "audiokit-prep"), "stats", "--out", str(stats), "--data-dir", str(train), "--",
         "experiment=diffusion/chorales_unet"], tmp_path)
    run([str(BIN / "audiokit-train"), "experiment=diffusion/chorales_unet", f"exp_dir={exp}",
         f"paths.train_dir={train}", f"paths.valid_dir={valid}", f"paths.token_dir={tokens}",
         f"paths.cmvn_stats={stats}", "data.max_batch_seconds=3", "trainer.max_steps=2",
         "trainer.val_check_interval=2", "callbacks.progress=null", *small], tmp_path)
    summary = json.loads((exp / "train_summary.json").read_text())
    assert summary["global_step"] == 2 and summary["best_score"] is not None  # valid/loss
    out = tmp_path / "gen"
    proc = run([str(BIN / "audiokit-infer"), f"exp_dir={exp}", f"data_dir={prompts}",
                f"output_dir={out}", "diffusion.steps=3", "diffusion.seconds=0.75",
                "diffusion.guidance=2.0", "diffusion.batch_size=1"], tmp_path)
    assert "Text2Music: 2 clip(s)" in proc.stdout
    scp = dict(line.split() for line in (out / "wav.scp").read_text().splitlines())
    assert sorted(scp) == ["c0", "c1"]
    for path in scp.values():
        wav, rate = sf.read(path)
        assert rate == 16000 and len(wav) == 12000 and np.isfinite(wav).all()
        assert 0 < np.abs(wav).max() <= 1.0
    assert (out / "unknown_words").read_text() == "c1 purple\n"
    report = json.loads((out / "generation.json").read_text())
    assert report["vocoder"] == "griffin_lim" and report["unknown_words"] == 1
    assert report["steps"] == 3 and report["guidance"] == 2.0

    # in Python: the same seed gives the same clips in one batch of 2 as in batches of 1
    from audiokit.inference.loading import load_task
    from audiokit.inference.text2music import Text2Music
    from audiokit.utils.errors import UserError

    task, _ = load_task(exp)
    gen = Text2Music.from_exp_dir(exp, steps=3, seconds=0.75, guidance=2.0)
    again = gen.generate(["a low tone", "a purple tone"], ["c0", "c1"])[0].numpy()
    assert torch.allclose(gen("a low tone", "c0"), torch.from_numpy(again[0]), atol=1e-4)
    for k, utt in enumerate(("c0", "c1")):
        assert np.allclose(again[k], sf.read(out / f"wav/{utt}.wav")[0], atol=1e-4)
    assert not np.allclose(again[0], again[1], atol=1e-2)
    # diffusion.rms: each clip scaled to that level, nothing else changed
    level = Text2Music(task, 16000, diffusion={"steps": 3, "seconds": 0.75, "guidance": 2.0,
                                               "rms": 0.05})
    scaled = level.generate(["a low tone", "a purple tone"], ["c0", "c1"])[0].numpy()
    assert np.allclose(np.sqrt((scaled ** 2).mean(1)), 0.05, atol=1e-6)
    for k in range(2):
        ratio = 0.05 / np.sqrt((again[k] ** 2).mean())
        assert np.allclose(scaled[k], again[k] * ratio, atol=1e-5)
    for bad in (0, 1.5):
        with pytest.raises(UserError, match="diffusion.rms must be between 0 and 1"):
            Text2Music(task, 16000, diffusion={"rms": bad})
    with pytest.raises(UserError, match="diffusion.max_seconds=30"):
        Text2Music(task, 16000, diffusion={"seconds": 40})
    with pytest.raises(UserError, match="unknown diffusion option"):
        Text2Music(task, 16000, diffusion={"stpes": 4})

    # a vocoder exp dir (here the Griffin-Lim one, CMVN-free): our CMVN units are converted to
    # its features, so it vocodes exactly as the built-in Griffin-Lim; other features refused
    from audiokit.inference.vocode import write_griffin_lim_exp_dir

    frontend = dict(task.hparams["frontend"])
    vocoder = write_griffin_lim_exp_dir(tmp_path / "gl", sample_rate=16000, frontend=frontend)
    assert not torch.equal(task.frontend.cmvn.mean, torch.zeros_like(task.frontend.cmvn.mean))
    through = Text2Music(task, 16000, vocoder_exp_dir=str(vocoder),
                         diffusion={"steps": 3, "seconds": 0.75, "guidance": 2.0})
    assert through.vocoder_name == str(vocoder)
    vocoded = through.generate(["a low tone", "a purple tone"], ["c0", "c1"])[0].numpy()
    assert np.allclose(vocoded, again, atol=1e-5)
    other = write_griffin_lim_exp_dir(tmp_path / "gl10", sample_rate=16000,
                                      frontend={**frontend, "hop_ms": 10.0})
    with pytest.raises(UserError, match="hop_ms: 16.0 here, 10.0 in the vocoder"):
        Text2Music(task, 16000, vocoder_exp_dir=str(other))
