"""Tacotron 2's training loss: mel L1 + L2 before and after the postnet, stop-token BCE, and
the guided attention loss (:mod:`audiokit.losses.guided_attention`).

Frame losses are means over the valid frames and mel bins; the stop target is 1 on each
utterance's last frame and 0 before it (``stop_pos_weight`` weighs the rare 1s up, as
ESPnet's ``bce_pos_weight``), over valid frames only. Guided attention runs over the valid
decoder steps (``ceil(frames / r)``) and tokens of each utterance.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiokit.losses.guided_attention import GuidedAttentionLoss


class Tacotron2Loss(nn.Module):
    def __init__(self, l1_weight: float = 1.0, mse_weight: float = 1.0, stop_weight: float = 1.0,
                 stop_pos_weight: float = 5.0, guided_attention_weight: float = 1.0,
                 guided_attention_sigma: float = 0.4) -> None:
        super().__init__()
        self.weights = {"l1": l1_weight, "mse": mse_weight, "stop": stop_weight,
                        "guided_attention": guided_attention_weight}
        self.stop_pos_weight = stop_pos_weight
        self.guided = GuidedAttentionLoss(guided_attention_sigma)

    def forward(self, before: Tensor, after: Tensor, stop_logits: Tensor, attention: Tensor,
                target: Tensor, frame_lens: Tensor, token_lens: Tensor, r: int) -> dict[str, Tensor]:
        """``before``/``after``/``target`` [B, T, n_mels], ``stop_logits`` [B, T], ``attention``
        [B, steps, N]; returns each part and the weighted ``loss``."""
        t_max = target.size(1)
        valid = torch.arange(t_max, device=target.device)[None, :] < frame_lens[:, None]
        frames = valid.sum().clamp(min=1) * target.size(2)
        mask = valid[:, :, None].float()
        parts = {
            "l1": ((before - target).abs() * mask).sum() / frames
            + ((after - target).abs() * mask).sum() / frames,
            "mse": ((before - target).square() * mask).sum() / frames
            + ((after - target).square() * mask).sum() / frames,
        }
        stop_target = (torch.arange(t_max, device=target.device)[None, :] == frame_lens[:, None] - 1).float()
        bce = F.binary_cross_entropy_with_logits(
            stop_logits.float(), stop_target, reduction="none",
            pos_weight=torch.tensor(self.stop_pos_weight, device=target.device))
        parts["stop"] = (bce * valid).sum() / valid.sum().clamp(min=1)
        steps = torch.div(frame_lens + r - 1, r, rounding_mode="floor")
        parts["guided_attention"] = self.guided(attention, steps, token_lens)
        parts["loss"] = sum(self.weights[k] * parts[k] for k in self.weights if self.weights[k])
        return parts
