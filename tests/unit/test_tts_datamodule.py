"""TTS data module: the text front end built from the training text, the length facts handed
to the task, and texts that cannot be spoken named (never dropped)."""

import numpy as np
import pytest
import soundfile as sf

from audiokit.data.datadir import DataDirError
from audiokit.data.tts_datamodule import TTSDataModule


def data_dir(path, texts, seconds=1.0):
    path.mkdir(parents=True)
    wav, text, dur = [], [], []
    for k, t in enumerate(texts):
        f = path / f"u{k}.wav"
        sf.write(f, 0.1 * np.random.default_rng(k).standard_normal(int(8000 * seconds)), 8000)
        wav.append(f"u{k} {f}")
        text.append(f"u{k} {t}")
        dur.append(f"u{k} {seconds}")
    (path / "wav.scp").write_text("\n".join(wav) + "\n")
    (path / "text").write_text("\n".join(text) + "\n")
    (path / "utt2dur").write_text("\n".join(dur) + "\n")
    return str(path)


def test_text_front_end_and_length_facts(tmp_path):
    train = data_dir(tmp_path / "train", ["three one four", "six", "nine nine"])
    valid = data_dir(tmp_path / "valid", ["one"])
    dm = TTSDataModule(train, valid, 8000)
    kw = dm.task_kwargs()
    assert kw["text"]["unit"] == "char" and kw["text"]["cleaner"] == "english"
    assert kw["max_text_symbols"] == len("three one four") + 1           # + <eos>
    assert kw["max_seconds_per_symbol"] == pytest.approx(1.0 / (len("six") + 1), abs=1e-4)


def test_texts_that_cannot_be_spoken_are_named(tmp_path):
    train = data_dir(tmp_path / "train", ["three", "...", "four"])
    valid = data_dir(tmp_path / "valid", ["one"])
    with pytest.raises(DataDirError, match=r"train/text: 1 text\(s\) cannot be spoken:\n  u1: nothing to say"):
        TTSDataModule(train, valid, 8000)
    valid2 = data_dir(tmp_path / "valid2", ["one 中"])
    train2 = data_dir(tmp_path / "train2", ["three"])
    with pytest.raises(DataDirError, match=r"(?s)valid2/text: .*u0: 1 symbol\(s\) .*'中'"):
        TTSDataModule(train2, valid2, 8000)


def test_missing_text_file(tmp_path):
    train = data_dir(tmp_path / "train", ["three"])
    (tmp_path / "train" / "text").unlink()
    with pytest.raises(DataDirError, match="no text file"):
        TTSDataModule(train, train, 8000)
