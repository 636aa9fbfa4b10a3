"""recipes/chorales/t2m end to end on two chorales per split: render, CMVN, two tiny judges
trained for one epoch, and the t2m scoring of the real test clips and both chance rows; then the
codec-LM stages with tiny models and a few steps: codec, tokens, codec LM, generation from the
test captions alone at one guidance scale and unconditionally, and their scored rows; and the
diffusion stages the same way: vocoder, diffusion model, DDIM generation, scored rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import REPO

from audiokit.data.datadir import read_kaldi_map

RUN = REPO / "recipes/chorales/t2m/run.sh"
BIN = Path(sys.executable).parent
CODEC = ("model.channels=4 model.lstm_layers=0 model.kmeans_iters=2 trainer.max_steps=4 "
         "data.batch_size=4 data.num_workers=0 "
         "data.max_valid_utterances=2 callbacks.progress=null")
LM = ("model.d_model=32 model.ffn_dim=64 model.num_layers=1 model.text_layers=1 "
      "trainer.max_steps=3 callbacks.progress=null")
VOCODER = ("model.channels=32 data.batch_size=2 trainer.max_steps=3 task.discriminator_start_step=1 "
           "data.max_valid_utterances=2 data.num_workers=0 callbacks.progress=null")
DIFFUSION = ("model.channels=[8,8] model.attn_levels=[1] model.emb_dim=16 model.text_dim=16 "
             "model.text_layers=1 model.num_heads=2 model.text_heads=2 trainer.max_steps=2 "
             "trainer.val_check_interval=2 callbacks.progress=null")
STAGES = ["prepare", "render", "global CMVN", "train the judges", "score the ceiling",
          "train the codec", "codec tokens", "train the codec LM", "generate from the test captions",
          "score the codec round trip", "train the HiFi-GAN vocoder", "train the diffusion model",
          "generate from the test captions by DDIM", "score the diffusion rows"]
DIFFUSION_ROWS = (("diffusion_uncond", 0), ("diffusion_cfg3", 3))


@pytest.mark.slow
def test_recipe_end_to_end(tmp_path):
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", OMP_NUM_THREADS="1")
    exp = tmp_path / "exp"
    proc = subprocess.run(
        [str(RUN), "--data-dir", str(tmp_path / "data"), "--exp-dir", str(exp), "--limit", "2",
         "--clip-seconds", "4", "--codec-overrides", CODEC, "--lm-overrides", LM,
         "--cfg-scales", "3", "--vocoder-overrides", VOCODER, "--diffusion-overrides", DIFFUSION,
         "--ddim-steps", "2", "--generate-overrides", "diffusion.rms=0.1 diffusion.clip_x0=2",
         "--", "trainer.max_epochs=1", "model.channels=[8,8,8,8]", "callbacks.progress=null"],
        env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for n, name in enumerate(STAGES, 1):
        assert f"=== stage {n}: {name}" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == f"exp dir: {exp}  results: {exp}/RESULTS.md"
    test_dir = tmp_path / "data/audio/test"
    assert len((test_dir / "text").read_text().splitlines()) == 6  # 2 chorales x 3 clips
    reports = {name: json.loads((exp / f"scores/{name}/report.json").read_text())
               for name in ("real_test", "chance_shuffled", "chance_noise")}
    for r in reports.values():
        assert r["num_utts"] == 6 and r["judges"] == {"timbre": str(exp / "timbre"),
                                                      "tempo": str(exp / "tempo")}
        assert set(r["adherence"]) == {"timbre", "tempo", "key", "mode", "tonic"}
        assert set(r["frechet_distance"]) == {"timbre", "tempo"}
        assert r["fd_reference"] == str(tmp_path / "data/audio/valid")
    # chroma on the real clips finds most keys; a clip under another caption rarely matches
    assert reports["real_test"]["adherence"]["key"] >= 0.5
    assert reports["real_test"]["adherence"]["key"] > reports["chance_shuffled"]["adherence"]["key"]
    results = (exp / "RESULTS.md").read_text()
    assert "| timbre (classifier) |" in results and "## chance_noise" in results
    check_codec_lm_stages(tmp_path / "data", exp)
    check_diffusion_stages(tmp_path / "data", exp)


def check_codec_lm_stages(data: Path, exp: Path) -> None:
    audio = data / "audio"
    # tokens: every clip of each split, 4 codebooks (2 kbps) x 4 s at 50 frames/s
    for split, count in (("train", 4), ("valid", 4), ("test", 6)):
        codes = read_kaldi_map(data / f"tokens/2kbps/{split}/codes.scp")
        assert list(codes) == list(read_kaldi_map(audio / split / "wav.scp"))
        assert len(codes) == count
        for path in codes.values():
            c = np.load(path)
            assert c.dtype == np.int16 and c.shape == (4, 200) and 0 <= c.min() and c.max() < 1024
    lm_config = (exp / "chorales_musicgen/config.yaml").read_text()
    assert "pattern: delay" in lm_config and "condition: cross" in lm_config
    assert "text_unit: word" in lm_config
    # generation read a data dir of the test captions alone
    captions = data / "captions/test"
    assert sorted(p.name for p in captions.iterdir()) == ["text"]
    test_text = read_kaldi_map(audio / "test/text")
    train_words = {w for t in read_kaldi_map(audio / "train/text").values() for w in t.split()}
    unknown = sum(w not in train_words for t in test_text.values() for w in t.split())
    for name, guidance in (("codec_lm_uncond", 0), ("codec_lm_cfg3", 3)):
        gen = exp / "chorales_musicgen/gen" / name
        wavs = read_kaldi_map(gen / "wav.scp")
        assert list(wavs) == list(test_text)                   # one clip per test caption
        for w in wavs.values():
            info = sf.info(w)
            assert (info.frames, info.samplerate) == (4 * 16000, 16000)
        summary = json.loads((gen / "generation.json").read_text())
        assert summary["options"]["guidance"] == guidance and summary["num_frames"] == 200
        # two chorales per split: test captions have words training never had -> <unk>
        assert summary["unknown_words"] == unknown
    table = (exp / "t2m_table.md").read_text().splitlines()
    rows = [line.split(" | ")[0].lstrip("| ") for line in table[2:]]
    assert sorted(rows) == sorted(["real_test", "chance_shuffled", "chance_noise",
                                   "codec_resynthesis", "codec_lm_uncond", "codec_lm_cfg3",
                                   *(name for name, _ in DIFFUSION_ROWS)])
    for name in ("codec_resynthesis", "codec_lm_uncond", "codec_lm_cfg3"):
        r = json.loads((exp / f"scores/{name}/report.json").read_text())
        assert r["num_utts"] == 6 and set(r["adherence"]) == {"timbre", "tempo", "key", "mode",
                                                              "tonic"}
        assert r["ref"] == str(audio / "test")
    assert "## codec_lm_cfg3" in (exp / "RESULTS.md").read_text()


def check_diffusion_stages(data: Path, exp: Path) -> None:
    audio = data / "audio"
    assert (exp / "vocoder/model.pt").is_file()
    config = (exp / "chorales_unet/config.yaml").read_text()
    assert "prediction: v" in config and "audiokit.models.diffusion.MelUNet" in config
    test_text = read_kaldi_map(audio / "test/text")
    train_words = set((data / "words/tokens.txt").read_text().split())  # stage 12's word list
    unknown = sum(w not in train_words for t in test_text.values() for w in t.split())
    for name, guidance in DIFFUSION_ROWS:
        gen = exp / "chorales_unet/gen" / name
        wavs = read_kaldi_map(gen / "wav.scp")
        assert list(wavs) == list(test_text)                   # one clip per test caption
        for w in wavs.values():
            info = sf.info(w)
            assert (info.frames, info.samplerate) == (4 * 16000, 16000)
        summary = json.loads((gen / "generation.json").read_text())
        assert summary["guidance"] == guidance and summary["steps"] == 2
        # --generate-overrides reached stage 13: each clip at the rms asked for
        assert (summary["rms"], summary["clip_x0"]) == (0.1, 2)
        for w in wavs.values():
            assert np.sqrt(np.mean(sf.read(w)[0] ** 2)) == pytest.approx(0.1, rel=0.02)
        assert summary["vocoder"] == str(exp / "vocoder") and summary["unknown_words"] == unknown
        r = json.loads((exp / f"scores/{name}/report.json").read_text())
        assert r["num_utts"] == 6 and r["ref"] == str(audio / "test")
    assert "## diffusion_cfg3" in (exp / "RESULTS.md").read_text()
