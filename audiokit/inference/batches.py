"""Batches over any data dir for inference: no labels needed, bad audio named up front."""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import DataLoader

from audiokit.data.collate import collate_audio
from audiokit.data.dataset import AudioDataset
from audiokit.data.sampler import DurationBatchSampler
from audiokit.data.validate import screen_bad_audio


def inference_batches(
    data_dir: str, sample_rate: int, *, max_batch_seconds: float = 120.0,
    num_workers: int = 0, on_bad_audio: str = "error", downmix: bool = False,
    progress=None,
) -> tuple[Iterator[dict], dict[str, str]]:
    """(batches in duration order, {utt: reason} of utterances skipped for bad audio).

    With ``progress`` (:class:`~audiokit.inference.progress.InferenceProgress`), utterances
    it has done are left out of their batches (and never read), so the rest are batched as
    in an uninterrupted run with the same ``max_batch_seconds``.
    """
    skipped = screen_bad_audio(data_dir, on_bad_audio, downmix=downmix)
    dataset = AudioDataset(data_dir, sample_rate, exclude=skipped, downmix=downmix)
    sampler = DurationBatchSampler(dataset.durations, max_batch_seconds, shuffle=False)
    batches = list(sampler)
    if progress is not None:
        todo = set(progress.begin(list(dataset.utt_ids)))
        batches = [kept for batch in batches
                   if (kept := [i for i in batch if dataset.utt_ids[i] in todo])]
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate_audio,
                        num_workers=num_workers)
    return iter(loader), skipped
