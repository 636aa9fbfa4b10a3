"""Checkpoints that survive a kill: atomic writes, and resume that skips corrupt files."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write to ``<name>.tmp`` and rename: a kill mid-write never leaves a truncated file
    under the real name (the rename is atomic on POSIX file systems)."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(checkpoint, tmp)
        os.replace(tmp, path)


def is_loadable(path: Path) -> bool:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        return "state_dict" in ckpt and "global_step" in ckpt
    except Exception as e:  # any corruption: truncated zip, bad pickle, wrong format
        log.warning("checkpoint %s is unreadable (%s); skipping it", path, e)
        return False


def find_resume_checkpoint(checkpoint_dir: str | Path, resume: str,
                           hpc_dir: str | Path | None = None) -> str | None:
    """``resume``: ``auto`` (newest loadable checkpoint, else start fresh with a warning),
    ``never`` (start fresh), or a checkpoint path (must exist). ``hpc_dir`` is where
    Lightning's own SLURM requeue writes ``hpc_ckpt_N.ckpt`` (its default_root_dir)."""
    if resume == "never":
        return None
    if resume != "auto":
        if not Path(resume).is_file():
            raise FileNotFoundError(f"resume={resume}: no such checkpoint")
        return resume
    checkpoint_dir = Path(checkpoint_dir)
    candidates = list(checkpoint_dir.glob("*.ckpt"))
    if hpc_dir is not None:
        candidates += Path(hpc_dir).glob("hpc_ckpt_*.ckpt")
    candidates.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for path in candidates:
        if is_loadable(path):
            log.info("resume=auto: continuing from %s", path)
            return str(path)
    log.warning("resume=auto: no usable checkpoint in %s; starting fresh", checkpoint_dir)
    return None
