"""Speech recognition: CTC, attention, or hybrid CTC/attention training on (audio, text) pairs."""

from __future__ import annotations

import logging

import torch
from hydra.utils import instantiate
from torch import Tensor

from audiokit.data.collate import pad_sequences
from audiokit.decoding import JointBeamSearch, ctc_greedy
from audiokit.metrics.wer import word_errors
from audiokit.tasks.base import AudioTask
from audiokit.text.tokenizer import tokenizer_from_spec

log = logging.getLogger(__name__)


class ASRTask(AudioTask):
    """frontend -> [SpecAugment] -> :class:`~audiokit.models.asr.ASRModel` -> hybrid loss.

    The tokenizer (its spec: token list and, for sentencepiece, the model itself) is a
    hyperparameter, so ``model.pt`` alone can transcribe. ``decoding`` holds the default
    search settings that :class:`~audiokit.inference.speech2text.Speech2Text` uses.

    Validation logs the loss, teacher-forced token accuracy (``valid/acc``) and a real word
    error rate (``valid/wer``) from greedy CTC decoding (greedy attention decoding for
    attention-only models).
    """

    inference = "audiokit.inference.speech2text.Speech2Text"

    def __init__(self, tokenizer: dict, frontend: dict, model: dict, loss: dict, optim: dict,
                 scheduler: dict | None = None, specaugment: dict | None = None,
                 decoding: dict | None = None) -> None:
        super().__init__(frontend, optim, scheduler)
        self.save_hyperparameters()
        self.tokenizer = tokenizer_from_spec(tokenizer)
        # _recursive_=False: the model builds its encoder/decoder once it knows their sizes
        self.model = instantiate(model, input_dim=self.frontend.output_dim,
                                 vocab_size=self.tokenizer.vocab_size, _recursive_=False)
        self.loss_fn = instantiate(loss, blank_id=self.tokenizer.blank_id)
        if self.loss_fn.uses_attention and self.model.decoder is None:
            raise ValueError(f"loss.ctc_weight={self.loss_fn.ctc_weight} trains an attention "
                             "decoder, but model.decoder is null (CTC-only needs ctc_weight 1.0)")
        self.specaugment = instantiate(specaugment) if specaugment else None
        self.decoding = dict(decoding or {})
        self._warned: set[str] = set()
        self._valid_counts = torch.zeros(2)  # word errors, reference words

    # -- batch preparation ---------------------------------------------------------------

    def _warn_once(self, utt: str, message: str) -> None:
        if utt not in self._warned:
            self._warned.add(utt)
            log.warning("%s: %s", utt, message)

    def _targets(self, texts: list[str]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(ctc targets [B, L] padded -1, their lengths, decoder inputs sos+y, targets y+eos)."""
        tok = self.tokenizer
        ids = [torch.tensor(tok.encode(t), dtype=torch.long) for t in texts]
        targets, target_lens = pad_sequences(ids, pad_value=-1)  # all-empty: [B, 0], fine for CTC
        sos, eos = torch.tensor([tok.sos_id]), torch.tensor([tok.eos_id])
        dec_in, _ = pad_sequences([torch.cat([sos, i]) for i in ids], pad_value=tok.eos_id)
        dec_out, _ = pad_sequences([torch.cat([i, eos]) for i in ids], pad_value=-1)
        return (targets.to(self.device), target_lens.to(self.device), dec_in.to(self.device),
                dec_out.to(self.device))

    def _features(self, batch: dict, augment: bool) -> tuple[Tensor, Tensor, list[str], list[str]]:
        """Features of the utterances long enough for the encoder; the others are left out of
        the batch and named in a warning (once each), never passed on to CTC."""
        feats, lens = self.frontend(batch["audio"], batch["audio_lens"])
        ids, texts = list(batch["ids"]), list(batch["text"])
        keep = lens >= self.model.min_input_frames
        if not bool(keep.all()):
            for utt, n in zip(ids, lens.tolist(), strict=True):
                if n < self.model.min_input_frames:
                    self._warn_once(utt, f"{n} feature frames, fewer than the "
                                    f"{self.model.min_input_frames} the encoder needs: left out")
            index = keep.nonzero().squeeze(1)
            feats, lens = feats[index], lens[index]
            ids = [ids[i] for i in index.tolist()]
            texts = [texts[i] for i in index.tolist()]
        if augment and self.specaugment is not None:
            feats = self.specaugment(feats, lens)
        return feats, lens, ids, texts

    def _check_ctc_lengths(self, ids: list[str], enc_lens: Tensor, targets: Tensor,
                           target_lens: Tensor) -> None:
        """CTC needs a frame per token plus one between repeats; name utterances without."""
        repeats = ((targets[:, 1:] == targets[:, :-1]) & (targets[:, 1:] >= 0)).sum(1)
        short = enc_lens < target_lens + repeats
        for i in short.nonzero().squeeze(1).tolist():
            self._warn_once(ids[i], f"{int(enc_lens[i])} encoder frames cannot hold "
                            f"{int(target_lens[i])} tokens: CTC loss set to 0 for it")

    def _step(self, batch: dict, augment: bool) -> tuple[dict, object, list[str], list[str], Tensor | None]:
        feats, lens, ids, texts = self._features(batch, augment)
        if not ids:
            return {}, None, ids, texts, None
        targets, target_lens, dec_in, dec_out = self._targets(texts)
        enc = self.model.encode(feats, lens, intermediate=self.loss_fn.interctc_weight > 0)
        logits = None
        if self.loss_fn.uses_ctc:
            self._check_ctc_lengths(ids, enc.lens, targets, target_lens)
        if self.loss_fn.uses_attention:
            logits = self.model.decoder(dec_in, target_lens + 1, enc.hidden, enc.lens)
        parts = self.loss_fn(ctc_log_probs=enc.ctc_log_probs, enc_lens=enc.lens, targets=targets,
                             target_lens=target_lens, intermediate_log_probs=enc.intermediate_log_probs,
                             decoder_logits=logits, decoder_targets=dec_out)
        if logits is not None:
            valid = dec_out >= 0
            parts["acc"] = (logits.argmax(-1)[valid] == dec_out[valid]).float().mean()
        return parts, enc, ids, texts, logits

    # -- Lightning hooks -------------------------------------------------------------------

    def training_step(self, batch: dict, batch_idx: int) -> Tensor | None:
        parts, _, ids, _, _ = self._step(batch, augment=True)
        if not ids:
            return None
        for name, value in parts.items():
            self.log(f"train/{name}", value, prog_bar=name in ("loss", "acc"), batch_size=len(ids))
        return parts["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        parts, enc, ids, texts, _ = self._step(batch, augment=False)
        if not ids:
            return
        for name, value in parts.items():
            self.log(f"valid/{name}", value, prog_bar=name in ("loss", "acc"), batch_size=len(ids),
                     sync_dist=True)
        hyps = [self.tokenizer.decode(h) for h in self._greedy(enc)]
        errors = sum(word_errors(ref, hyp) for ref, hyp in zip(texts, hyps, strict=True))
        words = sum(len(ref.split()) for ref in texts)
        self._valid_counts = self._valid_counts.to(self.device) + torch.tensor(
            [errors, words], dtype=torch.float, device=self.device)

    def _greedy(self, enc) -> list[list[int]]:
        if self.loss_fn.uses_ctc:
            return ctc_greedy(enc.ctc_log_probs, enc.lens, blank=self.tokenizer.blank_id)
        search = JointBeamSearch(self.tokenizer.vocab_size, beam=1, ctc_weight=0.0,
                                 sos_id=self.tokenizer.sos_id)  # attention greedy = beam 1
        return [hyps[0].tokens for hyps in search(enc.hidden, enc.lens, decoder=self.model.decoder)]

    def on_validation_epoch_end(self) -> None:
        counts = self.all_gather(self._valid_counts)
        if counts.dim() == 2:  # [world, 2] under DDP
            counts = counts.sum(0)
        self._valid_counts = torch.zeros_like(self._valid_counts)
        if counts[1] > 0:
            self.log("valid/wer", counts[0] / counts[1], prog_bar=True, sync_dist=True)
