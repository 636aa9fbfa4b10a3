"""Codec LM speed: training tokens/s, generation tokens/s with and without the KV cache, peak
RSS. Prints one JSON object. Random codes and text (speed does not depend on the data).

    python bench/codec_lm.py                    # delay pattern, 4 codebooks of 1024, 500 steps
    python bench/codec_lm.py --threads 1          # on a shared CPU machine
    python bench/codec_lm.py --device cuda --gen-batch 8
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from timing import memory_report, sync, time_steps  # bench/timing.py (this folder leads sys.path)

from audiokit.models.codec_lm import CodecLM, generate


def bench_train(lm: CodecLM, args, device: str) -> dict:
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, args.card, (args.batch, args.n_q, args.frames), generator=g)
    lens = torch.full((args.batch,), args.frames)
    text = torch.randint(0, 10, (args.batch, 12), generator=g)
    text_lens = torch.full((args.batch,), 12)
    batch = [t.to(device) for t in (codes, lens, text, text_lens)]
    opt = torch.optim.AdamW(lm.parameters(), lr=1e-4)
    lm.train()

    def step() -> None:
        logits, targets = lm(*batch)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 2).float(), targets.flatten(),
                                                 ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    seconds = time_steps(step, args.warmup, args.train_steps, device)
    tokens = args.train_steps * args.batch * args.n_q * args.frames
    return {"train_tokens_per_s": round(tokens / seconds, 1),
            "train_steps_per_s": round(args.train_steps / seconds, 3),
            "train_batch": [args.batch, args.n_q, args.frames]}


def bench_generate(lm: CodecLM, args, device: str) -> dict:
    lm.eval()
    frames = args.gen_steps - args.n_q + 1   # the delay pattern's steps for these frames
    g = torch.Generator().manual_seed(1)
    text = torch.randint(0, 10, (args.gen_batch, 12), generator=g).to(device)
    text_lens = torch.full((args.gen_batch,), 12, device=device)
    out, result = {}, {}
    for cache in (True, False):
        generate(lm, text=text, text_lens=text_lens, num_frames=4, temperature=0,
                 use_cache=cache)  # warm-up
        sync(device)
        t0 = time.perf_counter()
        gen = generate(lm, text=text, text_lens=text_lens, num_frames=frames, temperature=0,
                       use_cache=cache)
        sync(device)
        seconds = time.perf_counter() - t0
        name = "cached" if cache else "uncached"
        result[name] = gen
        tokens = args.gen_batch * args.n_q * frames
        out[f"gen_{name}_seconds"] = round(seconds, 3)
        out[f"gen_{name}_tokens_per_s"] = round(tokens / seconds, 1)
        out[f"gen_{name}_steps"] = gen.steps
    out["gen_cache_speedup"] = round(out["gen_uncached_seconds"] / out["gen_cached_seconds"], 2)
    out["gen_same_tokens"] = all(torch.equal(a, b) for a, b in zip(
        result["cached"].codes, result["uncached"].codes, strict=True))
    out["gen_batch"] = args.gen_batch
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--n-q", type=int, default=4)
    p.add_argument("--card", type=int, default=1024)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--batch", type=int, default=8, help="training batch")
    p.add_argument("--frames", type=int, default=250, help="training frames per utterance")
    p.add_argument("--train-steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--gen-steps", type=int, default=500)
    p.add_argument("--gen-batch", type=int, default=2)
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    lm = CodecLM(args.n_q, args.card, 10, pattern="delay", condition="cross",
                 d_model=args.d_model, num_heads=args.heads, ffn_dim=4 * args.d_model,
                 num_layers=args.layers, dropout=0.0).to(args.device)
    out = {"bench": "codec_lm", "device": args.device, "threads": torch.get_num_threads(),
           "pattern": "delay", "condition": "cross", "n_q": args.n_q, "card": args.card,
           "d_model": args.d_model, "layers": args.layers,
           "params_m": round(sum(p.numel() for p in lm.parameters()) / 1e6, 2)}
    if args.device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name()
    if not args.skip_train:
        out |= bench_train(lm, args, args.device)
    out |= bench_generate(lm, args, args.device)
    out |= memory_report(args.device)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
