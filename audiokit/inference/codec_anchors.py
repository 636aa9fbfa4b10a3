"""Classical codec anchors: round-trip a data dir through Codec2 or Opus, as the neural codec's
reference rows (same recordings, same scorer).

    python -m audiokit.inference.codec_anchors --data-dir D --out O --setting codec2-3200
    python -m audiokit.inference.codec_anchors --check     # which tools are installed

Writes ``O/wav/<utt>.wav`` + ``O/wav.scp`` (and D's text/utt2spk), the decoded audio at D's
sample rate, cut to each input's length and shifted by the codec's delay (found by
cross-correlation) so sample-aligned metrics (STOI, SI-SNR) compare the same instants.

Settings: ``codec2-{3200,1600,700C}`` (c2enc/c2dec: 8 kHz 16-bit raw PCM; other rates are
resampled to 8 kHz and back) and ``opus-{6,8,12}`` (opusenc/opusdec, kbps, VBR as opusenc's
default). The tools come from the Debian packages ``codec2`` and ``opus-tools``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from scipy.signal import correlate

from audiokit.data.audio import load_audio
from audiokit.data.datadir import DataDir, write_kaldi_map

SETTINGS = ("codec2-3200", "codec2-1600", "codec2-700C", "opus-6", "opus-8", "opus-12")
TOOLS = {"codec2": ("c2enc", "c2dec"), "opus": ("opusenc", "opusdec")}
INSTALL_HINT = ("install them with: apt-get install codec2 opus-tools "
                "(Debian/Ubuntu; conda-forge has codec2 and opus-tools too)")
CODEC2_RATE = 8000
MISSING_TOOLS_EXIT = 3       # --check's exit status when a tool is missing (others: errors)
MAX_DELAY_SECONDS = 0.05     # codec look-ahead is a few ms; search a little wider


def bitrate_bps(setting: str) -> float:
    """Nominal bits per second of a setting (700C is 700 bps)."""
    kind, rate = _split(setting)
    return float(rate.rstrip("C")) * (1000 if kind == "opus" else 1)


def _split(setting: str) -> tuple[str, str]:
    kind, _, rate = setting.partition("-")
    if kind not in TOOLS or not rate:
        raise ValueError(f"unknown anchor setting {setting!r}: choose from {', '.join(SETTINGS)}")
    return kind, rate


def missing_tools(setting_or_kind: str) -> list[str]:
    """Which of the setting's command-line tools are not on PATH."""
    kind = setting_or_kind.partition("-")[0]
    return [t for t in TOOLS[kind] if shutil.which(t) is None]


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")


def _to_pcm16(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, -1.0, 32767 / 32768) * 32768).astype("<i2")


def _resample(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    if orig == new:
        return x
    import torchaudio
    return torchaudio.functional.resample(torch.from_numpy(x), orig, new).numpy()


def roundtrip(x: np.ndarray, sample_rate: int, setting: str, tmp: str | Path) -> np.ndarray:
    """Encode and decode ``x`` (float mono) with a classical codec; unaligned, any length."""
    kind, rate = _split(setting)
    tmp = Path(tmp)
    if kind == "codec2":
        raw, bits, out = tmp / "in.raw", tmp / "c2.bit", tmp / "out.raw"
        _to_pcm16(_resample(x, sample_rate, CODEC2_RATE)).tofile(raw)
        _run(["c2enc", rate, str(raw), str(bits)])
        _run(["c2dec", rate, str(bits), str(out)])
        y = np.fromfile(out, "<i2").astype(np.float32) / 32768
        return _resample(y, CODEC2_RATE, sample_rate)
    wav, coded, out = tmp / "in.wav", tmp / "c.opus", tmp / "out.wav"
    sf.write(wav, _to_pcm16(x), sample_rate, subtype="PCM_16")
    _run(["opusenc", "--quiet", "--bitrate", rate, str(wav), str(coded)])
    _run(["opusdec", "--quiet", "--rate", str(sample_rate), str(coded), str(out)])
    y, _ = sf.read(out, dtype="float32", always_2d=True)
    return y[:, 0]


def align(reference: np.ndarray, decoded: np.ndarray, max_lag: int) -> np.ndarray:
    """``decoded`` shifted by the lag (within ±max_lag) that best correlates it with
    ``reference``, cut or zero-padded to the reference's length."""
    n = len(reference)
    decoded = np.pad(decoded, (0, max(0, n + max_lag - len(decoded))))
    corr = correlate(decoded, reference, mode="full", method="fft")
    zero = n - 1   # index of lag 0 in 'full' mode
    lo, hi = max(0, zero - max_lag), min(len(corr), zero + max_lag + 1)
    lag = int(np.argmax(corr[lo:hi])) + lo - zero
    if lag >= 0:
        out = decoded[lag: lag + n]
    else:
        out = np.concatenate([np.zeros(-lag, decoded.dtype), decoded[: n + lag]])
    return np.pad(out, (0, n - len(out)))


def process_data_dir(data_dir: str | Path, output_dir: str | Path, setting: str,
                     sample_rate: int | None = None) -> Path:
    """Round-trip every utterance of ``data_dir``; writes ``output_dir/wav.scp``."""
    missing = missing_tools(setting)
    if missing:
        raise RuntimeError(f"{setting}: {', '.join(missing)} not found on PATH; {INSTALL_HINT}")
    data = DataDir.load(data_dir)
    out = Path(output_dir)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    scp = {}
    with tempfile.TemporaryDirectory() as tmp:
        for utt in data.utt_ids:
            source, start, end = data.audio_source(utt)
            if sample_rate is None:
                sample_rate = sf.info(source).samplerate
            x = load_audio(source, sample_rate, utt=utt, start=start, end=end).numpy()
            try:
                y = roundtrip(x, sample_rate, setting, tmp)
            except RuntimeError as e:
                raise RuntimeError(f"utterance '{utt}' ({source}): {e}") from None
            y = align(x, y, round(MAX_DELAY_SECONDS * sample_rate))
            path = out / "wav" / f"{utt}.wav"
            sf.write(path, y, sample_rate, subtype="FLOAT")
            scp[utt] = str(path.resolve())
    write_kaldi_map(out / "wav.scp", scp)
    for name in ("text", "utt2spk", "spk2utt"):
        if (Path(data_dir) / name).is_file():
            shutil.copyfile(Path(data_dir) / name, out / name)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audiokit.inference.codec_anchors",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--out")
    parser.add_argument("--setting", choices=SETTINGS)
    parser.add_argument("--sample-rate", type=int, default=None,
                        help="default: each file's own rate")
    parser.add_argument("--check", action="store_true",
                        help="exit 0 if c2enc/c2dec/opusenc/opusdec are all on PATH, else "
                             "print which are missing and how to install them, exit 3")
    args = parser.parse_args(argv)
    if args.check:
        missing = sorted({t for kind in TOOLS for t in missing_tools(kind)})
        if missing:
            print(f"codec anchors: {', '.join(missing)} not found on PATH; {INSTALL_HINT}")
            return MISSING_TOOLS_EXIT
        return 0
    if not (args.data_dir and args.out and args.setting):
        parser.error("--data-dir, --out and --setting are required (or --check)")
    try:
        process_data_dir(args.data_dir, args.out, args.setting, args.sample_rate)
    except (RuntimeError, ValueError) as e:
        print(f"codec anchors: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
