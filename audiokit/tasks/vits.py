"""VITS training through the GAN task: text + recording -> waveform, one model.

:class:`VITSTask` is a :class:`~audiokit.tasks.gan.GANTask` whose generator
(:class:`~audiokit.models.tts.vits.VITS`) is called on the batch's text (tokens of the text
front end the data module built, as for Tacotron 2), the frontend's log-mel of the
recording (what the posterior encoder reads; the project's
:class:`~audiokit.frontends.LogMel`), the waveform those frames cover and, for a
multi-speaker model, the speaker ids. The generator decodes a random window of each
utterance and returns it with the matching window of the recording as ``"target"`` (the
GAN task's contract), plus its own losses ``kl`` and ``dur``; the GAN task adds the mel L1
(``loss``), adversarial and feature-matching losses, weighted by ``loss_weights``.

``speakers`` (from the data module with ``data.with_speakers``) names the speakers in
embedding order; a model with one speaker (or none named) has no speaker table.

Validation (a fixed seed, so epochs compare): the same losses on the validation batches,
logged as ``valid/loss_*`` and their weighted sum ``valid/loss`` (without the adversarial
terms, which measure the discriminator as much as the generator); a few validation texts
are synthesised to ``exp_dir/samples`` (or the logger).

Synthesis: :meth:`VITSTask.synthesize_waveforms` (batched, padded) with the noise scales and
length scale of VITS, bounded by the same length guard as Tacotron 2 (twice the slowest
training rate of seconds per symbol).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from audiokit.data.collate import pad_sequences
from audiokit.data.segments import crop_or_pad
from audiokit.tasks.gan import GANTask
from audiokit.text.tts_frontend import TextFrontend
from audiokit.utils.errors import UserError

GUARD_FACTOR = 2.0
VALID_SEED = 1234


class VITSTask(GANTask):
    inference = "audiokit.inference.text2speech.Text2Speech"

    def __init__(self, sample_rate: int, text: dict, frontend: dict, model: dict, optim: dict,
                 discriminator: dict | None = None, loss: dict | None = None,
                 speakers: list[str] | None = None, max_text_symbols: int = 0,
                 max_seconds_per_symbol: float = 0.0, **gan) -> None:
        if frontend is None:
            raise ValueError("the VITS task needs a frontend (the log-mel its posterior encoder reads)")
        text_frontend = TextFrontend.from_spec(text)
        speakers = list(speakers or [])
        gan.setdefault("inference", self.inference)
        super().__init__(sample_rate, {**model, "vocab_size": text_frontend.vocab_size,
                                       "n_mels": frontend["n_mels"], "n_speakers": max(1, len(speakers))},
                         discriminator, optim, loss=loss, frontend=frontend, **gan)
        self.text = text_frontend
        self.speakers = speakers
        self.max_text_symbols = max_text_symbols
        self.max_seconds_per_symbol = max_seconds_per_symbol
        self._tokens: dict[str, list[int]] = {}

    @property
    def multi_speaker(self) -> bool:
        return len(self.speakers) > 1

    # -- batches --------------------------------------------------------------------------
    def encode(self, text: str, utt: str = "text") -> list[int]:
        if text not in self._tokens:  # phonemising is slow; training texts repeat
            self._tokens[text] = self.text.encode(text, utt)
        return self._tokens[text]

    def speaker_index(self, speaker: str | None, utt: str = "text") -> int | None:
        """The embedding row of ``speaker`` (None for a single-speaker model)."""
        if speaker is None:
            if self.multi_speaker:
                raise UserError(f"{utt}: this VITS model speaks with {len(self.speakers)} voices; "
                                f"name one (known: {', '.join(self.speakers)})")
            return None
        if speaker not in self.speakers:
            raise UserError(f"{utt}: unknown speaker {speaker!r} (known: {', '.join(self.speakers) or 'none'})")
        return self.speakers.index(speaker) if self.multi_speaker else None

    def _speaker_ids(self, names: list[str] | None, utts: list[str]) -> Tensor | None:
        if not self.multi_speaker:
            return None
        if names is None:
            raise UserError(f"{utts[0]}: a multi-speaker VITS trains on data dirs with utt2spk")
        return torch.tensor([self.speaker_index(s, u) for s, u in zip(names, utts, strict=True)],
                            device=self.device)

    def generator_output(self, batch: dict) -> tuple[dict, Tensor]:
        wav, lens = batch["audio"], batch["audio_lens"]
        with torch.no_grad(), torch.autocast(wav.device.type, enabled=False):
            self.frontend.eval()
            feats, feat_lens = self.frontend(wav.float(), lens)
        hop, win = self.frontend.hop_length, self.frontend.win_length
        target = crop_or_pad(wav[:, (win - hop) // 2:], feats.size(1) * hop)
        ids = [torch.tensor(self.encode(t, u)) for t, u in zip(batch["text"], batch["ids"], strict=True)]
        tokens, token_lens = pad_sequences(ids, pad_value=self.text.pad_id)
        speakers = self._speaker_ids(batch.get("speaker"), batch["ids"])
        out = self.generator(tokens.to(self.device), token_lens.to(self.device), feats,
                             feat_lens.to(self.device), target, speakers)
        return out, out["target"]

    # -- validation -----------------------------------------------------------------------
    def validation_step(self, batch: dict, batch_idx: int) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(VALID_SEED + batch_idx)
            out, target = self.generator_output(batch)
        fake = crop_or_pad(out["audio"], target.size(-1)).float()
        losses = {n: fn(fake, target.float()) for n, fn in self.recon_losses.items()}
        losses.update(out["losses"])
        size = target.size(0)
        total = sum(self.loss_weights[n] * v.float() for n, v in losses.items())
        for name, value in losses.items():
            self.log(f"valid/loss_{name}", value, batch_size=size, sync_dist=True)
        self.log("valid/loss", total, batch_size=size, sync_dist=True, prog_bar=True)
        self.log("valid/mel_distance", self.mel_distance(fake, target.float()), batch_size=size,
                 sync_dist=True)
        if batch_idx < self.num_val_audio and self._audio_due():
            utt = batch["ids"][0]
            speaker = batch["speaker"][0] if self.multi_speaker else None
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(VALID_SEED)
                wav = self.synthesize_waveforms([torch.tensor(self.encode(batch["text"][0], utt))],
                                                [speaker])[0]
            self._write_audio(utt, wav, batch["audio"][0])

    # -- synthesis ------------------------------------------------------------------------
    def max_frames(self, n_tokens: int) -> int | None:
        """The length guard: GUARD_FACTOR x the slowest training rate (seconds per symbol)."""
        if self.max_seconds_per_symbol <= 0:
            return None
        frames_per_second = self.sample_rate / self.frontend.hop_length
        return math.ceil(GUARD_FACTOR * self.max_seconds_per_symbol * frames_per_second * n_tokens) + 10

    def fold_weight_norm(self) -> None:
        """Synthesis only: fold the generator's weight norm into plain weights (faster); the
        task can no longer load a training checkpoint or be trained afterwards."""
        generator = self.generator_ema if self.ema_decay is not None else self.generator
        generator.remove_weight_norm()

    @torch.no_grad()
    def synthesize_waveforms(self, tokens: list[Tensor], speakers: list[str | None] | None = None,
                             noise_scale: float = 0.667, noise_scale_w: float = 0.8,
                             length_scale: float = 1.0, utts: list[str] | None = None) -> list[Tensor]:
        """Token id tensors (one per text) -> one waveform [T] each, synthesised as one
        padded batch. ``speakers``: one name per text (None: the single-speaker voice)."""
        utts = utts or [f"text {i}" for i in range(len(tokens))]
        speakers = speakers or [None] * len(tokens)
        ids = [self.speaker_index(s, u) for s, u in zip(speakers, utts, strict=True)]
        speaker_ids = torch.tensor(ids, device=self.device) if self.multi_speaker else None
        padded, lens = pad_sequences([t.cpu() for t in tokens], pad_value=self.text.pad_id)
        generator = self.generator_ema if self.ema_decay is not None else self.generator
        was_training = generator.training
        generator.eval()
        try:
            audio, audio_lens = generator.infer(
                padded.to(self.device), lens.to(self.device), speaker_ids, noise_scale=noise_scale,
                noise_scale_w=noise_scale_w, length_scale=length_scale,
                max_frames=self.max_frames(int(lens.max())))
        finally:
            generator.train(was_training)
        return [a[: int(n)].float() for a, n in zip(audio, audio_lens, strict=True)]
