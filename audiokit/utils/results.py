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


SECTIONS = {"cls": _classification_section}


def write_results_md(exp_dir: Path) -> Path:
    reports = [_load(p) for p in sorted(exp_dir.glob("scores/*/report.json"))]
    info = _load(exp_dir / "run_info.json")
    summary = _load(exp_dir / "train_summary.json")
    out = [f"# Results: {exp_dir.name}", "", f"Experiment dir: `{exp_dir.resolve()}`", ""]
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
