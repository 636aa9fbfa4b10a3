"""audiokit benchmarks (``make bench``): JSON figures, one fresh process per benchmark so each
peak RSS is its own. Needs the FSDD mirror ($FSDD_ROOT).

    python bench/run.py                      # all, JSON on stdout and in bench/results/
    python bench/run.py --only features      # features, loading, train_cnn, train_ast, train_asr, decode_asr
    python bench/run.py --only train_cnn --trainer gpu_bf16   # training benches on a GPU
    python bench/run.py --only decode_asr --asr-exp recipes/fsdd/asr/exp/fsdd_conformer
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHES = ("features", "loading", "train_cnn", "train_ast", "train_asr", "decode_asr")
DEFAULT_ASR_EXP = REPO / "recipes/fsdd/asr/exp/fsdd_conformer"
# Dense bf16 tensor-core peaks (FLOP/s) for model FLOP utilisation; SXM parts.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its (DataLoader worker) children."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_rss_mb": round(own, 1), "peak_rss_children_mb": round(children, 1)}


def fsdd_data(tmp: Path) -> Path:
    from audiokit.data.corpora import fsdd

    root = Path(os.environ.get("FSDD_ROOT", REPO.parent / "shared/data/fsdd"))
    fsdd.prepare(root, tmp / "data")
    return tmp / "data"


def fsdd_strings_data(tmp: Path, test_only: bool = False) -> tuple[Path, Path]:
    """(data dir root, word token dir) of the FSDD ASR recipe's digit strings."""
    from audiokit.data.corpora import fsdd_strings
    from audiokit.data.datadir import DataDir
    from audiokit.text.tokenizer import train_tokenizer

    root = Path(os.environ.get("FSDD_ROOT", REPO.parent / "shared/data/fsdd"))
    splits = dict(fsdd_strings.DEFAULT_SPLITS)
    if test_only:
        splits = {"test": splits["test"]}
    fsdd_strings.prepare(root, tmp / "data", splits)
    text = DataDir.load(tmp / "data" / next(iter(splits))).text.values()
    train_tokenizer("word", text, tmp / "tokens")
    return tmp / "data", tmp / "tokens"


def bench_features(tmp: Path) -> dict:
    """Feature extraction speed, in multiples of real time, on all FSDD training audio."""
    import torch

    from audiokit.data.audio import load_audio
    from audiokit.data.collate import pad_sequences
    from audiokit.data.datadir import DataDir
    from audiokit.frontends import KaldiFbank, LogMel

    torch.set_num_threads(2)
    d = DataDir.load(fsdd_data(tmp) / "train")
    waves = [load_audio(d.wav_scp[u], 8000, utt=u) for u in d.utt_ids]
    seconds = sum(w.shape[0] for w in waves) / 8000
    batches = [pad_sequences(waves[i : i + 32]) for i in range(0, len(waves), 32)]
    out = {"audio_seconds": round(seconds, 1)}
    for name, frontend in (("logmel", LogMel(8000, n_mels=40)), ("kaldi_fbank", KaldiFbank(8000, n_mels=40))):
        times = []
        with torch.inference_mode():
            for _ in range(3):
                t0 = time.perf_counter()
                for audio, lens in batches:
                    frontend(audio, lens)
                times.append(time.perf_counter() - t0)
        out[f"{name}_x_realtime"] = round(seconds / sorted(times)[1], 1)
    return out | peak_rss_mb()


def bench_loading(tmp: Path) -> dict:
    """DataLoader throughput over the FSDD training data dir, as the CNN recipe loads it."""
    from audiokit.data.augment import SpeedPerturb
    from audiokit.data.datamodule import AudioDataModule

    data = fsdd_data(tmp)
    out = {}
    for name, augment in (("plain", None), ("speed_perturb", SpeedPerturb())):
        dm = AudioDataModule(str(data / "train"), str(data / "valid"), 8000,
                             max_batch_seconds=20.0, num_workers=2, augment=augment)
        dm.setup("fit")
        loader = dm.train_dataloader()
        rates = []
        for _ in range(2):
            t0 = time.perf_counter()
            n = secs = 0
            for batch in loader:
                n += len(batch["ids"])
                secs += float(batch["audio_lens"].sum()) / 8000
            rates.append((n / (time.perf_counter() - t0), secs / (time.perf_counter() - t0)))
        best = max(rates)
        out[name] = {"utts_per_s": round(best[0], 1), "audio_s_per_s": round(best[1], 1)}
    return out | peak_rss_mb()


def bench_train(tmp: Path, experiment: str, trainer_config: str, data: Path,
                extra: list[str] = ()) -> dict:
    """Training throughput of an FSDD experiment: one epoch, timed after 5 warm-up steps."""
    import lightning.pytorch as pl
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from torch.utils.flop_counter import FlopCounterMode

    from audiokit.cli.train import CONF_DIR, build_task, build_trainer

    class Meter(pl.Callback):
        """Times batches 5.. of the epoch; counts the FLOPs of batch 2 (forward + backward)."""

        def __init__(self):
            self.n = self.secs = 0
            self.t0 = None
            self.flops = self.flops_utts = 0
            self.counter = None

        def on_train_batch_start(self, trainer, module, batch, idx):
            if idx == 2:
                self.counter = FlopCounterMode(display=False)
                self.counter.__enter__()
                self.flops_utts = len(batch["ids"])
            if idx == 5:
                self.t0 = time.perf_counter()
            if idx >= 5:
                self.n += len(batch["ids"])
                self.secs += float(batch["audio_lens"].sum()) / 8000

        def on_train_batch_end(self, trainer, module, outputs, batch, idx):
            if idx == 2:
                self.counter.__exit__(None, None, None)
                self.flops = self.counter.get_total_flops()

        def on_train_epoch_end(self, trainer, module):
            self.elapsed = time.perf_counter() - self.t0

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[
            f"experiment={experiment}", f"paths.data_root={data}", f"exp_dir={tmp}/exp",
            f"trainer={trainer_config}",
            "trainer.max_epochs=1", "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0",
            "logger=none", "callbacks.lr_monitor=null", "callbacks.progress=null",
            "callbacks.checkpoint=null", *extra])
    dm = instantiate(cfg.data)
    task = build_task(cfg, dm.task_kwargs())
    trainer = build_trainer(cfg, tmp / "exp")
    meter = Meter()
    trainer.callbacks.append(meter)
    trainer.fit(task, datamodule=dm)
    utts_per_s = meter.n / meter.elapsed
    model_flops = meter.flops / meter.flops_utts * utts_per_s  # achieved model FLOP/s
    gpu = {}
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        gpu = {"device": name, "peak_gpu_mem_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)}
        peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)
        if peak and "bf16" in str(cfg.trainer.precision):
            gpu["mfu_bf16"] = round(model_flops / peak, 4)
    return gpu | {
        "experiment": experiment,
        "trainer": trainer_config,
        "precision": str(cfg.trainer.precision),
        "utts_per_s": round(utts_per_s, 1),
        "model_tflops_per_s": round(model_flops / 1e12, 3),
        "audio_s_per_s": round(meter.secs / meter.elapsed, 1),
        "num_parameters": sum(p.numel() for p in task.parameters()),
    } | peak_rss_mb()


def bench_decode_asr(tmp: Path, exp_dir: Path, device: str) -> dict:
    """Decoding real-time factor (decode seconds / audio seconds, model and features
    included) of a trained FSDD ASR experiment on the 300 test strings: CTC greedy and joint
    CTC/attention beam 10, one utterance at a time and batched. Also checks that batched
    joint search returns the same best hypotheses as one-at-a-time search."""
    import torch

    from audiokit.inference.batches import inference_batches
    from audiokit.inference.speech2text import Speech2Text

    if not (exp_dir / "model.pt").is_file():
        raise SystemExit(f"{exp_dir}/model.pt: train the FSDD ASR recipe first (or --asr-exp)")
    torch.set_num_threads(2)
    data, _ = fsdd_strings_data(tmp, test_only=True)
    out = {"exp_dir": str(exp_dir), "device": device}
    texts = {}
    for mode, beam in (("ctc_greedy", 1), ("joint", 10)):
        s2t = Speech2Text.from_exp_dir(exp_dir, device, decoding={"mode": mode, "beam": beam})
        for batching, seconds in (("batch1", 1e-3), ("batched", 120.0)):  # 1e-3 s: one per batch
            batches, _ = inference_batches(str(data / "test"), s2t.sample_rate,
                                           max_batch_seconds=seconds)
            batches = list(batches)
            audio_s = sum(float(b["audio_lens"].sum()) for b in batches) / s2t.sample_rate
            s2t.transcribe_batch(batches[0]["audio"], batches[0]["audio_lens"])  # warm-up
            t0 = time.perf_counter()
            hyps = {}
            for b in batches:
                for utt, h in zip(b["ids"], s2t.transcribe_batch(b["audio"], b["audio_lens"]),
                                  strict=True):
                    hyps[utt] = h[0].text
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            out[f"{mode}_beam{beam}_{batching}_rtf"] = round((time.perf_counter() - t0) / audio_s, 5)
            texts[(mode, batching)] = hyps
    joint1, jointb = texts[("joint", "batch1")], texts[("joint", "batched")]
    out["joint_batched_equals_batch1"] = sum(joint1[u] == jointb[u] for u in joint1) / len(joint1)
    out["audio_seconds"] = round(audio_s, 1)
    return out | peak_rss_mb()


def run_one(name: str, trainer_config: str, asr_exp: Path, device: str, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        if name == "features":
            return bench_features(Path(tmp))
        if name == "loading":
            return bench_loading(Path(tmp))
        if name == "decode_asr":
            return bench_decode_asr(Path(tmp), asr_exp, device)
        if name == "train_asr":
            data, tokens = fsdd_strings_data(Path(tmp))
            return bench_train(Path(tmp), "asr/fsdd_conformer", trainer_config, data,
                               [f"paths.token_dir={tokens}", *extra])
        experiment = {"train_cnn": "cls/fsdd_cnn", "train_ast": "cls/fsdd_ast"}[name]
        return bench_train(Path(tmp), experiment, trainer_config, fsdd_data(Path(tmp)), extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=BENCHES, action="append")
    parser.add_argument("--trainer", default="cpu", help="trainer config for the training benches")
    parser.add_argument("--asr-exp", type=Path, default=DEFAULT_ASR_EXP,
                        help="trained ASR exp dir for decode_asr")
    parser.add_argument("--device", default="cpu", help="device for decode_asr")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra config override for the training benches, e.g. "
                             "trainer.precision=32-true")
    parser.add_argument("--one", choices=BENCHES, help=argparse.SUPPRESS)  # child process mode
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.trainer, args.asr_exp, args.device, args.set)))
        return
    from audiokit.utils.run_info import collect

    results = {"env": collect()}
    for name in args.only or BENCHES:
        proc = subprocess.run([sys.executable, __file__, "--one", name, "--trainer", args.trainer,
                               "--asr-exp", str(args.asr_exp), "--device", args.device,
                               *(f"--set={kv}" for kv in args.set)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            results[name] = {"error": proc.stderr.strip().splitlines()[-1:]}
        else:
            results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{name}: {json.dumps(results[name])}", file=sys.stderr)
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / time.strftime("bench-%Y%m%d-%H%M%S.json")
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
