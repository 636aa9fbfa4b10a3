"""recipes/fsdd/vall_e end to end on a few real FSDD digit strings: a tiny untrained codec
exp dir (made here, no training: the recipe only needs its tokens), codec tokens, AR and NAR
training for one epoch, generation for the held-out voice with prompts of its own recordings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import REPO

BIN = Path(sys.executable).parent
RUN = REPO / "recipes/fsdd/vall_e/run.sh"
TINY_CODEC = ["model.channels=4", "model.dimension=16", "model.lstm_layers=0",
              "model.codebook_size=16", "model.bandwidths=[0.4,0.8]", "model.kmeans_iters=2",
              "task.discriminator.filters=4"]
TINY_LM = ["model.d_model=32", "model.ffn_dim=64", "model.num_layers=1", "trainer.max_epochs=1"]


def tiny_codec_exp(exp: Path) -> Path:
    """A codec exp dir as audiokit-train writes one (model.pt + config.yaml), untrained."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from audiokit.cli.train import CONF_DIR, build_task, export_model

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=codec/fsdd_seanet", f"exp_dir={exp}",
                                          *TINY_CODEC])
    GlobalHydra.instance().clear()
    torch.manual_seed(0)
    task = build_task(cfg, {"sample_rate": 8000})
    task.generator.train()
    task.generator(0.1 * torch.randn(2, 4000))   # k-means init of the codebooks
    exp.mkdir(parents=True)
    (exp / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    export_model(SimpleNamespace(checkpoint_callback=None), task, exp)
    return exp


@pytest.mark.slow
def test_vall_e_recipe_end_to_end(fsdd_root, tmp_path):
    codec = tiny_codec_exp(tmp_path / "codec")
    data, exp = tmp_path / "data", tmp_path / "exp"
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", FSDD_ROOT=str(fsdd_root))
    proc = subprocess.run(
        [str(RUN), "--codec-exp-dir", str(codec), "--bandwidth", "0.8", "--data-dir", str(data),
         "--exp-dir", str(exp), "--train-count", "4", "--valid-count", "2", "--test-count", "2",
         "--max-frames", "30", "--", *TINY_LM],
        env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for n in range(1, 6):
        assert f"=== stage {n}:" in proc.stdout
    # training voices only in training; the held-out voice prompted by its own other strings
    assert "theo" not in (data / "strings/train/utt2spk").read_text()
    prompts = dict(ln.split() for ln in (data / "test/utt2prompt").read_text().splitlines())
    wavs = dict(ln.split() for ln in (data / "test/wav.scp").read_text().splitlines())
    assert len(prompts) == 2 and all(u.startswith("theo") for u in prompts)
    assert all(prompts[u] != wavs[u] and "theo" in Path(prompts[u]).name for u in prompts)
    # tokens: 0.8 kbps of 4-bit codebooks at 50 frames/s = 4 codebooks
    first = next(iter((data / "tokens/0.8kbps/train/codes.scp").read_text().split()[1:2]))
    assert np.load(first).shape[0] == 4
    for stage in ("ar", "nar"):
        assert (exp / stage / "model.pt").is_file()
    out = exp / "infer/test"
    codes = dict(ln.split() for ln in (out / "codes.scp").read_text().splitlines())
    assert codes.keys() == prompts.keys()
    cut = (out / "hit_max").read_text().split() if (out / "hit_max").exists() else []
    empty = (out / "empty").read_text().split() if (out / "empty").exists() else []
    decoded = dict(ln.split() for ln in (out / "wav.scp").read_text().splitlines())
    for utt, path in codes.items():
        arr = np.load(path)
        assert arr.shape[0] == 4 and arr.shape[1] <= 30 and arr.max() < 16
        assert (arr.shape[1] == 30) == (utt in cut)      # cut exactly when at the maximum
        if utt not in empty:
            assert sf.info(decoded[utt]).frames == arr.shape[1] * 160
    assert "cut at max_frames=30" in proc.stdout
