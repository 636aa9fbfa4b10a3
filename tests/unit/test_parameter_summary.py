"""The one-line parameter summary that replaces Lightning's table (and its FLOPs: 0)."""

import lightning.pytorch as pl
from torch import nn

from audiokit.callbacks.model_size import parameter_summary


class _Task(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.model = nn.Linear(1000, 1000)          # 1,001,000 parameters
        self.head = nn.Linear(10, 2)                # 22
        self.act = nn.ReLU()                        # none: not listed
        self.model.weight.requires_grad_(False)     # 1,000,000 frozen


def test_parameter_summary_counts_total_trainable_and_parts():
    line = parameter_summary(_Task())
    assert line == ("_Task: 1.00 M parameters (0.00 M trainable): model 1.00 M, head 0.00 M")


def test_parameter_summary_without_parameters():
    assert parameter_summary(pl.LightningModule()) == (
        "LightningModule: 0.00 M parameters (0.00 M trainable)")
