"""A map-style dataset over a Kaldi-style data dir."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from audiokit.data.audio import audio_duration, load_audio
from audiokit.data.augment.speed import change_speed
from audiokit.data.datadir import DataDir, DataDirError

log = logging.getLogger(__name__)

WaveAugmentFn = Callable[[torch.Tensor, int], torch.Tensor]


class AudioDataset(Dataset):
    """Items ``{"id": str, "audio": Tensor[T], "label": int?, "text": str?, "speaker": str?}``.

    ``labels`` (the class list) turns ``utt2label`` into class indices; a label outside the
    list is an error naming the utterance. Utterances outside ``[min_duration, max_duration]``
    or listed in ``exclude`` are left out, and every one of them is logged and kept in
    ``self.excluded`` (never dropped silently).

    ``speed_classes`` (WeSpeaker's speed-perturbed speakers) adds a copy of every utterance
    per speed factor, played that much faster (pitch and formants move with it) and labelled
    as a class of its own, ``speed_class_label(label, factor)``: the class list must hold
    those labels too. A speaker verifier then learns 1 + len(speed_classes) times as many
    voices from the same recordings, where label-keeping speed perturbation would teach it to
    ignore pitch.
    """

    def __init__(
        self,
        data_dir: str | Path,
        sample_rate: int,
        *,
        labels: list[str] | None = None,
        augment: WaveAugmentFn | None = None,
        min_duration: float = 0.0,
        max_duration: float = float("inf"),
        exclude: dict[str, str] | None = None,
        downmix: bool = False,
        label_file: str = "utt2label",
        speed_classes: Sequence[float] = (),
    ) -> None:
        self.data = DataDir.load(data_dir)
        self.label_file = label_file
        self.utt_labels = self.data.label_map(label_file)
        self.sample_rate = sample_rate
        self.augment = augment
        self.downmix = downmix
        self.label_index = {label: i for i, label in enumerate(labels)} if labels else None
        if self.label_index is not None:
            self._check_labels()
        self.excluded: dict[str, str] = dict(exclude or {})
        durations = self._durations()
        for utt, dur in durations.items():
            if utt not in self.excluded and not min_duration <= dur <= max_duration:
                self.excluded[utt] = f"duration {dur:.2f}s outside [{min_duration}, {max_duration}]"
        if self.excluded:
            log.warning("%s: leaving out %d utterance(s):\n%s", data_dir, len(self.excluded),
                        "\n".join(f"  {u}: {why}" for u, why in list(self.excluded.items())[:20]))
        self.utt_ids = [u for u in self.data.utt_ids if u not in self.excluded]
        if not self.utt_ids:
            raise DataDirError(f"{data_dir}: no utterances left to use")
        self.speeds = (1.0, *(float(f) for f in speed_classes))
        if speed_classes and self.label_index is None:
            raise ValueError("speed_classes needs a class list (labels) to add classes to")
        # item i is utterance i % N at speed self.speeds[i // N]
        self.durations = [durations[u] / speed for speed in self.speeds for u in self.utt_ids]

    def _check_labels(self) -> None:
        where = self.data.path / self.label_file
        if self.utt_labels is None:
            raise DataDirError(f"{where}: missing, but the task needs labels")
        for utt, labels in self.utt_labels.items():
            if len(labels) != 1:
                raise DataDirError(
                    f"{where}: utterance '{utt}' has {len(labels)} "
                    "labels; single-label classification needs exactly one"
                )
            unknown = [label for label in labels if label not in self.label_index]
            if unknown:
                raise DataDirError(
                    f"{where}: utterance '{utt}' has label "
                    f"'{unknown[0]}', not in the label list ({len(self.label_index)} labels)"
                )

    def _durations(self) -> dict[str, float]:
        if self.data.utt2dur is not None:
            return self.data.utt2dur
        if self.data.segments is not None:
            return {u: s.end - s.start for u, s in self.data.segments.items()}
        log.warning("%s: no utt2dur; reading every header (run the prepare stage to write one)",
                    self.data.path)
        # excluded utterances (bad audio, already reported) may have no readable header
        return {u: audio_duration(self.data.wav_scp[u], u) for u in self.data.utt_ids
                if u not in self.excluded}

    def __len__(self) -> int:
        return len(self.utt_ids) * len(self.speeds)

    def __getitem__(self, index: int) -> dict:
        copy, utt_index = divmod(index, len(self.utt_ids))
        utt, speed = self.utt_ids[utt_index], self.speeds[copy]
        source, start, end = self.data.audio_source(utt)
        audio = load_audio(source, self.sample_rate, utt=utt, start=start, end=end,
                           downmix=self.downmix)
        if speed != 1.0:
            audio = change_speed(audio, self.sample_rate, speed)
        if self.augment is not None:
            audio = self.augment(audio, self.sample_rate)
        item = {"id": utt if speed == 1.0 else f"sp{speed:g}-{utt}", "audio": audio}
        if self.label_index is not None:
            label = self.utt_labels[utt][0]
            if speed != 1.0:
                label = speed_class_label(label, speed)
            item["label"] = self.label_index[label]
        if self.data.text is not None:
            item["text"] = self.data.text[utt]
        if self.data.utt2spk is not None:
            speaker = self.data.utt2spk[utt]
            item["speaker"] = speaker if speed == 1.0 else speed_class_label(speaker, speed)
        return item


def speed_class_label(label: str, speed: float) -> str:
    """The class of ``label``'s recordings played ``speed`` times faster (Kaldi's prefix)."""
    return f"sp{speed:g}-{label}"
