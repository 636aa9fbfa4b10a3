"""Quality of synthesised speech: ``audiokit-score task=tts``.

    audiokit-score task=tts ref=data/test hyp=E/synth/test [asr_exp_dir=A] [sv_exp_dir=S] exp_dir=E

``ref`` is a data dir with ``text`` and ``wav.scp`` of REAL recordings of the same texts (and
``utt2spk`` for several speakers; without it, one speaker), ``hyp`` the folder that
``audiokit-infer`` wrote for a TTS experiment (``wav.scp``; ``attention_failures``,
``rtf.json`` and ``skipped`` when there). Per synthesised utterance and as means:

- ``mcd`` (dB), ``f0_rmse`` (Hz), ``vde`` (voicing decision error) against the recording of
  the same text, aligned by DTW (:mod:`audiokit.metrics.mcd`: WORLD analysis, SPTK
  mel-cepstrum of order 24 without c0, the ESPnet definition);
- ``dnsmos``: DNSMOS P.835 SIG, BAK, OVRL of the synthesised AND the real audio
  (:mod:`audiokit.metrics.dnsmos`, at 16 kHz);
- with ``asr_exp_dir``: WER and CER of the synthesised and the real audio through that ASR,
  against ``ref/text`` (:func:`audiokit.inference.audio_quality.intelligibility`);
- with ``sv_exp_dir``: cosine of each synthesised utterance's speaker embedding to its
  speaker's real voice, with the real-real same-speaker ceiling and, for several speakers,
  the different-speaker floor (:mod:`audiokit.metrics.speaker_similarity`);
- from ``hyp``: attention failures (Tacotron 2) and the synthesis real-time factor.

``metrics=[mcd,f0,dnsmos]`` chooses among the audio measures (default all). A synthesised
utterance without a reference recording is an error naming it (``skip_invalid=true`` leaves
it out and lists it); a reference text that was not synthesised is listed. Empty or silent
synthesis (peak below -80 dBFS) leaves its measures undefined: listed per measure, and the
means are over the rest with their counts, never NaN. DNSMOS means of the synthesised and the
real audio are over the same utterances (those where both are defined).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from audiokit.data.datadir import read_kaldi_map
from audiokit.inference.audio_quality import AudioQualityError, intelligibility
from audiokit.inference.audio_quality import _read as read_mono

METRICS = ("mcd", "f0", "dnsmos")
SILENT_PEAK = 1e-4  # -80 dBFS
PROGRESS_EVERY = 50
DNSMOS_KEYS = ("sig", "bak", "ovrl")
# per_utt.csv / report columns of each measure
COLUMNS = {"mcd": ("mcd",), "f0": ("f0_rmse", "vde"),
           "dnsmos": (*(f"dnsmos_{k}" for k in DNSMOS_KEYS),
                      *(f"dnsmos_{k}_real" for k in DNSMOS_KEYS))}


def _resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return audio
    import torch
    import torchaudio

    return torchaudio.functional.resample(torch.from_numpy(audio), rate, target).numpy()


def _why_undefined(audio: np.ndarray) -> str | None:
    if audio.size == 0:
        return "empty synthesis"
    if not np.isfinite(audio).all():
        return "synthesis has NaN or Inf"
    if np.abs(audio).max() < SILENT_PEAK:
        return "silent synthesis (peak below -80 dBFS)"
    return None


def _attention_failures(path: Path) -> dict | None:
    """Counts from ``attention_failures`` (``utt <failed pieces> <kinds or ->``)."""
    if not path.is_file():
        return None
    kinds: dict[str, int] = {}
    failed, entries = [], read_kaldi_map(path)
    for utt, value in entries.items():
        pieces, names = value.split()
        if int(pieces):
            failed.append(utt)
            for k in names.split(","):
                kinds[k] = kinds.get(k, 0) + 1
    return {"num_utts": len(entries), "utts_with_failures": len(failed),
            "by_kind": kinds, "failed": failed}


def _speaker_similarity(sv_exp_dir: str, ref_dir: Path, hyp_dir: Path, utts: list[str],
                        utt2spk: dict[str, str]) -> dict:
    from audiokit.inference.speaker import SpeakerEmbedder
    from audiokit.metrics.speaker_similarity import speaker_similarity

    embedder = SpeakerEmbedder.from_exp_dir(sv_exp_dir)
    real, real_skipped = embedder.embed_data_dir(str(ref_dir), on_bad_audio="skip")
    synth, synth_skipped = embedder.embed_data_dir(str(hyp_dir), on_bad_audio="skip")
    report = speaker_similarity({u: synth[u] for u in utts if u in synth}, real, utt2spk)
    report.update(sv_exp_dir=str(sv_exp_dir), skipped_real=real_skipped,
                  skipped_synthesised={u: w for u, w in synth_skipped.items() if u in utts})
    return report


def score_tts(ref: str, hyp: str, metrics: list[str] | None = None, *,
              asr_exp_dir: str | None = None, sv_exp_dir: str | None = None,
              out_dir: Path | None = None, skip_invalid: bool = False) -> dict:
    """The report of ``audiokit-score task=tts`` (see the module docstring)."""
    ref_dir, hyp_dir = Path(ref), Path(hyp)
    for folder, role in ((ref_dir, "the real recordings (references)"),
                         (hyp_dir, "the synthesised audio")):
        if not (folder / "wav.scp").is_file():
            raise AudioQualityError(f"{folder}: no wav.scp ({role})")
    refs, hyps = read_kaldi_map(ref_dir / "wav.scp"), read_kaldi_map(hyp_dir / "wav.scp")
    metrics = list(METRICS if metrics is None else metrics)  # [] asks for the judges alone
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise AudioQualityError(f"unknown tts metric(s) {unknown}; known: {', '.join(METRICS)}")
    skipped = {u: f"{hyp_dir}/wav.scp: utterance '{u}' has no reference recording in "
                  f"{ref_dir}/wav.scp" for u in hyps if u not in refs}
    if skipped and not skip_invalid:
        raise AudioQualityError(f"{next(iter(skipped.values()))} ({len(skipped)} such, e.g. "
                                f"{list(skipped)[:3]}; skip_invalid=true leaves them out)")
    why_not = (read_kaldi_map(hyp_dir / "skipped", allow_empty_value=True)
               if (hyp_dir / "skipped").is_file() else {})
    not_synthesised = {u: why_not.get(u) or "not in the hypothesis wav.scp"
                       for u in refs if u not in hyps}
    utt2spk = (read_kaldi_map(ref_dir / "utt2spk") if (ref_dir / "utt2spk").is_file()
               else dict.fromkeys(refs, "speaker"))
    columns = [c for m in metrics for c in COLUMNS[m]]
    dnsmos = None
    if "dnsmos" in metrics:
        from audiokit.metrics.dnsmos import Dnsmos

        dnsmos = Dnsmos()
    from audiokit.metrics.mcd import compare, world_features

    rows, undefined = [], {c: {} for c in columns}
    todo = [u for u in hyps if u in refs]
    for k, utt in enumerate(todo):
        if k and k % PROGRESS_EVERY == 0:  # about a second per utterance on one thread
            print(f"audiokit-score: {k} of {len(todo)} synthesised utterances scored", flush=True)
        try:
            real, rate = read_mono(refs[utt], utt)
            synth, synth_rate = read_mono(hyps[utt], utt)
        except AudioQualityError as e:
            if not skip_invalid:
                raise
            skipped[utt] = str(e)
            continue
        row = {"utt_id": utt, "speaker": utt2spk.get(utt, ""),
               "seconds": synth.size / synth_rate, "seconds_real": real.size / rate}
        why = _why_undefined(synth)
        if why is None and ("mcd" in metrics or "f0" in metrics):
            scores = compare(world_features(real, rate),
                             world_features(_resample(synth, synth_rate, rate), rate))
            row.update({k: scores[k] for k in ("mcd", "f0_rmse", "vde") if k in columns})
        reasons = dict.fromkeys(columns, why or "no frame pair voiced in both")
        if dnsmos is not None:
            for suffix, audio, audio_rate in (("", synth, synth_rate), ("_real", real, rate)):
                try:
                    if suffix or why is None:
                        scores = dnsmos(audio, audio_rate)
                        row.update({f"dnsmos_{k}{suffix}": scores[k] for k in DNSMOS_KEYS})
                except ValueError as e:  # a silent recording
                    reasons.update({f"dnsmos_{k}{suffix}": str(e) for k in DNSMOS_KEYS})
        for c in columns:
            if row.get(c) is None:
                row.pop(c, None)
                undefined[c][utt] = reasons[c]
        rows.append(row)
    report = {"metrics": {}, "counts": {}, "num_utts": len(rows), "skipped": skipped,
              "not_synthesised": not_synthesised,
              "undefined": {c: u for c, u in undefined.items() if u}}
    for c in columns:  # DNSMOS of both sides over the same utterances: side by side
        pair = c.removesuffix("_real") + "_real" if c.startswith("dnsmos") else c
        values = [r[c] for r in rows if c in r and pair in r and pair.removesuffix("_real") in r]
        report["counts"][c] = len(values)
        if values:
            report["metrics"][c] = float(np.mean(values))
    failures = _attention_failures(hyp_dir / "attention_failures")
    if failures is not None:
        report["attention_failures"] = failures
    if (hyp_dir / "rtf.json").is_file():
        report["rtf"] = json.loads((hyp_dir / "rtf.json").read_text())
    if asr_exp_dir:
        report["intelligibility"] = intelligibility(asr_exp_dir, ref_dir, hyp_dir, out_dir,
                                                    names=("real", "synthesised"))
    if sv_exp_dir:
        similarity = _speaker_similarity(sv_exp_dir, ref_dir, hyp_dir,
                                         [r["utt_id"] for r in rows], utt2spk)
        for r in rows:
            if r["utt_id"] in similarity["per_utt"]:
                r["similarity"] = similarity["per_utt"][r["utt_id"]]
        report["speaker_similarity"] = {k: v for k, v in similarity.items() if k != "per_utt"}
        columns.append("similarity")
    if out_dir is not None:
        header = ["utt_id", "speaker", "seconds", "seconds_real", *columns]
        lines = [",".join(header)] + [",".join(
            str(r[c]) if c in ("utt_id", "speaker") else (f"{r[c]:.4f}" if c in r else "")
            for c in header) for r in rows]
        (out_dir / "per_utt.csv").write_text("\n".join(lines) + "\n")
        report["per_utt_file"] = "per_utt.csv"
    return report


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def headline(report: dict) -> str:
    m, parts = report["metrics"], []
    if "mcd" in m:
        parts.append(f"MCD {m['mcd']:.2f} dB")
    if "f0_rmse" in m:
        parts.append(f"F0 RMSE {m['f0_rmse']:.1f} Hz, VDE {_pct(m['vde'])}")
    if "dnsmos_ovrl" in m:
        parts.append(f"DNSMOS OVRL {m['dnsmos_ovrl']:.2f} (real {m['dnsmos_ovrl_real']:.2f})")
    if "intelligibility" in report:
        i = report["intelligibility"]
        parts.append(f"WER {_pct(i['wer_synthesised'])} (real {_pct(i['wer_real'])})")
    if "speaker_similarity" in report:
        s = report["speaker_similarity"]
        if s["similarity"] is not None:
            extra = "".join(f", {k} {s[k]:.3f}" for k in ("ceiling", "floor") if s[k] is not None)
            parts.append(f"speaker similarity {s['similarity']:.3f}{extra}")
    if "attention_failures" in report:
        a = report["attention_failures"]
        parts.append(f"attention failures {a['utts_with_failures']}/{a['num_utts']}")
    if "rtf" in report:
        parts.append(f"RTF {report['rtf']['rtf']:.4f}")
    return ", ".join(parts) or "nothing scored"


NAMES = {"mcd": "MCD (dB, DTW, mel-cepstrum 1-24)", "f0_rmse": "F0 RMSE (Hz, voiced in both)",
         "vde": "voicing decision error (%)", "dnsmos_sig": "DNSMOS P.835 SIG",
         "dnsmos_bak": "DNSMOS P.835 BAK", "dnsmos_ovrl": "DNSMOS P.835 OVRL"}


def results_section(report: dict) -> list[str]:
    """The RESULTS.md section of one scored set: synthesised beside the real recordings."""
    m, n = report["metrics"], report["counts"]
    lines = ["| measure | synthesised | real recordings | utterances |", "|---|---|---|---|"]
    for key, label in NAMES.items():
        if key in m:
            scale = 100 if key == "vde" else 1
            real = f"{m[key + '_real']:.3f}" if key + "_real" in m else "-"
            lines.append(f"| {label} | {scale * m[key]:.3f} | {real} | {n[key]} |")
    if "intelligibility" in report:
        i = report["intelligibility"]
        for unit in ("wer", "cer"):
            lines.append(f"| ASR {unit.upper()} | {_pct(i[f'{unit}_synthesised'])} | "
                         f"{_pct(i[f'{unit}_real'])} | {i['num_utts_synthesised']} |")
    if "speaker_similarity" in report:
        s = report["speaker_similarity"]
        lines.append(f"| speaker similarity (cosine to the speaker's real voice) | "
                     f"{_fmt(s['similarity'])} | {_fmt(s['ceiling'])} (same speaker) | "
                     f"{s['num_synthesised']} |")
        if s["floor"] is not None:
            lines.append(f"| different-speaker floor (real vs other voices) | - | "
                         f"{_fmt(s['floor'])} | {s['num_real']} |")
        if s.get("position") is not None:
            lines.append(f"| similarity position, floor 0 to ceiling 1 | {s['position']:.3f} "
                         "| 1 | |")
        if "closest_own" in s:
            lines.append(f"| synthesised voice closest to its own speaker | "
                         f"{_pct(s['closest_own'])} | | {s['num_synthesised']} |")
    if "attention_failures" in report:
        a = report["attention_failures"]
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(a["by_kind"].items())) or "none"
        lines.append(f"| utterances with attention failures ({kinds}) | "
                     f"{a['utts_with_failures']} | | {a['num_utts']} |")
    if "rtf" in report:
        r = report["rtf"]
        lines.append(f"| synthesis real-time factor ({r.get('device', 'cpu')}, batch "
                     f"{r.get('batch_size', 1)}, {r.get('threads', '?')} thread(s)) | "
                     f"{r['rtf']:.4f} | | {r.get('num_utts', '')} |")
    lines += ["", f"Per utterance: [scores/{report['name']}/per_utt.csv]"
              f"(scores/{report['name']}/per_utt.csv)." if report.get("per_utt_file") else ""]
    by_utt: dict[str, list[str]] = {}
    for c, utts in report.get("undefined", {}).items():
        for u, why in utts.items():
            by_utt.setdefault(f"{u} ({why})", []).append(c)
    if by_utt:
        lines.append(f"\nUndefined measures (left out of the means), {len(by_utt)} case(s): "
                     + "; ".join(f"{u}: {', '.join(cs)}" for u, cs in list(by_utt.items())[:10]))
    if report.get("not_synthesised"):
        lines.append(f"\nNot synthesised: {len(report['not_synthesised'])} reference text(s), "
                     f"e.g. {', '.join(list(report['not_synthesised'])[:5])}")
    if report.get("skipped"):
        lines.append(f"\nSkipped (cannot be scored): {len(report['skipped'])} utterance(s): "
                     + "; ".join(list(report["skipped"].values())[:3]))
    return lines
