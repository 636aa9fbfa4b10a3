"""Batch assembly: pad variable-length audio and keep the true lengths."""

from __future__ import annotations

import torch


def pad_sequences(seqs: list[torch.Tensor], pad_value: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``[T_i, ...]`` tensors into ``[B, T_max, ...]`` plus a ``[B]`` length tensor."""
    lens = torch.tensor([s.shape[0] for s in seqs], dtype=torch.long)
    out = seqs[0].new_full((len(seqs), int(lens.max()), *seqs[0].shape[1:]), pad_value)
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
    return out, lens


def collate_audio(items: list[dict]) -> dict:
    """``{"id", "audio", ...}`` items -> ``{"ids", "audio", "audio_lens", ...}``.

    Integer fields (e.g. ``label``) become a LongTensor; other fields become lists.
    """
    audio, audio_lens = pad_sequences([it["audio"] for it in items])
    batch = {"ids": [it["id"] for it in items], "audio": audio, "audio_lens": audio_lens}
    for key in items[0]:
        if key in ("id", "audio"):
            continue
        values = [it[key] for it in items]
        batch[key] = torch.tensor(values, dtype=torch.long) if isinstance(values[0], int) else values
    return batch
