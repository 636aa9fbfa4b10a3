"""Text-to-music diffusion speed: training steps/s (batches of 3-s log-mel windows) and
sampling clips/s of 6-s mels (DDIM steps with classifier-free guidance, so two denoiser
passes per step; vocoding excluded), peak RSS, for MelUNet at diffusion/chorales_unet's size
(128 mels at 62.5 frames/s). Prints one JSON object. Random mels and captions (speed does not
depend on the data).

    python bench/diffusion.py                              # batch 16, 50 DDIM steps, 8 clips
    python bench/diffusion.py --threads 2 --train-steps 5 --ddim-steps 20
    python bench/diffusion.py --device cuda --batch 64
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from timing import memory_report, sync, time_steps  # bench/timing.py (this folder leads sys.path)

from audiokit.models.diffusion import MelUNet, NoiseSchedule, classifier_free_guidance, ddim_sample

VOCAB = 32      # about the chorale captions' word list with its specials
CAPTION = 10    # words per caption
FRAMES_PER_S = 62.5


def build(args) -> MelUNet:
    torch.manual_seed(0)
    return MelUNet(args.n_mels, VOCAB, channels=tuple(args.channels), blocks=args.blocks,
                   attn_levels=tuple(range(1, len(args.channels))),  # all but the full rate
                   cond_dropout=0.1).to(args.device)


def bench_train(model: MelUNet, schedule: NoiseSchedule, args) -> dict:
    g = torch.Generator().manual_seed(0)
    b, device = args.batch, args.device
    x0 = torch.randn(b, args.n_mels, args.train_frames, generator=g).to(device)
    text = torch.randint(1, VOCAB, (b, CAPTION), generator=g).to(device)
    lens = torch.full((b,), CAPTION, device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def step() -> None:
        t = torch.randint(0, schedule.num_steps, (b,), device=device)
        noise = torch.randn_like(x0)
        out = model(schedule.q_sample(x0, t, noise), t, text, lens)
        loss = (out - schedule.target(x0, noise, t, "v")).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    seconds = time_steps(step, args.warmup, args.train_steps, device)
    return {"train_steps_per_s": round(args.train_steps / seconds, 3),
            "train_clips_per_s": round(args.train_steps * b / seconds, 2)}


@torch.no_grad()
def bench_sample(model: MelUNet, schedule: NoiseSchedule, args) -> dict:
    model.eval()
    b, device = args.gen_batch, args.device
    g = torch.Generator().manual_seed(0)
    text = torch.randint(1, VOCAB, (b, CAPTION), generator=g).to(device)
    lens = torch.full((b,), CAPTION, device=device)
    cond = model.encode_text(torch.cat([text, text.new_zeros(b, CAPTION)]),
                             torch.cat([lens, torch.zeros_like(lens)]))  # caption + null

    def denoise(x, t):
        out = model(torch.cat([x, x]), torch.cat([t, t]), cond=cond)
        return classifier_free_guidance(out[:b], out[b:], 3.0)

    sync(device)
    t0 = time.perf_counter()
    ddim_sample(denoise, schedule, (b, args.n_mels, args.gen_frames), steps=args.ddim_steps,
                prediction="v", generator=g, device=device)
    sync(device)
    seconds = time.perf_counter() - t0
    audio = b * args.gen_frames / FRAMES_PER_S
    return {"sample_clips_per_s": round(b / seconds, 3), "sample_rtf": round(seconds / audio, 4),
            "sample_batch": b, "sample_seconds_per_clip": round(args.gen_frames / FRAMES_PER_S, 2),
            "ddim_steps": args.ddim_steps, "guidance": "cfg (2 passes per step)"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--n-mels", type=int, default=128)
    p.add_argument("--channels", type=int, nargs="+", default=[96, 160, 256])
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--train-frames", type=int, default=188, help="3-s windows at 62.5 frames/s")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--train-steps", type=int, default=5)
    p.add_argument("--gen-batch", type=int, default=8)
    p.add_argument("--gen-frames", type=int, default=375, help="6-s clips")
    p.add_argument("--ddim-steps", type=int, default=50)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    schedule = NoiseSchedule("cosine", 1000).to(args.device)
    model = build(args)
    out = {"bench": "diffusion", "device": args.device, "threads": torch.get_num_threads(),
           "model": {"n_mels": args.n_mels, "channels": args.channels, "blocks": args.blocks,
                     "parameters": sum(q.numel() for q in model.parameters())},
           "train_batch": [args.batch, args.n_mels, args.train_frames],
           **bench_train(model, schedule, args), **bench_sample(model, schedule, args)}
    out |= memory_report(args.device)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
