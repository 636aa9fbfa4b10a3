"""Batches over any data dir for inference: no labels needed, bad audio named up front."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from torch.utils.data import DataLoader

from audiokit.data.collate import collate_audio
from audiokit.data.datadir import DataDir, DataDirError
from audiokit.data.dataset import AudioDataset
from audiokit.data.sampler import DurationBatchSampler
from audiokit.data.validate import find_problems

log = logging.getLogger(__name__)


def inference_batches(
    data_dir: str, sample_rate: int, *, max_batch_seconds: float = 120.0,
    num_workers: int = 0, on_bad_audio: str = "error", downmix: bool = False,
) -> tuple[Iterator[dict], dict[str, str]]:
    """(batches in duration order, {utt: reason} of utterances skipped for bad audio)."""
    problems = find_problems(DataDir.load(data_dir), downmix=downmix)
    if problems and on_bad_audio == "error":
        listing = "\n".join(f"  {p}" for p in problems[:20])
        raise DataDirError(f"{data_dir}: {len(problems)} utterance(s) with bad audio "
                           f"(on_bad_audio=skip to leave them out):\n{listing}")
    skipped = {p.utt: p.reason for p in problems}
    dataset = AudioDataset(data_dir, sample_rate, exclude=skipped, downmix=downmix)
    sampler = DurationBatchSampler(dataset.durations, max_batch_seconds, shuffle=False)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_audio,
                        num_workers=num_workers)
    return iter(loader), skipped
