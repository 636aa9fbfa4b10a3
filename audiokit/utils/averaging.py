"""Checkpoint averaging (ESPnet's ``valid.acc.ave_Nbest``): the mean weights of the N best
checkpoints, which usually score better than any one of them.

The score of a checkpoint is read from the checkpoint itself: Lightning's ModelCheckpoint
records every top-k file it writes in its ``best_k_models`` (path -> score) before saving, so
each top-k file carries its own score, and the choice survives a moved or copied exp dir.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from audiokit.utils.trusted_config import torch_load_weights_only

log = logging.getLogger(__name__)

# Written by the last-checkpoint and every-N-steps callbacks: not ranked by the monitor.
UNRANKED = ("last.ckpt", "latest.ckpt")


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    ckpt = torch_load_weights_only(path)  # weights only: a checkpoint cannot run code
    return ckpt["state_dict"] if "state_dict" in ckpt else ckpt


def average_checkpoints(paths: Sequence[str | Path]) -> dict[str, torch.Tensor]:
    """Mean of the checkpoints' ``state_dict`` tensors.

    Floating tensors are summed in float64 and cast back to their dtype. Integer (and bool)
    tensors, e.g. BatchNorm's ``num_batches_tracked``, are counters, not weights: they are
    taken from the last checkpoint.
    """
    if not paths:
        raise ValueError("average_checkpoints: no checkpoints given")
    paths = [Path(p) for p in paths]
    first = _load_state_dict(paths[0])
    sums = {k: v.double() if v.is_floating_point() else v for k, v in first.items()}
    for path in paths[1:]:
        state = _load_state_dict(path)
        if state.keys() != first.keys():
            extra, missing = sorted(state.keys() - first.keys()), sorted(first.keys() - state.keys())
            raise ValueError(f"{path}: parameters differ from {paths[0]} "
                             f"(extra: {extra[:5]}, missing: {missing[:5]})")
        for k, v in state.items():
            if v.shape != first[k].shape or v.dtype != first[k].dtype:
                raise ValueError(f"{path}: '{k}' is {v.dtype} {tuple(v.shape)}, but "
                                 f"{first[k].dtype} {tuple(first[k].shape)} in {paths[0]}")
            sums[k] = sums[k] + v.double() if v.is_floating_point() else v
    return {k: (v / len(paths)).to(first[k].dtype) if first[k].is_floating_point() else v
            for k, v in sums.items()}


def checkpoint_score(path: Path, monitor: str) -> tuple[float, int] | None:
    """(``monitor`` score a top-k ModelCheckpoint recorded for this file, global step), or None."""
    # mmap: only the small callback state is read, not the weights and optimizer state
    ckpt = torch_load_weights_only(path, mmap=True)
    for state in ckpt.get("callbacks", {}).values():
        if isinstance(state, dict) and state.get("monitor") == monitor:
            for saved_path, score in state.get("best_k_models", {}).items():
                if Path(saved_path).name == path.name:
                    return float(score), int(ckpt.get("global_step", 0))
    return None


def best_checkpoints(ckpt_dir: str | Path, n: int, monitor: str, mode: str) -> list[Path]:
    """The ``n`` best ``*.ckpt`` files in ``ckpt_dir`` by ``monitor`` (``mode`` max or min).

    last.ckpt and latest.ckpt are skipped. Equal scores prefer the later checkpoint (higher
    global step). With fewer than ``n`` ranked checkpoints (a short run), all of them are
    returned with a warning; with none, it is an error.
    """
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    ckpt_dir = Path(ckpt_dir)
    ranked = []
    for path in sorted(ckpt_dir.glob("*.ckpt")):
        if path.name in UNRANKED:
            continue
        scored = checkpoint_score(path, monitor)
        if scored is None:
            log.warning("%s: no '%s' score recorded by a ModelCheckpoint; not ranked", path, monitor)
            continue
        score, step = scored
        ranked.append((score if mode == "max" else -score, step, path))
    if not ranked:
        raise FileNotFoundError(f"{ckpt_dir}: no checkpoint with a recorded '{monitor}' score")
    ranked.sort(key=lambda r: (r[0], r[1]), reverse=True)
    if len(ranked) < n:
        log.warning("%s: only %d checkpoint(s) scored by '%s', fewer than the %d asked for; "
                    "averaging those", ckpt_dir, len(ranked), monitor, n)
    return [path for _, _, path in ranked[:n]]
