"""Who spoke when: diarize every recording of a data dir into ``output_dir/rttm``.

Two ways, one per kind of experiment:

- :class:`EENDDiarizer` (an EEND experiment): the model gives each speaker's activity per
  frame, overlaps included; median filtering and a threshold turn it into turns.
- :class:`PipelineDiarizer` (a speech-activity experiment): speech regions (the neural VAD,
  or ``vad=energy``) -> sliding windows -> speaker embeddings from a speaker experiment ->
  clustering (spectral with eigengap, or agglomerative with a threshold; or a known count)
  -> turns; where the overlap detector fires, the nearest other speaker is added
  (overlap-aware output).

``diarization.*`` on the ``audiokit-infer`` command line overrides the settings the
experiment was trained with (``task.postprocess`` / ``task.pipeline``);
``diarization.oracle_num_speakers=true`` reads the count of each recording from the data
dir's ``reco2num_spk``. Recordings are processed whole (EEND's self-attention grows with the
square of the length; for hour-long meetings use the pipeline).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from scipy.ndimage import median_filter

from audiokit.data.audio import load_audio
from audiokit.data.datadir import DataDir, DataDirError, read_kaldi_map, write_kaldi_map
from audiokit.data.rttm import Turn, write_rttm
from audiokit.data.validate import screen_bad_audio
from audiokit.inference.clustering import cluster, merge_small_clusters
from audiokit.inference.loading import load_task
from audiokit.inference.progress import InferenceProgress
from audiokit.inference.speaker import SpeakerEmbedder
from audiokit.inference.vad import binarize, energy_vad, sliding_windows, windows_to_turns
from audiokit.inference.waveform import check_kind, prepare_waveform
from audiokit.utils.errors import UserError

EEND_DEFAULTS = {"threshold": 0.5, "median_frames": 11, "min_duration_on": 0.0,
                 "min_duration_off": 0.0, "oracle_num_speakers": False}

PIPELINE_DEFAULTS = {
    "embedding_exp_dir": None,     # a speaker experiment (audiokit-train experiment=sv/...)
    "vad": "neural",               # neural (this experiment's model) | energy
    "onset": 0.5, "offset": 0.5,   # speech probability hysteresis
    "min_duration_on": 0.1, "min_duration_off": 0.1,
    "overlap_threshold": 0.5,      # the overlap detector's threshold (when it has one)
    "energy_threshold_db": -35.0,  # vad=energy: frames this far below the loudest are silence
    "window": 1.5, "step": 0.75, "min_window": 0.3,   # seconds
    "clustering": "spectral",      # spectral (eigengap) | ahc
    "threshold": 0.5,              # ahc: cosine distance at which clusters stop merging
    "max_speakers": 8,
    "min_cluster_fraction": 0.0,   # clusters with fewer windows than this share of all join
                                   # the nearest larger one (unknown count only)
    "num_speakers": None,          # a fixed count for every recording
    "oracle_num_speakers": False,
    "embedding_batch": 64,
}


def merge_options(defaults: dict, *layers: dict | None) -> dict:
    options = dict(defaults)
    for layer in layers:
        for key, value in (layer or {}).items():
            if key not in defaults:
                raise ValueError(f"diarization.{key}: unknown setting; valid: {sorted(defaults)}")
            options[key] = value
    return options


def merge_turns(turns: list[Turn]) -> list[Turn]:
    """Same-speaker turns that touch or overlap become one (sorted by start)."""
    merged: dict[str, list[Turn]] = {}
    for turn in sorted(turns, key=lambda t: t.start):
        own = merged.setdefault(turn.speaker, [])
        if own and turn.start <= own[-1].end:
            own[-1] = Turn(own[-1].start, max(own[-1].end, turn.end), turn.speaker)
        else:
            own.append(turn)
    return sorted((t for ts in merged.values() for t in ts), key=lambda t: (t.start, t.speaker))


class _RecordingDiarizer:
    """What both diarizers share: reading a data dir, counts, writing the RTTM."""

    task: torch.nn.Module
    sample_rate: int
    device: str
    options: dict

    @classmethod
    def from_exp_dir(cls, exp_dir: str | Path, device: str = "cpu", **kwargs):
        task, cfg = load_task(exp_dir, device)
        check_kind(task, cls, exp_dir)
        return cls(task, int(cfg.data.sample_rate), device, **kwargs)

    def diarize(self, audio: torch.Tensor, num_speakers: int | None = None) -> list[Turn]:
        raise NotImplementedError

    def __call__(self, waveform, sample_rate: int | None = None,
                 num_speakers: int | None = None) -> list[Turn]:
        """Turns of one recording: numpy or torch, ``[T]`` or ``[channels, T]``, any float
        dtype, at ``sample_rate`` (default: the model's), or a file path."""
        return self.diarize(prepare_waveform(waveform, self.sample_rate, sample_rate),
                            num_speakers)

    def process_data_dir(self, data_dir: str, output_dir: str, *, on_bad_audio: str = "error",
                         downmix: bool = False, progress: InferenceProgress | None = None,
                         **_batch_options) -> dict[str, str]:
        """Write ``output_dir/rttm`` for every recording of ``data_dir``'s ``wav.scp``; with
        ``progress`` (audiokit-infer's journal) a run that stopped part way continues."""
        progress = progress or InferenceProgress.memory_only(output_dir)
        skipped = screen_bad_audio(data_dir, on_bad_audio, downmix=downmix)
        data = DataDir.load(data_dir)
        counts = self._oracle_counts(data) if self.options["oracle_num_speakers"] else {}
        for reco in progress.begin([r for r in data.utt_ids if r not in skipped]):
            source, start, end = data.audio_source(reco)
            audio = load_audio(source, self.sample_rate, utt=reco, start=start, end=end,
                               downmix=downmix)
            progress.record({reco: [[float(t.start), float(t.end), str(t.speaker)]
                                     for t in self.diarize(audio, counts.get(reco))]})
        turns = {r: [Turn(*t) for t in ts] for r, ts in progress.results.items()}
        silent = [r for r, ts in turns.items() if not ts]
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_rttm(out / "rttm", turns)
        if silent:  # no RTTM line can say "nobody spoke": list them so nothing is silent
            print(f"audiokit-infer: no speech found in {len(silent)} recording(s), e.g. "
                  f"{silent[:3]} (listed in {out / 'no_speech'})")
            (out / "no_speech").write_text("".join(f"{r}\n" for r in silent))
        if skipped:
            write_kaldi_map(out / "skipped", skipped)
        progress.finish()
        return skipped

    @staticmethod
    def _oracle_counts(data: DataDir) -> dict[str, int]:
        path = data.path / "reco2num_spk"
        if not path.is_file():
            raise DataDirError(f"{path}: missing; diarization.oracle_num_speakers=true reads "
                               "each recording's speaker count from it")
        counts = {r: int(n) for r, n in read_kaldi_map(path).items()}
        missing = [r for r in data.utt_ids if r not in counts]
        if missing:
            raise DataDirError(f"{path}: no count for recording '{missing[0]}'")
        return counts


class Diarizer:
    """``Diarizer.from_exp_dir(E)(waveform) -> [Turn]``: the diarizer an experiment was
    trained for (:class:`EENDDiarizer` or :class:`PipelineDiarizer`)."""

    @staticmethod
    def from_exp_dir(exp_dir: str | Path, device: str = "cpu", **kwargs) -> _RecordingDiarizer:
        task, cfg = load_task(exp_dir, device)
        kinds = {"EENDDiarizer": EENDDiarizer, "PipelineDiarizer": PipelineDiarizer}
        cls = kinds.get(str(getattr(task, "inference", "")).rsplit(".", 1)[-1])
        if cls is None:
            raise UserError(f"{exp_dir}: not a diarization experiment (a "
                            f"{type(task).__name__})")
        return cls(task, int(cfg.data.sample_rate), device, **kwargs)


class EENDDiarizer(_RecordingDiarizer):
    """``EENDDiarizer.from_exp_dir(E).diarize(waveform) -> [Turn]`` with an EEND experiment."""

    def __init__(self, task, sample_rate: int, device: str = "cpu",
                 diarization: dict | None = None) -> None:
        self.task, self.sample_rate, self.device = task, sample_rate, device
        self.options = merge_options(EEND_DEFAULTS, {"threshold": task.threshold},
                                     task.postprocess, diarization)

    @torch.inference_mode()
    def speaker_probs(self, audio: torch.Tensor, num_speakers: int | None = None) -> np.ndarray:
        """Activity probabilities [frames, speakers] at ``task.output_frame_shift``."""
        audio = audio.to(self.device, torch.float32)
        out = self.task(audio[None], torch.tensor([audio.shape[-1]], device=self.device),
                        num_speakers=num_speakers)
        probs = torch.sigmoid(out["logits"][0, : int(out["lens"][0])].float())
        if out.get("num_speakers") is not None and num_speakers is None:
            probs = probs[:, : int(out["num_speakers"][0])]  # EDA's estimated count
        return probs.cpu().numpy()

    def segment(self, audio: torch.Tensor) -> np.ndarray:
        """Everything before the threshold (the tuner's one pass per recording): the activity
        probabilities."""
        return self.speaker_probs(audio)

    def assign(self, probs: np.ndarray, options: dict | None = None) -> list[Turn]:
        """Median-filter and threshold the probabilities into turns (``options`` override the
        settings: the tuner tries several on one pass)."""
        o = {**self.options, **(options or {})}
        if o["median_frames"] > 1 and len(probs):
            probs = median_filter(probs, size=(int(o["median_frames"]), 1), mode="nearest")
        regions = binarize(probs, self.task.output_frame_shift, onset=o["threshold"],
                           min_duration_on=o["min_duration_on"],
                           min_duration_off=o["min_duration_off"])
        return merge_turns([Turn(s, e, f"spk{k}") for k, column in enumerate(regions)
                            for s, e in column])

    def diarize(self, audio: torch.Tensor, num_speakers: int | None = None) -> list[Turn]:
        return self.assign(self.speaker_probs(audio, num_speakers))


class PipelineDiarizer(_RecordingDiarizer):
    """``PipelineDiarizer.from_exp_dir(E).diarize(waveform) -> [Turn]`` with a speech-activity
    experiment whose ``task.pipeline`` names the speaker-embedding experiment."""

    def __init__(self, task, sample_rate: int, device: str = "cpu",
                 diarization: dict | None = None) -> None:
        self.task, self.sample_rate, self.device = task, sample_rate, device
        self.options = merge_options(PIPELINE_DEFAULTS, task.pipeline, diarization)
        if not self.options["embedding_exp_dir"]:
            raise ValueError("the diarization pipeline needs a speaker experiment: set "
                             "task.pipeline.embedding_exp_dir (or diarization.embedding_exp_dir)")
        self.embedder = SpeakerEmbedder.from_exp_dir(self.options["embedding_exp_dir"], device)
        if self.embedder.sample_rate != sample_rate:
            raise ValueError(f"the speaker experiment reads {self.embedder.sample_rate} Hz audio, "
                             f"the speech-activity experiment {sample_rate} Hz")

    @torch.inference_mode()
    def activity(self, audio: torch.Tensor) -> tuple[list, list]:
        """(speech regions, overlap regions) in seconds."""
        o = self.options
        if o["vad"] == "energy":
            return energy_vad(audio, self.sample_rate, threshold_db=o["energy_threshold_db"],
                              min_speech_s=o["min_duration_on"],
                              min_silence_s=o["min_duration_off"]), []
        if o["vad"] != "neural":
            raise ValueError(f"diarization.vad={o['vad']!r}: choose neural or energy")
        audio = audio.to(self.device, torch.float32)
        probs, lens = self.task(audio[None], torch.tensor([audio.shape[-1]], device=self.device))
        probs = probs[0, : int(lens[0])].float().cpu().numpy()
        shift = self.task.frame_shift * self.task.subsampling
        speech = binarize(probs[:, 0], shift, onset=o["onset"], offset=o["offset"],
                          min_duration_on=o["min_duration_on"],
                          min_duration_off=o["min_duration_off"])
        overlap = []
        if "overlap" in self.task.targets:
            k = self.task.targets.index("overlap")
            overlap = binarize(probs[:, k], shift, onset=o["overlap_threshold"],
                               min_duration_on=o["min_duration_on"])
        return speech, overlap

    def embed_windows(self, audio: torch.Tensor, windows: list) -> np.ndarray:
        pieces = [audio[round(s * self.sample_rate): round(e * self.sample_rate)]
                  for s, e in windows]
        out = []
        for i in range(0, len(pieces), int(self.options["embedding_batch"])):
            batch = pieces[i: i + int(self.options["embedding_batch"])]
            lens = torch.tensor([p.shape[-1] for p in batch])
            padded = torch.nn.utils.rnn.pad_sequence(batch, batch_first=True)
            out.append(self.embedder.embed_batch(padded, lens))
        return np.concatenate(out)

    def segment(self, audio: torch.Tensor) -> Segmented:
        """Everything before clustering: speech and overlap regions, windows, embeddings."""
        o = self.options
        speech, overlap = self.activity(audio)
        windows = sliding_windows(speech, o["window"], o["step"], o["min_window"])
        embeddings = self.embed_windows(audio, windows) if len(windows) > 1 else None
        return Segmented(windows, embeddings, overlap)

    def assign(self, seg: Segmented, num_speakers: int | None = None,
               options: dict | None = None) -> list[Turn]:
        """Cluster the windows and turn them into speaker turns (``options`` override the
        clustering settings: the tuner tries several on one segmentation)."""
        o = {**self.options, **(options or {})}
        if not seg.windows:
            return []
        count = num_speakers or o["num_speakers"]
        if seg.embeddings is None:  # one window: one speaker
            labels = np.zeros(1, dtype=int)
        else:
            extra = ({"threshold": o["threshold"]} if o["clustering"] == "ahc"
                     else {"max_speakers": o["max_speakers"]})
            labels = cluster(seg.embeddings, o["clustering"], num_speakers=count, **extra)
            if count is None and o["min_cluster_fraction"] > 0:
                min_size = math.ceil(o["min_cluster_fraction"] * len(seg.windows))
                labels = merge_small_clusters(seg.embeddings, labels, min_size)
        turns = [Turn(s, e, f"spk{label}")
                 for s, e, label in windows_to_turns(seg.windows, labels)]
        return merge_turns(turns + second_speakers(turns, seg.overlap))

    def diarize(self, audio: torch.Tensor, num_speakers: int | None = None) -> list[Turn]:
        return self.assign(self.segment(audio), num_speakers)


class Segmented(NamedTuple):
    windows: list          # [(start, end)] seconds
    embeddings: np.ndarray | None  # [windows, D]; None for fewer than two windows
    overlap: list          # [(start, end)] where two or more speak


def second_speakers(turns: list[Turn], overlap: list) -> list[Turn]:
    """For each detected overlap region, a turn for the speaker nearest in time other than the
    one already there (the clustering gives one speaker per window)."""
    added = []
    for start, end in overlap:
        here = [t for t in turns if t.start < end and t.end > start]
        if not here:
            continue
        main = max(here, key=lambda t: min(t.end, end) - max(t.start, start)).speaker
        others = [t for t in turns if t.speaker != main]
        if others:
            gap = [max(t.start - end, start - t.end, 0.0) for t in others]
            added.append(Turn(start, end, others[int(np.argmin(gap))].speaker))
    return added
