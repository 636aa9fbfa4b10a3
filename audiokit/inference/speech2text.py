"""Transcribe audio with a trained ASR experiment (ESPnet's ``Speech2Text``, from an exp dir).

    s2t = Speech2Text.from_exp_dir("exp/fsdd_conformer", decoding={"beam": 10})
    s2t(waveform)                      # -> "three one four"
    s2t.process_data_dir("data/test", "out")   # out/text, out/nbest

Decoding modes: ``ctc_greedy``, ``ctc_beam`` (CTC prefix beam search), ``attention``
(attention beam search) and ``joint`` (batched joint CTC/attention beam search), each with
optional shallow fusion of a Transformer LM trained by audiokit-train (``lm_exp_dir``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from audiokit.data.datadir import write_kaldi_map
from audiokit.decoding import JointBeamSearch, ctc_greedy, ctc_prefix_beam_search
from audiokit.inference.batches import inference_batches
from audiokit.inference.loading import load_task
from audiokit.inference.progress import InferenceProgress
from audiokit.inference.waveform import check_kind, prepare_waveform

MODES = ("ctc_greedy", "ctc_beam", "attention", "joint")
DEFAULTS = {"mode": "joint", "beam": 10, "ctc_weight": 0.3, "lm_weight": 0.0,
            "length_bonus": 0.0, "max_len_ratio": 0.0, "nbest": 1}


@dataclass
class Transcript:
    text: str
    tokens: list[int]
    score: float


class Speech2Text:
    """Waveform (or a whole data dir) -> text with the experiment's model and tokenizer.

    Search settings come from the model's ``task.decoding`` (set at training time), updated
    by ``decoding``; unknown keys or modes the model cannot run are errors.
    """

    def __init__(self, task, sample_rate: int, device: str = "cpu", decoding: dict | None = None,
                 lm_exp_dir: str | None = None) -> None:
        self.task, self.sample_rate, self.device = task, sample_rate, device
        self.tokenizer = task.tokenizer
        options = {**DEFAULTS, **task.decoding, **(decoding or {})}
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise ValueError(f"unknown decoding option(s) {unknown}; known: {sorted(DEFAULTS)}")
        if options["mode"] not in MODES:
            raise ValueError(f"decoding.mode must be one of {MODES}, got {options['mode']!r}")
        if options["mode"] in ("attention", "joint") and task.model.decoder is None:
            raise ValueError(f"decoding.mode={options['mode']} needs an attention decoder, and "
                             "this model is CTC-only: use ctc_greedy or ctc_beam")
        if options["mode"] == "attention":
            options["ctc_weight"] = 0.0
        self.options = options
        self.lm = None
        if lm_exp_dir:
            lm_task, _ = load_task(lm_exp_dir, device)
            if lm_task.tokenizer.tokens != self.tokenizer.tokens:
                raise ValueError(f"{lm_exp_dir}: the LM's token list differs from the ASR model's")
            self.lm = lm_task.model
        elif options["lm_weight"]:
            raise ValueError("decoding.lm_weight > 0 needs lm_exp_dir=<an LM experiment>")

    @classmethod
    def from_exp_dir(cls, exp_dir: str | Path, device: str = "cpu", **kwargs) -> Speech2Text:
        task, cfg = load_task(exp_dir, device)
        check_kind(task, cls, exp_dir)
        return cls(task, int(cfg.data.sample_rate), device, **kwargs)

    @torch.inference_mode()
    def transcribe_batch(self, audio: torch.Tensor, audio_lens: torch.Tensor) -> list[list[Transcript]]:
        """n-best transcripts per utterance of a padded batch ``[B, T]`` at ``sample_rate``."""
        o, tok, model = self.options, self.tokenizer, self.task.model
        feats, lens = self.task.frontend(audio.to(self.device), audio_lens.to(self.device))
        too_short = lens < model.min_input_frames
        lens = lens.clamp(min=model.min_input_frames)  # too short: decoded as empty below
        if feats.size(1) < model.min_input_frames:
            feats = torch.nn.functional.pad(feats, (0, 0, 0, model.min_input_frames - feats.size(1)))
        enc = model.encode(feats, lens)
        if o["mode"] == "ctc_greedy":
            results = [[Transcript(tok.decode(h), h, 0.0)]
                       for h in ctc_greedy(enc.ctc_log_probs, enc.lens, blank=tok.blank_id)]
        elif o["mode"] == "ctc_beam" and self.lm is None:
            nbest = ctc_prefix_beam_search(enc.ctc_log_probs, enc.lens, beam=o["beam"],
                                           blank=tok.blank_id, nbest=o["nbest"])
            results = [[Transcript(tok.decode(h), list(h), float(s)) for h, s in hyps]
                       for hyps in nbest]
        else:  # attention, joint, or CTC prefix search with an LM: the joint search
            ctc_weight = 1.0 if o["mode"] == "ctc_beam" else o["ctc_weight"]
            search = JointBeamSearch(
                tok.vocab_size, beam=o["beam"], ctc_weight=ctc_weight, lm_weight=o["lm_weight"],
                length_bonus=o["length_bonus"], max_len_ratio=o["max_len_ratio"],
                nbest=o["nbest"], sos_id=tok.sos_id, blank_id=tok.blank_id)
            nbest = search(enc.hidden, enc.lens, ctc_log_probs=enc.ctc_log_probs,
                           decoder=model.decoder, lm=self.lm)
            results = [[Transcript(tok.decode(h.tokens), list(h.tokens), float(h.score))
                        for h in hyps] for hyps in nbest]
        for i in too_short.nonzero().squeeze(1).tolist():
            results[i] = [Transcript("", [], float("-inf"))]
        return results

    def __call__(self, waveform, sample_rate: int | None = None) -> str:
        """Transcribe one recording: numpy or torch, ``[T]`` or ``[channels, T]``, any float
        dtype, at ``sample_rate`` (default: the model's), or a file path."""
        waveform = prepare_waveform(waveform, self.sample_rate, sample_rate)
        return self.transcribe_batch(waveform[None], torch.tensor([waveform.shape[-1]]))[0][0].text

    def process_data_dir(self, data_dir: str, output_dir: str, progress: InferenceProgress | None = None,
                         **batch_options) -> dict[str, str]:
        """Write ``output_dir/text`` (best hypothesis) and ``output_dir/nbest``
        (``utt rank score text``) for any data dir; returns utterances skipped for bad audio.
        With ``progress`` (audiokit-infer's journal) a run that stopped part way continues."""
        progress = progress or InferenceProgress.memory_only(output_dir)
        batches, skipped = inference_batches(data_dir, self.sample_rate, progress=progress,
                                             **batch_options)
        for batch in batches:
            results = {}
            for utt, hyps in zip(batch["ids"], self.transcribe_batch(batch["audio"], batch["audio_lens"]),
                                 strict=True):
                results[utt] = {"text": hyps[0].text,
                                "nbest": [f"{utt} {rank} {h.score:.4f} {h.text}".rstrip()
                                          for rank, h in enumerate(hyps, start=1)]}
            progress.record(results)
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_kaldi_map(out / "text", {u: r["text"] for u, r in progress.results.items()})
        nbest_lines = sorted(line for r in progress.results.values() for line in r["nbest"])
        (out / "nbest").write_text("".join(f"{line}\n" for line in nbest_lines), encoding="utf-8")
        if skipped:
            write_kaldi_map(out / "skipped", skipped)
        progress.finish()
        return skipped
