"""audiokit-score: compare hypotheses with references; write the metric table.

    audiokit-score task=cls ref=data/test/utt2label hyp=E/infer/test/utt2label exp_dir=E
    audiokit-score task=asr ref=data/test/text hyp=E/infer/test_ctc_greedy/text exp_dir=E
    audiokit-score task=sep ref=data/test hyp=E/infer/test exp_dir=E metrics=[si_snr,si_snri,sdri,pesq_nb,stoi]
    audiokit-score task=sv ref=data/test/trials hyp=E/infer/test/scores exp_dir=E
    audiokit-score task=diar ref=data/test/rttm hyp=E/infer/test/rttm exp_dir=E collars=[0.25,0]
    audiokit-score task=tts ref=data/test hyp=E/synth/test exp_dir=E asr_exp_dir=A sv_exp_dir=S
    audiokit-score task=t2m ref=data/test hyp=GEN exp_dir=E classifier_exp_dirs=[T,M] fd_ref=data/valid

Prints the headline figures; with ``exp_dir`` also writes ``E/scores/<name>/`` (report.json,
plots; for asr ``errors.txt``, the word alignments of every utterance with an error) and
regenerates ``E/RESULTS.md`` from every scored set, with the environment and commands.

asr: references and hypotheses are Kaldi ``text`` files (``utt words...``; an utterance may
have no words). Both are normalised the same way before scoring (``normalize=true``:
lowercase, punctuation removed, see :mod:`audiokit.text.normalize`); WER and CER as in
:mod:`audiokit.metrics.wer` (CER counts the spaces between words).

sep (separation and enhancement): ``ref`` is the data dir (``wav.scp`` mixtures, ``spk1.scp``
.. references), ``hyp`` the folder ``audiokit-infer`` wrote (``spk1.scp`` .., or ``wav.scp``
for one source). Per utterance as in :func:`audiokit.metrics.separation.score_utterance`
(permutation solved by SI-SNR); PESQ and STOI are also given for the unprocessed mixture
(``*_input``), so before/after sit side by side; where they are undefined (STOI needs about
0.4 s of speech, PESQ a detectable utterance) the utterance is listed under "undefined" and
those means are over the rest, with the count. An utterance that cannot be scored at all
(silent reference, lengths that differ) is an error naming it, or with ``skip_invalid=true``
is left out and listed in the report - never a NaN in the summary. A ``utt2condition`` file in
``ref`` (``utt factor=value ...``, e.g. ``noise=babble snr=0-5dB room=dry``) adds the means per
condition, one table per factor.

diar (diarization): ``ref`` and ``hyp`` are RTTM files (:mod:`audiokit.data.rttm`). DER with
its parts (missed speech, false alarm, speaker confusion) and JER at each of ``collars``
(seconds on EACH side of a reference boundary, md-eval's convention; overlapped speech is
scored), pooled over recordings, as in :mod:`audiokit.metrics.diarization`; per recording in
``per_recording.csv``. A reference recording with no hypothesis turns is an error naming it,
or with ``missing=miss`` is scored as all missed. Without ``uem``, ``region`` is the scored
span of each recording: ``reference`` (default; the reference's first start to last end, as
md-eval-22) or ``union`` (0 to the last end of either side, as dscore/pyannote: hypothesis
speech after the reference ends is false alarm); report.json and RESULTS.md name it.

tts (synthesised speech): ``ref`` is a data dir with ``text`` and ``wav.scp`` of real
recordings of the same texts, ``hyp`` the folder ``audiokit-infer`` wrote for a TTS
experiment. MCD with DTW, F0 RMSE and voicing error against the recordings, DNSMOS P.835 of
synthesised and real audio (``metrics=[mcd,f0,dnsmos]``), WER/CER of both through
``asr_exp_dir``, speaker similarity with ceiling and floor through ``sv_exp_dir``, attention
failures and RTF: :mod:`audiokit.inference.tts_quality`.

t2m (text-to-music): ``ref`` is a rendered data dir (captions in ``text``, their facts in
``utt2timbre``/``utt2tempo``/``utt2key``/``utt2mode``), ``hyp`` a folder with ``wav.scp`` of one
clip per caption. Adherence to each fact (timbre and tempo by the classifiers named in
``classifier_exp_dirs``, key and mode by chroma key estimation) and the Fréchet distance on each
classifier's embeddings to the real clips of ``fd_ref`` (default ``ref``):
:mod:`audiokit.music.t2m_score`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from audiokit.data.datadir import read_kaldi_map
from audiokit.metrics.wer import align_corpus, format_alignment, total_counts
from audiokit.text.normalize import TextNormalizer, collapse_whitespace
from audiokit.utils import run_info
from audiokit.utils.cli_args import parse_key_values
from audiokit.utils.errors import cli_errors
from audiokit.utils.results import SECTIONS as RESULTS_SECTIONS
from audiokit.utils.results import write_results_md


@dataclass
class ScoreConfig:
    task: str = "???"              # cls | asr | sep | sv | diar | vocoder | codec | music | tts | t2m
    ref: str = "???"
    hyp: str = "???"
    exp_dir: str | None = None     # where scores/ and RESULTS.md go; None = print only
    name: str | None = None        # the set's name; default: the hyp file's folder name
    # asr only: text normalisation of both sides before scoring (audiokit.text.normalize)
    normalize: bool = True         # false: only collapse whitespace
    lowercase: bool = True
    remove_punctuation: bool = True
    remove_tokens: list[str] = field(default_factory=list)  # words to drop: [<unk>,uh,'[noise]']
    # sep only
    metrics: list[str] = field(default_factory=lambda: ["si_snr", "si_snri", "sdr", "sdri"])
    skip_invalid: bool = False     # leave out (and list) utterances that cannot be scored
    # diar only
    collars: list[float] = field(default_factory=lambda: [0.25, 0.0])  # s each side (md-eval)
    missing: str = "error"         # a recording without hypothesis turns: error | miss
    uem: str | None = None         # diar: scored regions per recording (reco channel start end)
    region: str = "reference"      # diar, without uem: reference (md-eval) | union (dscore)
    # vocoder / codec: metrics= chooses among audiokit.inference.audio_quality.METRICS ([]: none)
    asr_exp_dir: str | None = None  # WER of original and resynthesised audio through this ASR
    # tts: metrics= chooses among audiokit.inference.tts_quality.METRICS ([]: only the judges
    # below); asr_exp_dir as above
    sv_exp_dir: str | None = None   # speaker similarity of synthesised to real audio
    # t2m: the judges (classification exp dirs, one per fact), and the real clips for the FD
    classifier_exp_dirs: list[str] = field(default_factory=list)
    fd_ref: str | None = None      # a data dir of real clips; None = ref's own


def _paired(ref_file: str, hyp_file: str, allow_empty_value: bool = False,
            ) -> tuple[list[str], dict[str, str], dict[str, str]]:
    ref = read_kaldi_map(ref_file, allow_empty_value=allow_empty_value)
    hyp = read_kaldi_map(hyp_file, allow_empty_value=allow_empty_value)
    missing = [u for u in ref if u not in hyp]
    extra = [u for u in hyp if u not in ref]
    if missing or extra:
        sys.exit(f"audiokit-score: error: {hyp_file} and {ref_file} differ: {len(missing)} reference "
                 f"utterance(s) without hypothesis (e.g. {missing[:3]}), {len(extra)} "
                 f"hypothesis utterance(s) without reference (e.g. {extra[:3]})")
    return list(ref), ref, hyp


def score_classification(cfg, out_dir: Path | None) -> dict:
    from audiokit.metrics.classification import classification_report, plot_confusion  # torch

    utts, ref, hyp = _paired(cfg.ref, cfg.hyp)
    refs = [ref[u].split()[0] for u in utts]
    hyps = [hyp[u].split()[0] for u in utts]
    labels = sorted(set(refs) | set(hyps))
    report = classification_report(refs, hyps, labels)
    report["labels"] = labels
    if out_dir is not None:
        plot_confusion(report["confusion"], labels, out_dir / "confusion.png",
                       title=f"{cfg.name}: accuracy {100 * report['accuracy']:.2f} %")
    return report


def _normalizer(cfg) -> TextNormalizer | None:
    if not cfg.normalize:
        return None
    return TextNormalizer(lowercase=cfg.lowercase, remove_punctuation=cfg.remove_punctuation,
                          remove_tokens=tuple(str(t) for t in cfg.remove_tokens))


def score_asr(cfg, out_dir: Path | None) -> dict:
    # an empty transcription (silence, or nothing decoded) is a line with just the id
    utts, ref, hyp = _paired(cfg.ref, cfg.hyp, allow_empty_value=True)
    normalizer = _normalizer(cfg)
    norm = normalizer or collapse_whitespace
    refs, hyps = [norm(ref[u]) for u in utts], [norm(hyp[u]) for u in utts]
    word_alignments = align_corpus(refs, hyps, "word")
    word, char = total_counts(word_alignments), total_counts(align_corpus(refs, hyps, "char"))
    report = {
        "num_utts": len(utts),
        "wer": word.rate, "cer": char.rate, "ser": word.sentence_error_rate,
        "word": word.summary(), "char": char.summary(),
        "normalization": normalizer.to_dict() if normalizer else None,
        "normalization_text": normalizer.describe() if normalizer else "whitespace collapsed",
    }
    if out_dir is not None:
        blocks = [format_alignment(u, a) for u, a in zip(utts, word_alignments, strict=True)
                  if a.counts.errors]
        header = (f"# {cfg.name}: word alignments of the {len(blocks)} of {len(utts)} utterances "
                  f"with errors (after normalisation: {report['normalization_text']}).\n"
                  "# *** = nothing on that side; Eval: S substitution, D deletion, I insertion.\n")
        (out_dir / "errors.txt").write_text(header + "".join(f"\n{b}\n" for b in blocks),
                                            encoding="utf-8")
        report["errors_file"] = "errors.txt"
    return report


def _source_scps(folder: Path, role: str) -> list[dict[str, str]]:
    """spk1.scp .. spkN.scp of a folder (or its wav.scp alone for one enhanced source)."""
    scps, k = [], 1
    while (folder / f"spk{k}.scp").is_file():
        scps.append(read_kaldi_map(folder / f"spk{k}.scp"))
        k += 1
    if not scps and role == "hyp" and (folder / "wav.scp").is_file():
        scps = [read_kaldi_map(folder / "wav.scp")]
    if not scps:
        sys.exit(f"audiokit-score: error: {folder}: no spk1.scp ({role})")
    return scps


def _read(path: str, utt: str, rate: int | None) -> tuple:
    import soundfile as sf

    if not Path(path).is_file():
        raise ValueError(f"utterance '{utt}': {path}: no such file")
    try:
        audio, file_rate = sf.read(path, dtype="float64", always_2d=False)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise ValueError(f"utterance '{utt}': {path}: cannot read audio: {e}") from None
    if rate is not None and file_rate != rate:
        raise ValueError(f"utterance '{utt}': {path} is at {file_rate} Hz, its mixture at {rate} Hz")
    return audio, file_rate


PERCEPTUAL = ("pesq_nb", "pesq_wb", "stoi", "estoi")


def _perceptual(metric: str, refs, signals, rate: int) -> float:
    """Mean over sources of PESQ or STOI of ``signals`` (estimates, or the mixture repeated)."""
    import numpy as np

    from audiokit.metrics.separation import pesq_score, stoi_score

    if metric.startswith("pesq"):
        return float(np.mean([pesq_score(ref=r, est=x, sample_rate=rate, mode=metric[-2:])
                              for r, x in zip(refs, signals, strict=True)]))
    return float(np.mean([stoi_score(ref=r, est=x, sr=rate, extended=metric == "estoi")
                          for r, x in zip(refs, signals, strict=True)]))


def score_separation(cfg, out_dir: Path | None) -> dict:
    import numpy as np

    from audiokit.metrics.separation import (
        parse_conditions,
        score_utterance,
        summarize,
        summarize_by_condition,
    )

    ref_dir, hyp_dir = Path(cfg.ref), Path(cfg.hyp)
    mixtures = read_kaldi_map(ref_dir / "wav.scp")
    refs, hyps = _source_scps(ref_dir, "ref"), _source_scps(hyp_dir, "hyp")
    if len(refs) != len(hyps):
        sys.exit(f"audiokit-score: error: {ref_dir} has {len(refs)} reference source(s), {hyp_dir} "
                 f"{len(hyps)} estimate(s)")
    missing = [u for u in mixtures if any(u not in h for h in hyps)]
    if missing:
        sys.exit(f"audiokit-score: error: {hyp_dir}: no estimate for {len(missing)} mixture(s) of "
                 f"{ref_dir}, e.g. {missing[:3]}")
    metrics = [str(m) for m in cfg.metrics]
    core = [m for m in metrics if m not in PERCEPTUAL]
    perceptual = [m for m in metrics if m in PERCEPTUAL]
    rows, skipped = [], {}
    undefined: dict[str, dict[str, str]] = {m: {} for m in perceptual}
    for utt in mixtures:
        try:
            mix, rate = _read(mixtures[utt], utt, None)
            ref = np.stack([_read(r[utt], utt, rate)[0] for r in refs])
            est = np.stack([_read(h[utt], utt, rate)[0] for h in hyps])
            row = score_utterance(utt, est, ref, mix, rate, core)
        except (ValueError, KeyError) as e:
            if not cfg.skip_invalid:
                sys.exit(f"audiokit-score: error: {e} (skip_invalid=true leaves such "
                         "utterances out and lists them)")
            skipped[utt] = str(e)
            continue
        n = min(est.shape[-1], ref.shape[-1], mix.shape[-1])
        est, ref, mix = est[row["perm"], :n], ref[:, :n], mix[:n]
        for m in perceptual:  # the same measure on the unprocessed mixture: before / after
            try:
                row[m] = _perceptual(m, ref, est, rate)
                row[f"{m}_input"] = _perceptual(m, ref, [mix] * len(ref), rate)
            except Exception as e:  # too short or silent for PESQ/STOI: listed, not averaged
                undefined[m][utt] = f"{type(e).__name__}: {e}"
                row.pop(m, None)
        rows.append(row)
    summary = summarize([{k: r[k] for k in ("utt_id", *core)} for r in rows]) if core else {}
    for m in perceptual:
        scored = [r for r in rows if m in r]
        if scored:
            summary[m] = float(np.mean([r[m] for r in scored]))
            summary[f"{m}_input"] = float(np.mean([r[f"{m}_input"] for r in scored]))
    summary["num_utts"] = len(rows)
    report = {"metrics": summary, "num_utts": len(rows), "num_sources": len(refs),
              "skipped": skipped, "undefined": {m: u for m, u in undefined.items() if u}}
    condition_file = ref_dir / "utt2condition"
    if condition_file.is_file():  # e.g. noise kind, SNR band, room: means per condition too
        try:
            conditions = parse_conditions(read_kaldi_map(condition_file))
            report["by_condition"] = summarize_by_condition(rows, conditions)
        except ValueError as e:
            sys.exit(f"audiokit-score: error: {condition_file}: {e}")
    if out_dir is not None:
        columns = ["utt_id", *core, *[f"{m}{s}" for m in perceptual for s in ("", "_input")]]
        lines = [",".join(columns)] + [",".join(
            r["utt_id"] if c == "utt_id" else (f"{r[c]:.4f}" if c in r else "")
            for c in columns) for r in rows]
        (out_dir / "per_utt.csv").write_text("\n".join(lines) + "\n")
        report["per_utt_file"] = "per_utt.csv"
    return report


def score_verification(cfg, out_dir: Path | None) -> dict:
    """EER and minDCF (p_target 0.01, 0.05) of ``enroll test score`` lines against a trial
    list with labels; every trial must be scored exactly once."""
    from audiokit.inference.trials import read_scores, read_trials, trial_labels
    from audiokit.metrics.verification import plot_det, verification_report

    trials = read_trials(cfg.ref)
    pairs, scores = read_scores(cfg.hyp)
    index = {pair: i for i, pair in enumerate(pairs)}
    missing = [(t.enroll, t.test) for t in trials if (t.enroll, t.test) not in index]
    if missing or len(pairs) != len(trials):
        sys.exit(f"audiokit-score: error: {cfg.hyp} scores {len(pairs)} trial(s), {cfg.ref} lists "
                 f"{len(trials)}; unscored e.g. {missing[:3]}")
    ordered = scores[[index[(t.enroll, t.test)] for t in trials]]
    labels = trial_labels(trials)
    report = verification_report(ordered, labels)
    report["num_utts"] = report["num_trials"]
    if out_dir is not None:
        plot_det(ordered, labels, out_dir / "det.png",
                 title=f"{cfg.name}: EER {100 * report['eer']:.2f} %")
        report["det_plot"] = "det.png"
    return report


def score_diarization(cfg, out_dir: Path | None) -> dict:
    """DER (and its parts, and JER) of an RTTM hypothesis at each collar."""
    from audiokit.data.rttm import read_rttm
    from audiokit.metrics.diarization import REGIONS, diarization_error, read_uem

    collars = [float(c) for c in cfg.collars]
    if not collars or min(collars) < 0:
        sys.exit(f"audiokit-score: error: collars must be a non-empty list of seconds >= 0, got "
                 f"{collars}")
    if cfg.region not in REGIONS:
        sys.exit(f"audiokit-score: error: region must be one of {', '.join(REGIONS)}, got "
                 f"{cfg.region!r}")
    ref, hyp = read_rttm(cfg.ref), read_rttm(cfg.hyp)  # RttmError names the file and line
    if not ref:
        sys.exit(f"audiokit-score: error: {cfg.ref}: no SPEAKER lines, nothing to score")
    try:
        uem = read_uem(cfg.uem) if cfg.uem else None
        results = [diarization_error(ref, hyp, c, missing=cfg.missing, jer=True, uem=uem,
                                     region=cfg.region) for c in collars]
    except ValueError as e:
        sys.exit(f"audiokit-score: error: {cfg.hyp} against {cfg.ref}: error: {e}")
    for r in results:  # a collar wider than the turns scores (almost) nothing: say so
        if r["total_s"] < 0.5 * r["reference_s"]:
            print(f"audiokit-score: warning: collar {r['collar']:g} s leaves "
                  f"{100 * r['total_s'] / max(r['reference_s'], 1e-9):.0f} % of the reference "
                  "speech to score (turns shorter than the no-score zone); its DER says little")
    report = {"num_utts": len(ref), "num_recordings": len(ref), "missing": results[0]["missing"],
              "region": results[0]["region"],
              "collars": [{k: v for k, v in r.items() if k not in ("recordings", "missing")}
                          for r in results]}
    if out_dir is not None:
        columns = ["der", "missed", "false_alarm", "confusion", "jer", "total_s"]
        lines = [",".join(["recording", "collar", *columns])]
        for r in results:
            lines += [",".join([reco, f"{r['collar']:g}", *(f"{row[c]:.4f}" for c in columns)])
                      for reco, row in r["recordings"].items()]
        (out_dir / "per_recording.csv").write_text("\n".join(lines) + "\n")
        report["per_recording_file"] = "per_recording.csv"
    return report


def score_audio(cfg, out_dir: Path | None) -> dict:
    """vocoder / codec: resynthesised audio against the original (audiokit.inference.audio_quality)."""
    from audiokit.inference.audio_quality import score_audio_quality

    given = [str(m) for m in cfg.metrics]
    metrics = None if given == ScoreConfig().metrics else given  # the sep default: ours instead
    return score_audio_quality(cfg.ref, cfg.hyp, metrics, asr_exp_dir=cfg.asr_exp_dir,
                               out_dir=out_dir, skip_invalid=cfg.skip_invalid)


def _audio_headline(report: dict) -> str:
    from audiokit.inference.audio_quality import headline

    return headline(report)


def score_tts(cfg, out_dir: Path | None) -> dict:
    """tts: synthesised speech against real recordings (audiokit.inference.tts_quality)."""
    from audiokit.inference.tts_quality import score_tts as score

    given = [str(m) for m in cfg.metrics]
    metrics = None if given == ScoreConfig().metrics else given  # the sep default: ours instead
    return score(cfg.ref, cfg.hyp, metrics, asr_exp_dir=cfg.asr_exp_dir,
                 sv_exp_dir=cfg.sv_exp_dir, out_dir=out_dir, skip_invalid=cfg.skip_invalid)


def _tts_headline(report: dict) -> str:
    from audiokit.inference.tts_quality import headline

    return headline(report)


def score_music(cfg, out_dir: Path | None) -> dict:
    """music: NLL per token and sample statistics (audiokit.music.score)."""
    from audiokit.music.score import score_music as score

    return score(cfg.ref, cfg.hyp, out_dir)


def _music_headline(report: dict) -> str:
    from audiokit.music.score import headline

    return headline(report)


def _music_section(report: dict) -> list[str]:
    from audiokit.music.score import results_section

    return results_section(report)


RESULTS_SECTIONS.setdefault("music", _music_section)


def score_t2m(cfg, out_dir: Path | None) -> dict:
    """t2m: caption adherence and Fréchet distance of generated clips (audiokit.music.t2m_score)."""
    from audiokit.music.t2m_score import score_t2m as score

    return score(cfg.ref, cfg.hyp, [str(e) for e in cfg.classifier_exp_dirs], cfg.fd_ref, out_dir)


def _t2m_headline(report: dict) -> str:
    from audiokit.music.t2m_score import headline

    return headline(report)


def _t2m_section(report: dict) -> list[str]:
    from audiokit.music.t2m_score import results_section

    return results_section(report)


RESULTS_SECTIONS.setdefault("t2m", _t2m_section)

DIR_TASKS = ("sep", "vocoder", "codec", "music", "tts", "t2m")  # ref and hyp are folders

SCORERS = {"cls": score_classification, "asr": score_asr, "sep": score_separation,
           "vocoder": score_audio, "codec": score_audio,
           "sv": score_verification, "diar": score_diarization, "music": score_music,
           "tts": score_tts, "t2m": score_t2m}

# The line printed for each scored set.
HEADLINES = {
    "cls": lambda r: ", ".join(f"{k} {100 * r[k]:.2f} %" for k in ("accuracy", "macro_f1")),
    "asr": lambda r: f"WER {100 * r['wer']:.2f} %, CER {100 * r['cer']:.2f} % "
                     f"(S.Err {100 * r['ser']:.2f} %)",
    "sep": lambda r: ", ".join(f"{k} {v:.2f}" for k, v in r["metrics"].items() if k != "num_utts"),
    "sv": lambda r: f"EER {100 * r['eer']:.2f} %, minDCF(0.01) {r['min_dcf_0.01']:.3f}, "
                    f"minDCF(0.05) {r['min_dcf_0.05']:.3f}",
    "diar": lambda r: "; ".join(
        f"collar {c['collar']:g} s: DER {c['der']:.2f} % (miss {c['missed']:.2f}, FA "
        f"{c['false_alarm']:.2f}, conf {c['confusion']:.2f})" for c in r["collars"])
        + f" [scored region: {r.get('region', 'union')}]",
    "vocoder": _audio_headline,
    "codec": _audio_headline,
    "music": _music_headline,
    "tts": _tts_headline,
    "t2m": _t2m_headline,
}


HELP = """\
usage: audiokit-score task=TASK ref=REF hyp=HYP [exp_dir=E] [name=NAME] [key=value ...]

Compares hypotheses (what audiokit-infer wrote) with references and prints the headline
figures. tasks, and what ref / hyp are:

  cls    utt2label files                     accuracy, macro-F1 (+ confusion.png)
  asr    Kaldi text files                    WER, CER, sentence error rate (+ errors.txt)
  sep    data dir / infer output folder      SI-SNR(i), SDR(i), PESQ, STOI (+ per_utt.csv)
  sv     trials file / scores file           EER, minDCF (+ det.png)
  diar   rttm files                          DER, JER at each collar (+ per_recording.csv)
  vocoder, codec   data dir / infer output   PESQ, STOI, mel distance, SI-SNR (metrics=[...,visqol]),
                   folder (wav.scp)          WER with asr_exp_dir=A (+ per_utt.csv)
  music  data dir / infer output folder      NLL per token (nll), sample statistics against
         (nll and/or midi.scp)               the test pieces (midi.scp; + samples.md)
  tts    data dir of real recordings (text,  MCD (DTW), F0 RMSE, DNSMOS of both sides; WER/CER of
         wav.scp) / TTS infer output folder  both with asr_exp_dir=A; speaker similarity with
                                             sv_exp_dir=S; attention failures, RTF (+ per_utt.csv)
  t2m    rendered data dir (captions, facts) adherence to timbre, tempo (classifier_exp_dirs=[T,M]),
         / folder with wav.scp (one clip per  key and mode (chroma); Fréchet distance on the
         caption)                            judges' embeddings to fd_ref's clips (+ per_utt.tsv)

With exp_dir=E it also writes E/scores/<name>/report.json (and the files above) and
regenerates E/RESULTS.md from every scored set. Set AUDIOKIT_DEBUG=1 to see tracebacks.

example:
  audiokit-score task=cls ref=data/test/utt2label hyp=E/infer/test/utt2label exp_dir=E
"""


@cli_errors("audiokit-score")
def main(argv: list[str] | None = None) -> None:
    cfg = parse_key_values("audiokit-score", ScoreConfig, sys.argv[1:] if argv is None else argv,
                           help=HELP)
    if cfg.task not in SCORERS:
        sys.exit(f"audiokit-score: error: unknown task '{cfg.task}' (known: {', '.join(SCORERS)})")
    for f in (cfg.ref, cfg.hyp):
        if not (Path(f).is_dir() if cfg.task in DIR_TASKS else Path(f).is_file()):
            sys.exit(f"audiokit-score: error: {f}: no such {'folder' if cfg.task in DIR_TASKS else 'file'}")
    cfg.name = cfg.name or (Path(cfg.hyp).name if cfg.task in DIR_TASKS else Path(cfg.hyp).parent.name)
    out_dir = Path(cfg.exp_dir) / "scores" / cfg.name if cfg.exp_dir else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    report = SCORERS[cfg.task](cfg, out_dir)  # DataDirError names the file, line, utterance
    report.update(task=cfg.task, name=cfg.name, ref=cfg.ref, hyp=cfg.hyp,
                  command=" ".join(["audiokit-score", *(sys.argv[1:] if argv is None else argv)]),
                  scored_with=run_info.collect())
    print(f"audiokit-score {cfg.name}: {HEADLINES[cfg.task](report)} ({report['num_utts']} utts)")
    if out_dir is not None:
        (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        results = write_results_md(Path(cfg.exp_dir))
        print(f"audiokit-score: wrote {results}")


if __name__ == "__main__":
    main()
