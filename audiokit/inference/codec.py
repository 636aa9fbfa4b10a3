"""Neural codec inference: audio -> tokens -> audio, and token data dirs back to audio.

Python::

    codec = Codec.from_exp_dir(E, bandwidth=3.0)    # or n_q=6; default: every codebook
    codes = codec.encode(wav)                       # [T] -> [n_q, frames] (int64)
    audio = codec.decode(codes)                     # -> [frames * hop]

Command line (two calls, so later stages can train on token data dirs)::

    audiokit-infer exp_dir=E data_dir=D output_dir=O [codec.bandwidth=3 | codec.n_q=6]
        -> O/codes.scp (one [n_q, frames] int16 .npy per utterance, NumPy format),
           O/wav.scp (the decoded audio), and D's text/utt2spk/spk2utt/utt2dur
    audiokit-infer exp_dir=E data_dir=O output_dir=O2 codec.mode=decode
        -> O2/wav.scp decoded from O/codes.scp (O needs codes.scp only)

Decoding is asked for by ``codec.mode=decode`` rather than guessed from the files: a token data
dir carries a wav.scp too.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from audiokit.data.audio import load_audio
from audiokit.data.datadir import DataDir, DataDirError, read_kaldi_map, write_kaldi_map
from audiokit.data.validate import screen_bad_audio
from audiokit.inference.loading import load_task
from audiokit.inference.progress import InferenceProgress, save_npy, write_wav

# Files of the input data dir that stay true of the coded audio (same utterances, speakers).
CARRIED_FILES = ("text", "utt2spk", "spk2utt", "utt2dur", "utt2label")


def codec_model(task) -> torch.nn.Module:
    """The codec inside a trained task: the GAN task's generator (its EMA copy when it keeps
    one, as the task's own forward does), or a plain ``model``."""
    model = None
    if getattr(task, "ema_decay", None) is not None:
        model = getattr(task, "generator_ema", None)
    if model is None:
        model = getattr(task, "generator", None)
    if model is None:
        model = getattr(task, "model", None)
    if model is None or not hasattr(model, "encode") or not hasattr(model, "decode"):
        raise TypeError(f"{type(task).__name__} holds no codec (a generator with encode/decode)")
    return model


class Codec:
    """Encode/decode with a trained codec exp dir; ``process_data_dir`` for audiokit-infer."""

    def __init__(self, task, sample_rate: int, device: str = "cpu",
                 codec: dict | None = None) -> None:
        options = dict(codec or {})
        self.mode = options.pop("mode", "encode")
        if self.mode not in ("encode", "decode"):
            raise ValueError(f"codec.mode must be 'encode' or 'decode', got {self.mode!r}")
        bandwidth, n_q = options.pop("bandwidth", None), options.pop("n_q", None)
        if options:
            raise ValueError(f"unknown codec option(s) {sorted(options)}: "
                             "valid are mode, bandwidth, n_q")
        self.model = codec_model(task).eval().to(device)
        if hasattr(self.model, "remove_weight_norm"):
            self.model.remove_weight_norm()
        self.sample_rate, self.device = sample_rate, device
        self.n_q = self.model.resolve_n_q(n_q, bandwidth)
        self.model.quantizer._check_n_q(self.n_q)

    @classmethod
    def from_exp_dir(cls, exp_dir: str | Path, device: str = "cpu", *,
                     bandwidth: float | None = None, n_q: int | None = None) -> Codec:
        task, cfg = load_task(exp_dir, device)
        options = {k: v for k, v in (("bandwidth", bandwidth), ("n_q", n_q)) if v is not None}
        return cls(task, int(cfg.data.sample_rate), device, codec=options)

    @property
    def bitrate(self) -> float:
        """Bits per second of this codec's setting."""
        return self.model.bitrate(self.n_q)

    @torch.inference_mode()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """Codes ``[n_q, frames]`` of ``wav`` [T] (or ``[B, n_q, frames]`` of [B, T])."""
        batch = wav.ndim == 2
        wav = (wav if batch else wav[None]).to(self.device, torch.float32)
        codes = self.model.encode(wav, n_q=self.n_q).cpu()
        return codes if batch else codes[0]

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor | np.ndarray, utt: str = "?") -> torch.Tensor:
        """Waveform ``[frames * hop]`` from codes ``[n_q, frames]`` (or batched ``[B, ...]``)."""
        codes = torch.as_tensor(np.asarray(codes) if not torch.is_tensor(codes) else codes)
        self.check_codes(codes, utt)
        batch = codes.ndim == 3
        wav = self.model.decode((codes if batch else codes[None]).long().to(self.device)).cpu()
        return wav if batch else wav[0]

    def check_codes(self, codes: torch.Tensor, utt: str = "?") -> None:
        """Codes must be integers of a shape and range this model was trained for."""
        where = f"utterance '{utt}'"
        if codes.dtype.is_floating_point or codes.dtype == torch.bool:
            raise ValueError(f"{where}: codes must be integers, got {codes.dtype}")
        if codes.ndim not in (2, 3):
            raise ValueError(f"{where}: codes must be [n_q, frames], got shape {list(codes.shape)}")
        n_q = codes.shape[-2]
        trained = self.model.quantizer.n_q_choices
        if n_q not in trained:
            raise ValueError(f"{where}: {n_q} codebooks, but this model decodes {trained} "
                             f"(bandwidths {self.model.bandwidths} kbps)")
        size = self.model.codebook_size
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= size):
            raise ValueError(f"{where}: code values {int(codes.min())}..{int(codes.max())} lie "
                             f"outside this model's codebook of {size}")

    # ---- data dirs ---------------------------------------------------------------------
    def process_data_dir(self, data_dir: str, output_dir: str, *, on_bad_audio: str = "error",
                         downmix: bool = False, progress: InferenceProgress | None = None,
                         **_batch_options) -> dict[str, str]:
        """Encode (or, with ``codec.mode=decode``, decode) a data dir; with ``progress``
        (audiokit-infer's journal) a run that stopped part way continues."""
        progress = progress or InferenceProgress.memory_only(output_dir)
        if self.mode == "decode":
            self.decode_data_dir(data_dir, output_dir, progress=progress)
            return {}
        return self.encode_data_dir(data_dir, output_dir, on_bad_audio=on_bad_audio,
                                    downmix=downmix, progress=progress)

    def _write_wav(self, folder: Path, utt: str, wav: torch.Tensor) -> str:
        return write_wav(folder / f"{utt}.wav", wav.numpy(), self.sample_rate)

    def encode_data_dir(self, data_dir: str, output_dir: str, *, on_bad_audio: str = "error",
                        downmix: bool = False, progress: InferenceProgress | None = None) -> dict[str, str]:
        """Write ``O/codes/<utt>.npy`` + ``O/codes.scp`` and ``O/wav/<utt>.wav`` + ``O/wav.scp``
        (the decoded audio, cut to the input's length) and ``O/rtf.json`` (encode and decode
        real-time factors, batch 1, file I/O excluded); returns the utterances skipped. Each
        file is written whole or not at all."""
        progress = progress or InferenceProgress.memory_only(output_dir)
        skipped = screen_bad_audio(data_dir, on_bad_audio, downmix=downmix)
        data = DataDir.load(data_dir)
        out = Path(output_dir)
        (out / "codes").mkdir(parents=True, exist_ok=True)
        (out / "wav").mkdir(parents=True, exist_ok=True)
        for utt in progress.begin([u for u in data.utt_ids if u not in skipped]):
            source, start, end = data.audio_source(utt)
            wav = load_audio(source, self.sample_rate, utt=utt, start=start, end=end,
                             downmix=downmix)
            t0 = time.perf_counter()
            codes = self.encode(wav)
            t1 = time.perf_counter()
            decoded = self.decode(codes, utt)[: len(wav)]
            t2 = time.perf_counter()
            # 16 bits hold codebooks <= 32768
            codes_path = save_npy(out / "codes" / f"{utt}.npy", codes.numpy().astype(np.int16))
            wav_path = self._write_wav(out / "wav", utt, decoded)
            progress.record({utt: [codes_path, wav_path, t1 - t0, t2 - t1, len(wav) / self.sample_rate]},
                            files={utt: [codes_path, wav_path]})
        results = progress.results
        write_kaldi_map(out / "codes.scp", {u: r[0] for u, r in results.items()})
        write_kaldi_map(out / "wav.scp", {u: r[1] for u, r in results.items()})
        encode_s = sum(r[2] for r in results.values())
        decode_s = sum(r[3] for r in results.values())
        audio_s = max(sum(r[4] for r in results.values()), 1e-9)
        rtf = {"rtf": (encode_s + decode_s) / audio_s, "encode_rtf": encode_s / audio_s,
               "decode_rtf": decode_s / audio_s, "audio_seconds": round(audio_s, 3),
               "num_utts": len(results), "batch_size": 1, "device": self.device,
               "threads": torch.get_num_threads(), "n_q": self.n_q, "bitrate_bps": self.bitrate}
        (out / "rtf.json").write_text(json.dumps(rtf, indent=2) + "\n")
        self._carry_files(Path(data_dir), out, skipped)
        if skipped:
            write_kaldi_map(out / "skipped", skipped)
        progress.finish()
        return skipped

    def decode_data_dir(self, data_dir: str, output_dir: str,
                        progress: InferenceProgress | None = None) -> None:
        """``O/wav.scp`` + ``O/wav/<utt>.wav`` decoded from ``data_dir/codes.scp``."""
        progress = progress or InferenceProgress.memory_only(output_dir)
        src = Path(data_dir)
        if not (src / "codes.scp").is_file():
            raise DataDirError(f"{src}: no codes.scp to decode (codec.mode=decode reads a token "
                               "data dir written by audiokit-infer with a codec exp dir)")
        out = Path(output_dir)
        (out / "wav").mkdir(parents=True, exist_ok=True)
        codes_scp = read_kaldi_map(src / "codes.scp")
        for utt in progress.begin(list(codes_scp)):
            path = codes_scp[utt]
            try:
                codes = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise DataDirError(f"utterance '{utt}' ({path}): cannot read codes: {e}") from None
            try:
                wav = self.decode(codes, utt)
            except ValueError as e:
                raise DataDirError(f"{e} ({path})") from None
            wav_path = self._write_wav(out / "wav", utt, wav)
            progress.record({utt: wav_path}, files={utt: [wav_path]})
        write_kaldi_map(out / "wav.scp", progress.results)
        if src.resolve() != out.resolve():
            self._carry_files(src, out, {})
        progress.finish()

    @staticmethod
    def _carry_files(src: Path, out: Path, skipped: dict[str, str]) -> None:
        if src.resolve() == out.resolve():
            return
        for name in CARRIED_FILES:
            if not (src / name).is_file():
                continue
            if not skipped:
                shutil.copyfile(src / name, out / name)
                continue
            if name == "spk2utt":   # lists of utterances: drop the skipped ones
                lines = []
                for line in (src / name).read_text(encoding="utf-8").splitlines():
                    spk, *utts = line.split()
                    utts = [u for u in utts if u not in skipped]
                    if utts:
                        lines.append(" ".join([spk, *utts]))
                (out / name).write_text("".join(f"{ln}\n" for ln in lines), encoding="utf-8")
            else:
                kept = [ln for ln in (src / name).read_text(encoding="utf-8").splitlines()
                        if ln.split(maxsplit=1)[0] not in skipped]
                (out / name).write_text("".join(f"{ln}\n" for ln in kept), encoding="utf-8")
