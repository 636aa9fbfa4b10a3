"""audiokit-score: compare hypotheses with references; write the metric table.

    audiokit-score task=cls ref=data/test/utt2label hyp=E/infer/test/utt2label exp_dir=E

Prints the table; with ``exp_dir`` also writes ``E/scores/<name>/`` (report.json, plots)
and regenerates ``E/RESULTS.md`` from every scored set, with the environment and commands.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from audiokit.data.datadir import read_kaldi_map
from audiokit.metrics.classification import classification_report, plot_confusion
from audiokit.utils import run_info
from audiokit.utils.cli_args import parse_key_values
from audiokit.utils.results import write_results_md


@dataclass
class ScoreConfig:
    task: str = "???"              # cls
    ref: str = "???"
    hyp: str = "???"
    exp_dir: str | None = None     # where scores/ and RESULTS.md go; None = print only
    name: str | None = None        # the set's name; default: the hyp file's folder name


def _paired(ref_file: str, hyp_file: str) -> tuple[list[str], dict[str, str], dict[str, str]]:
    ref, hyp = read_kaldi_map(ref_file), read_kaldi_map(hyp_file)
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


SCORERS = {"cls": score_classification}


def main(argv: list[str] | None = None) -> None:
    cfg = parse_key_values("audiokit-score", ScoreConfig, sys.argv[1:] if argv is None else argv)
    if cfg.task not in SCORERS:
        sys.exit(f"audiokit-score: unknown task '{cfg.task}' (known: {', '.join(SCORERS)})")
    cfg.name = cfg.name or Path(cfg.hyp).parent.name
    out_dir = Path(cfg.exp_dir) / "scores" / cfg.name if cfg.exp_dir else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    report = SCORERS[cfg.task](cfg, out_dir)
    report.update(task=cfg.task, name=cfg.name, ref=cfg.ref, hyp=cfg.hyp,
                  command=" ".join(["audiokit-score", *(sys.argv[1:] if argv is None else argv)]),
                  scored_with=run_info.collect())
    print(f"audiokit-score {cfg.name}: " + ", ".join(
        f"{k} {100 * report[k]:.2f} %" for k in ("accuracy", "macro_f1")) + f" ({report['num_utts']} utts)")
    if out_dir is not None:
        (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        results = write_results_md(Path(cfg.exp_dir))
        print(f"audiokit-score: wrote {results}")


if __name__ == "__main__":
    main()
