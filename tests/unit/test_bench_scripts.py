"""The standalone benches run as scripts (``python bench/X.py``), where their folder leads
sys.path: a file there named like a standard-library module shadows it for everything the
script imports (``bench/ssl.py`` once broke ``import torch``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_no_bench_file_shadows_the_standard_library():
    shadowing = [p.name for p in BENCH.glob("*.py") if p.stem in sys.stdlib_module_names]
    assert not shadowing


@pytest.mark.parametrize("script, args", [
    ("codec_lm.py", ["--d-model", "32", "--layers", "1", "--frames", "8", "--train-steps", "1",
                     "--gen-steps", "8"]),
    ("music.py", ["--d-model", "32", "--layers", "1", "--max-len", "16", "--gen-tokens", "4",
                  "--train-steps", "1"]),
    ("tts.py", ["--batch", "2", "--seconds", "0.5", "--digits", "2", "--warmup", "0", "--train-steps", "1",
                "--synth-texts", "1", "--synth-batch", "2", "--tacotron-frames", "12"]),
    ("diffusion.py", ["--channels", "16", "16", "--batch", "2", "--train-frames", "16",
                      "--train-steps", "1", "--gen-batch", "2", "--gen-frames", "32",
                      "--ddim-steps", "3"]),
])
def test_standalone_bench_prints_its_json(script, args):
    done = subprocess.run([sys.executable, str(BENCH / script), "--threads", "1", *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)  # one JSON object, nothing else
    assert result["peak_rss_mb"] > 0


def test_ssl_pretrain_bench_times_hubert(fsdd_root):
    done = subprocess.run([sys.executable, str(BENCH / "ssl_pretrain.py"), "--threads", "1",
                           "--experiment", "ssl/fsdd_hubert_iter1", "--steps", "2", "--warmup",
                           "1", "--per-digit", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["experiment"] == "ssl/fsdd_hubert_iter1" and result["timed_steps"] == 2
    assert result["steps_per_s"] > 0 and result["peak_rss_mb"] > 0 and result["clusters"] == 100


def test_ssl_pretrain_bench_times_beats(fsdd_root):
    done = subprocess.run([sys.executable, str(BENCH / "ssl_pretrain.py"), "--threads", "1",
                           "--experiment", "ssl/fsdd_beats_iter1", "--steps", "2", "--warmup",
                           "1", "--per-digit", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["experiment"] == "ssl/fsdd_beats_iter1" and result["timed_steps"] == 2
    assert result["steps_per_s"] > 0 and result["peak_rss_mb"] > 0
    assert result["codebook_size"] == 256 and result["mask_ratio"] == 0.75
