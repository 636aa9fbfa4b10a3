"""Quality of resynthesised audio (vocoders, codecs): ``audiokit-score task=vocoder|codec``.

``ref`` is a data dir (``wav.scp``; ``text`` for intelligibility), ``hyp`` the folder that
``audiokit-infer`` wrote (``wav.scp``, same utterances, same sample rate). Per utterance:

- ``pesq_nb`` (ITU-T P.862 at 8 kHz, or 16 kHz audio as given), ``pesq_wb`` (P.862.2 at
  16 kHz; 8 kHz audio is upsampled and reads lower than true wideband), via ``pesq``;
- ``stoi`` (``pystoi``); ``mel_distance`` (:class:`audiokit.losses.spectral.MelDistance`,
  the figure validation logs); ``si_snr`` (dB; phase-sensitive, low for GAN vocoders
  whatever they sound like);
- ``visqol``: ViSQOL v3 speech mode (``visqol-python``, at 16 kHz; its polynomial mapping),
  opt-in because it is slow; it needs about a second of audio.

Both signals are cut to the shorter (they differ by at most ``max_trim`` samples, else the
utterance is an error). A metric undefined for an utterance (PESQ finds no speech, STOI or
ViSQOL too short) lists the utterance under "undefined"; its mean is over the rest, with the
count. With ``asr_exp_dir``, the ASR experiment transcribes the original and the
resynthesised audio: WER of both against ``ref/text`` (intelligibility). When ``hyp`` holds
``rtf.json`` (written by the vocoder pipeline), its real-time factors are reported too.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from audiokit.data.datadir import read_kaldi_map

METRICS = ("pesq_nb", "pesq_wb", "stoi", "mel_distance", "si_snr", "visqol")
DEFAULT_METRICS = ("pesq_nb", "stoi", "mel_distance", "si_snr")


class AudioQualityError(ValueError):
    """An utterance that cannot be scored at all (names it)."""


def si_snr(est: np.ndarray, ref: np.ndarray, eps: float = 1e-8) -> float:
    """Scale-invariant SNR in dB of zero-mean signals."""
    est, ref = est - est.mean(), ref - ref.mean()
    target = (est @ ref) / (ref @ ref + eps) * ref
    return float(10 * np.log10((target @ target + eps) / ((est - target) @ (est - target) + eps)))


class _Visqol:
    """ViSQOL v3 speech mode at 16 kHz, built once."""

    def __init__(self) -> None:
        from visqol.api import VisqolApi

        self.api = VisqolApi()
        self.api.create(mode="speech", use_lattice_model=False)

    def __call__(self, ref: np.ndarray, est: np.ndarray, rate: int) -> float:
        import torchaudio

        if rate != 16000:
            ref, est = (torchaudio.functional.resample(torch.from_numpy(x), rate, 16000).numpy()
                        for x in (ref, est))
        try:
            return float(self.api.measure_from_arrays(ref, est, 16000).moslqo)
        except IndexError as e:  # visqol-python's failure on audio shorter than its patches
            raise ValueError(f"ViSQOL undefined (audio too short?): {e}") from None


def _read(path: str, utt: str) -> tuple[np.ndarray, int]:
    try:
        audio, rate = sf.read(path, dtype="float64", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioQualityError(f"utterance '{utt}': cannot read {path}: {e}") from None
    if audio.ndim != 1:
        raise AudioQualityError(f"utterance '{utt}': {path} has {audio.shape[1]} channels, "
                                "expected mono")
    return audio, rate


def score_utterance(utt: str, ref: np.ndarray, est: np.ndarray, rate: int,
                    metrics: list[str], mel, visqol=None, max_trim: int = 400,
                    ) -> tuple[dict, dict[str, str]]:
    """(row of defined metrics, {metric: why undefined})."""
    from audiokit.metrics.separation import pesq_score, stoi_score

    if abs(ref.size - est.size) > max_trim:
        raise AudioQualityError(f"utterance '{utt}': {ref.size} reference samples but "
                                f"{est.size} resynthesised (more than {max_trim} apart)")
    n = min(ref.size, est.size)
    ref, est = ref[:n], est[:n]
    if not np.isfinite(est).all():
        raise AudioQualityError(f"utterance '{utt}': the resynthesised audio has NaN or Inf")
    row, undefined = {"utt_id": utt}, {}
    for m in metrics:
        try:
            if m.startswith("pesq"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    row[m] = pesq_score(ref=ref, est=est, sample_rate=rate, mode=m[-2:])
            elif m == "stoi":
                row[m] = stoi_score(ref=ref, est=est, sr=rate)
            elif m == "mel_distance":
                row[m] = float(mel(torch.from_numpy(est).float()[None],
                                   torch.from_numpy(ref).float()[None]))
            elif m == "si_snr":
                row[m] = si_snr(est, ref)
            elif m == "visqol":
                row[m] = visqol(ref, est, rate)
        except AudioQualityError:
            raise
        except Exception as e:  # PESQ without speech, STOI/ViSQOL too short: listed
            undefined[m] = f"{type(e).__name__}: {e}"
    return row, undefined


def intelligibility(asr_exp_dir: str, ref_dir: Path, hyp_dir: Path, out_dir: Path | None,
                    names: tuple[str, str] = ("original", "resynthesised")) -> dict:
    """WER and CER of the reference audio (``ref_dir``) and the audio under test (``hyp_dir``)
    through one ASR experiment, against ``ref_dir/text``; keys ``wer_<name>``, ``cer_<name>``,
    ``num_utts_<name>`` for the two ``names`` (reference first) and ``wer_increase``."""
    import tempfile

    from audiokit.inference.speech2text import Speech2Text
    from audiokit.metrics.wer import align_corpus, total_counts
    from audiokit.text.normalize import collapse_whitespace

    if not (ref_dir / "text").is_file():
        raise AudioQualityError(f"{ref_dir}: no text file, needed for asr_exp_dir (WER)")
    text = read_kaldi_map(ref_dir / "text", allow_empty_value=True)
    s2t = Speech2Text.from_exp_dir(asr_exp_dir)
    work = out_dir if out_dir is not None else Path(tempfile.mkdtemp())
    result = {"asr_exp_dir": str(asr_exp_dir)}
    for name, data_dir in zip(names, (ref_dir, hyp_dir), strict=True):
        s2t.process_data_dir(str(data_dir), str(work / f"asr_{name}"))
        hyp = read_kaldi_map(work / f"asr_{name}" / "text", allow_empty_value=True)
        utts = [u for u in text if u in hyp]
        refs = [collapse_whitespace(text[u]) for u in utts]
        hyps = [collapse_whitespace(hyp[u]) for u in utts]
        result[f"wer_{name}"] = total_counts(align_corpus(refs, hyps, "word")).rate
        result[f"cer_{name}"] = total_counts(align_corpus(refs, hyps, "char")).rate
        result[f"num_utts_{name}"] = len(utts)
    result["wer_increase"] = result[f"wer_{names[1]}"] - result[f"wer_{names[0]}"]
    return result


def score_audio_quality(ref: str, hyp: str, metrics: list[str] | None = None, *,
                        asr_exp_dir: str | None = None, out_dir: Path | None = None,
                        skip_invalid: bool = False) -> dict:
    """The report of ``audiokit-score task=vocoder|codec`` (see the module docstring)."""
    ref_dir, hyp_dir = Path(ref), Path(hyp)
    refs = read_kaldi_map(ref_dir / "wav.scp")
    hyps = read_kaldi_map(hyp_dir / "wav.scp")
    missing = [u for u in refs if u not in hyps]
    if missing:
        raise AudioQualityError(f"{hyp_dir}/wav.scp: no resynthesised audio for {len(missing)} "
                                f"utterance(s) of {ref_dir}, e.g. {missing[:3]}")
    metrics = list(DEFAULT_METRICS if metrics is None else metrics)  # [] asks for the ASR judge alone
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise AudioQualityError(f"unknown metric(s) {unknown}; known: {', '.join(METRICS)}")
    visqol = _Visqol() if "visqol" in metrics else None
    from audiokit.losses.spectral import MelDistance

    mels: dict[int, MelDistance] = {}
    rows, skipped = [], {}
    undefined: dict[str, dict[str, str]] = {m: {} for m in metrics}
    for utt in refs:
        try:
            r, rate = _read(refs[utt], utt)
            e, hyp_rate = _read(hyps[utt], utt)
            if rate != hyp_rate:
                raise AudioQualityError(f"utterance '{utt}': reference at {rate} Hz, "
                                        f"resynthesised at {hyp_rate} Hz")
            if rate not in mels:
                mels[rate] = MelDistance(rate)
            row, why = score_utterance(utt, r, e, rate, metrics, mels[rate], visqol)
        except AudioQualityError as err:
            if not skip_invalid:
                raise
            skipped[utt] = str(err)
            continue
        for m, reason in why.items():
            undefined[m][utt] = reason
        rows.append(row)
    summary = {}
    for m in metrics:
        values = [row[m] for row in rows if m in row]
        if values:
            summary[m] = float(np.mean(values))
    counts = {m: sum(m in row for row in rows) for m in metrics}
    report = {"metrics": summary, "counts": counts, "num_utts": len(rows), "skipped": skipped,
              "undefined": {m: u for m, u in undefined.items() if u}}
    rtf_file = hyp_dir / "rtf.json"
    if rtf_file.is_file():
        report["rtf"] = json.loads(rtf_file.read_text())
    if asr_exp_dir:
        report["intelligibility"] = intelligibility(asr_exp_dir, ref_dir, hyp_dir, out_dir)
    if out_dir is not None:
        columns = ["utt_id", *metrics]
        lines = [",".join(columns)] + [",".join(
            r["utt_id"] if c == "utt_id" else (f"{r[c]:.4f}" if c in r else "") for c in columns)
            for r in rows]
        (out_dir / "per_utt.csv").write_text("\n".join(lines) + "\n")
        report["per_utt_file"] = "per_utt.csv"
    return report


def headline(report: dict) -> str:
    parts = [f"{k} {v:.3f}" for k, v in report["metrics"].items()]
    if "intelligibility" in report:
        i = report["intelligibility"]
        parts.append(f"WER {100 * i['wer_resynthesised']:.2f} % (original "
                     f"{100 * i['wer_original']:.2f} %)")
    if "rtf" in report:
        parts.append(f"RTF {report['rtf']['rtf']:.4f}")
    return ", ".join(parts)


def results_section(report: dict) -> list[str]:
    """The RESULTS.md section of one scored set."""
    lines = ["| metric | mean | utterances |", "|---|---|---|"]
    for m, v in report["metrics"].items():
        lines.append(f"| {m} | {v:.4f} | {report['counts'][m]} |")
    if "intelligibility" in report:
        i = report["intelligibility"]
        lines.append(f"| ASR WER, original | {100 * i['wer_original']:.2f} % | "
                     f"{i['num_utts_original']} |")
        lines.append(f"| ASR WER, resynthesised | {100 * i['wer_resynthesised']:.2f} % | "
                     f"{i['num_utts_resynthesised']} |")
    if "rtf" in report:
        r = report["rtf"]
        lines.append(f"| real-time factor ({r.get('device', 'cpu')}, batch 1) | {r['rtf']:.4f} | "
                     f"{r.get('num_utts', '')} |")
    for m, utts in report.get("undefined", {}).items():
        lines.append(f"\n{m} undefined for {len(utts)} utterance(s) (e.g. {', '.join(list(utts)[:3])})")
    if report.get("skipped"):
        lines.append(f"\nskipped (cannot be scored): {len(report['skipped'])} utterance(s)")
    return lines
