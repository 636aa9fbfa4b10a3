"""recipes/fsdd/codec end to end on a small slice of real FSDD audio (a tiny codec, a few
steps), the token round trip through audiokit-infer, and the baselines stage with and without
Codec2/Opus installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import REPO

BIN = Path(sys.executable).parent
RUN = REPO / "recipes/fsdd/codec/run.sh"
FOUR = "george,jackson,nicolas,yweweler"   # theo is held out
ANCHOR_TOOLS = ("c2enc", "c2dec", "opusenc", "opusdec")
TINY_CODEC = ["model.channels=4", "model.dimension=16", "model.lstm_layers=0",
              "model.codebook_size=16", "model.bandwidths=[0.4,0.8]", "model.kmeans_iters=2",
              "task.discriminator.filters=4", "data.batch_size=4", "data.max_valid_utterances=4",
              "data.num_workers=0", "trainer.max_steps=8", "trainer.val_check_interval=2",
              "callbacks.progress=null"]


def run(cmd: list, path: str | None = None, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=path or f"{BIN}:{os.environ['PATH']}")
    return subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True,
                          timeout=1200, **kwargs)


def path_without_anchor_tools(tmp: Path) -> str:
    """A PATH with every program of the current one except Codec2's and Opus's tools."""
    shims = tmp / "bin"
    shims.mkdir()
    for folder in [str(BIN), *os.environ["PATH"].split(os.pathsep)]:
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            target = Path(folder) / name
            if name not in ANCHOR_TOOLS and not (shims / name).exists() and os.access(target, os.X_OK):
                (shims / name).symlink_to(target)
    return str(shims)


def test_baselines_stage_skips_cleanly_without_the_tools(tmp_path):
    proc = run([RUN, "--stage", "5", "--exp-dir", tmp_path / "exp", "--train-set", tmp_path,
                "--valid-set", tmp_path, "--test-sets", tmp_path / "test"],
               path=path_without_anchor_tools(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "apt-get install codec2 opus-tools" in proc.stdout
    assert "baselines: skipped" in proc.stdout
    assert not (tmp_path / "exp/anchors").exists()


@pytest.fixture(scope="module")
def codec_run(tmp_path_factory, fsdd_root):
    work = tmp_path_factory.mktemp("codec")
    data, exp = work / "data", work / "exp"
    proc = run([RUN, "--stop-stage", "3", "--exp-dir", exp, "--data-dir", data,
                "--speakers", FOUR, "--heldout-speakers", "theo", "--heldout-count", "2",
                "--test-count", "3", "--", *TINY_CODEC])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return data, exp, proc


@pytest.mark.slow
def test_codec_recipe_prepare_train_infer(codec_run):
    data, exp, proc = codec_run
    for n in (1, 2, 3):
        assert f"=== stage {n}:" in proc.stdout
    train = (data / "single/train/utt2spk").read_text()
    assert "theo" not in train and "george" in train
    heldout = dict(line.split() for line in (data / "test_heldout/utt2dur").read_text().splitlines())
    assert len(heldout) == 2 and all(float(d) >= 1.5 for d in heldout.values())
    for test in ("test", "test_heldout"):
        for bw, n_q in (("0.4", 2), ("0.8", 4)):   # 50 frames/s x 4 bits per codebook
            out = exp / "infer" / test / f"{bw}kbps"
            codes = dict(line.split() for line in (out / "codes.scp").read_text().splitlines())
            wavs = dict(line.split() for line in (out / "wav.scp").read_text().splitlines())
            assert codes.keys() == wavs.keys() and codes
            utt = next(iter(codes))
            arr = np.load(codes[utt])
            assert arr.dtype == np.int16 and arr.shape[0] == n_q
            ref = dict(line.split() for line in (data / test / "wav.scp").read_text().splitlines())
            assert sf.info(wavs[utt]).frames == sf.info(ref[utt]).frames


@pytest.mark.slow
def test_token_dir_decodes_back_and_python_api(codec_run, tmp_path):
    import torch

    from audiokit.inference.codec import Codec

    data, exp, _ = codec_run
    tokens = exp / "infer/test/0.8kbps"
    proc = run([BIN / "audiokit-infer", f"exp_dir={exp}", f"data_dir={tokens}",
                f"output_dir={tmp_path}/dec", "codec.mode=decode"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    dec = dict(line.split() for line in (tmp_path / "dec/wav.scp").read_text().splitlines())
    codes = dict(line.split() for line in (tokens / "codes.scp").read_text().splitlines())
    utt = next(iter(codes))
    codec = Codec.from_exp_dir(exp, bandwidth=0.8)
    arr = np.load(codes[utt])
    decoded, _ = sf.read(dec[utt], dtype="float32")
    np.testing.assert_allclose(decoded, codec.decode(arr).numpy(), atol=1e-5)
    wav, _ = sf.read(dict(line.split() for line in (data / "test/wav.scp").read_text()
                          .splitlines())[utt], dtype="float32")
    # the same model encodes the same codes in-process; a nearest-codeword tie can flip
    # under another thread count (CI's pytest and its subprocess differ), so not bit-exact
    again = codec.encode(torch.from_numpy(wav))
    assert again.shape == arr.shape
    assert (again == torch.from_numpy(arr).long()).float().mean() > 0.95
    # a bandwidth the model was not trained for is one line listing the valid ones
    proc = run([BIN / "audiokit-infer", f"exp_dir={exp}", f"data_dir={data}/test",
                f"output_dir={tmp_path}/x", "codec.bandwidth=6"])
    assert proc.returncode != 0 and "trained for 0.4, 0.8 kbps" in proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(not all(shutil.which(t) for t in ANCHOR_TOOLS),
                    reason="codec2 / opus-tools not installed")
def test_baselines_stage_with_the_tools(codec_run, tmp_path):
    pytest.importorskip("audiokit.inference.audio_quality", reason="no codec scorer yet")
    data, exp, _ = codec_run
    proc = run([RUN, "--stage", "5", "--exp-dir", exp, "--train-set", data / "single/train",
                "--valid-set", data / "single/valid", "--test-sets", data / "test_heldout",
                "--anchors", "codec2-700C opus-6"])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for setting in ("codec2-700C", "opus-6"):
        out = exp / "anchors/test_heldout" / setting
        assert len((out / "wav.scp").read_text().splitlines()) == 2
        assert (exp / "scores" / f"test_heldout_{setting}" / "report.json").is_file()
