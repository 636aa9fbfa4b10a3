"""SSL pretraining speed: steps/s, audio seconds/s and peak RSS of the ssl/fsdd_audio_mae
experiment (labels ignored) on a slice of FSDD, a bounded number of steps (the first
``--warmup`` steps untimed). Also the SSL-features frontend (frozen MAE encoder, weighted layer
sum) forward speed, and (in a fresh process, so its peak RSS is its own) the same figures for
HuBERT iteration 1 (ssl/fsdd_hubert_iter1, MFCC k-means targets of the slice written first;
under "hubert") and for BEATs iteration 1 (ssl/fsdd_beats_iter1, random-projection labels;
under "beats"). Prints one JSON object.

    FSDD_ROOT=/path/to/fsdd python bench/ssl_pretrain.py                 # 60 timed steps each
    python bench/ssl_pretrain.py --steps 20 --per-digit 4 -- trainer=gpu   # Hydra overrides after --
    python bench/ssl_pretrain.py --experiment ssl/fsdd_hubert_iter1        # HuBERT only
    python bench/ssl_pretrain.py --experiment ssl/fsdd_beats_iter1         # BEATs only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import peak_rss_mb  # bench/timing.py (this folder leads sys.path)

REPO = Path(__file__).resolve().parents[1]


def fsdd_slice(tmp: Path, per_digit: int) -> Path:
    """Train/valid data dirs of ``per_digit`` recordings per digit and speaker."""
    from audiokit.data.corpora import fsdd

    root = Path(os.environ.get("FSDD_ROOT", REPO.parent / "shared/data/fsdd"))
    fsdd.prepare(root, tmp / "data", {"train": (5, 5 + per_digit), "valid": (0, 2), "test": (2, 3)})
    return tmp / "data"


MAE, HUBERT = "ssl/fsdd_audio_mae", "ssl/fsdd_hubert_iter1"
BEATS = "ssl/fsdd_beats_iter1"


def hubert_targets(tmp: Path, data: Path) -> list[str]:
    """MFCC k-means targets (100 clusters, seed 0) of the slice's train and valid audio."""
    from audiokit.models.ssl.kmeans_targets import write_targets

    both = tmp / "pretrain_all"
    both.mkdir()
    (both / "wav.scp").write_text("".join((data / s / "wav.scp").read_text() for s in ("train", "valid")))
    targets = write_targets(both, tmp / "kmeans", clusters=100, seed=0, sample_rate=8000)
    return [f"task.targets={targets}"]


def bench_pretrain(tmp: Path, data: Path, steps: int, warmup: int, extra: list[str],
                   experiment: str = MAE) -> dict:
    import lightning.pytorch as pl
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from audiokit.cli.train import CONF_DIR, build_task, build_trainer

    class Meter(pl.Callback):
        """Times training steps ``warmup`` .. end; counts their audio seconds."""

        def __init__(self) -> None:
            self.t0 = None
            self.steps = 0
            self.audio_s = 0.0

        def on_train_batch_start(self, trainer, module, batch, idx):
            if trainer.global_step == warmup:
                self.t0 = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, idx):
            if self.t0 is not None:
                self.steps += 1
                self.audio_s += float(batch["audio_lens"].sum()) / sample_rate

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[
            f"experiment={experiment}", f"paths.data_root={data}", f"exp_dir={tmp}/exp",
            f"trainer.max_steps={warmup + steps}", "trainer.max_epochs=-1",
            "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0", "logger=none",
            "callbacks.lr_monitor=null", "callbacks.progress=null", "callbacks.checkpoint=null",
            "data.num_workers=0", *(["frontend.stats_file=null"] if experiment == MAE else []),
            *extra])
    sample_rate = int(cfg.data.sample_rate)
    dm = instantiate(cfg.data)
    task = build_task(cfg, dm.task_kwargs())
    trainer = build_trainer(cfg, tmp / "exp")
    meter = Meter()
    trainer.callbacks.append(meter)
    trainer.fit(task, datamodule=dm)
    elapsed = time.perf_counter() - meter.t0
    out = {"experiment": experiment, "timed_steps": meter.steps,
           "steps_per_s": round(meter.steps / elapsed, 3),
           "audio_s_per_s": round(meter.audio_s / elapsed, 1),
           "max_batch_seconds": float(cfg.data.max_batch_seconds),
           **({"mask_ratio": float(cfg.model.mask_ratio)} if experiment == MAE else
              {"mask_ratio": float(cfg.model.mask_ratio),
               "codebook_size": int(cfg.model.tokenizer.codebook_size)} if experiment == BEATS else
              {"mask_prob": float(cfg.model.mask_prob), "clusters": int(cfg.model.num_classes)}),
           "num_parameters": sum(p.numel() for p in task.parameters()),
           "threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        out |= {"device": torch.cuda.get_device_name(0),
                "peak_gpu_mem_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)}
    return out


def bench_features(reps: int = 5) -> dict:
    """Frozen FSDD-size MAE encoder + weighted layer sum on a batch of 16 one-second clips."""
    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(REPO / "audiokit/conf/frontend/ssl_ast.yaml")
    cfg = OmegaConf.merge({"data": {"sample_rate": 8000}}, {"frontend": cfg})
    frontend = instantiate(cfg.frontend).eval()
    wav, lens = torch.randn(16, 8000) * 0.1, torch.full((16,), 8000)
    with torch.inference_mode():
        frontend(wav, lens)
        t0 = time.perf_counter()
        for _ in range(reps):
            frontend(wav, lens)
    return {"ssl_features_audio_s_per_s": round(16 * reps / (time.perf_counter() - t0), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--per-digit", type=int, default=10,
                        help="recordings per digit and speaker in the training slice")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--experiment", choices=(MAE, HUBERT, BEATS), default=None,
                        help="only this one (default: Audio-MAE and features here, HuBERT and "
                             "BEATs each in a fresh process)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides (after --)")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    experiment = args.experiment or MAE
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = fsdd_slice(tmp, args.per_digit)
        extra = hubert_targets(tmp, data) if experiment == HUBERT else []
        result = bench_pretrain(tmp, data, args.steps, args.warmup, extra + args.overrides,
                                experiment)
    if experiment == MAE:
        result |= bench_features()
    result["peak_rss_mb"] = peak_rss_mb()
    # HuBERT and BEATs too, each in its own process (its own peak RSS)
    for other, key in ((HUBERT, "hubert"), (BEATS, "beats")) if args.experiment is None else ():
        cmd = [sys.executable, __file__, "--experiment", other, "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--per-digit", str(args.per_digit)]
        cmd += ["--threads", str(args.threads)] if args.threads else []
        done = subprocess.run([*cmd, "--", *args.overrides], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{other} bench failed: {done.stderr[-2000:]}")
        result[key] = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
