"""audiokit-infer for codec language models: generate codes for every utterance of a data dir,
and audio through the codec.

    audiokit-infer exp_dir=<codec LM exp> data_dir=D output_dir=O \
        codec_lm.codec_exp_dir=<codec exp> [codec_lm.nar_exp_dir=<VALL-E NAR exp>] \
        [codec_lm.temperature=1 codec_lm.top_k=0 codec_lm.top_p=1 codec_lm.guidance=3 ...]
        [codec_lm.seconds=6]

Reads ``D/text`` (the condition; without text the LM must be unconditional and ``D`` lists
utterances in ``utt2spk``; a data dir of captions needs nothing else: no audio) and, for a
model trained with prompts, ``D/utt2prompt``: per
utterance a recording (``.wav``/``.flac``; encoded by the codec, the first
``codec_lm.prompt_seconds`` used, resampled to the codec's rate with one message), a ``.npy``
of codes, or an utterance id of ``D/codes.scp``. Writes in O:

- ``codes/<utt>.npy`` (int16 ``[n_q, frames]``) and ``codes.scp``: a token data dir that the
  codec's ``codec.mode=decode`` also reads;
- ``hit_max``: the utterances that reached ``codec_lm.max_frames`` before their end and were
  cut there (also a warning; the file is absent when none did);
- ``empty``: the utterances whose eos came before any frame (also a warning; no audio);
- with ``codec_exp_dir``: ``wav/<utt>.wav`` and ``wav.scp`` decoded by the codec;
- ``unknown_words``: per utterance, the words of its text outside a word-level LM's
  vocabulary (``data.text_unit=word``), which were generated from as ``<unk>`` (also a
  warning and a count in ``generation.json``; absent when there were none). An unseen
  character of a character-level LM is an error naming the utterance;
- ``generation.json``: settings, counts, seconds.

Length: up to eos (at most ``max_frames``), or exactly ``num_frames`` frames, or
``seconds`` of audio (``round(seconds x the codec's frame rate)`` frames; needs
``codec_exp_dir``). A fixed length above ``max_frames`` (the model's context) is generated in
windows of ``max_frames`` frames, each after the first keeping the last ``max_frames -
extend_stride`` frames of the one before and adding ``extend_stride`` (default half the window;
MusicGen's extension); VALL-E's AR stage refuses it with the numbers.

A VALL-E AR experiment (pattern ``valle``) generates codebook 0; ``nar_exp_dir`` fills the
others. Codes of another codec (codebook count or size) are an error naming the utterance.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from audiokit.data.audio import load_audio
from audiokit.data.datadir import DataDirError, read_kaldi_map, write_kaldi_map
from audiokit.data.text_units import TextUnits
from audiokit.data.token_datamodule import load_codes
from audiokit.inference.progress import InferenceProgress, save_npy
from audiokit.models.codec_lm import CodecNAR, generate, generate_windowed
from audiokit.utils.errors import UserError

log = logging.getLogger(__name__)

OPTIONS = {"codec_exp_dir": None, "nar_exp_dir": None, "temperature": 1.0, "top_k": 0,
           "top_p": 1.0, "guidance": None, "max_frames": 500, "num_frames": None,
           "prompt_seconds": 3.0, "min_prompt_seconds": 0.5, "seed": 0, "batch_size": 8,
           "seconds": None, "extend_stride": None}
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def seconds_to_frames(seconds: float, frame_rate: float) -> int:
    """Codec frames for ``seconds`` of audio at ``frame_rate`` frames/s (nearest whole)."""
    return int(round(seconds * frame_rate))


class CodecLMGenerator:
    """Generation with a trained codec LM exp dir (see the module doc)."""

    def __init__(self, task, sample_rate: int = 0, device: str = "cpu",
                 codec_lm: dict | None = None) -> None:
        unknown = sorted(set(codec_lm or {}) - set(OPTIONS))
        if unknown:
            raise UserError(f"unknown codec_lm option(s) {unknown}; valid: {sorted(OPTIONS)}")
        self.opts = OPTIONS | dict(codec_lm or {})
        if isinstance(task.model, CodecNAR):
            raise UserError("this experiment is VALL-E's NAR stage: give it as "
                            "codec_lm.nar_exp_dir= of the AR experiment")
        self.task, self.device = task.to(device).eval(), device
        self.lm = task.model
        self.vocab = list(task.text_vocab or [])
        self.units = TextUnits(self.vocab, getattr(task, "text_unit", "char"))
        self.unknown: dict[str, list[str]] = {}  # utterance -> its words mapped to <unk>
        self.codec = self.nar = None
        if self.opts["codec_exp_dir"]:
            from audiokit.inference.codec import Codec

            self.codec = Codec.from_exp_dir(self.opts["codec_exp_dir"], device, n_q=task.n_q)
            if self.codec.model.codebook_size != task.codebook_size:
                raise UserError(f"{self.opts['codec_exp_dir']}: codebooks of "
                                f"{self.codec.model.codebook_size}, the LM's of "
                                f"{task.codebook_size}: tokens of another codec")
        if self.opts["nar_exp_dir"]:
            from audiokit.inference.loading import load_task

            nar_task, _ = load_task(self.opts["nar_exp_dir"], device)
            if not isinstance(nar_task.model, CodecNAR):
                raise UserError(f"{self.opts['nar_exp_dir']}: not a VALL-E NAR experiment")
            if (nar_task.n_q, nar_task.codebook_size) != (task.n_q, task.codebook_size):
                raise UserError(f"{self.opts['nar_exp_dir']}: {nar_task.n_q} codebooks of "
                                f"{nar_task.codebook_size}, the AR LM's {task.n_q} of "
                                f"{task.codebook_size}")
            self.nar = nar_task.model
        if self.lm.pattern.ar_rows() != list(range(task.n_q)) and self.nar is None:
            log.warning("a VALL-E AR model without codec_lm.nar_exp_dir: only codebook 0 is "
                        "generated, the others are written as zeros")
        self._resample_said = False
        self.num_frames: int | None = None

    def _fixed_frames(self) -> int | None:
        """Frames per utterance from ``num_frames`` or ``seconds`` (None: up to eos)."""
        o = self.opts
        if o["num_frames"] is not None and o["seconds"] is not None:
            raise UserError("give codec_lm.num_frames or codec_lm.seconds, not both")
        frames = o["num_frames"]
        if o["seconds"] is not None:
            if self.codec is None:
                raise UserError("codec_lm.seconds needs codec_lm.codec_exp_dir (its frame rate "
                                "turns seconds into frames); or give codec_lm.num_frames")
            frames = seconds_to_frames(float(o["seconds"]), self.codec.model.frame_rate)
        if frames is None:
            return None
        frames = int(frames)
        if frames < 1:
            raise UserError(f"codec_lm.num_frames/seconds give {frames} frames: ask for at least 1")
        if frames > int(o["max_frames"]) and not self._windowed():
            what = (f"codec_lm.seconds={o['seconds']} is {frames} frames" if o["seconds"]
                    is not None else f"codec_lm.num_frames={frames}")
            raise UserError(f"{what}, more than codec_lm.max_frames={o['max_frames']} (the "
                            "longest generation allowed; VALL-E's AR stage does not extend in "
                            "windows): ask for less or raise max_frames")
        if frames > int(o["max_frames"]):
            self._stride()  # a bad stride fails before any generation
        return frames

    def _windowed(self) -> bool:
        """Whether lengths past ``max_frames`` can be generated in windows: an LM that
        generates every codebook (VALL-E's AR stage has the NAR fill the rest)."""
        return self.lm.pattern.ar_rows() == list(range(self.task.n_q))

    def _extends(self) -> bool:
        """Whether this run's fixed length is past the context (generated in windows)."""
        return self.num_frames is not None and self.num_frames > int(self.opts["max_frames"])

    def _stride(self) -> int:
        window = int(self.opts["max_frames"])
        stride = int(self.opts["extend_stride"] or max(window // 2, 1))
        if not 0 < stride <= window:
            raise UserError(f"codec_lm.extend_stride={stride}: give 1 to codec_lm.max_frames "
                            f"({window}) frames")
        return stride

    # ---- inputs ----------------------------------------------------------------------------
    def _text(self, utt: str, text: str) -> torch.Tensor:
        ids, unknown = self.units.encode(text)
        if unknown and self.units.unit == "char":
            raise DataDirError(f"text of utterance '{utt}': characters {sorted(set(unknown))} "
                               "the model was not trained on")
        if unknown:
            self.unknown[utt] = unknown
        return torch.tensor(ids, dtype=torch.long)

    def _prompt(self, utt: str, source: str, codes_scp: dict[str, str]) -> torch.Tensor:
        where = f"utterance '{utt}' (utt2prompt)"
        if source in codes_scp:
            return torch.from_numpy(load_codes(codes_scp[source], source, self.task.n_q,
                                               self.task.codebook_size, where))
        if source.endswith(".npy"):
            return torch.from_numpy(load_codes(source, utt, self.task.n_q,
                                               self.task.codebook_size, where))
        if not source.endswith(AUDIO_SUFFIXES):
            raise DataDirError(f"{where}: {source!r} is neither an utterance of codes.scp nor "
                               "a .npy of codes nor an audio file")
        if self.codec is None:
            raise UserError(f"{where}: a recording as prompt needs codec_lm.codec_exp_dir")
        sr = self.codec.sample_rate
        info = sf.info(source)
        if info.samplerate != sr and not self._resample_said:
            log.info("prompts at %d Hz are resampled to the codec's %d Hz", info.samplerate, sr)
            self._resample_said = True
        wav = load_audio(source, sr, utt=utt)[: int(self.opts["prompt_seconds"] * sr)]
        if len(wav) < self.opts["min_prompt_seconds"] * sr:
            raise DataDirError(f"{where}: prompt {source} lasts {len(wav) / sr:.2f} s, less than "
                               f"codec_lm.min_prompt_seconds={self.opts['min_prompt_seconds']}")
        return self.codec.encode(wav)

    # ---- the data dir ----------------------------------------------------------------------
    def process_data_dir(self, data_dir: str, output_dir: str, progress: InferenceProgress | None = None,
                         **_options) -> dict[str, str]:
        """See the module doc. With ``progress`` (audiokit-infer's journal) a run that stopped
        part way continues: the batches generated are kept, each with the sampling generator's
        state after it, so the rest draw what one uninterrupted run would; the decoding to
        audio (fast next to generation) is redone."""
        progress = progress or InferenceProgress.memory_only(output_dir)
        src, out = Path(data_dir), Path(output_dir)
        texts = read_kaldi_map(src / "text", allow_empty_value=True) \
            if (src / "text").is_file() else None
        if texts is None and self.vocab:
            raise DataDirError(f"{src}: no text file (this LM is conditioned on text)")
        utts = list(texts) if texts is not None else list(read_kaldi_map(src / "utt2spk"))
        prompts = None
        if (src / "utt2prompt").is_file():
            pairs = read_kaldi_map(src / "utt2prompt")
            codes_scp = read_kaldi_map(src / "codes.scp") if (src / "codes.scp").is_file() else {}
            missing = [u for u in utts if u not in pairs]
            if missing:
                raise DataDirError(f"{src}/utt2prompt: no prompt for {missing[:5]}")
            prompts = {u: self._prompt(u, pairs[u], codes_scp) for u in utts}
        self.num_frames, self.unknown = self._fixed_frames(), {}
        if texts is not None and self.vocab:  # every text read up front: bad ones fail early
            for u in utts:
                self._text(u, texts[u])
        (out / "codes").mkdir(parents=True, exist_ok=True)
        g = torch.Generator(device=self.device).manual_seed(int(self.opts["seed"]))
        todo, start = set(progress.begin(utts)), time.perf_counter()
        bs = int(self.opts["batch_size"])
        for i in range(0, len(utts), bs):
            chunk = utts[i: i + bs]
            if not todo.intersection(chunk):
                continue
            before = progress.state_after(utts[i - 1]) if i else None
            if before is not None:  # the batch before was generated by an earlier run
                g.set_state(torch.frombuffer(bytearray(base64.b64decode(before)), dtype=torch.uint8))
            generated = self._generate(chunk, texts, prompts, g)
            paths = {utt: save_npy(out / "codes" / f"{utt}.npy", codes.cpu().numpy().astype(np.int16))
                     for utt, codes in zip(chunk, generated.codes, strict=True)}
            progress.record({utt: [paths[utt], bool(cut)] for utt, cut in
                             zip(chunk, generated.hit_max, strict=True)},
                            files={utt: [p] for utt, p in paths.items()},
                            state=base64.b64encode(g.get_state().numpy().tobytes()).decode())
        codes_scp_out = {u: progress.results[u][0] for u in utts}
        hit = [u for u in utts if progress.results[u][1]]
        write_kaldi_map(out / "codes.scp", codes_scp_out)
        if texts is not None:
            write_kaldi_map(out / "text", {u: texts[u] for u in utts})
        (out / "hit_max").unlink(missing_ok=True)
        if hit:
            (out / "hit_max").write_text("".join(f"{u}\n" for u in hit))
        seconds = time.perf_counter() - start
        unknown_words = self._report_unknown(out, len(utts))
        empty = [u for u in utts if np.load(codes_scp_out[u], allow_pickle=False).shape[1] == 0]
        (out / "empty").unlink(missing_ok=True)
        if empty:  # ended before its first frame: no audio to decode
            (out / "empty").write_text("".join(f"{u}\n" for u in empty))
            log.warning("%d of %d utterances ended before their first frame (no audio, listed "
                        "in %s): %s", len(empty), len(utts), out / "empty", ", ".join(empty))
        if self.codec is not None:
            self._decode(out, codes_scp_out, set(empty))
        summary = {"num_utts": len(utts), "hit_max": len(hit), "empty": len(empty),
                   "num_frames": self.num_frames, "unknown_words": unknown_words,
                   "extend_stride": self._stride() if self._extends() else None,
                   "utts_with_unknown_words": len(self.unknown),
                   "generate_seconds": round(seconds, 3),
                   "options": {k: v for k, v in self.opts.items() if k not in ("codec_exp_dir",)}}
        (out / "generation.json").write_text(json.dumps(summary, indent=2) + "\n")
        progress.finish()
        return {}

    def _report_unknown(self, out: Path, num_utts: int) -> int:
        """``O/unknown_words`` and a warning: the words generated from as ``<unk>``."""
        (out / "unknown_words").unlink(missing_ok=True)
        if not self.unknown:
            return 0
        count = sum(len(w) for w in self.unknown.values())
        write_kaldi_map(out / "unknown_words", {u: " ".join(w) for u, w in self.unknown.items()})
        words = sorted({w for ws in self.unknown.values() for w in ws})
        log.warning("%d word(s) in %d of %d texts are not in the LM's vocabulary and were "
                    "generated from as <unk> (listed in %s): %s", count, len(self.unknown),
                    num_utts, out / "unknown_words", ", ".join(words))
        return count

    def _decode(self, out: Path, codes_scp: dict[str, str], empty: set[str]) -> None:
        """``O/wav/<utt>.wav`` + ``O/wav.scp`` through the codec (empty generations left out)."""
        (out / "wav").mkdir(exist_ok=True)
        wav_scp = {}
        for utt, path in codes_scp.items():
            if utt not in empty:
                wav = self.codec.decode(np.load(path, allow_pickle=False).astype(np.int64), utt)
                wav_scp[utt] = self.codec._write_wav(out / "wav", utt, wav)
        write_kaldi_map(out / "wav.scp", wav_scp)

    def _generate(self, chunk: list[str], texts, prompts, g: torch.Generator):
        dev, lm = self.device, self.lm
        kw: dict = {"ids": chunk, "batch_size": len(chunk)}
        if texts is not None and self.vocab:
            tokens = [self._text(u, texts[u]) for u in chunk]
            lens = torch.tensor([len(t) for t in tokens], device=dev)
            text = torch.zeros(len(chunk), max(int(lens.max()), 1), dtype=torch.long, device=dev)
            for j, t in enumerate(tokens):
                text[j, : len(t)] = t
            kw |= {"text": text, "text_lens": lens}
        if prompts is not None:
            ps = [prompts[u] for u in chunk]
            plens = torch.tensor([p.shape[1] for p in ps], device=dev)
            prompt = torch.zeros(len(chunk), self.task.n_q, int(plens.max()), dtype=torch.long,
                                 device=dev)
            for j, p in enumerate(ps):
                prompt[j, :, : p.shape[1]] = p
            kw |= {"prompt": prompt, "prompt_lens": plens}
        o = self.opts
        sampling = {"temperature": float(o["temperature"]), "top_k": int(o["top_k"]),
                    "top_p": float(o["top_p"]), "guidance": o["guidance"], "generator": g}
        if self._extends():
            return generate_windowed(lm, num_frames=self.num_frames, window=int(o["max_frames"]),
                                     stride=self._stride(), **sampling, **kw)
        generated = generate(lm, max_frames=int(o["max_frames"]), num_frames=self.num_frames,
                             **sampling, **kw)
        rows = lm.pattern.ar_rows()
        if rows == list(range(self.task.n_q)):
            return generated
        # VALL-E: codebook 0 from the AR model, the rest from the NAR model (or zeros)
        full = []
        for j, first in enumerate(generated.codes):
            frames = first.shape[1]
            codes = torch.zeros(self.task.n_q, frames, dtype=torch.long, device=dev)
            codes[0] = first[0]
            if self.nar is not None and frames:
                one = {k: (v[j: j + 1] if torch.is_tensor(v) else v) for k, v in kw.items()
                       if k in ("text", "text_lens", "prompt", "prompt_lens")}
                if "text" in one:
                    one["text"] = one["text"][:, : int(one["text_lens"][0])]
                codes = self.nar.fill(first[:1], torch.tensor([frames], device=dev), **one)[0]
            full.append(codes)
        generated.codes = full
        return generated
