"""Captions as the codec LM's condition: word units with <unk> (vocabulary, encoding, unseen
words counted in training data and at generation), and generation from a data dir of captions
alone (no audio) for a fixed number of seconds, refused clearly beyond max_frames."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from audiokit.data.datadir import DataDirError, read_kaldi_map
from audiokit.data.text_units import UNK, TextUnits, build_vocab, split_units
from audiokit.inference.codec import Codec
from audiokit.inference.codec_lm import seconds_to_frames
from audiokit.models.codec import SEANetCodec
from audiokit.utils.errors import UserError

pytestmark = pytest.mark.usefixtures("one_thread")

K, CARD = 2, 16
TRAIN = ["a slow chorale in D minor played on organ", "a fast chorale in G major played on flute"]


def test_word_vocabulary_starts_with_unk_and_unseen_words_are_counted():
    vocab = build_vocab(TRAIN, "word")
    assert vocab[0] == UNK and vocab[1:] == sorted(set(" ".join(TRAIN).split()))
    assert len(vocab) == 1 + 13  # 9 words, then fast, G, major, flute
    units = TextUnits(vocab, "word")
    ids, unknown = units.encode("a  moderate chorale in D major played on harp")
    assert unknown == ["moderate", "harp"]
    assert ids == [vocab.index("a"), 0, vocab.index("chorale"), vocab.index("in"),
                   vocab.index("D"), vocab.index("major"), vocab.index("played"),
                   vocab.index("on"), 0]
    # characters: no <unk>, an unseen character is reported and left out
    chars = TextUnits(build_vocab(["ab"], "char"), "char")
    assert chars.encode("abc") == ([0, 1], ["c"])
    assert split_units("x  y", "word") == ["x", "y"] and split_units("x y", "char") == list("x y")
    with pytest.raises(ValueError, match="starts with '<unk>'"):
        TextUnits(["a", UNK], "word")
    with pytest.raises(ValueError, match="one of"):
        build_vocab(TRAIN, "phone")


def _token_dir(path, texts: dict[str, str], frames=5):
    (path / "codes").mkdir(parents=True)
    rng = np.random.default_rng(0)
    scp = []
    for u in texts:
        np.save(path / "codes" / f"{u}.npy", rng.integers(0, CARD, (K, frames)).astype(np.int16))
        scp.append(f"{u} {path}/codes/{u}.npy\n")
    (path / "codes.scp").write_text("".join(scp))
    (path / "text").write_text("".join(f"{u} {t}\n" for u, t in texts.items()))


def test_word_token_datamodule_maps_unseen_validation_words_to_unk(tmp_path, caplog):
    from audiokit.data.token_datamodule import CodecTokenDataModule

    _token_dir(tmp_path / "train", {"t0": TRAIN[0], "t1": TRAIN[1]})
    _token_dir(tmp_path / "valid", {"v0": "a slow chorale in E minor played on harp",
                                    "v1": TRAIN[1]})
    dm = CodecTokenDataModule(str(tmp_path / "train"), str(tmp_path / "valid"),
                              codebook_size=CARD, text_unit="word")
    assert dm.text_vocab == build_vocab(TRAIN, "word")
    assert dm.task_kwargs() == {"n_q": K, "codebook_size": CARD, "text_vocab": dm.text_vocab,
                                "text_unit": "word"}
    assert dm.train_set.text[0].tolist() == TextUnits(dm.text_vocab, "word").encode(TRAIN[0])[0]
    with caplog.at_level(logging.WARNING):
        dm.setup("fit")
    assert dm.valid_set.unknown_words == 2
    assert "2 word(s) in 1 utterance(s) are not in the training text's vocabulary" in caplog.text
    assert dm.valid_set.text[0].tolist().count(0) == 2
    # characters stay strict: an unseen character is an error naming the utterance
    char_dm = CodecTokenDataModule(str(tmp_path / "train"), str(tmp_path / "valid"),
                                   codebook_size=CARD)
    with pytest.raises(DataDirError, match=r"utterance 'v0' has characters \['E'\]"):
        char_dm.setup("fit")


class _CodecTask(nn.Module):
    def __init__(self):
        super().__init__()
        self.generator = SEANetCodec(channels=4, dimension=8, ratios=(2, 4, 5), codebook_size=CARD,
                                     bandwidths=(0.8, 1.6), lstm_layers=0, kmeans_iters=2)
        self.generator.train()
        self.generator(0.1 * torch.randn(2, 4000))   # k-means init of every codebook


def _generator(options, with_codec=True):
    from audiokit.inference.codec_lm import CodecLMGenerator
    from audiokit.tasks.codec_lm import CodecLMTask

    torch.manual_seed(0)
    task = CodecLMTask(n_q=K, codebook_size=CARD, text_vocab=build_vocab(TRAIN, "word"),
                       text_unit="word",
                       model={"_target_": "audiokit.models.codec_lm.CodecLM", "pattern": "delay",
                              "condition": "cross", "d_model": 32, "num_heads": 4,
                              "ffn_dim": 64, "num_layers": 1, "dropout": 0.0},
                       optim={"_target_": "torch.optim.Adam", "lr": 1e-3})
    gen = CodecLMGenerator(task, 0, "cpu", options)
    if with_codec:  # 8 kHz, hop 40: 200 frames/s
        gen.codec = Codec(_CodecTask(), 8000, codec={"n_q": K})
    return gen


def test_seconds_to_frames():
    assert seconds_to_frames(6.0, 50.0) == 300
    assert seconds_to_frames(0.03, 200.0) == 6
    assert seconds_to_frames(0.0125, 200.0) == 2     # 2.5 frames: round half to even
    assert seconds_to_frames(0.0175, 200.0) == 4     # 3.5


def test_captions_alone_give_audio_of_the_asked_length_and_unknown_words_are_counted(
        tmp_path, caplog):
    captions = tmp_path / "captions"
    captions.mkdir()
    (captions / "text").write_text("c0 a slow chorale in G major played on organ\n"
                                   "c1 a moderate chorale in D minor played on harp\n"
                                   "c2 a fast chorale in D minor played on flute\n")
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        _generator({"seconds": 0.03, "guidance": 3.0, "temperature": 0.0}
                   ).process_data_dir(str(captions), str(out))
    codes = {u: np.load(p) for u, p in read_kaldi_map(out / "codes.scp").items()}
    assert list(codes) == ["c0", "c1", "c2"]
    assert all(c.shape == (K, 6) for c in codes.values())         # 0.03 s x 200 frames/s
    wavs = read_kaldi_map(out / "wav.scp")
    assert list(wavs) == ["c0", "c1", "c2"]
    assert all(sf.info(w).frames == 6 * 40 and sf.info(w).samplerate == 8000
               for w in wavs.values())
    assert read_kaldi_map(out / "unknown_words") == {"c1": "moderate harp"}
    summary = json.loads((out / "generation.json").read_text())
    assert summary["unknown_words"] == 2 and summary["utts_with_unknown_words"] == 1
    assert summary["num_frames"] == 6 and summary["num_utts"] == 3
    assert ("2 word(s) in 1 of 3 texts are not in the LM's vocabulary and were generated "
            "from as <unk>") in caplog.text and "harp, moderate" in caplog.text
    assert not (out / "hit_max").exists()
    # a caption set without unknown words leaves no stale list behind
    (captions / "text").write_text("c0 a slow chorale in G major played on organ\n")
    _generator({"num_frames": 3}).process_data_dir(str(captions), str(out))
    assert not (out / "unknown_words").exists()
    assert json.loads((out / "generation.json").read_text())["unknown_words"] == 0


def test_a_length_beyond_max_frames_comes_in_windows_and_bad_lengths_are_refused(tmp_path):
    captions = tmp_path / "captions"
    captions.mkdir()
    (captions / "text").write_text("c0 a slow chorale\nc1 a fast chorale\n")
    out = tmp_path / "long"
    _generator({"seconds": 0.06, "max_frames": 5}).process_data_dir(str(captions), str(out))
    codes = {u: np.load(p) for u, p in read_kaldi_map(out / "codes.scp").items()}
    assert [c.shape for c in codes.values()] == [(K, 12)] * 2  # 0.06 s x 200 frames/s
    assert all(sf.info(w).frames == 12 * 40 for w in read_kaldi_map(out / "wav.scp").values())
    summary = json.loads((out / "generation.json").read_text())
    assert summary["num_frames"] == 12 and summary["extend_stride"] == 2  # half of 5
    with pytest.raises(UserError, match=r"codec_lm.extend_stride=6: give 1 to "
                                        r"codec_lm.max_frames \(5\)"):
        _generator({"seconds": 0.06, "max_frames": 5, "extend_stride": 6}).process_data_dir(
            str(captions), str(tmp_path / "o"))
    with pytest.raises(UserError, match="codec_lm.seconds needs codec_lm.codec_exp_dir"):
        _generator({"seconds": 1.0}, with_codec=False).process_data_dir(
            str(captions), str(tmp_path / "o"))
    with pytest.raises(UserError, match="not both"):
        _generator({"seconds": 1.0, "num_frames": 3}).process_data_dir(
            str(captions), str(tmp_path / "o"))
