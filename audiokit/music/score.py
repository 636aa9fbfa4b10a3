"""``audiokit-score task=music``: NLL per token and the statistics of generated pieces.

``ref`` is the test data dir (``midi.scp``; ``events`` too), ``hyp`` the folder
``audiokit-infer`` (or the n-gram baseline) wrote: ``nll`` (every ``ref`` piece must be
there) and/or ``midi.scp`` of samples. Samples are compared with the test pieces by
:mod:`audiokit.music.stats`; the test pieces' own values (histogram distances leave one out)
stand beside them, with the samples' relative difference from them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from audiokit.data.datadir import read_kaldi_map
from audiokit.music.events import EventConfig
from audiokit.music.midi_io import read_midi
from audiokit.music.stats import piece_stats, summarize
from audiokit.utils.errors import UserError

# How each statistic is compared: the relative difference of the samples' value from the
# test pieces' own (the issue's target: within 20 %).
COMPARED = ("pitch_class_distance", "interval_distance", "key_consistency", "key_correlation",
            "in_key", "notes_per_quarter")
TOLERANCE = 0.2
STEPS_PER_QUARTER = 12  # reading grid: fine enough for triplets; the statistics do not depend on it


def _stats(scp: Path) -> list[dict]:
    cfg = EventConfig(steps_per_quarter=STEPS_PER_QUARTER)
    out = []
    for path in read_kaldi_map(scp).values():
        notes = read_midi(path, cfg)
        if notes:  # an empty sample is counted, not scored
            out.append(piece_stats(notes, STEPS_PER_QUARTER))
    return out


def score_music(ref: str, hyp: str, out_dir: Path | None = None) -> dict:
    ref_dir, hyp_dir = Path(ref), Path(hyp)
    report: dict = {}
    has_nll, has_samples = (hyp_dir / "nll").is_file(), (hyp_dir / "midi.scp").is_file()
    if not has_nll and not has_samples:
        raise UserError(f"{hyp_dir}: neither nll nor midi.scp (run audiokit-infer on the test dir)")
    pieces = None
    for name in ("events", "midi.scp"):
        if (ref_dir / name).is_file():
            pieces = list(read_kaldi_map(ref_dir / name))
            break
    if pieces is None:
        raise UserError(f"{ref_dir}: no events or midi.scp (not a music data dir)")
    report["num_utts"] = len(pieces)
    if has_nll:
        rows = {pid: v.split() for pid, v in read_kaldi_map(hyp_dir / "nll").items()}
        missing = [p for p in pieces if p not in rows]
        if missing:
            raise UserError(f"{hyp_dir}/nll: no NLL for {len(missing)} piece(s) of {ref_dir}, "
                            f"e.g. {missing[:3]}")
        total = sum(float(rows[p][0]) for p in pieces)
        count = sum(int(rows[p][1]) for p in pieces)
        report["nll_per_token"] = total / count
        report["num_tokens"] = count
        if (hyp_dir / "nll.json").is_file():
            report["nll_info"] = json.loads((hyp_dir / "nll.json").read_text())
    if has_samples:
        if not (ref_dir / "midi.scp").is_file():
            raise UserError(f"{ref_dir}: no midi.scp to compare the samples with")
        real = _stats(ref_dir / "midi.scp")
        samples = _stats(hyp_dir / "midi.scp")
        num_samples = len(read_kaldi_map(hyp_dir / "midi.scp"))
        if not samples:
            raise UserError(f"{hyp_dir}/midi.scp: none of the {num_samples} samples has a note")
        test = summarize(real, real, is_reference=True)
        gen = summarize(samples, real)
        rel = {k: (gen[k] - test[k]) / abs(test[k]) if test[k] else math.nan for k in COMPARED}
        report["samples"] = {"generated": gen, "test": test, "relative_difference": rel,
                             "within_tolerance": {k: bool(abs(v) <= TOLERANCE) for k, v in rel.items()},
                             "tolerance": TOLERANCE, "empty_samples": num_samples - len(samples)}
    if out_dir is not None and has_samples:
        lines = ["| statistic | samples | test chorales | relative difference |", "|---|---|---|---|"]
        s = report["samples"]
        lines += [f"| {k} | {s['generated'][k]:.4f} | {s['test'][k]:.4f} | "
                  f"{100 * s['relative_difference'][k]:+.1f} % |" for k in COMPARED]
        (out_dir / "samples.md").write_text("\n".join(lines) + "\n")
    return report


def headline(report: dict) -> str:
    parts = []
    if "nll_per_token" in report:
        parts.append(f"NLL {report['nll_per_token']:.4f} nats per token")
    if "samples" in report:
        s = report["samples"]
        ok = sum(s["within_tolerance"].values())
        parts.append(f"samples: {ok} of {len(s['within_tolerance'])} statistics within "
                     f"{100 * s['tolerance']:.0f} % of the test pieces' ("
                     + ", ".join(f"{k} {s['generated'][k]:.3f} vs {s['test'][k]:.3f}"
                                 for k in COMPARED) + ")")
    return "; ".join(parts)


def results_section(report: dict) -> list[str]:
    """The scored set's lines in the exp dir's RESULTS.md."""
    lines = []
    if "nll_per_token" in report:
        info = report.get("nll_info", {})
        how = f" ({info['model']})" if "model" in info else (
            f" (context {info['context']}, stride {info['stride']})" if "context" in info else "")
        lines += [f"- NLL per token: **{report['nll_per_token']:.4f}** nats over "
                  f"{report['num_tokens']} tokens of {report['num_utts']} pieces{how}", ""]
    if "samples" in report:
        s = report["samples"]
        lines += [f"Samples ({s['generated']['num_pieces']} with notes, {s['empty_samples']} "
                  f"empty) against the {s['test']['num_pieces']} test pieces:", "",
                  "| statistic | samples | test pieces | relative difference |",
                  "|---|---|---|---|"]
        lines += [f"| {k} | {s['generated'][k]:.4f} | {s['test'][k]:.4f} | "
                  f"{100 * s['relative_difference'][k]:+.1f} % |" for k in COMPARED]
    return lines
