"""RESULTS.md: every scored set of an experiment, its environment and the exact commands.

Regenerated from ``exp_dir/scores/*/report.json``, ``run_info.json`` and
``train_summary.json`` each time a set is scored, so it never goes stale or half-written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _classification_section(r: dict) -> list[str]:
    lines = [
        "| metric | value |", "|---|---|",
        f"| accuracy | {100 * r['accuracy']:.2f} % |",
        f"| macro-F1 | {100 * r['macro_f1']:.2f} % |",
        f"| utterances | {r['num_utts']} |",
        "",
        "| class | precision | recall | F1 | support |", "|---|---|---|---|---|",
    ]
    for label, c in r["per_class"].items():
        lines.append(f"| {label} | {100 * c['precision']:.1f} | {100 * c['recall']:.1f} | "
                     f"{100 * c['f1']:.1f} | {c['support']} |")
    lines += ["", f"![confusion matrix](scores/{r['name']}/confusion.png)"]
    return lines


def _asr_section(r: dict) -> list[str]:
    """sclite's summary table, for words (WER) and characters (CER)."""
    lines = ["| | Snt | Wrd | Corr | Sub | Del | Ins | Err | S.Err |", "|---|---|---|---|---|---|---|---|---|"]
    for label, key in (("WER (words)", "word"), ("CER (chars)", "char")):
        s = r[key]
        lines.append(f"| {label} | {s['snt']} | {s['wrd']} | " + " | ".join(
            f"{s[k]:.1f}" for k in ("corr", "sub", "del", "ins", "err", "s_err")) + " |")
    lines += ["", "Corr/Sub/Del/Ins/Err: % of reference words (chars); S.Err: % of utterances. "
              f"Text before scoring: {r['normalization_text']}."]
    if r.get("errors_file"):
        path = f"scores/{r['name']}/{r['errors_file']}"
        lines += ["", f"Alignments of the utterances with errors: [{path}]({path})"]
    return lines


def _asr_overview(reports: list[dict]) -> list[str]:
    """One line per scored ASR set (e.g. one per decoding mode), side by side."""
    lines = ["## ASR overview", "", "| set | WER | CER | S.Err |", "|---|---|---|---|"]
    lines += [f"| {r['name']} | {100 * r['wer']:.2f} | {100 * r['cer']:.2f} | {100 * r['ser']:.2f} |"
              for r in reports]
    return lines + ["", "WER, CER, S.Err in %; details per set below.", ""]


SECTIONS = {"cls": _classification_section, "asr": _asr_section}


def write_results_md(exp_dir: Path) -> Path:
    reports = [_load(p) for p in sorted(exp_dir.glob("scores/*/report.json"))]
    info = _load(exp_dir / "run_info.json")
    summary = _load(exp_dir / "train_summary.json")
    out = [f"# Results: {exp_dir.name}", "", f"Experiment dir: `{exp_dir.resolve()}`", ""]
    asr = [r for r in reports if r["task"] == "asr"]
    if asr:
        out += _asr_overview(asr)
    for r in reports:
        out += [f"## {r['name']}", ""] + SECTIONS[r["task"]](r)
        out += ["", f"Reference `{r['ref']}`, hypothesis `{r['hyp']}`.", ""]
    out += ["## Training", ""]
    if summary:
        out += [f"- wall time: {summary['wall_seconds'] / 60:.1f} min, "
                f"{summary['epochs']} epoch(s), {summary['global_step']} steps",
                f"- best {summary['monitor']}: {summary['best_score']} "
                f"(`{summary['best_checkpoint']}`)",
                f"- parameters: {summary['num_parameters']:,}"]
    if info:
        out += [f"- command: `{' '.join(info['argv'])}`", f"- git SHA: `{info['git_sha']}`",
                f"- device: {info['device']}",
                "- versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items())]
    out += ["", "## Commands", ""]
    recipe = os.environ.get("AUDIOKIT_RECIPE_CMD")
    if recipe:
        out += [f"- recipe: `{recipe}`"]
    out += [f"- scoring ({r['name']}): `{r['command']}`" for r in reports]
    path = exp_dir / "RESULTS.md"
    tmp = path.with_name("RESULTS.md.tmp")
    tmp.write_text("\n".join(out) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
