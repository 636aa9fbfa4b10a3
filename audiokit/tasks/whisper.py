"""Whisper-style multitask ASR: log-mel -> encoder-decoder, teacher-forced on the task prompt."""

from __future__ import annotations

import logging
from dataclasses import fields
from pathlib import Path

import torch
from hydra.utils import instantiate
from torch import Tensor

from audiokit.models.whisper.checkpoint import (
    CheckpointError,
    load_state_strict,
    read_openai_checkpoint,
)
from audiokit.models.whisper.decoding import (
    DecodingOptions,
    DecodingResult,
    decode,
    decoding_options,
)
from audiokit.models.whisper.model import ModelDimensions
from audiokit.models.whisper.tokens import IGNORE_INDEX, TASKS, WhisperVocab
from audiokit.tasks.base import AudioTask
from audiokit.text.tokenizer import tokenizer_from_spec

log = logging.getLogger(__name__)

TOKEN_EMBEDDING = "decoder.token_embedding.weight"


class WhisperTask(AudioTask):
    """frontend (Whisper log-mel) -> [SpecAugment] -> Whisper -> cross-entropy on the tokens
    after the prompt (text and <|endoftext|>; the prompt itself is not scored).

    The text vocabulary is the audiokit tokenizer ``tokenizer`` (a spec, from the datamodule's
    ``token_dir``) followed by Whisper's specials (see :mod:`audiokit.models.whisper.tokens`);
    the model is built with ``n_vocab`` of that size and ``n_mels = frontend.output_dim``.

    ``decoding``: search settings for inference (:class:`DecodingOptions` fields, or ``beam``
    and ``mode: attention`` as in the other ASR tasks), overridable at ``audiokit-infer``.

    ``init_checkpoint``: an OpenAI-format checkpoint whose weights initialise the model (its dims
    must equal the configured ones). It is not saved in the hyperparameters: a trained
    experiment's weights replace it and its file need not exist at inference time. If its
    vocabulary differs from ours (always the case for OpenAI's released checkpoints, whose GPT-2
    BPE text vocabulary audiokit cannot read), ``vocab_mismatch="error"`` stops with a clear
    message and ``"reinit"`` loads everything except the token embedding, whose text rows keep
    their fresh initialisation while the special tokens (sot, languages, tasks, timestamps, ...)
    take their rows from the checkpoint, matched by name.
    """

    inference = "audiokit.inference.whisper.Transcriber"

    def __init__(
        self,
        frontend: dict,
        model: dict,
        optim: dict,
        scheduler: dict | None = None,
        loss: dict | None = None,
        tokenizer: dict | None = None,
        languages: list[str] | None = None,
        language: str = "en",
        task: str = "transcribe",
        score_language: bool = False,
        specaugment: dict | None = None,
        decoding: dict | None = None,
        init_checkpoint: str | None = None,
        vocab_mismatch: str = "error",
    ) -> None:
        super().__init__(frontend, optim, scheduler)
        self.save_hyperparameters(ignore=["init_checkpoint"])
        if tokenizer is None:
            raise ValueError("WhisperTask needs a tokenizer spec: set paths.token_dir to a token "
                             "dir written by `audiokit-prep tokens`")
        if task not in TASKS:
            raise ValueError(f"task.task must be one of {TASKS}, got {task!r}")
        if vocab_mismatch not in ("error", "reinit"):
            raise ValueError("task.vocab_mismatch must be 'error' or 'reinit', got "
                             f"{vocab_mismatch!r}")
        self.tokenizer = tokenizer_from_spec(tokenizer)
        self.vocab = WhisperVocab.from_tokenizer(self.tokenizer, languages or [language])
        self.vocab.language_token(language)  # the training language must be in the list
        self.language, self.task_name, self.score_language = language, task, score_language
        self.decoding = dict(decoding or {})
        self.decoding_options()  # a bad setting fails now, not after training
        self.model = instantiate(model, n_mels=self.frontend.output_dim,
                                 n_vocab=self.vocab.n_vocab)
        self.loss_fn = instantiate(loss) if loss else torch.nn.CrossEntropyLoss()
        if getattr(self.loss_fn, "ignore_index", IGNORE_INDEX) != IGNORE_INDEX:
            raise ValueError(f"the loss must skip targets equal to {IGNORE_INDEX} (ignore_index)")
        self.specaugment = instantiate(specaugment) if specaugment else None
        if init_checkpoint:
            self.load_init_checkpoint(init_checkpoint, vocab_mismatch)

    # ---- initialisation from an OpenAI-format checkpoint ----
    def load_init_checkpoint(self, path: str | Path, vocab_mismatch: str = "error") -> None:
        dims, state, meta = read_openai_checkpoint(path)
        ours = self.model.dims
        differ = [f"{f.name}: file {getattr(dims, f.name)} vs config {getattr(ours, f.name)}"
                  for f in fields(ModelDimensions)
                  if f.name != "n_vocab" and getattr(dims, f.name) != getattr(ours, f.name)]
        if differ:
            raise CheckpointError(f"{path}: model dims differ from the configured model "
                                  f"({'; '.join(differ)}); set model.* (and frontend.n_mels) "
                                  "to the checkpoint's dims")
        same_text = meta.get("tokenizer", self.tokenizer.spec()) == self.tokenizer.spec()
        same_langs = meta.get("languages", self.vocab.languages) == self.vocab.languages
        if dims.n_vocab == ours.n_vocab and same_text and same_langs:
            load_state_strict(self.model, state, path)
            log.info("initialised the model from %s", path)
            return
        what = (f"n_vocab {dims.n_vocab} (file) vs {ours.n_vocab} (ours)"
                if dims.n_vocab != ours.n_vocab else "a different tokenizer or language list")
        if vocab_mismatch == "error":
            raise CheckpointError(
                f"{path}: its vocabulary differs from ours ({what}). Use the tokenizer and "
                "languages it was trained with, or set task.vocab_mismatch=reinit to keep its "
                "network and special tokens and learn new text-token embeddings")
        if TOKEN_EMBEDDING not in state:
            raise CheckpointError(f"{path}: missing tensor {TOKEN_EMBEDDING}")
        load_state_strict(self.model, state, path, skip=(TOKEN_EMBEDDING,))
        source = _checkpoint_vocab(dims.n_vocab, meta)
        copied = 0
        if source is not None:
            theirs = source.special_tokens()
            with torch.no_grad():
                emb = self.model.decoder.token_embedding.weight
                for name, i in self.vocab.special_tokens().items():
                    if name in theirs:
                        emb[i] = state[TOKEN_EMBEDDING][theirs[name]]
                        copied += 1
        log.warning("%s: vocabulary differs (%s): loaded all weights but the token embedding; "
                    "copied %d special-token rows by name, text-token rows start fresh",
                    path, what, copied)

    # ---- batches ----
    def targets(self, texts: list[str], ids: list[str]) -> tuple[Tensor, Tensor]:
        """Teacher-forcing inputs [B, L] (padded with <|endoftext|>) and targets [B, L]
        (padded with IGNORE_INDEX) for a batch of transcripts."""
        pairs = []
        for utt, text in zip(ids, texts, strict=True):
            seq, prompt_len = self.vocab.sequence(self.vocab.encode_text(text),
                                                  language=self.language, task=self.task_name)
            if len(seq) - 1 > self.model.dims.n_text_ctx:
                raise ValueError(f"utterance '{utt}': {len(seq) - 1} decoder tokens exceed "
                                 f"n_text_ctx={self.model.dims.n_text_ctx}")
            pairs.append(self.vocab.training_pair(seq, prompt_len, self.score_language))
        length = max(len(inp) for inp, _ in pairs)
        inputs = torch.full((len(pairs), length), self.vocab.eot, dtype=torch.long)
        targets = torch.full((len(pairs), length), IGNORE_INDEX, dtype=torch.long)
        for b, (inp, tgt) in enumerate(pairs):
            inputs[b, : len(inp)] = torch.tensor(inp)
            targets[b, : len(tgt)] = torch.tensor(tgt)
        return inputs.to(self.device), targets.to(self.device)

    def _loss_and_acc(self, batch: dict, train: bool) -> tuple[Tensor, Tensor]:
        if "text" not in batch:
            raise ValueError("WhisperTask needs transcripts: the data dir has no 'text' file")
        feats, lens = self.frontend(batch["audio"], batch["audio_lens"])
        if train and self.specaugment is not None:
            feats = self.specaugment(feats, lens)
        inputs, targets = self.targets(batch["text"], batch["ids"])
        logits = self.model(feats, inputs, lens)
        loss = self.loss_fn(logits.flatten(0, 1), targets.flatten())
        scored = targets != IGNORE_INDEX
        acc = (logits.argmax(-1) == targets)[scored].float().mean()
        return loss, acc

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        loss, acc = self._loss_and_acc(batch, train=True)
        size = len(batch["ids"])
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        self.log("train/acc", acc, prog_bar=True, batch_size=size)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        loss, acc = self._loss_and_acc(batch, train=False)
        size = len(batch["ids"])
        self.log("valid/loss", loss, batch_size=size, sync_dist=True)
        self.log("valid/acc", acc, prog_bar=True, batch_size=size, sync_dist=True)

    # ---- inference ----
    def decoding_options(self, **overrides) -> DecodingOptions:
        """Search settings: the config's ``decoding`` updated with ``overrides``; by default the
        training task, and the training language unless the vocabulary has several (then each
        utterance's language is identified)."""
        language = self.language if len(self.vocab.languages) == 1 else None
        return decoding_options({"language": language, "task": self.task_name,
                                 **self.decoding, **overrides})

    @torch.no_grad()
    def transcribe(self, audio: Tensor, audio_lens: Tensor,
                   options: DecodingOptions | None = None) -> list[DecodingResult]:
        feats, lens = self.frontend(audio.to(self.device), audio_lens.to(self.device))
        return decode(self.model, self.vocab, feats, lens, options or self.decoding_options())


def _checkpoint_vocab(n_vocab: int, meta: dict) -> WhisperVocab | None:
    """The special-token layout of a checkpoint: from its audiokit metadata, else OpenAI's."""
    try:
        if "languages" in meta:
            return WhisperVocab.for_size(n_vocab, list(meta["languages"]))
        return WhisperVocab.for_openai(n_vocab)
    except ValueError:
        return None
