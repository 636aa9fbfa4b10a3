"""Text for language models: Kaldi ``text`` files (or plain lines) -> token-count batches."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from audiokit.data.collate import pad_sequences
from audiokit.data.datadir import DataDirError, read_kaldi_map
from audiokit.data.sampler import DurationBatchSampler
from audiokit.text.tokenizer import Tokenizer, load_token_dir, tokenizer_from_spec

log = logging.getLogger(__name__)

TEXT_FORMATS = ("kaldi", "lines")


def read_sentences(path: str | Path, text_format: str = "kaldi") -> dict[str, str]:
    """``{id: sentence}`` from a Kaldi ``text`` file (``utt words...``) or from plain lines.

    Plain lines get ids ``file:line``; blank lines are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise DataDirError(f"{path}: text file not found")
    if text_format == "kaldi":
        return read_kaldi_map(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    return {f"{path.name}:{n}": line.strip() for n, line in enumerate(lines, 1) if line.strip()}


class TokenDataset(Dataset):
    """Sentences tokenized once, up front: ``{"id", "tokens"}`` items (no sos/eos)."""

    def __init__(self, sentences: dict[str, str], tokenizer: Tokenizer, name: str = "") -> None:
        self.ids = list(sentences)
        self.tokens = [tokenizer.encode(sentences[i]) for i in self.ids]
        self._warn_unknown(sentences, tokenizer, name)

    def _warn_unknown(self, sentences: dict[str, str], tokenizer: Tokenizer, name: str) -> None:
        """One warning per file: how much of the text the token list cannot represent."""
        hit = [k for k, toks in enumerate(self.tokens) if tokenizer.unk_id in toks]
        if not hit:
            return
        total = sum(len(t) for t in self.tokens)
        unk = sum(self.tokens[k].count(tokenizer.unk_id) for k in hit)
        first = self.ids[hit[0]]
        log.warning("%s: %d of %d tokens in %d of %d sentences map to <unk>, e.g. %s in '%s': %r",
                    name, unk, total, len(hit), len(self.ids),
                    tokenizer.unknown(sentences[first]), first, sentences[first])

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict:
        return {"id": self.ids[index], "tokens": torch.tensor(self.tokens[index], dtype=torch.long)}


def collate_tokens(items: list[dict]) -> dict:
    """Items -> ``{"ids", "tokens" [B, L] (padded with 0), "token_lens" [B]}``."""
    tokens, lens = pad_sequences([it["tokens"] for it in items], pad_value=0)
    return {"ids": [it["id"] for it in items], "tokens": tokens, "token_lens": lens}


class TextDataModule(pl.LightningDataModule):
    """Train/valid text -> DataLoaders of padded token batches, for :class:`LMTask`.

    Batches are packed by padded token count (batch size x longest sentence, sos/eos
    included) with :class:`DurationBatchSampler`: length-sorted buckets, shuffled each epoch,
    split over DDP ranks so that every sentence is used exactly once per epoch.

    Args:
        train_text: Kaldi ``text`` file(s) (or plain text, see ``text_format``); a list
            trains on all of them (e.g. transcripts plus extra text).
        valid_text: the validation text file.
        token_dir: token dir written by ``audiokit-prep tokens`` (its tokenizer is used and
            handed to the task).
        text_format: ``kaldi`` (``utt_id words...``) or ``lines`` (one sentence per line).
        max_batch_tokens: padded tokens per batch.
        max_batch_size: at most this many sentences per batch (None = no limit).
    """

    def __init__(
        self,
        train_text: str | Sequence[str],
        valid_text: str,
        token_dir: str,
        *,
        text_format: str = "kaldi",
        max_batch_tokens: int = 8000,
        max_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if text_format not in TEXT_FORMATS:
            raise ValueError(f"data.text_format must be one of {TEXT_FORMATS}, got {text_format!r}")
        if token_dir is None:
            raise ValueError("no token dir: set paths.token_dir (written by `audiokit-prep tokens`)")
        self.train_text = [train_text] if isinstance(train_text, str) else list(train_text)
        self.valid_text = valid_text
        self.text_format = text_format
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_size = max_batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.token_spec = load_token_dir(token_dir)
        self.tokenizer = tokenizer_from_spec(self.token_spec)
        self.train_set: TokenDataset | None = None
        self.valid_set: TokenDataset | None = None

    def task_kwargs(self) -> dict:
        """The task builds its output layer from the token list and saves it with the weights."""
        return {"tokenizer": self.token_spec}

    def _dataset(self, paths: list[str]) -> TokenDataset:
        sentences: dict[str, str] = {}
        for path in paths:
            for key, text in read_sentences(path, self.text_format).items():
                if key in sentences:
                    raise DataDirError(f"{path}: id '{key}' also appears in an earlier text file")
                sentences[key] = text
        if not sentences:
            raise DataDirError(f"{', '.join(paths)}: no sentences")
        return TokenDataset(sentences, self.tokenizer, ", ".join(paths))

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None and stage in (None, "fit"):
            self.train_set = self._dataset(self.train_text)
        if self.valid_set is None and stage in (None, "fit", "validate"):
            self.valid_set = self._dataset([self.valid_text])

    def loader(self, dataset: TokenDataset, shuffle: bool, *, num_replicas: int | None = None,
               rank: int | None = None) -> DataLoader:
        """A DataLoader for one rank; the ranks default to the attached trainer's."""
        trainer = self.trainer
        if num_replicas is None:
            num_replicas = trainer.world_size if trainer else 1
        if rank is None:
            rank = trainer.global_rank if trainer else 0
        sampler = DurationBatchSampler(
            [len(t) + 1 for t in dataset.tokens],  # + sos (input) / eos (target)
            self.max_batch_tokens, max_batch_size=self.max_batch_size, shuffle=shuffle,
            seed=self.seed, num_replicas=num_replicas, rank=rank,
        )
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_tokens,
                          num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.valid_set, shuffle=False)
