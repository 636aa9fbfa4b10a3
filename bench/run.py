"""audiokit benchmarks (``make bench``): JSON figures, one fresh process per benchmark so each
peak RSS is its own. Needs the FSDD mirror ($FSDD_ROOT).

    python bench/run.py                      # all, JSON on stdout and in bench/results/
    python bench/run.py --only features      # features, loading, train_cnn, train_ast, train_asr, decode_asr
    python bench/run.py --only train_cnn --trainer gpu_bf16   # training benches on a GPU
    python bench/run.py --only decode_asr --asr-exp recipes/fsdd/asr/exp/fsdd_conformer_aug
    python bench/run.py --only streaming     # shards vs data dir, 1x / 4x / 16x the corpus
    python bench/run.py --only ddp_scaling   # train_cnn: 1 process vs 2 gloo processes (CPU)
    python bench/run.py --only separate      # RTF of recipes/fsdd/sep's model on its test set
    python bench/run.py --only sep_step      # Conv-TasNet training step: eager vs compiled blocks
    python bench/run.py --only gan_step      # voc/fsdd_hifigan GAN training: batches (D + G step)/s
    python bench/run.py --only vocode        # vocoder RTF, batch 1 and batched; Griffin-Lim's
    python bench/run.py --only codec_lm      # codec LM tokens/s; generation with/without KV cache
    python bench/run.py --only music         # Music Transformer vs vanilla: tokens/s, sampling
    python bench/run.py --only ssl_pretrain  # Audio-MAE, HuBERT, BEATs pretraining steps/s, RSS
    python bench/run.py --only tts           # Tacotron 2 and VITS: training batches/s, synthesis RTF
    python bench/run.py --only diffusion     # text-to-music MelUNet: training steps/s, DDIM+CFG clips/s
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
BENCHES = ("features", "loading", "streaming", "train_cnn", "ddp_scaling", "train_ast",
           "train_asr", "decode_asr", "separate", "sep_step", "gan_step", "vocode", "codec",
           "codec_lm", "music", "ssl_pretrain", "tts", "diffusion")
# Benchmarks that are their own script in bench/ (each prints one JSON object last), and
# whether the script takes --device.
SCRIPTS = {"codec_lm": ("codec_lm.py", True), "music": ("music.py", True),
           "ssl_pretrain": ("ssl_pretrain.py", False), "tts": ("tts.py", True),
           "diffusion": ("diffusion.py", True)}
DEFAULT_ASR_EXP = REPO / "recipes/fsdd/asr/exp/fsdd_conformer_aug"
DEFAULT_SEP_EXP = REPO / "recipes/fsdd/sep/exp/fsdd_convtasnet"
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


def _epoch_throughput(kind: str, source: str, queue) -> None:
    """One training epoch of batches from a data dir or shards, in a fresh process so its
    peak RSS (and its loader workers') is its own."""
    if kind == "datadir":
        from audiokit.data.datamodule import AudioDataModule

        dm = AudioDataModule(source, source, 8000, max_batch_seconds=20.0, num_workers=2)
    else:
        from audiokit.data.streaming import ShardDataModule

        dm = ShardDataModule(source, source, 8000, max_batch_seconds=20.0, num_workers=2,
                             shuffle_buffer=500)
    dm.setup("fit")
    t0 = time.perf_counter()
    n = secs = 0
    for batch in dm.train_dataloader():
        n += len(batch["ids"])
        secs += float(batch["audio_lens"].sum()) / 8000
    elapsed = time.perf_counter() - t0
    queue.put({"utts": n, "utts_per_s": round(n / elapsed, 1),
               "audio_s_per_s": round(secs / elapsed, 1)} | peak_rss_mb())


def bench_streaming(tmp: Path) -> dict:
    """Shard streaming vs data-dir loading (2 workers, one epoch) as the corpus grows: the
    FSDD training recordings listed 1, 4 and 16 times. A data dir keeps its whole index in
    memory; a stream holds one shuffle buffer per worker, so its memory should stay flat."""
    import multiprocessing as mp

    from audiokit.data.datadir import DataDir
    from audiokit.data.shards import write_shards

    train = DataDir.load(fsdd_data(tmp) / "train")
    out: dict = {}
    ctx = mp.get_context("spawn")
    for copies in (1, 4, 16):
        d = DataDir(tmp / f"train_x{copies}", {}, utt2dur={}, utt2label={})
        for k in range(copies):
            for u in train.utt_ids:
                d.wav_scp[f"c{k}-{u}"] = train.wav_scp[u]
                d.utt2dur[f"c{k}-{u}"] = train.utt2dur[u]
                d.utt2label[f"c{k}-{u}"] = train.utt2label[u]
        d.write()
        write_shards(d.path, tmp / f"shards_x{copies}", audio_format="wav")
        for kind, source in (("datadir", d.path), ("shards", tmp / f"shards_x{copies}")):
            queue = ctx.Queue()
            proc = ctx.Process(target=_epoch_throughput, args=(kind, str(source), queue))
            proc.start()
            out[f"{kind}_x{copies}"] = queue.get()
            proc.join()
    return out


def bench_ddp_scaling(tmp: Path, extra: list[str]) -> dict:
    """The CNN recipe's training throughput with one process (2 threads) and with two gloo
    processes (1 thread each) on the same 2 cores: DDP's overhead on CPU, as a ratio."""
    data = fsdd_data(tmp)
    runs = {}
    for name, trainer in (("one_process", "cpu"), ("ddp_2_processes", "ddp_cpu")):
        proc = subprocess.run([sys.executable, __file__, "--one", "train_cnn", "--trainer",
                               trainer, "--data", str(data), *(f"--set={kv}" for kv in extra)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        runs[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    ratio = runs["ddp_2_processes"]["utts_per_s"] / runs["one_process"]["utts_per_s"]
    return runs | {"ddp_over_one_process": round(ratio, 3)}


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
    if not trainer.is_global_zero:  # DDP: rank 0 reports for all
        sys.exit(0)
    # Every rank runs as many batches as rank 0 (the sampler evens them out): scale its count.
    utts_per_s = meter.n * trainer.world_size / meter.elapsed
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
        "audio_s_per_s": round(meter.secs * trainer.world_size / meter.elapsed, 1),
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


def bench_separate(exp_dir: Path, data_dir: Path, device: str) -> dict:
    """Real-time factor of separating a data dir's mixtures one at a time (as audiokit-infer
    does), after a warm-up; model load and file writing excluded."""
    import torch

    from audiokit.data.audio import load_audio
    from audiokit.data.datadir import DataDir
    from audiokit.inference.separate import Separator

    torch.set_num_threads(os.cpu_count() or 1)
    separator = Separator.from_exp_dir(exp_dir, device)
    data = DataDir.load(data_dir)
    audio = [load_audio(data.wav_scp[u], separator.sample_rate, utt=u) for u in data.utt_ids]
    for a in audio[:5]:
        separator(a)
    t0 = time.perf_counter()
    for a in audio:
        separator(a)
    elapsed = time.perf_counter() - t0
    seconds = sum(len(a) for a in audio) / separator.sample_rate
    return {"exp_dir": str(exp_dir), "mixtures": len(audio), "audio_s": round(seconds, 1),
            "rtf": round(elapsed / seconds, 4), "device": device} | peak_rss_mb()


def bench_sep_step(extra: list[str], rounds: int = 3, steps: int = 20) -> dict:
    """Training steps of ``sep/fsdd_convtasnet``'s Conv-TasNet (forward, backward, Adam; bf16
    autocast) on batches of the recipe's shape (4 s of audio: 6-10 mixtures of 0.4-0.66 s),
    eager against ``compile_blocks``. Rounds alternate the two, so machine noise hits both."""
    import random
    import statistics

    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from audiokit.cli.train import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=sep/fsdd_convtasnet", *extra])
    models, optims, times = {}, {}, {}
    for compiled in (False, True):
        torch.manual_seed(0)
        models[compiled] = instantiate(cfg.model, num_sources=2, compile_blocks=compiled)
        optims[compiled] = torch.optim.Adam(models[compiled].parameters(), 1e-3)
        times[compiled] = []

    def step(compiled: bool, length: int) -> float:
        batch = torch.randn(32000 // length, length)
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = models[compiled](batch).float().pow(2).mean()
        loss.backward()
        optims[compiled].step()
        optims[compiled].zero_grad()
        return time.perf_counter() - t0

    warmup = {}
    for compiled in (False, True):  # the compiled model builds its graphs here
        t0 = time.perf_counter()
        for length in (3200, 4000, 4800, 5300):
            step(compiled, length)
        warmup[compiled] = time.perf_counter() - t0
    rng = random.Random(0)
    for _ in range(rounds):
        lengths = [rng.randint(3200, 5300) for _ in range(steps)]
        for compiled in (False, True):
            times[compiled] += [step(compiled, n) for n in lengths]
    eager, fast = (statistics.median(times[c]) * 1000 for c in (False, True))
    return {"experiment": "sep/fsdd_convtasnet", "steps_each": rounds * steps,
            "eager_step_ms": round(eager, 1), "compiled_step_ms": round(fast, 1),
            "speedup": round(eager / fast, 2), "compile_warmup_s": round(warmup[True], 1),
            "eager_warmup_s": round(warmup[False], 1)} | peak_rss_mb()


def bench_gan_step(tmp: Path, trainer_config: str, extra: list[str], batches: int = 20) -> dict:
    """GAN training of ``voc/fsdd_hifigan`` (discriminator on from the first batch): batches
    per second, each one discriminator and one generator update, timed after 3 warm-up
    batches, on FSDD training segments."""
    import lightning.pytorch as pl
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from audiokit.cli.train import CONF_DIR, build_task, build_trainer

    class Meter(pl.Callback):
        def __init__(self):
            self.n, self.t0, self.secs = 0, None, 0.0

        def on_train_batch_start(self, trainer, module, batch, idx):
            if self.n == 3 and self.t0 is None:
                self.t0 = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, idx):
            self.n += 1
            if self.t0 is not None:
                self.secs += batch["audio"].numel() / 8000
            self.elapsed = time.perf_counter() - (self.t0 or time.perf_counter())

    data = fsdd_data(tmp)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=voc/fsdd_hifigan", f"paths.data_root={data}", f"exp_dir={tmp}/exp",
            f"trainer={trainer_config}", f"trainer.max_steps={2 * (batches + 3)}",
            "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0",
            "task.discriminator_start_step=0", "logger=none", "callbacks.lr_monitor=null",
            "callbacks.progress=null", "callbacks.checkpoint=null", "callbacks.latest=null",
            *extra])
    dm = instantiate(cfg.data)
    task = build_task(cfg, dm.task_kwargs())
    trainer = build_trainer(cfg, tmp / "exp")
    meter = Meter()
    trainer.callbacks.append(meter)
    trainer.fit(task, datamodule=dm)
    timed = meter.n - 3
    return {"experiment": "voc/fsdd_hifigan", "trainer": trainer_config,
            "precision": str(cfg.trainer.precision), "batch_size": int(cfg.data.batch_size),
            "segment_s": float(cfg.data.segment_seconds), "batches_timed": timed,
            "gan_steps_per_s": round(timed / meter.elapsed, 3),
            "audio_s_per_s": round(meter.secs / meter.elapsed, 2),
            "threads": __import__("torch").get_num_threads(),
            "generator_parameters": sum(p.numel() for p in task.generator.parameters()),
            "discriminator_parameters": sum(p.numel() for p in task.discriminator.parameters()),
            } | peak_rss_mb()


def bench_vocode(extra: list[str], seconds: float = 2.0, batch: int = 16, reps: int = 5) -> dict:
    """Vocoder real-time factor (compute seconds / audio seconds) of ``voc/fsdd_hifigan``'s
    generator (weight norm folded, as at inference; random weights: speed does not depend on
    them) at batch 1 and batched, and of Griffin-Lim from the same features at batch 1."""
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from audiokit.cli.train import CONF_DIR
    from audiokit.tasks.gan import GriffinLimTask

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=voc/fsdd_hifigan", *extra])
    gen = instantiate(cfg.model).eval()
    gen.remove_weight_norm()
    frames = int(seconds * 100)
    hop = gen.hop_length
    sr = int(cfg.data.sample_rate)

    def rtf(fn, x, n_audio: int) -> float:
        with torch.inference_mode():
            fn(x)
            t0 = time.perf_counter()
            for _ in range(reps):
                fn(x)
        return (time.perf_counter() - t0) / reps / (n_audio * frames * hop / sr)

    mel = torch.randn(1, frames, int(cfg.frontend.n_mels))
    gl = GriffinLimTask(sr, {k: v for k, v in dict(cfg.frontend).items()
                             if k != "stats_file"} | {"sample_rate": sr}).eval()
    return {"experiment": "voc/fsdd_hifigan", "audio_s_per_item": seconds,
            "threads": torch.get_num_threads(),
            "rtf_batch1": round(rtf(gen, mel, 1), 5),
            f"rtf_batch{batch}": round(rtf(gen, mel.repeat(batch, 1, 1), batch), 5),
            "griffin_lim_rtf_batch1": round(rtf(gl, mel, 1), 5)} | peak_rss_mb()


def bench_codec(extra: list[str], seconds: float = 2.0, batch: int = 16, reps: int = 3) -> dict:
    """Codec real-time factors (compute seconds / audio seconds) of ``codec/fsdd_seanet``'s model
    at its top bandwidth: encode (waveform -> codes) and decode (codes -> waveform), at batch 1
    and batched (random weights, codebooks initialised from one batch of noise: speed does not
    depend on them)."""
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from audiokit.cli.train import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=codec/fsdd_seanet", *extra])
    codec = instantiate(cfg.model)
    sr = int(cfg.data.sample_rate)
    n = int(seconds * sr)
    codec.train()(0.1 * torch.randn(4, n))   # k-means init of every codebook
    codec.eval().remove_weight_norm()          # as the inference pipeline does

    def rtf(fn, x, n_audio: int) -> float:
        with torch.inference_mode():
            fn(x)
            t0 = time.perf_counter()
            for _ in range(reps):
                fn(x)
        return (time.perf_counter() - t0) / reps / (n_audio * seconds)

    wav = 0.1 * torch.randn(1, n)
    codes = codec.encode(wav)
    return {"experiment": "codec/fsdd_seanet", "audio_s_per_item": seconds,
            "bitrate_bps": codec.bitrate(), "threads": torch.get_num_threads(),
            "encode_rtf_batch1": round(rtf(codec.encode, wav, 1), 5),
            "decode_rtf_batch1": round(rtf(codec.decode, codes, 1), 5),
            f"encode_rtf_batch{batch}": round(rtf(codec.encode, wav.repeat(batch, 1), batch), 5),
            f"decode_rtf_batch{batch}": round(rtf(codec.decode, codes.repeat(batch, 1, 1), batch),
                                              5)} | peak_rss_mb()


def run_one(name: str, trainer_config: str, asr_exp: Path, device: str, extra: list[str],
            data: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        if name == "features":
            return bench_features(Path(tmp))
        if name == "loading":
            return bench_loading(Path(tmp))
        if name == "streaming":
            return bench_streaming(Path(tmp))
        if name == "ddp_scaling":
            return bench_ddp_scaling(Path(tmp), extra)
        if name == "decode_asr":
            return bench_decode_asr(Path(tmp), asr_exp, device)
        if name == "separate":  # the recipe's test mixtures, next to its exp dir
            return bench_separate(DEFAULT_SEP_EXP, DEFAULT_SEP_EXP.parents[1] / "data/test",
                                  device)
        if name == "sep_step":
            return bench_sep_step(extra)
        if name == "gan_step":
            return bench_gan_step(Path(tmp), trainer_config, extra)
        if name == "vocode":
            return bench_vocode(extra)
        if name == "codec":
            return bench_codec(extra)
        if name == "train_asr":
            data, tokens = fsdd_strings_data(Path(tmp))
            return bench_train(Path(tmp), "asr/fsdd_conformer", trainer_config, data,
                               [f"paths.token_dir={tokens}", *extra])
        experiment = {"train_cnn": "cls/fsdd_cnn", "train_ast": "cls/fsdd_ast"}[name]
        return bench_train(Path(tmp), experiment, trainer_config, data or fsdd_data(Path(tmp)),
                           extra)


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
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)  # prepared FSDD data dirs
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.trainer, args.asr_exp, args.device, args.set,
                                 args.data)))
        return
    from audiokit.utils.run_info import collect

    results = {"env": collect()}
    for name in args.only or BENCHES:
        if name in SCRIPTS:
            script, takes_device = SCRIPTS[name]
            command = [sys.executable, str(REPO / "bench" / script),
                       *(["--device", args.device] if takes_device else [])]
        else:
            command = [sys.executable, __file__, "--one", name, "--trainer", args.trainer,
                       "--asr-exp", str(args.asr_exp), "--device", args.device,
                       *(f"--set={kv}" for kv in args.set)]
        proc = subprocess.run(command, capture_output=True, text=True)
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
