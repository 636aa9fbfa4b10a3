"""Speak text with a trained TTS experiment: Tacotron 2 with a vocoder, or VITS alone.

    tts = Text2Speech.from_exp_dir("exp/fsdd_tacotron2", vocoder_exp_dir="exp/fsdd_hifigan")
    wav = tts("three one four")                 # 1-D float tensor at tts.sample_rate
    tts.process_data_dir("data/test", "out")    # reads data/test/text -> out/wav.scp

Tacotron 2: without ``vocoder_exp_dir`` the frames are turned into audio by Griffin-Lim
(torchaudio) from the TTS experiment's own frontend. A vocoder experiment must use the same
features (sample rate, mel filterbank, window, hop, normalisation): a mismatch is an error
naming the key.

VITS (:class:`~audiokit.tasks.vits.VITSTask`) makes the waveform itself: no vocoder (giving
one is an error). Options ``tts.noise_scale`` (prior noise), ``tts.noise_scale_w``
(duration noise) and ``tts.length_scale`` (slower > 1) apply to it. A multi-speaker model
speaks each utterance with the voice ``D/utt2spk`` names (``tts(text, speaker=...)`` in
Python); a speaker it does not know, or none, is an error listing the known ones. A
single-speaker model has one voice and reads no ``utt2spk``. VITS has no attention, so its
``attention_failures`` lines are all ``0 -``.

Text: cleaned and tokenised by the model's own text front end; an empty text or symbols
outside its token list are errors naming the utterance. A text longer than
``max_symbols`` (default: the longest training text times 1.5, at least 20 symbols) is said
sentence by sentence (then clause by clause, then in runs of words), the pieces joined with
``pause_seconds`` of silence; a single word longer than the limit is refused. Each decoder
run is bounded by the task's length guard, so no text loops forever.

``process_data_dir`` writes ``O/wav/<utt>.wav``, ``O/wav.scp``, ``O/attention_failures``
(per utterance: the number of failed pieces and which failures: skip, repeat, no_stop; see
:mod:`audiokit.models.tts.attention_failures`) and ``O/rtf.json`` (synthesis real-time factor,
batch 1). Utterances whose text cannot be spoken are an error naming them all, or, with
``on_bad_text="skip"``, listed in ``O/skipped``.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from audiokit.data.datadir import read_kaldi_map, write_kaldi_map
from audiokit.inference.loading import load_task
from audiokit.inference.progress import InferenceProgress, write_wav
from audiokit.inference.waveform import check_kind
from audiokit.models.tts.attention_failures import AttentionFailures, detect_attention_failures
from audiokit.text.tts_frontend import split_text
from audiokit.utils.errors import UserError

LONG_TEXT_FACTOR = 1.5
MIN_MAX_SYMBOLS = 20
TTS_OPTIONS = {"max_symbols": None, "pause_seconds": 0.2, "on_bad_text": "error", "seed": 0,
               "noise_scale": 0.667, "noise_scale_w": 0.8, "length_scale": 1.0}  # the last 3: VITS
VITS_OPTIONS = ("noise_scale", "noise_scale_w", "length_scale")
MIN_FRAMES = 4  # Griffin-Lim's inverse STFT needs a few frames
# frontend settings that must agree between the TTS model and its vocoder
FEATURE_KEYS = ("sample_rate", "n_mels", "win_ms", "hop_ms", "n_fft", "f_min", "f_max", "utterance_cmn")


@dataclass
class Synthesis:
    audio: torch.Tensor                      # [T] at the model's sample rate
    features: torch.Tensor                   # [frames, n_mels] (the frontend's units)
    attentions: list[torch.Tensor] = field(default_factory=list)  # one [steps, N] per piece
    failures: list[AttentionFailures] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)

    @property
    def failed_pieces(self) -> int:
        return sum(f.any for f in self.failures)


def _frontend_settings(task) -> dict:
    """The feature settings a task was built with (its saved frontend config)."""
    front = dict(task.hparams.get("frontend") or {})
    return {k: front.get(k) for k in FEATURE_KEYS}


class Text2Speech:
    def __init__(self, task, sample_rate: int, device: str = "cpu",
                 vocoder_exp_dir: str | None = None, tts: dict | None = None) -> None:
        self.task, self.sample_rate, self.device = task, sample_rate, device
        self.text = task.text
        options = {**TTS_OPTIONS, **(tts or {})}
        unknown = sorted(set(options) - set(TTS_OPTIONS))
        if unknown:
            raise UserError(f"unknown tts option(s) {unknown}; known: {', '.join(TTS_OPTIONS)}")
        if options["on_bad_text"] not in ("error", "skip"):
            raise UserError(f"tts.on_bad_text must be error or skip, got {options['on_bad_text']!r}")
        longest = int(getattr(task, "max_text_symbols", 0) or 0)
        self.max_symbols = int(options["max_symbols"] or max(MIN_MAX_SYMBOLS, math.ceil(LONG_TEXT_FACTOR * longest)))
        self.pause_seconds = float(options["pause_seconds"])
        self.on_bad_text = options["on_bad_text"]
        self.seed = int(options["seed"])
        self.scales = {k: float(options[k]) for k in VITS_OPTIONS}
        self.vocoder_exp_dir = vocoder_exp_dir
        # an end-to-end model (VITS) makes the waveform itself
        self.end_to_end = hasattr(task, "synthesize_waveforms")
        if self.end_to_end:
            if vocoder_exp_dir is not None:
                raise UserError(f"vocoder_exp_dir={vocoder_exp_dir}: a {type(task).__name__} "
                                "experiment makes its own waveform (no vocoder)")
            self.vocoder_name = "none (end to end)"
            task.fold_weight_norm()  # inference only: weight norm is a training device
        else:
            self._build_vocoder(vocoder_exp_dir)

    @property
    def speakers(self) -> list[str]:
        """The voices of a multi-speaker model (empty for one voice)."""
        return list(self.task.speakers) if getattr(self.task, "multi_speaker", False) else []

    def _build_vocoder(self, vocoder_exp_dir: str | None) -> None:
        frontend = self.task.frontend
        if vocoder_exp_dir is None:
            from audiokit.models.vocoder.griffin_lim import GriffinLimVocoder

            griffin_lim = GriffinLimVocoder(frontend).to(self.device)
            cmvn = frontend.cmvn  # Griffin-Lim reads the raw log-mel: undo any normalisation
            self._vocode = lambda feats: griffin_lim((feats * cmvn.std + cmvn.mean)[None])[0]
            self.vocoder_name = "griffin_lim"
            return
        from audiokit.inference.vocode import Vocoder

        vocoder = Vocoder.from_exp_dir(vocoder_exp_dir, self.device)
        ours, theirs = _frontend_settings(self.task), _frontend_settings(vocoder.task)
        differ = [f"{k}: {ours[k]} here, {theirs[k]} in the vocoder" for k in FEATURE_KEYS
                  if ours.get(k) != theirs.get(k)]
        mine, its = frontend.cmvn, vocoder.task.frontend.cmvn
        if not (torch.equal(mine.mean.cpu(), its.mean.cpu()) and torch.equal(mine.std.cpu(), its.std.cpu())):
            differ.append("CMVN statistics differ")
        if differ:
            raise UserError(f"{vocoder_exp_dir}: the vocoder reads other features than this TTS "
                            f"model writes ({'; '.join(differ)})")
        self._vocode = lambda feats: vocoder(feats)
        self.vocoder_name = str(vocoder_exp_dir)

    @classmethod
    def from_exp_dir(cls, exp_dir: str | Path, device: str = "cpu", vocoder_exp_dir: str | None = None,
                     **kwargs) -> Text2Speech:
        task, cfg = load_task(exp_dir, device)
        check_kind(task, cls, exp_dir)
        return cls(task, int(cfg.data.sample_rate), device, vocoder_exp_dir, **kwargs)

    # -- one text -------------------------------------------------------------------------
    def pieces(self, text: str, utt: str = "text") -> list[str]:
        """The cleaned text cut to at most ``max_symbols`` per piece (sentences first)."""
        cleaned = self.text.clean(text)
        self.text.encode(text, utt)  # empty text, unknown symbols: named errors
        pieces = split_text(cleaned, self.max_symbols, lambda p: len(self.text.symbols(p)) + 1)
        long = [p for p in pieces if len(self.text.symbols(p)) + 1 > self.max_symbols]
        if long:
            raise UserError(f"{utt}: {long[0]!r:.60} is longer than {self.max_symbols} symbols "
                            "without a sentence, comma or word break to split it at")
        return pieces

    @torch.inference_mode()
    def synthesize(self, text: str, utt: str = "text", speaker: str | None = None) -> Synthesis:
        """The prenet's dropout (Tacotron 2, on at inference) and VITS's noise draw from a
        generator seeded by ``seed``, the utterance id and the text, so the same call gives
        the same audio. ``speaker``: the voice of a multi-speaker VITS."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(zlib.crc32(f"{self.seed} {utt} {text}".encode()))
            if self.end_to_end:
                return self._synthesize_end_to_end(text, utt, speaker)
            if speaker is not None:
                raise UserError(f"{utt}: a {type(self.task).__name__} experiment has one voice; "
                                f"no speaker can be chosen (got {speaker!r})")
            return self._synthesize(text, utt)

    def _synthesize_end_to_end(self, text: str, utt: str, speaker: str | None) -> Synthesis:
        self.task.speaker_index(speaker, utt)  # an unknown speaker: named error before any work
        pieces, audio = self.pieces(text, utt), []
        pause = torch.zeros(int(self.pause_seconds * self.sample_rate))
        for k, piece in enumerate(pieces):
            ids = torch.tensor(self.text.encode(piece, utt), device=self.device)
            wav = self.task.synthesize_waveforms([ids], [speaker], utts=[utt], **self.scales)[0]
            audio += ([pause] if k else []) + [wav.float().cpu()]
        return Synthesis(torch.cat(audio), torch.empty(0), failures=[AttentionFailures() for _ in pieces],
                         pieces=pieces)

    def _synthesize(self, text: str, utt: str) -> Synthesis:
        feats, attentions, failures, pieces = [], [], [], self.pieces(text, utt)
        for piece in pieces:
            ids = torch.tensor(self.text.encode(piece, utt), device=self.device)
            frames, attention, stopped = self.task.synthesize(ids)
            feats.append(frames)
            attentions.append(attention.cpu())
            failures.append(detect_attention_failures(attention, stopped))
        audio = []
        pause = torch.zeros(int(self.pause_seconds * self.sample_rate))
        for k, f in enumerate(feats):
            if k:
                audio.append(pause)
            if f.size(0) < MIN_FRAMES:  # a decoder that stopped at once: pad with its quietest
                f = torch.cat([f, f.min().expand(MIN_FRAMES - f.size(0), f.size(1))])
            audio.append(self._vocode(f).float().cpu())
        return Synthesis(torch.cat(audio), torch.cat(feats).cpu(), attentions, failures, pieces)

    def __call__(self, text: str, speaker: str | None = None) -> torch.Tensor:
        """Text -> waveform [T] (float, ``sample_rate``); ``speaker`` for a multi-speaker VITS."""
        if not isinstance(text, str):
            raise UserError(f"Text2Speech: expected text (str), got {type(text).__name__}")
        try:
            return self.synthesize(text, speaker=speaker).audio
        except ValueError as e:
            raise UserError(str(e)) from None

    # -- a data dir -----------------------------------------------------------------------
    def _utt2spk(self, data_dir: Path, texts: dict[str, str]) -> dict[str, str]:
        """Each utterance's voice for a multi-speaker model (``D/utt2spk``); {} otherwise.
        Missing or unknown speakers are one error listing the known ones."""
        if not self.speakers:
            return {}
        path = data_dir / "utt2spk"
        known = ", ".join(self.speakers)
        if not path.is_file():
            raise UserError(f"{data_dir}: no utt2spk; this VITS model has {len(self.speakers)} "
                            f"voices and needs one per utterance (known: {known})")
        utt2spk = read_kaldi_map(path)
        missing = [u for u in texts if u not in utt2spk]
        if missing:
            raise UserError(f"{path}: no speaker for {len(missing)} utterance(s), e.g. {missing[0]}")
        unknown = sorted({s for u, s in utt2spk.items() if u in texts and s not in self.speakers})
        if unknown:
            raise UserError(f"{path}: unknown speaker(s) {', '.join(unknown)} (known: {known})")
        return utt2spk

    def process_data_dir(self, data_dir: str, output_dir: str, progress: InferenceProgress | None = None,
                         **_options) -> dict[str, str]:
        """Speak ``data_dir/text`` into ``output_dir`` (see the module's docstring); each wav
        is written whole or not at all. With ``progress`` (audiokit-infer's journal) a run that
        stopped part way continues; rtf.json then sums the compute time of both runs."""
        progress = progress or InferenceProgress.memory_only(output_dir)
        text_file = Path(data_dir) / "text"
        if not text_file.is_file():
            raise UserError(f"{data_dir}: no text file (a TTS experiment speaks D/text)")
        texts = read_kaldi_map(text_file, allow_empty_value=True)
        utt2spk = self._utt2spk(Path(data_dir), texts)
        bad = {}
        for utt, t in texts.items():
            try:
                self.pieces(t, utt)
            except (ValueError, UserError) as e:
                bad[utt] = str(e).split(": ", 1)[-1]
        if bad and self.on_bad_text == "error":
            listed = "\n  ".join(f"{u}: {why}" for u, why in list(bad.items())[:20])
            raise UserError(f"{text_file}: {len(bad)} text(s) cannot be spoken (tts.on_bad_text=skip "
                            f"leaves them out):\n  {listed}")
        out = Path(output_dir)
        (out / "wav").mkdir(parents=True, exist_ok=True)
        for utt in progress.begin([u for u in texts if u not in bad]):
            start = time.perf_counter()
            result = self.synthesize(texts[utt], utt, utt2spk.get(utt))
            compute = time.perf_counter() - start
            path = write_wav(out / "wav" / f"{utt}.wav", result.audio.clamp(-1, 1).numpy(),
                             self.sample_rate)
            names = sorted({n for f in result.failures for n in f.names()})
            progress.record({utt: [path, f"{result.failed_pieces} {','.join(names) or '-'}", compute,
                                   result.audio.numel() / self.sample_rate]}, files={utt: [path]})
        results = progress.results
        scp = {u: r[0] for u, r in results.items()}
        fails = {u: r[1] for u, r in results.items()}
        compute = sum(r[2] for r in results.values())
        seconds = sum(r[3] for r in results.values())
        write_kaldi_map(out / "wav.scp", scp)
        write_kaldi_map(out / "attention_failures", fails)
        failed = sum(1 for v in fails.values() if not v.startswith("0 "))
        rtf = {"rtf": compute / max(seconds, 1e-9), "compute_seconds": round(compute, 3),
               "audio_seconds": round(seconds, 3), "num_utts": len(scp), "batch_size": 1,
               "vocoder": self.vocoder_name, "device": self.device,
               "threads": torch.get_num_threads(), "utts_with_attention_failures": failed}
        (out / "rtf.json").write_text(json.dumps(rtf, indent=2) + "\n")
        print(f"Text2Speech: {len(scp)} utterance(s) -> {out}/wav.scp; attention failures in "
              f"{failed} (listed in {out}/attention_failures)")
        if bad:
            write_kaldi_map(out / "skipped", bad)
        progress.finish()
        return bad
