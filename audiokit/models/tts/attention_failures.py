"""The classic attention failures of autoregressive TTS, read off an attention matrix.

``A`` is [decoder steps, input tokens] for one utterance. Its argmax path p_t (the token
attended most at step t) should walk from the first token to the last, never back:

- **skip**: the path jumps forward over more than ``max_jump`` tokens at once, or ends
  (with the stop token) more than ``end_margin`` tokens before the last one: input not said;
- **repeat**: the path goes back by more than ``max_back`` tokens from the furthest token it
  has reached: input said twice;
- **no stop**: the decoder ran into its length guard instead of predicting a stop.

Thresholds count tokens; the defaults suit character or phoneme input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class AttentionFailures:
    skip: bool = False
    repeat: bool = False
    no_stop: bool = False
    details: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return self.skip or self.repeat or self.no_stop

    @property
    def count(self) -> int:
        return int(self.skip) + int(self.repeat) + int(self.no_stop)

    def names(self) -> list[str]:
        return [n for n in ("skip", "repeat", "no_stop") if getattr(self, n)]


def detect_attention_failures(attention: torch.Tensor, stopped: bool, *, max_jump: int = 3,
                              max_back: int = 2, end_margin: int = 2) -> AttentionFailures:
    """Flags for one utterance (see the module docstring)."""
    if attention.dim() != 2 or attention.numel() == 0:
        raise ValueError(f"attention must be [steps, tokens] and non-empty, got {list(attention.shape)}")
    n_tokens = attention.size(1)
    path = attention.float().argmax(1)
    out = AttentionFailures(no_stop=not stopped)
    if not stopped:
        out.details.append(f"no stop within {attention.size(0)} steps")
    steps = path[1:] - path[:-1]
    if steps.numel() and int(steps.max()) > max_jump:
        t = int(steps.argmax())
        out.skip = True
        out.details.append(f"jump from token {int(path[t])} to {int(path[t + 1])} at step {t + 1}")
    if stopped and int(path[-1]) < n_tokens - 1 - end_margin:
        out.skip = True
        out.details.append(f"stopped at token {int(path[-1])} of {n_tokens}")
    furthest = torch.cummax(path, 0).values
    back = furthest - path
    if int(back.max()) > max_back:
        t = int(back.argmax())
        out.repeat = True
        out.details.append(f"back from token {int(furthest[t])} to {int(path[t])} at step {t}")
    return out
