"""Rebuild a trained task from its experiment dir: ``model.pt`` + ``config.yaml``.

``model.pt`` holds the task class, its hyperparameters (plain dicts) and the weights, and
is read with ``torch.load(weights_only=True)``: a model file cannot run code. The class it
names must live in the ``audiokit`` package.
"""

from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

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


def load_task(exp_dir: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, DictConfig]:
    """(task in eval mode on ``device``, the experiment's resolved training config)."""
    exp_dir = Path(exp_dir)
    model_file = exp_dir / MODEL_FILE
    if not model_file.is_file():
        raise FileNotFoundError(f"{model_file}: no exported model (did training finish?)")
    saved = torch.load(model_file, map_location="cpu", weights_only=True)
    if not saved["task"].startswith("audiokit."):
        raise ValueError(f"{model_file}: task class {saved['task']!r} is not an audiokit class")
    task = get_class(saved["task"])(**_drop_training_files(saved["hparams"]))
    task.load_state_dict(saved["state_dict"])
    cfg = OmegaConf.load(exp_dir / "config.yaml")
    return task.eval().to(device), cfg
