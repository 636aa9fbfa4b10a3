"""Rebuild a trained task from its experiment dir: ``model.pt`` + ``config.yaml``.

``model.pt`` holds the task class, its hyperparameters (plain dicts) and the weights. It may
come from anyone, so nothing in it is trusted: it is read with ``torch.load(weights_only=True)``
and, before anything is built, the task class and every ``_target_`` in the hyperparameters
pass the allowlist of :mod:`audiokit.utils.trusted_config`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from audiokit.utils.trusted_config import (
    UntrustedConfigError,
    check_config,
    check_pipeline,
    check_target,
    torch_load_weights_only,
)

MODEL_FILE = "model.pt"


# Files read only when training starts (CMVN statistics, pre-trained weights to start from):
# what they held is in the saved weights by now, and the files may be gone.
TRAINING_ONLY_FILES = ("stats_file", "pretrained", "init_checkpoint")


def _drop_training_files(node):
    if isinstance(node, dict):
        return {k: (None if k in TRAINING_ONLY_FILES else _drop_training_files(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_drop_training_files(v) for v in node]
    return node


def read_model_file(path: str | Path) -> dict:
    """The dict in a ``model.pt`` (or any file of that layout), read without running code and
    checked: ``task`` (when present) is an allowed LightningModule class, and every config in
    ``hparams`` passes :func:`~audiokit.utils.trusted_config.check_config`. A file with only a
    ``state_dict`` passes as it is."""
    import lightning.pytorch as pl

    saved = torch_load_weights_only(path)
    if not isinstance(saved, dict):
        raise ValueError(f"{path}: not a model file (a {type(saved).__name__}, not a dict)")
    if "task" in saved:
        cls = check_target(saved["task"], f"{path}: task")
        if not issubclass(cls, pl.LightningModule):
            raise UntrustedConfigError(f"{path}: task = {saved['task']!r} is not a task class")
    if "hparams" in saved:
        if not isinstance(saved["hparams"], dict):
            raise ValueError(f"{path}: hparams is a {type(saved['hparams']).__name__}, not a dict")
        check_config(saved["hparams"], f"{path}: hparams")
        if "inference" in saved["hparams"]:
            check_pipeline(saved["hparams"]["inference"], f"{path}: hparams.inference")
    return saved


def load_task(exp_dir: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, DictConfig]:
    """(task in eval mode on ``device``, the experiment's resolved training config)."""
    exp_dir = Path(exp_dir)
    model_file = exp_dir / MODEL_FILE
    if not model_file.is_file():
        raise FileNotFoundError(f"{model_file}: no exported model (did training finish?)")
    saved = read_model_file(model_file)
    for key in ("task", "hparams", "state_dict"):
        if key not in saved:
            raise ValueError(f"{model_file}: no '{key}' entry (not written by audiokit-train?)")
    task_cls = check_target(saved["task"], f"{model_file}: task")
    task = task_cls(**_drop_training_files(saved["hparams"]))
    task.load_state_dict(saved["state_dict"])
    cfg = OmegaConf.load(exp_dir / "config.yaml")
    return task.eval().to(device), cfg
