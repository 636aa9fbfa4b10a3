"""Music Transformer speed: training tokens/s, sampling tokens/s (cached steps), peak RSS, for
the relative model and its vanilla control at the chorale experiments' size. Prints one JSON
object. Random event ids (speed does not depend on the data).

    python bench/music.py                       # d 128, 4 layers, crops of 256, batch 16
    python bench/music.py --threads 2 --train-steps 5
    python bench/music.py --device cuda --max-len 2048 --d-model 512 --layers 6 --heads 8 --ffn 2048
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from timing import memory_report, sync, time_steps  # bench/timing.py (this folder leads sys.path)

from audiokit.models.music import MusicTransformer

VOCAB = 275  # the chorales' token list: 272 events + <blank>, <unk>, <sos/eos>



def build(args, relative: bool, device: str) -> MusicTransformer:
    torch.manual_seed(0)
    return MusicTransformer(VOCAB, d_model=args.d_model, num_heads=args.heads, ffn_dim=args.ffn,
                            num_layers=args.layers, dropout=0.1, max_len=args.max_len,
                            relative=relative, absolute_positions=not relative).to(device)


def bench_train(model: MusicTransformer, args, device: str) -> dict:
    g = torch.Generator().manual_seed(0)
    ys = torch.randint(0, VOCAB, (args.batch, args.max_len + 1), generator=g).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def step() -> None:
        loss = F.cross_entropy(model(ys[:, :-1]).flatten(0, 1).float(), ys[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    seconds = time_steps(step, args.warmup, args.train_steps, device)
    return {"train_tokens_per_s": round(args.train_steps * args.batch * args.max_len / seconds, 1),
            "train_steps_per_s": round(args.train_steps / seconds, 3)}


@torch.no_grad()
def bench_sample(model: MusicTransformer, args, device: str) -> dict:
    model.eval()
    g = torch.Generator().manual_seed(0)
    ys = torch.full((args.gen_batch, 1), VOCAB - 1, device=device)
    sync(device)
    t0 = time.perf_counter()
    state = None
    for _ in range(args.gen_tokens):
        logp, state = model.step(ys, state)
        nxt = torch.multinomial(logp.exp().cpu(), 1, generator=g).to(device)
        ys = torch.cat([ys, nxt], dim=1)
    sync(device)
    seconds = time.perf_counter() - t0
    return {"sample_tokens_per_s": round(args.gen_batch * args.gen_tokens / seconds, 1),
            "sample_batch": args.gen_batch, "sample_tokens": args.gen_tokens}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=512)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--max-len", type=int, default=256)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--train-steps", type=int, default=5)
    p.add_argument("--gen-batch", type=int, default=10)
    p.add_argument("--gen-tokens", type=int, default=255)
    args = p.parse_args()
    if args.gen_tokens + 1 > args.max_len:
        p.error(f"--gen-tokens {args.gen_tokens}: at most --max-len - 1 = {args.max_len - 1}")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = {"bench": "music", "device": args.device, "threads": torch.get_num_threads(),
           "model": {"d_model": args.d_model, "heads": args.heads, "ffn": args.ffn,
                     "layers": args.layers, "max_len": args.max_len, "vocab": VOCAB},
           "train_batch": [args.batch, args.max_len]}
    for name, relative in (("relative", True), ("vanilla", False)):
        model = build(args, relative, args.device)
        out[name] = {"parameters": sum(q.numel() for q in model.parameters()),
                     **bench_train(model, args, args.device), **bench_sample(model, args, args.device)}
    out |= memory_report(args.device)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
