"""Codec token data dirs -> batches for codec language models.

A token data dir is what ``audiokit-infer`` on a codec exp dir writes: ``codes.scp`` (one
``[n_q, frames]`` integer ``.npy`` per utterance) beside the carried ``text``, ``utt2spk``...
Codes are read once, when the datamodule is set up (the tokens were made once by a recipe
stage; nothing is encoded per epoch), and checked: every utterance must come from the same
codec (codebook count, codes below ``codebook_size``), or the error names the utterance and
the mismatch.

Optional pieces:
- ``text``: the utterance's transcript or caption as ids of characters or, with
  ``text_unit: word``, of words (``audiokit.data.text_units``); the unit list of the training
  text is handed to the task and saved in the model file. A word the training text never had
  (validation) becomes ``<unk>`` and is counted in the log; an unseen character is an error;
- a prompt per utterance (VALL-E): ``prompt: utt2prompt`` reads ``utt2prompt`` (``utt
  other_utt`` of the same dir, or a path to a ``.npy`` of codes); ``prompt: same_speaker``
  pairs each utterance with another of its speaker (``utt2spk``), drawn once with the seed.
  The first ``prompt_frames`` frames are used.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from audiokit.data.collate import pad_sequences
from audiokit.data.datadir import DataDirError, read_kaldi_map
from audiokit.data.resumable import ResumableDataLoader, SeededItems
from audiokit.data.sampler import DurationBatchSampler
from audiokit.data.text_units import TextUnits, build_vocab, check_unit

log = logging.getLogger(__name__)

PROMPT_MODES = ("none", "utt2prompt", "same_speaker")


def load_codes(path: str | Path, utt: str, n_q: int | None, codebook_size: int,
               where: str) -> np.ndarray:
    """One utterance's codes ``[n_q, frames]`` as int64, checked against the codec."""
    try:
        codes = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataDirError(f"{where}: utterance '{utt}' ({path}): cannot read codes: {e}") from None
    if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer):
        raise DataDirError(f"{where}: utterance '{utt}' ({path}): codes must be an integer "
                           f"[n_q, frames] array, got {codes.dtype} of shape {list(codes.shape)}")
    if n_q is not None and codes.shape[0] != n_q:
        raise DataDirError(f"{where}: utterance '{utt}' ({path}): {codes.shape[0]} codebooks, "
                           f"expected {n_q} (codes from a different codec or bandwidth?)")
    if codes.size and (codes.min() < 0 or codes.max() >= codebook_size):
        raise DataDirError(f"{where}: utterance '{utt}' ({path}): code values "
                           f"{int(codes.min())}..{int(codes.max())} outside the codebook size "
                           f"{codebook_size} (codes from a different codec?)")
    if codes.shape[1] == 0:
        raise DataDirError(f"{where}: utterance '{utt}' ({path}): no frames")
    return codes.astype(np.int64)


def require_codes(data_dir: Path) -> Path:
    scp = data_dir / "codes.scp"
    if not scp.is_file():
        raise DataDirError(f"{data_dir}: no codes.scp (a token data dir is written by "
                           "audiokit-infer exp_dir=<codec exp dir> data_dir=... output_dir=...)")
    return scp


class CodecTokenDataset(Dataset):
    """Items ``{"id", "codes" [K, T], "text" [L] (or empty), "prompt" [K, P] (or empty)}``."""

    def __init__(self, data_dir: str | Path, *, codebook_size: int, n_q: int | None,
                 text_vocab: list[str] | None, prompt: str = "none", prompt_frames: int = 75,
                 seed: int = 0, text_unit: str = "char") -> None:
        self.dir = Path(data_dir)
        scp = require_codes(self.dir)
        paths = read_kaldi_map(scp)
        if not paths:
            raise DataDirError(f"{scp}: no utterances")
        self.ids = list(paths)
        self.codes = []
        for utt in self.ids:
            codes = load_codes(paths[utt], utt, n_q, codebook_size, str(scp))
            n_q = codes.shape[0] if n_q is None else n_q  # the first utterance sets it
            self.codes.append(torch.from_numpy(codes))
        self.n_q = n_q
        self.text_unit = check_unit(text_unit)
        self.unknown_words = 0  # words mapped to <unk> (text_unit: word)
        self.text = self._read_text(text_vocab) if text_vocab is not None else None
        self.prompt_of = self._pair_prompts(prompt, paths, codebook_size, seed)
        self.prompt_frames = prompt_frames

    def _read_text(self, vocab: list[str]) -> list[torch.Tensor]:
        texts = read_kaldi_map(self.dir / "text", allow_empty_value=True) \
            if (self.dir / "text").is_file() else None
        if texts is None:
            raise DataDirError(f"{self.dir}: no text file (the LM is conditioned on text)")
        units = TextUnits(vocab, self.text_unit)
        out, unknown_utts = [], set()
        for utt in self.ids:
            if utt not in texts:
                raise DataDirError(f"{self.dir}/text: no line for utterance '{utt}' of codes.scp")
            ids, unknown = units.encode(texts[utt])
            if unknown and self.text_unit == "char":
                raise DataDirError(f"{self.dir}/text: utterance '{utt}' has characters "
                                   f"{sorted(set(unknown))} that the training text does not")
            if unknown:
                self.unknown_words += len(unknown)
                unknown_utts.add(utt)
            out.append(torch.tensor(ids, dtype=torch.long))
        if self.unknown_words:
            log.warning("%s/text: %d word(s) in %d utterance(s) are not in the training text's "
                        "vocabulary: mapped to <unk>", self.dir, self.unknown_words,
                        len(unknown_utts))
        return out

    def _pair_prompts(self, mode: str, paths: dict[str, str], codebook_size: int, seed: int
                      ) -> list[torch.Tensor] | None:
        if mode not in PROMPT_MODES:
            raise ValueError(f"data.prompt must be one of {PROMPT_MODES}, got {mode!r}")
        if mode == "none":
            return None
        index = {u: i for i, u in enumerate(self.ids)}
        if mode == "utt2prompt":
            file = self.dir / "utt2prompt"
            if not file.is_file():
                raise DataDirError(f"{self.dir}: data.prompt=utt2prompt but no utt2prompt file")
            pairs = read_kaldi_map(file)
            prompts = []
            for utt in self.ids:
                if utt not in pairs:
                    raise DataDirError(f"{file}: no prompt for utterance '{utt}'")
                src = pairs[utt]
                prompts.append(self.codes[index[src]] if src in index else torch.from_numpy(
                    load_codes(src, f"{utt} (prompt)", self.n_q, codebook_size, str(file))))
            return prompts
        spk_file = self.dir / "utt2spk"
        if not spk_file.is_file():
            raise DataDirError(f"{self.dir}: data.prompt=same_speaker but no utt2spk file")
        utt2spk = read_kaldi_map(spk_file)
        by_spk: dict[str, list[str]] = {}
        for utt in self.ids:
            if utt not in utt2spk:
                raise DataDirError(f"{spk_file}: no speaker for utterance '{utt}'")
            by_spk.setdefault(utt2spk[utt], []).append(utt)
        rng = random.Random(seed)
        prompts = []
        for utt in self.ids:
            others = [u for u in by_spk[utt2spk[utt]] if u != utt]
            if not others:
                raise DataDirError(f"{spk_file}: speaker '{utt2spk[utt]}' of utterance '{utt}' "
                                   "has no other utterance to prompt with")
            prompts.append(self.codes[index[rng.choice(others)]])
        return prompts

    def length(self, i: int) -> int:
        """Positions the LM runs over for item i (prefix + frames), for batching."""
        n = self.codes[i].shape[1] + 1
        if self.text is not None:
            n += len(self.text[i])
        if self.prompt_of is not None:
            n += min(self.prompt_of[i].shape[1], self.prompt_frames)
        return n

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        item = {"id": self.ids[i], "codes": self.codes[i]}
        if self.text is not None:
            item["text"] = self.text[i]
        if self.prompt_of is not None:
            item["prompt"] = self.prompt_of[i][:, : self.prompt_frames]
        return item


def collate_codes(items: list[dict]) -> dict:
    """-> ``{"ids", "codes" [B, K, T], "code_lens"}`` (+ ``text``/``text_lens``, ``prompt``/
    ``prompt_lens``); padding is 0 (masked by the lengths)."""
    codes, lens = pad_sequences([it["codes"].T for it in items], pad_value=0)
    out = {"ids": [it["id"] for it in items], "codes": codes.transpose(1, 2), "code_lens": lens}
    if "text" in items[0]:
        out["text"], out["text_lens"] = pad_sequences([it["text"] for it in items], 0)
    if "prompt" in items[0]:
        prompt, plens = pad_sequences([it["prompt"].T for it in items], pad_value=0)
        out["prompt"], out["prompt_lens"] = prompt.transpose(1, 2), plens
    return out


class CodecTokenDataModule(pl.LightningDataModule):
    """Train/valid token data dirs -> length-bucketed batches for :class:`CodecLMTask`.

    Args:
        train_dir, valid_dir: token data dirs (``codes.scp``, + ``text``, ``utt2spk``,
            ``utt2prompt`` as needed).
        codebook_size: codes per codebook of the codec that made the tokens.
        n_q: codebooks expected (None: the first training utterance's count).
        text: condition on the transcript or caption.
        text_unit: ``char`` (characters) or ``word`` (words, with ``<unk>``).
        prompt: ``none`` | ``utt2prompt`` | ``same_speaker``; ``prompt_frames`` caps its length.
        max_batch_frames: padded LM positions per batch (batch size x longest prefix + frames).
    """

    def __init__(self, train_dir: str, valid_dir: str, *, codebook_size: int,
                 n_q: int | None = None, text: bool = True, prompt: str = "none",
                 prompt_frames: int = 75, max_batch_frames: int = 4000,
                 max_batch_size: int | None = None, num_workers: int = 0, seed: int = 0,
                 text_unit: str = "char") -> None:
        super().__init__()
        if prompt not in PROMPT_MODES:
            raise ValueError(f"data.prompt must be one of {PROMPT_MODES}, got {prompt!r}")
        self.train_dir, self.valid_dir = train_dir, valid_dir
        self.codebook_size, self.n_q = codebook_size, n_q
        self.use_text, self.prompt, self.prompt_frames = text, prompt, prompt_frames
        self.max_batch_frames, self.max_batch_size = max_batch_frames, max_batch_size
        self.num_workers, self.seed = num_workers, seed
        self.text_unit = check_unit(text_unit)
        require_codes(Path(train_dir))
        self.text_vocab = self._vocab() if text else None
        self.train_set = self._dataset(train_dir, n_q)
        self.valid_set: CodecTokenDataset | None = None

    def _vocab(self) -> list[str]:
        file = Path(self.train_dir) / "text"
        if not file.is_file():
            raise DataDirError(f"{self.train_dir}: no text file (set data.text=false for an "
                               "LM without text)")
        return build_vocab(read_kaldi_map(file, allow_empty_value=True).values(), self.text_unit)

    def _dataset(self, data_dir: str, n_q: int | None) -> CodecTokenDataset:
        return CodecTokenDataset(data_dir, codebook_size=self.codebook_size, n_q=n_q,
                                 text_vocab=self.text_vocab, prompt=self.prompt,
                                 prompt_frames=self.prompt_frames, seed=self.seed,
                                 text_unit=self.text_unit)

    def task_kwargs(self) -> dict:
        """The task builds its model for this codec and text, and saves them in model.pt."""
        kwargs = {"n_q": self.train_set.n_q, "codebook_size": self.codebook_size,
                  "text_vocab": self.text_vocab}
        if self.text_unit != "char":  # model files of character LMs stay as they were
            kwargs["text_unit"] = self.text_unit
        return kwargs

    def setup(self, stage: str | None = None) -> None:
        if self.valid_set is None and stage in (None, "fit", "validate"):
            self.valid_set = self._dataset(self.valid_dir, self.train_set.n_q)

    def loader(self, dataset: CodecTokenDataset, shuffle: bool) -> DataLoader:
        trainer = self.trainer
        sampler = DurationBatchSampler(
            [dataset.length(i) for i in range(len(dataset))], self.max_batch_frames,
            max_batch_size=self.max_batch_size, shuffle=shuffle, seed=self.seed,
            num_replicas=trainer.world_size if trainer else 1,
            rank=trainer.global_rank if trainer else 0)
        workers = {"num_workers": self.num_workers, "persistent_workers": self.num_workers > 0}
        if shuffle:  # training: resumes mid-epoch where it stopped (audiokit/data/resumable.py)
            return ResumableDataLoader(SeededItems(dataset, self.seed), batch_sampler=sampler,
                                       seed=self.seed, collate_fn=collate_codes, **workers)
        # a generator of its own: starting validation draws nothing from the global RNG
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_codes,
                          generator=torch.Generator().manual_seed(self.seed), **workers)

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.valid_set, shuffle=False)
