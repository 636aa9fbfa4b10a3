"""TTS speed at the FSDD experiments' sizes (tts/fsdd_tacotron2, tts/fsdd_vits): training
batches/s (Tacotron 2: one teacher-forced step; VITS: one discriminator + one generator step,
as the GAN task does) and synthesis real-time factor at batch 1 and batched, peak RSS.
Prints one JSON object. Untrained weights and noise audio: speed does not depend on them, but
an untrained Tacotron 2 never predicts a stop, so its decoder runs to the length guard
(``--tacotron-frames``); its RTF is the acoustic model's alone (the vocoder is
``bench/run.py --only vocode``). Tacotron 2 decodes one utterance at a time, so its batched
figure is the same loop over the batch; VITS pads the batch and decodes it at once, its
untrained durations stretched by ``--vits-length-scale`` towards a digit's real length
(``synth_seconds_per_string`` says what came out: RTF has a fixed part per call).

    python bench/tts.py                          # batch 16 of 2-s strings, synthesis batch 8
    python bench/tts.py --threads 1 --train-steps 2 --synth-texts 2
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from timing import memory_report, sync, time_steps  # bench/timing.py (this folder leads sys.path)

from audiokit.cli.train import CONF_DIR, build_task
from audiokit.losses.gan import (
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from audiokit.text.tts_frontend import TextFrontend

WORDS = "zero one two three four five six seven eight nine".split()
RATE = 8000


def texts(n: int, digits: int, seed: int = 0) -> list[str]:
    g = torch.Generator().manual_seed(seed)
    return [" ".join(WORDS[int(i)] for i in torch.randint(0, 10, (digits,), generator=g)) for _ in range(n)]


def build(experiment: str, device: str, overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}", "exp_dir=/tmp/bench_tts", *overrides])
    kwargs = {"text": TextFrontend.build("char", "english", [" ".join(WORDS)]).spec(),
              "max_text_symbols": 40, "max_seconds_per_symbol": 0.1}
    if experiment.endswith("vits"):
        kwargs["speakers"] = ["jackson"]
    torch.manual_seed(0)
    return build_task(cfg, kwargs).to(device), cfg


def batch(args, device: str) -> dict:
    g = torch.Generator().manual_seed(0)
    n = int(args.seconds * RATE)
    return {"ids": [f"u{i}" for i in range(args.batch)], "text": texts(args.batch, args.digits),
            "audio": (0.1 * torch.randn(args.batch, n, generator=g)).to(device),
            "audio_lens": torch.full((args.batch,), n, device=device), "speaker": ["jackson"] * args.batch}


def bench_tacotron2(args, device: str) -> dict:
    task, _ = build("tts/fsdd_tacotron2", device, [])
    data = batch(args, device)
    opt = torch.optim.Adam(task.model.parameters(), lr=1e-4)
    task.train()

    def step() -> None:
        parts = task._step(data)[0]
        opt.zero_grad(set_to_none=True)
        parts["loss"].backward()
        opt.step()

    seconds = time_steps(step, args.warmup, args.train_steps, device)
    task.eval()
    frames_per_s = RATE / task.frontend.hop_length

    def synth(text: str) -> float:
        ids = torch.tensor(task.encode(text), device=device)
        frames, _, _ = task.model.inference(ids, max_steps=args.tacotron_frames // task.model.r)
        return frames.size(0) / frames_per_s

    out = {"parameters": sum(p.numel() for p in task.model.parameters()),
           "train_batches_per_s": round(args.train_steps / seconds, 3)}
    with torch.inference_mode():
        for name, group in (("batch1", 1), ("batched", args.synth_batch)):
            strings = texts(args.synth_texts * group, args.digits, seed=1)
            synth(strings[0])
            sync(device)
            t0 = time.perf_counter()
            audio = sum(synth(t) for t in strings)
            sync(device)
            out[f"synth_rtf_{name}"] = round((time.perf_counter() - t0) / audio, 4)
    return out


def bench_vits(args, device: str) -> dict:
    task, _ = build("tts/fsdd_vits", device, [])
    data = batch(args, device)
    opt_g = torch.optim.AdamW(task.generator.parameters(), lr=1e-4)
    opt_d = torch.optim.AdamW(task.discriminator.parameters(), lr=1e-4)
    w = task.loss_weights
    task.train()

    def step() -> None:  # the GAN task's batch: discriminator step, then generator step
        out, target = task.generator_output(data)
        fake = out["audio"]
        real_logits, _ = task.discriminator(target)
        fake_logits, _ = task.discriminator(fake.detach())
        opt_d.zero_grad(set_to_none=True)
        discriminator_loss(real_logits, fake_logits).backward()
        opt_d.step()
        fake_logits, fake_feats = task.discriminator(fake)
        with torch.no_grad():
            _, real_feats = task.discriminator(target)
        loss = (w["adv"] * generator_adversarial_loss(fake_logits)
                + w["fm"] * feature_matching_loss(real_feats, fake_feats)
                + sum(w[n] * fn(fake, target) for n, fn in task.recon_losses.items())
                + sum(w[n] * v for n, v in out["losses"].items()))
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()

    seconds = time_steps(step, args.warmup, args.train_steps, device)
    task.eval()
    task.fold_weight_norm()  # as Text2Speech does for synthesis
    out = {"parameters": sum(p.numel() for p in task.generator.parameters()),
           "train_batches_per_s": round(args.train_steps / seconds, 3),
           "segment_frames": task.generator.segment_frames}
    with torch.inference_mode():
        for name, group in (("batch1", 1), ("batched", args.synth_batch)):
            strings = texts(args.synth_texts * group, args.digits, seed=1)
            ids = [torch.tensor(task.encode(t)) for t in strings]
            scale = {"length_scale": args.vits_length_scale}
            task.synthesize_waveforms(ids[:group], **scale)
            sync(device)
            t0 = time.perf_counter()
            audio = 0.0
            for k in range(0, len(ids), group):
                audio += sum(a.numel() for a in task.synthesize_waveforms(ids[k:k + group], **scale)) / RATE
            sync(device)
            out[f"synth_rtf_{name}"] = round((time.perf_counter() - t0) / audio, 4)
            out["synth_seconds_per_string"] = round(audio / len(ids), 2)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--batch", type=int, default=16, help="training batch (strings)")
    p.add_argument("--seconds", type=float, default=2.0, help="audio per training string")
    p.add_argument("--digits", type=int, default=4, help="digits per string")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--train-steps", type=int, default=5)
    p.add_argument("--synth-texts", type=int, default=5, help="batches timed per synthesis figure")
    p.add_argument("--synth-batch", type=int, default=8)
    p.add_argument("--tacotron-frames", type=int, default=240, help="Tacotron 2's length guard")
    p.add_argument("--vits-length-scale", type=float, default=3.0,
                   help="stretch of the untrained VITS durations (about 0.4 s a digit at 3)")
    p.add_argument("--only", choices=("tacotron2", "vits"), default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = {"bench": "tts", "device": args.device, "threads": torch.get_num_threads(),
           "train_batch": [args.batch, args.seconds], "synth_batch": args.synth_batch}
    for name, fn in (("tacotron2", bench_tacotron2), ("vits", bench_vits)):
        if args.only in (None, name):
            out[name] = fn(args, args.device)
    out |= memory_report(args.device)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
