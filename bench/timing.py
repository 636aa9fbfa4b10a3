"""What the standalone benches share: peak memory and timing of repeated steps."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

import torch


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def memory_report(device: str) -> dict[str, float]:
    """This process's peak RSS, and on a GPU the peak memory torch allocated there (MiB)."""
    report = {"peak_rss_mb": peak_rss_mb()}
    if device.startswith("cuda"):
        report["peak_gpu_mem_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return report


def sync(device: str) -> None:
    """Wait for the GPU's queued work, so a timer reads the work done, not the work queued."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_steps(step: Callable[[], None], warmup: int, steps: int, device: str) -> float:
    """Seconds that ``steps`` calls of ``step`` take, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return time.perf_counter() - t0
