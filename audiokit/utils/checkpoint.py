"""Checkpoints that survive a kill or a full disk: atomic writes, and resume that skips
corrupt files.

Resume (Lightning's ``trainer.fit(ckpt_path=...)``) reads checkpoints through
:meth:`AtomicCheckpointIO.load_checkpoint` with ``weights_only=True``, like every other file
audiokit reads: a checkpoint given as ``resume=<path>`` may come from elsewhere.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from audiokit.utils.trusted_config import torch_load_weights_only

log = logging.getLogger(__name__)


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (disk full, no permission); the previous one is kept."""


def atomic_save(obj, path: str | Path) -> None:
    """``torch.save`` to ``<name>.tmp``, flushed to disk, then renamed over ``path``.

    A kill mid-write never leaves a truncated file under the real name (the rename is atomic
    on POSIX file systems). A failed write (``ENOSPC``: disk full) removes the partial temp
    file, leaves any earlier file at ``path`` as it was, and raises
    :class:`CheckpointWriteError` naming the file. The fsync makes a full disk fail here, not
    later when the kernel writes the data back (and on NFS, at close).
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except Exception as e:
        tmp.unlink(missing_ok=True)
        cause = _os_error(e)
        if cause is None:  # not the file system's fault (e.g. an object that cannot be saved)
            raise
        reason = cause.strerror or (os.strerror(cause.errno) if cause.errno else str(cause))
        err = CheckpointWriteError(
            f"cannot write checkpoint {path}: {reason}; earlier checkpoints are unchanged: "
            "free some space (or fix the permissions) and run again with resume=auto")
        err.errno = cause.errno
        raise err from e


def _os_error(e: BaseException | None) -> OSError | None:
    """The OSError behind ``e``: torch's zip writer reports a failed write (ENOSPC) as a
    RuntimeError raised while it cleans up, with the OSError as its context."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, OSError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint I/O with :func:`atomic_save` for writes and
    ``weights_only=True`` for reads (resume)."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        atomic_save(checkpoint, path)

    def load_checkpoint(self, path, map_location=None, weights_only=None):
        # None would leave the choice to torch's default (and its environment override).
        where = {} if map_location is None else {"map_location": map_location}
        return super().load_checkpoint(
            path, weights_only=True if weights_only is None else weights_only, **where)


def is_loadable(path: Path) -> bool:
    try:
        ckpt = torch_load_weights_only(path)
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
