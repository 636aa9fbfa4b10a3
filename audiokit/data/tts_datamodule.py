"""Data dirs with ``text`` + ``wav.scp`` for speech synthesis (:class:`AudioDataModule` batches).

The TTS text front end (:class:`~audiokit.text.tts_frontend.TextFrontend`: cleaner, then
characters or phonemes) is built here from the training text and handed to the task, which
keeps its spec in ``model.pt``. Every training and validation text must encode: an empty text
or symbols outside the token list are one error naming the utterances (none is dropped).

Also handed to the task, for synthesis-time guards: the longest training text in symbols and
the most seconds of audio per symbol in training. With ``with_speakers`` (VITS), also the
sorted speaker names of the training ``utt2spk`` (a model with more than one builds a
speaker embedding table); a training dir without ``utt2spk`` is then an error.
"""

from __future__ import annotations

from audiokit.data.datadir import DataDir, DataDirError
from audiokit.data.datamodule import AudioDataModule


class TTSDataModule(AudioDataModule):
    def __init__(self, train_dir: str, valid_dir: str, sample_rate: int, *,
                 text_unit: str = "char", cleaner: str = "english", lang: str = "en-us",
                 with_speakers: bool = False, **kwargs) -> None:
        super().__init__(train_dir, valid_dir, sample_rate, **kwargs)
        self.speakers = None
        if with_speakers:
            utt2spk = DataDir.load(train_dir).utt2spk
            if not utt2spk:
                raise DataDirError(f"{train_dir}: no utt2spk (data.with_speakers needs the speakers)")
            self.speakers = sorted(set(utt2spk.values()))
        from audiokit.text.tts_frontend import TextFrontend

        texts = {d: self._texts(d) for d in (train_dir, valid_dir)}
        self.text_frontend = TextFrontend.build(text_unit, cleaner, texts[train_dir].values(), lang)
        self.max_text_symbols, self.max_seconds_per_symbol = 0, 0.0
        durations = DataDir.load(train_dir).utt2dur or {}
        for data_dir, text in texts.items():
            bad = []
            for utt, t in text.items():
                try:
                    n = len(self.text_frontend.encode(t, utt))
                except ValueError as e:
                    bad.append(str(e))
                    continue
                if data_dir == train_dir:
                    self.max_text_symbols = max(self.max_text_symbols, n)
                    if utt in durations:
                        self.max_seconds_per_symbol = max(self.max_seconds_per_symbol, durations[utt] / n)
            if bad:
                raise DataDirError(f"{data_dir}/text: {len(bad)} text(s) cannot be spoken:\n  "
                                   + "\n  ".join(bad[:20]))

    @staticmethod
    def _texts(data_dir: str) -> dict[str, str]:
        text = DataDir.load(data_dir).text
        if text is None:
            raise DataDirError(f"{data_dir}: no text file (speech synthesis trains on text + audio)")
        return text

    def task_kwargs(self) -> dict:
        kwargs = {"text": self.text_frontend.spec(), "max_text_symbols": self.max_text_symbols,
                  "max_seconds_per_symbol": round(self.max_seconds_per_symbol, 4)}
        if self.speakers is not None:
            kwargs["speakers"] = self.speakers
        return kwargs
