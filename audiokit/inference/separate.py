"""Separate (or enhance) audio with a trained experiment, in overlapping chunks when long."""

from __future__ import annotations

from pathlib import Path

import torch

from audiokit.data.audio import load_audio
from audiokit.data.datadir import DataDir, write_kaldi_map
from audiokit.data.validate import screen_bad_audio
from audiokit.inference.loading import load_task
from audiokit.inference.progress import InferenceProgress, write_wav
from audiokit.inference.waveform import check_kind, prepare_waveform
from audiokit.losses.pit import pit_from_pairwise, reorder_estimates
from audiokit.losses.separation import pairwise_si_sdr


def _fade_window(length: int) -> torch.Tensor:
    """A Hann window without its zero end points: every sample keeps some weight."""
    return torch.hann_window(length + 2, periodic=False)[1:-1]


@torch.inference_mode()
def separate_chunked(model, mixture: torch.Tensor, chunk: int, hop: int) -> torch.Tensor:
    """``model`` ([B, T] -> [B, S, T]) over ``mixture`` [T] in chunks of ``chunk`` samples every
    ``hop``, cross-faded (weighted overlap-add). Each chunk's sources are put in the order of
    what is already assembled, by SI-SNR on their overlap: a separator's output order is
    arbitrary and may differ from one chunk to the next.
    """
    total = mixture.shape[-1]
    if total <= chunk:
        return model(mixture[None])[0]
    starts = list(range(0, total - chunk, hop)) + [total - chunk]
    window = _fade_window(chunk).to(mixture.device)
    out = weight = None
    for start in starts:
        est = model(mixture[None, start : start + chunk])[0]  # [S, chunk]
        if out is None:
            out = est.new_zeros(est.shape[0], total)
            weight = est.new_zeros(total)
        else:
            overlap = int((weight[start : start + chunk] > 0).sum())
            done = out[:, start : start + overlap] / weight[start : start + overlap]
            pair = pairwise_si_sdr(est[None, :, :overlap], done[None])
            _, perm = pit_from_pairwise(-pair)
            est = reorder_estimates(est[None], perm)[0]
        out[:, start : start + chunk] += est * window
        weight[start : start + chunk] += window
    return out / weight


class Separator:
    """``Separator.from_exp_dir(E)(waveform [T]) -> [S, T]``; ``process_data_dir`` writes the
    estimates of any data dir as wav files plus ``spk1.scp`` .. ``spkS.scp`` (enhancement, one
    source: ``wav.scp``).

    Recordings longer than ``chunk_seconds`` are processed in chunks with 50 % overlap, so
    memory stays bounded whatever the length.
    """

    def __init__(self, task, sample_rate: int, device: str = "cpu",
                 chunk_seconds: float = 8.0) -> None:
        self.task, self.sample_rate, self.device = task, sample_rate, device
        self.chunk = round(chunk_seconds * sample_rate)

    @classmethod
    def from_exp_dir(cls, exp_dir: str | Path, device: str = "cpu", **kwargs) -> Separator:
        task, cfg = load_task(exp_dir, device)
        check_kind(task, cls, exp_dir)
        return cls(task, int(cfg.data.sample_rate), device, **kwargs)

    def __call__(self, waveform, sample_rate: int | None = None) -> torch.Tensor:
        """Sources ``[S, T]`` (at the model's rate) of one mixture: numpy or torch, ``[T]``
        or ``[channels, T]``, any float dtype, at ``sample_rate`` (default: the model's), or
        a file path."""
        mixture = prepare_waveform(waveform, self.sample_rate, sample_rate).to(self.device)
        return separate_chunked(self.task.model, mixture, self.chunk, self.chunk // 2).cpu()

    def process_data_dir(self, data_dir: str, output_dir: str, *, on_bad_audio: str = "error",
                         downmix: bool = False, progress: InferenceProgress | None = None,
                         **_batch_options) -> dict[str, str]:
        """Write ``output_dir/wav/spkK/<utt>.wav`` (float, at the model's sample rate; each
        written whole or not at all) and the scp files; returns the utterances skipped for bad
        audio, if allowed. With ``progress`` (audiokit-infer's journal) a run that stopped
        part way continues."""
        progress = progress or InferenceProgress.memory_only(output_dir)
        skipped = screen_bad_audio(data_dir, on_bad_audio, downmix=downmix)
        data = DataDir.load(data_dir)
        out = Path(output_dir)
        num_sources = self.task.num_sources
        folders = [out / "wav" / f"spk{k + 1}" for k in range(num_sources)]
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        for utt in progress.begin([u for u in data.utt_ids if u not in skipped]):
            source, start, end = data.audio_source(utt)
            mixture = load_audio(source, self.sample_rate, utt=utt, start=start, end=end,
                                 downmix=downmix)
            paths = [write_wav(folders[k] / f"{utt}.wav", est.numpy(), self.sample_rate)
                     for k, est in enumerate(self(mixture))]
            progress.record({utt: paths}, files={utt: paths})
        names = ["wav.scp"] if num_sources == 1 else [f"spk{k + 1}.scp" for k in range(num_sources)]
        for k, name in enumerate(names):
            write_kaldi_map(out / name, {u: paths[k] for u, paths in progress.results.items()})
        if skipped:
            write_kaldi_map(out / "skipped", skipped)
        progress.finish()
        return skipped
