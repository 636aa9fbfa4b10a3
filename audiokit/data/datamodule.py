"""The generic LightningDataModule: data dirs in, duration-bucketed padded batches out."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from audiokit.data.collate import collate_audio
from audiokit.data.datadir import DataDir, DataDirError, read_list
from audiokit.data.dataset import AudioDataset, WaveAugmentFn, speed_class_label
from audiokit.data.resumable import ResumableDataLoader, SeededItems
from audiokit.data.sampler import DurationBatchSampler
from audiokit.data.validate import screen_bad_audio

log = logging.getLogger(__name__)


def task_kwargs(labels: list[str] | None, tokenizer_spec: dict | None) -> dict:
    """The data facts a task builds its model from: the label list and/or the tokenizer."""
    kwargs = {}
    if labels is not None:
        kwargs["labels"] = labels
    if tokenizer_spec is not None:
        kwargs["tokenizer"] = tokenizer_spec
    return kwargs


def warn_unknown_pieces(tokenizer, text: dict[str, str], source: str, token_dir: str) -> int:
    """Count the text pieces that the tokenizer maps to <unk>; warn once with examples."""
    unknown = {utt: tokenizer.unknown(t) for utt, t in text.items()}
    unknown = {utt: pieces for utt, pieces in unknown.items() if pieces}
    total = sum(len(p) for p in unknown.values())
    if total:
        examples = ", ".join(f"{utt}: {' '.join(map(repr, p[:3]))}" for utt, p in list(unknown.items())[:5])
        log.warning("%s: %d piece(s) in %d utterance(s) are not in the token list of %s and "
                    "become <unk> (%s)", source, total, len(unknown), token_dir, examples)
    return total


class AudioDataModule(pl.LightningDataModule):
    """Train/valid data dirs -> DataLoaders with :class:`DurationBatchSampler`.

    With ``token_dir`` (ASR, LM), the token dir's tokenizer is handed to the task, and the
    training text is checked against it up front: pieces outside the token list are counted
    in a warning (they become ``<unk>``), and a missing ``text`` file is an error.

    Before training, every file is checked (header only, fast). ``on_bad_audio="error"``
    stops with the list of bad utterances and files; ``"skip"`` leaves them out, warns, and
    writes the list to ``report_dir/bad_audio.txt``.
    """

    def __init__(
        self,
        train_dir: str,
        valid_dir: str,
        sample_rate: int,
        *,
        label_list: str | None = None,
        token_dir: str | None = None,
        max_batch_seconds: float = 60.0,
        max_batch_size: int | None = None,
        num_workers: int = 2,
        augment: WaveAugmentFn | None = None,
        min_duration: float = 0.0,
        max_duration: float = float("inf"),
        on_bad_audio: str = "error",
        downmix: bool = False,
        seed: int = 0,
        report_dir: str | None = None,
        label_file: str = "utt2label",
        speed_classes: Sequence[float] = (),
    ) -> None:
        super().__init__()
        if on_bad_audio not in ("error", "skip"):  # fail at construction, not at setup
            raise ValueError(f"data.on_bad_audio must be 'error' or 'skip', got {on_bad_audio!r}")
        self.train_dir, self.valid_dir = train_dir, valid_dir
        self.sample_rate = sample_rate
        self.max_batch_seconds = max_batch_seconds
        self.max_batch_size = max_batch_size
        self.num_workers = num_workers
        self.augment = augment
        self.min_duration, self.max_duration = min_duration, max_duration
        self.on_bad_audio = on_bad_audio
        self.downmix = downmix
        self.seed = seed
        self.report_dir = report_dir
        self.label_file = label_file
        self.speed_classes = tuple(float(f) for f in speed_classes or ())
        self.labels = self._with_speed_classes(self._read_labels(label_list))
        self.tokenizer_spec = self._read_tokenizer(token_dir) if token_dir else None
        self.train_set: AudioDataset | None = None
        self.valid_set: AudioDataset | None = None

    def _read_labels(self, label_list: str | None) -> list[str] | None:
        if label_list is not None:
            return read_list(label_list)
        train = DataDir.load(self.train_dir).label_map(self.label_file)
        if train is None:
            return None
        if self.label_file == "utt2spk":
            warn_single_recording_speakers(train, self.train_dir)
        return sorted({label for labels in train.values() for label in labels})

    def _with_speed_classes(self, labels: list[str] | None) -> list[str] | None:
        """The class list, then each class again per speed factor (training copies only)."""
        if not self.speed_classes:
            return labels
        if labels is None:
            raise ValueError(f"data.speed_classes={list(self.speed_classes)} needs class labels "
                             f"({self.train_dir} has no {self.label_file})")
        if min(self.speed_classes) <= 0:
            raise ValueError(f"data.speed_classes={list(self.speed_classes)}: speeds must be "
                             "positive")
        if 1.0 in self.speed_classes:
            raise ValueError("data.speed_classes: 1.0 is the recordings themselves; list only "
                             "the other speeds")
        return labels + [speed_class_label(label, f) for f in self.speed_classes for label in labels]

    def _read_tokenizer(self, token_dir: str) -> dict:
        from audiokit.text.tokenizer import load_token_dir, tokenizer_from_spec

        spec = load_token_dir(token_dir)
        for data_dir in (self.train_dir, self.valid_dir):
            text = DataDir.load(data_dir).text
            if text is None:
                raise DataDirError(f"{data_dir}: no text file, but the task needs transcripts")
            warn_unknown_pieces(tokenizer_from_spec(spec), text, f"{data_dir}/text", token_dir)
        return spec

    def task_kwargs(self) -> dict:
        """What the task must know about the data to build its model (saved in checkpoints)."""
        return task_kwargs(self.labels, self.tokenizer_spec)

    def _bad_audio(self, data_dir: str) -> dict[str, str]:
        report = None
        if self.report_dir is not None:
            report = Path(self.report_dir) / f"bad_audio.{Path(data_dir).name}.txt"
        return screen_bad_audio(data_dir, self.on_bad_audio, downmix=self.downmix,
                                report=report, skip_hint="data.on_bad_audio=skip",
                                sample_rate=self.sample_rate)

    def _dataset(self, data_dir: str, augment: WaveAugmentFn | None,
                 speed_classes: Sequence[float] = ()) -> AudioDataset:
        return AudioDataset(
            data_dir, self.sample_rate, labels=self.labels, augment=augment,
            min_duration=self.min_duration, max_duration=self.max_duration,
            exclude=self._bad_audio(data_dir), downmix=self.downmix, label_file=self.label_file,
            speed_classes=speed_classes,
        )

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None and stage in (None, "fit"):
            self.train_set = self._dataset(self.train_dir, self.augment, self.speed_classes)
        if self.valid_set is None and stage in (None, "fit", "validate"):
            self.valid_set = self._dataset(self.valid_dir, None)

    def _loader(self, dataset: AudioDataset, shuffle: bool) -> DataLoader:
        trainer = self.trainer
        sampler = DurationBatchSampler(
            dataset.durations, self.max_batch_seconds, max_batch_size=self.max_batch_size,
            shuffle=shuffle, seed=self.seed,
            num_replicas=trainer.world_size if trainer else 1,
            rank=trainer.global_rank if trainer else 0,
        )
        workers = {"num_workers": self.num_workers, "persistent_workers": self.num_workers > 0}
        if shuffle:  # training: resumes mid-epoch where it stopped (audiokit/data/resumable.py)
            return ResumableDataLoader(SeededItems(dataset, self.seed), batch_sampler=sampler,
                                       seed=self.seed, collate_fn=collate_audio, **workers)
        # a generator of its own: starting validation draws nothing from the global RNG
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_audio,
                          generator=torch.Generator().manual_seed(self.seed), **workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.valid_set, shuffle=False)


def warn_single_recording_speakers(utt2spk: dict[str, list[str]], data_dir: str) -> None:
    """Speakers with one training recording are kept (their class still pushes the others
    away), but the model learns nothing about how they vary: say which they are."""
    counts = Counter(labels[0] for labels in utt2spk.values())
    single = sorted(spk for spk, n in counts.items() if n == 1)
    if single:
        log.warning("%s: %d speaker(s) have a single training recording (kept; their "
                    "embeddings will generalise poorly): %s", data_dir, len(single),
                    ", ".join(single[:20]) + (" ..." if len(single) > 20 else ""))
