"""Codec LM generation over a data dir: text + recorded prompts (resampled, too short is an
error) -> codes.scp, hit_max, wav.scp through a codec; VALL-E AR + NAR exp dirs together."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from audiokit.data.datadir import DataDirError, read_kaldi_map
from audiokit.inference.codec import Codec
from audiokit.models.codec import SEANetCodec
from audiokit.utils.errors import UserError

K, CARD = 2, 16
TINY = {"d_model": 32, "num_heads": 4, "ffn_dim": 64, "num_layers": 1, "dropout": 0.0}


pytestmark = pytest.mark.usefixtures("one_thread")


class _CodecTask(nn.Module):
    def __init__(self):
        super().__init__()
        self.generator = SEANetCodec(channels=4, dimension=8, ratios=(2, 4, 5), codebook_size=CARD,
                                     bandwidths=(0.8, 1.6), lstm_layers=0, kmeans_iters=2)
        self.generator.train()
        self.generator(0.1 * torch.randn(2, 4000))   # k-means init of every codebook


def lm_task(model: dict):
    from audiokit.tasks.codec_lm import CodecLMTask

    torch.manual_seed(0)
    return CodecLMTask(n_q=K, codebook_size=CARD, text_vocab=list("0123456789"),
                       model=TINY | model, optim={"_target_": "torch.optim.Adam", "lr": 1e-3})


@pytest.fixture()
def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    rng = np.random.default_rng(0)
    prompts = []
    for i, (sr, n) in enumerate(((8000, 8000), (16000, 40000), (8000, 6000))):
        path = d / f"p{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(n)).astype("float32"), sr)
        prompts.append(f"u{i} {path}\n")
    (d / "text").write_text("u0 12\nu1 345\nu2 6\n")
    (d / "utt2prompt").write_text("".join(prompts))
    return d


def generator(task, options):
    from audiokit.inference.codec_lm import CodecLMGenerator

    torch.manual_seed(0)
    gen = CodecLMGenerator(task, 0, "cpu", options)
    gen.codec = Codec(_CodecTask(), 8000, codec={"n_q": K})
    return gen


def test_valle_ar_and_nar_write_codes_hit_max_and_audio(data_dir, tmp_path, caplog):
    from audiokit.cli.train import export_model
    from audiokit.tasks.codec_lm import CodecLMTask

    ar = lm_task({"_target_": "audiokit.models.codec_lm.CodecLM", "pattern": "valle"})
    assert CodecLMTask.inference == "audiokit.inference.codec_lm.CodecLMGenerator"
    nar_dir = tmp_path / "nar"
    nar_dir.mkdir()
    nar = lm_task({"_target_": "audiokit.models.codec_lm.CodecNAR"})
    (nar_dir / "config.yaml").write_text("{}\n")
    export_model(SimpleNamespace(checkpoint_callback=None), nar, nar_dir)
    with torch.no_grad():
        ar.model.heads[0].bias[CARD] = -1e4      # never ends: every utterance is cut
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO):
        generator(ar, {"nar_exp_dir": str(nar_dir), "max_frames": 6, "temperature": 0}
                  ).process_data_dir(str(data_dir), str(out))
    assert "prompts at 16000 Hz are resampled to the codec's 8000 Hz" in caplog.text
    assert "3 of 3 utterances reached max_frames=6" in caplog.text
    assert (out / "hit_max").read_text().split() == ["u0", "u1", "u2"]
    codes = {u: np.load(p) for u, p in read_kaldi_map(out / "codes.scp").items()}
    assert list(codes) == ["u0", "u1", "u2"]
    for c in codes.values():
        assert c.dtype == np.int16 and c.shape == (K, 6) and 0 <= c.min() and c.max() < CARD
    wavs = read_kaldi_map(out / "wav.scp")
    assert sf.info(wavs["u0"]).frames == 6 * 40 and sf.info(wavs["u0"]).samplerate == 8000
    # codebook 1 is the NAR's greedy fill given codebook 0, text and the encoded prompt
    from audiokit.inference.loading import load_task

    nar_loaded, _ = load_task(nar_dir)
    gen = generator(ar, {"max_frames": 6})
    prompt = gen._prompt("u2", str(data_dir / "p2.wav"), {})
    first = torch.from_numpy(codes["u2"][:1].astype(np.int64))
    filled = nar_loaded.model.fill(first, torch.tensor([6]), torch.tensor([[6]]),
                                   torch.tensor([1]), prompt[None], torch.tensor([prompt.shape[1]]))
    assert np.array_equal(filled[0].numpy(), codes["u2"])
    # VALL-E's AR stage does not extend in windows: a length past its context is refused
    with pytest.raises(UserError, match=r"codec_lm.num_frames=7, more than "
                                        r"codec_lm.max_frames=6 .*VALL-E's AR stage"):
        generator(ar, {"max_frames": 6, "num_frames": 7}).process_data_dir(
            str(data_dir), str(tmp_path / "o"))


def test_delay_lm_ends_at_eos_and_bad_inputs_are_named(data_dir, tmp_path):
    task = lm_task({"_target_": "audiokit.models.codec_lm.CodecLM", "pattern": "delay",
                    "condition": "cross"})
    with torch.no_grad():
        task.model.heads[0].bias[CARD] = 1e4       # ends at once: empty codes, nothing cut
    out = tmp_path / "out"
    generator(task, {"max_frames": 6, "temperature": 0.9, "top_p": 0.9, "guidance": 2.0}
              ).process_data_dir(str(data_dir), str(out))
    assert not (out / "hit_max").exists()
    assert all(np.load(p).shape == (K, 0) for p in read_kaldi_map(out / "codes.scp").values())
    assert (out / "empty").read_text().split() == ["u0", "u1", "u2"]
    assert (out / "wav.scp").read_text() == ""
    # a prompt shorter than the minimum
    short = data_dir / "short.wav"
    sf.write(short, np.zeros(1000, "float32"), 8000)
    (data_dir / "utt2prompt").write_text(f"u0 {short}\nu1 {short}\nu2 {short}\n")
    with pytest.raises(DataDirError, match=r"utterance 'u0' \(utt2prompt\): prompt .* lasts "
                                           r"0.12 s, less than codec_lm.min_prompt_seconds=0.5"):
        generator(task, {}).process_data_dir(str(data_dir), str(out))
    # prompt codes of another codec
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 10), np.int16))
    (data_dir / "utt2prompt").write_text(f"u0 {bad}\nu1 {bad}\nu2 {bad}\n")
    with pytest.raises(DataDirError, match="3 codebooks, expected 2"):
        generator(task, {}).process_data_dir(str(data_dir), str(out))
    (data_dir / "utt2prompt").unlink()
    (data_dir / "text").write_text("u0 1x\n")
    with pytest.raises(DataDirError, match=r"utterance 'u0': characters \['x'\]"):
        generator(task, {}).process_data_dir(str(data_dir), str(out))
    with pytest.raises(UserError, match=r"unknown codec_lm option\(s\) \['topk'\]"):
        generator(task, {"topk": 3})
    with pytest.raises(UserError, match="NAR stage: give it as codec_lm.nar_exp_dir"):
        generator(lm_task({"_target_": "audiokit.models.codec_lm.CodecNAR"}), {})
