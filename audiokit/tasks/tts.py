"""Text-to-speech training (Tacotron 2): text -> the frontend's log-mel frames.

The targets are the frontend's features of the recording (the project's
:class:`~audiokit.frontends.LogMel`, as the vocoders of ``recipes/fsdd/voc`` consume them),
normalised per mel bin inside the task: the mean and standard deviation come from the first
batch the task sees (the sanity check's validation batch, else the first training batch) and
are kept as buffers (so ``model.pt`` carries them and a resumed run keeps
them). Synthesis returns frames in the frontend's own units again.

The text front end (:class:`~audiokit.text.tts_frontend.TextFrontend` spec: cleaner, unit and
token list) is a hyperparameter, so ``model.pt`` alone can speak; so are the longest training
text (in symbols) and the most seconds per symbol in training, which set the decoder's length
guard at synthesis (:meth:`TTSTask.max_decoder_steps`).

Training: teacher forcing, loss from ``loss`` (:class:`~audiokit.losses.tacotron2.Tacotron2Loss`).
Validation: the same loss, plus free-running synthesis of the first ``num_val_plots``
utterances of the first batch, whose attention failures are counted
(``valid/attention_failures``) and whose attention matrices are drawn to
``exp_dir/attention/epochNNN_<utt>.png``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import Tensor

from audiokit.data.collate import pad_sequences
from audiokit.models.tts.attention_failures import detect_attention_failures
from audiokit.tasks.base import AudioTask
from audiokit.text.tts_frontend import TextFrontend

log = logging.getLogger(__name__)

MIN_STD = 1e-3
# the length guard allows this many times the slowest speaking rate seen in training
GUARD_FACTOR = 2.0


class TTSTask(AudioTask):
    inference = "audiokit.inference.text2speech.Text2Speech"

    def __init__(self, text: dict, frontend: dict, model: dict, loss: dict, optim: dict,
                 scheduler: dict | None = None, max_text_symbols: int = 0,
                 max_seconds_per_symbol: float = 0.0, num_val_plots: int = 3) -> None:
        super().__init__(frontend, optim, scheduler)
        self.save_hyperparameters()
        if self.frontend is None:
            raise ValueError("the TTS task needs a frontend (the log-mel its model predicts)")
        self.frontend.requires_grad_(False)
        self.text = TextFrontend.from_spec(text)
        n_mels = self.frontend.output_dim
        self.model = instantiate(model, vocab_size=self.text.vocab_size, n_mels=n_mels)
        self.loss_fn = instantiate(loss)
        self.max_text_symbols = max_text_symbols
        self.max_seconds_per_symbol = max_seconds_per_symbol
        self.num_val_plots = num_val_plots
        self.register_buffer("mel_mean", torch.zeros(n_mels))
        self.register_buffer("mel_std", torch.ones(n_mels))
        self.register_buffer("mel_stats_ready", torch.tensor(False))
        self._tokens: dict[str, list[int]] = {}

    # -- batches --------------------------------------------------------------------------
    def encode(self, text: str, utt: str = "text") -> list[int]:
        if text not in self._tokens:  # phonemising is slow; training texts repeat
            self._tokens[text] = self.text.encode(text, utt)
        return self._tokens[text]

    @torch.no_grad()
    def features(self, audio: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        """The frontend's features [B, T, n_mels] and their lengths (unnormalised)."""
        self.frontend.eval()
        return self.frontend(audio.float(), lens)

    def _set_stats(self, feats: Tensor, lens: Tensor) -> None:
        valid = torch.arange(feats.size(1), device=feats.device)[None, :] < lens[:, None]
        frames = feats[valid]
        self.mel_mean.copy_(frames.mean(0))
        self.mel_std.copy_(frames.std(0).clamp(min=MIN_STD))
        self.mel_stats_ready.fill_(True)

    def normalise(self, feats: Tensor) -> Tensor:
        return (feats - self.mel_mean) / self.mel_std

    def denormalise(self, frames: Tensor) -> Tensor:
        return frames * self.mel_std + self.mel_mean

    def _step(self, batch: dict) -> tuple[dict, object, Tensor, Tensor, Tensor]:
        feats, frame_lens = self.features(batch["audio"], batch["audio_lens"])
        if not bool(self.mel_stats_ready):
            self._set_stats(feats, frame_lens)
        ids = [torch.tensor(self.encode(t, u)) for t, u in zip(batch["text"], batch["ids"], strict=True)]
        tokens, token_lens = pad_sequences(ids, pad_value=self.text.pad_id)
        tokens, token_lens = tokens.to(self.device), token_lens.to(self.device)
        target = self.normalise(feats)
        r = self.model.r
        target = F.pad(target, (0, 0, 0, (-target.size(1)) % r))
        out = self.model(tokens, token_lens, target)
        parts = self.loss_fn(out.before, out.after, out.stop_logits, out.attention, target,
                             frame_lens, token_lens, r)
        return parts, out, tokens, token_lens, frame_lens

    # -- Lightning hooks ------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        parts, *_ = self._step(batch)
        n = len(batch["ids"])
        for name, value in parts.items():
            self.log(f"train/{name}", value, prog_bar=name == "loss", batch_size=n)
        return parts["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        parts, _, tokens, token_lens, _ = self._step(batch)
        n = len(batch["ids"])
        for name, value in parts.items():
            self.log(f"valid/{name}", value, prog_bar=name == "loss", batch_size=n, sync_dist=True)
        if batch_idx == 0 and self.num_val_plots > 0:
            failures = 0
            shown = min(self.num_val_plots, n)
            for i in range(shown):
                _, attention, stopped = self.synthesize(tokens[i, : int(token_lens[i])])
                found = detect_attention_failures(attention, stopped)
                failures += int(found.any)
                self._plot(attention, batch["ids"][i], batch["text"][i], found.names())
            self.log("valid/attention_failures", float(failures) / shown, batch_size=shown)

    def _plot(self, attention: Tensor, utt: str, text: str, failures: list[str]) -> None:
        if self.trainer is None or self.trainer.sanity_checking or not self.trainer.is_global_zero:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        folder = Path(self.trainer.default_root_dir) / "attention"
        folder.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.imshow(attention.float().cpu().T.numpy(), aspect="auto", origin="lower", interpolation="none")
        ax.set_xlabel("decoder step")
        ax.set_ylabel("input token")
        ax.set_title(f"{utt} epoch {self.current_epoch}: {text[:40]}"
                     + (f" [{', '.join(failures)}]" if failures else ""), fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / f"epoch{self.current_epoch:03d}_{utt}.png", dpi=80)
        plt.close(fig)

    # -- synthesis ------------------------------------------------------------------------
    def max_decoder_steps(self, n_tokens: int) -> int:
        """The length guard: GUARD_FACTOR x the slowest training rate (frames per symbol),
        never more than the model's own ``max_decoder_steps``."""
        cap = self.model.max_decoder_steps
        if self.max_seconds_per_symbol <= 0:
            return cap
        frames_per_second = self.frontend.mel.sample_rate / self.frontend.hop_length
        frames = GUARD_FACTOR * self.max_seconds_per_symbol * frames_per_second * n_tokens
        return min(cap, math.ceil(frames / self.model.r) + 10)

    @torch.no_grad()
    def synthesize(self, tokens: Tensor) -> tuple[Tensor, Tensor, bool]:
        """Token ids [N] -> (features [T, n_mels] in the frontend's units, attention
        [steps, N], whether the stop token ended decoding)."""
        was_training = self.model.training
        self.model.eval()
        try:
            frames, attention, stopped = self.model.inference(
                tokens.to(self.device), max_steps=self.max_decoder_steps(tokens.numel()))
        finally:
            self.model.train(was_training)
        return self.denormalise(frames), attention, stopped
