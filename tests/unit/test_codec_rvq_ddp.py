"""RVQ under DDP (2 gloo processes on CPU): ranks see different batches, yet the k-means init,
the EMA statistics, dead-code restarts and the quantizer-dropout draw stay identical."""

from __future__ import annotations

import os
import random

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from audiokit.models.codec.rvq import ResidualVectorQuantizer


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(rank)          # different data and different local randomness per rank
    random.seed(rank)
    rvq = ResidualVectorQuantizer(dim=4, codebook_size=8, num_quantizers=3, n_q_choices=[1, 2, 3],
                                  quantizer_dropout=0.7, kmeans_iters=3, dead_code_threshold=1.5)
    rvq.train()
    used = []
    for _ in range(6):
        used.append(rvq(torch.randn(2, 4, 50) * (rank + 1))[1].shape[1])
    torch.save({"state": rvq.state_dict(), "used": used}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def test_codebooks_stay_identical_across_ranks(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert a["used"] == b["used"]
    for key, value in a["state"].items():
        torch.testing.assert_close(value, b["state"][key], msg=key)
    assert bool(a["state"]["layers.0.inited"])
