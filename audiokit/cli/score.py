"""audiokit-score: compare hypotheses with references; write the metric table.

    audiokit-score task=cls ref=data/test/utt2label hyp=E/infer/test/utt2label exp_dir=E
    audiokit-score task=asr ref=data/test/text hyp=E/infer/test_ctc_greedy/text exp_dir=E

Prints the headline figures; with ``exp_dir`` also writes ``E/scores/<name>/`` (report.json,
plots; for asr ``errors.txt``, the word alignments of every utterance with an error) and
regenerates ``E/RESULTS.md`` from every scored set, with the environment and commands.

asr: references and hypotheses are Kaldi ``text`` files (``utt words...``; an utterance may
have no words). Both are normalised the same way before scoring (``normalize=true``:
lowercase, punctuation removed, see :mod:`audiokit.text.normalize`); WER and CER as in
:mod:`audiokit.metrics.wer` (CER counts the spaces between words).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from audiokit.data.datadir import DataDirError, read_kaldi_map
from audiokit.metrics.classification import classification_report, plot_confusion
from audiokit.metrics.wer import align_corpus, format_alignment, total_counts
from audiokit.text.normalize import TextNormalizer, collapse_whitespace
from audiokit.utils import run_info
from audiokit.utils.cli_args import parse_key_values
from audiokit.utils.results import write_results_md


@dataclass
class ScoreConfig:
    task: str = "???"              # cls | asr
    ref: str = "???"
    hyp: str = "???"
    exp_dir: str | None = None     # where scores/ and RESULTS.md go; None = print only
    name: str | None = None        # the set's name; default: the hyp file's folder name
    # asr only: text normalisation of both sides before scoring (audiokit.text.normalize)
    normalize: bool = True         # false: only collapse whitespace
    lowercase: bool = True
    remove_punctuation: bool = True
    remove_tokens: list[str] = field(default_factory=list)  # words to drop: [<unk>,uh,'[noise]']


def _paired(ref_file: str, hyp_file: str, allow_empty_value: bool = False,
            ) -> tuple[list[str], dict[str, str], dict[str, str]]:
    ref = read_kaldi_map(ref_file, allow_empty_value=allow_empty_value)
    hyp = read_kaldi_map(hyp_file, allow_empty_value=allow_empty_value)
    missing = [u for u in ref if u not in hyp]
    extra = [u for u in hyp if u not in ref]
    if missing or extra:
        sys.exit(f"audiokit-score: {hyp_file} and {ref_file} differ: {len(missing)} reference "
                 f"utterance(s) without hypothesis (e.g. {missing[:3]}), {len(extra)} "
                 f"hypothesis utterance(s) without reference (e.g. {extra[:3]})")
    return list(ref), ref, hyp


def score_classification(cfg, out_dir: Path | None) -> dict:
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


SCORERS = {"cls": score_classification, "asr": score_asr}

# The line printed for each scored set.
HEADLINES = {
    "cls": lambda r: ", ".join(f"{k} {100 * r[k]:.2f} %" for k in ("accuracy", "macro_f1")),
    "asr": lambda r: f"WER {100 * r['wer']:.2f} %, CER {100 * r['cer']:.2f} % "
                     f"(S.Err {100 * r['ser']:.2f} %)",
}


def main(argv: list[str] | None = None) -> None:
    cfg = parse_key_values("audiokit-score", ScoreConfig, sys.argv[1:] if argv is None else argv)
    if cfg.task not in SCORERS:
        sys.exit(f"audiokit-score: unknown task '{cfg.task}' (known: {', '.join(SCORERS)})")
    for f in (cfg.ref, cfg.hyp):
        if not Path(f).is_file():
            sys.exit(f"audiokit-score: {f}: no such file")
    cfg.name = cfg.name or Path(cfg.hyp).parent.name
    out_dir = Path(cfg.exp_dir) / "scores" / cfg.name if cfg.exp_dir else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    try:
        report = SCORERS[cfg.task](cfg, out_dir)
    except DataDirError as e:  # names the file, the line and the utterance
        sys.exit(f"audiokit-score: error: {e}")
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
