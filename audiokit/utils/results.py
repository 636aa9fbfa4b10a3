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


METRIC_NAMES = {"si_snr": "SI-SNR (dB)", "si_snri": "SI-SNRi (dB)", "sdr": "SDR (dB)",
                "sdri": "SDRi (dB)", "pesq_nb": "PESQ (narrow band)", "pesq_wb": "PESQ (wide band)",
                "stoi": "STOI", "estoi": "ESTOI"}


def _separation_section(r: dict) -> list[str]:
    """Mean per-utterance metrics; PESQ/STOI of the unprocessed input beside the output."""
    m = r["metrics"]
    lines = ["| metric | output | input (mixture) |", "|---|---|---|"]
    for key, label in METRIC_NAMES.items():
        if key in m:
            before = f"{m[key + '_input']:.3f}" if key + "_input" in m else ""
            lines.append(f"| {label} | {m[key]:.3f} | {before} |")
    lines += ["", f"{r['num_utts']} mixtures, {r['num_sources']} source(s) each; means over "
              "utterances of the per-source mean, permutation solved by SI-SNR. Per utterance: "
              f"[scores/{r['name']}/per_utt.csv](scores/{r['name']}/per_utt.csv)."]
    for metric, utts in r.get("undefined", {}).items():
        lines += ["", f"{METRIC_NAMES[metric]} is undefined for {len(utts)} of the "
                  f"{r['num_utts']} mixtures (too short or silent; its means are over the rest), "
                  f"e.g. {', '.join(list(utts)[:3])}."]
    if r.get("by_condition"):
        lines += ["", *_by_condition_table(r["by_condition"])]
    if r.get("skipped"):
        lines += ["", f"Left out ({len(r['skipped'])}): " + "; ".join(
            f"{u}: {why}" for u, why in list(r["skipped"].items())[:10])]
    return lines


def _by_condition_table(by_condition: dict) -> list[str]:
    """One row per condition (factor=value) with its count and output means (input in brackets
    for PESQ/STOI; ``n=`` where a measure is defined on fewer of its utterances)."""
    present = {k for values in by_condition.values() for v in values.values() for k in v}
    keys = [k for k in METRIC_NAMES if k in present]
    lines = ["By condition (from the reference's utt2condition):", "",
             "| condition | utterances | " + " | ".join(METRIC_NAMES[k] for k in keys) + " |",
             "|---|---|" + "---|" * len(keys)]
    for factor, values in by_condition.items():
        for value, m in values.items():
            cells = []
            for k in keys:
                cell = f"{m[k]:.2f}" if k in m else ""
                if k + "_input" in m:
                    cell += f" ({m[k + '_input']:.2f})"
                if f"num_{k}" in m:
                    cell += f", n={m[f'num_{k}']}"
                cells.append(cell)
            lines.append(f"| {factor}={value} | {m['num_utts']} | " + " | ".join(cells) + " |")
    return lines


def _verification_section(r: dict) -> list[str]:
    lines = ["| metric | value |", "|---|---|",
             f"| EER | {100 * r['eer']:.2f} % |",
             f"| minDCF (p_target 0.01) | {r['min_dcf_0.01']:.4f} |",
             f"| minDCF (p_target 0.05) | {r['min_dcf_0.05']:.4f} |",
             f"| trials (target / nontarget) | {r['num_trials']} ({r['num_target']} / "
             f"{r['num_nontarget']}) |"]
    if r.get("det_plot"):
        lines += ["", f"![DET curve](scores/{r['name']}/{r['det_plot']})"]
    return lines


_REGION_TEXT = {  # audiokit.metrics.diarization's regions
    "reference": "`reference`, each recording's first to last reference turn (md-eval-22's "
                 "default)",
    "union": "`union`, 0 to the last reference or hypothesis end (dscore's, pyannote's)",
    "uem": "the UEM file's spans"}


def _diarization_section(r: dict) -> list[str]:
    """DER and its parts at each collar (md-eval convention: seconds on each side)."""
    lines = ["| collar (s) | DER | missed | false alarm | confusion | JER | scored speech (s) |",
             "|---|---|---|---|---|---|---|"]
    for c in r["collars"]:
        lines.append(f"| {c['collar']:g} | {c['der']:.2f} | {c['missed']:.2f} | "
                     f"{c['false_alarm']:.2f} | {c['confusion']:.2f} | {c.get('jer', 0):.2f} | "
                     f"{c['total_s']:.1f} ({100 * c['total_s'] / max(c['reference_s'], 1e-9):.0f}"
                     " % of all) |")
    lines += ["", f"{r['num_recordings']} recordings; DER, its parts and JER in % of scored "
              "speech (overlapped speech scored), pooled over recordings; the collar is the "
              "no-score zone on each side of a reference boundary (md-eval's convention)."]
    region = r.get("region", "union")  # reports written before the option scored the union
    lines += ["", "Scored region: " + _REGION_TEXT.get(region, region) + "."]
    if r.get("missing"):
        lines += ["", f"No hypothesis for {len(r['missing'])} recording(s), scored as all "
                  f"missed: {', '.join(r['missing'][:10])}."]
    if r.get("per_recording_file"):
        path = f"scores/{r['name']}/{r['per_recording_file']}"
        lines += ["", f"Per recording: [{path}]({path})."]
    return lines


def _audio_quality_section(r: dict) -> list[str]:
    from audiokit.inference.audio_quality import results_section

    return results_section(r)


def _tts_section(r: dict) -> list[str]:
    from audiokit.inference.tts_quality import results_section

    return results_section(r)


SECTIONS = {"cls": _classification_section, "asr": _asr_section, "sep": _separation_section,
            "sv": _verification_section, "diar": _diarization_section,
            "vocoder": _audio_quality_section, "codec": _audio_quality_section,
            "tts": _tts_section}


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
        if summary.get("stopped_by_max_time"):  # the guard ended it: fewer epochs than planned
            out += [f"- **{summary['stopped_by_max_time']}**: trained less than the config "
                    "asks for, so these figures depend on the machine's speed"]
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


def _sep_metric(key: str):
    return lambda r: r["metrics"].get(key)


def _der_at(collar: float):
    return lambda r: next((c["der"] for c in r["collars"] if c["collar"] == collar), None)


# The figures a seeds table shows for each task: (label, value from report.json, scale).
SEED_METRICS = {
    "cls": [("accuracy (%)", lambda r: r["accuracy"], 100),
            ("macro-F1 (%)", lambda r: r["macro_f1"], 100)],
    "asr": [("WER (%)", lambda r: r["wer"], 100), ("CER (%)", lambda r: r["cer"], 100)],
    "sep": [(label, _sep_metric(key), 1) for key, label in METRIC_NAMES.items()],
    "sv": [("EER (%)", lambda r: r["eer"], 100),
           ("minDCF (p_target 0.01)", lambda r: r["min_dcf_0.01"], 1)],
    "diar": [(f"DER (%), collar {c:g} s", _der_at(c), 1) for c in (0.25, 0.0)],
}


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1; 0 for a single value)."""
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, var ** 0.5


def write_seeds_results_md(exp_dir: Path, seed_dirs: list[Path]) -> Path:
    """``exp_dir/RESULTS.md`` over runs of one recipe with different seeds: per scored set and
    metric, mean ± sample standard deviation, then each seed's value; each seed's own
    RESULTS.md has its full tables. A seed not (yet) scored is named, not averaged."""
    runs = []  # (seed label, dir, {set name: report})
    for d in seed_dirs:
        reports = {r["name"]: r for r in map(_load, sorted(d.glob("scores/*/report.json")))}
        runs.append((d.name.removeprefix("seed"), d, reports))
    scored = [run for run in runs if run[2]]
    out = [f"# Results: {exp_dir.name} over {len(runs)} seeds", "",
           f"Experiment dir: `{exp_dir.resolve()}`; one exp dir per seed "
           f"({', '.join(f'`{d.name}/`' for _, d, _ in runs)}), each with its own RESULTS.md.", ""]
    missing = [seed for seed, _, reports in runs if not reports]
    if missing:
        out += [f"Not scored (left out of the means): seed {', '.join(missing)}.", ""]
    names = sorted({name for _, _, reports in scored for name in reports})
    for name in names:
        with_set = [(seed, reports[name]) for seed, _, reports in scored if name in reports]
        task = with_set[0][1]["task"]
        out += [f"## {name}", "",
                "| metric | mean ± std | " + " | ".join(f"seed {s}" for s, _ in with_set) + " |",
                "|---|---|" + "---|" * len(with_set)]
        for label, get, scale in SEED_METRICS.get(task, []):
            values = [get(r) for _, r in with_set]
            if any(v is None for v in values):
                continue
            values = [scale * v for v in values]
            mean, std = mean_std(values)
            out.append(f"| {label} | {mean:.2f} ± {std:.2f} | "
                       + " | ".join(f"{v:.2f}" for v in values) + " |")
        out += ["", f"Mean ± sample standard deviation (n - 1) over {len(with_set)} seed(s).", ""]
    out += ["## Training", ""]
    for seed, d, _ in runs:
        summary = _load(d / "train_summary.json")
        if summary:
            line = (f"- seed {seed}: {summary['epochs']} epoch(s), {summary['global_step']} "
                    f"steps, {summary['wall_seconds'] / 60:.1f} min")
            if summary.get("stopped_by_max_time"):
                line += f"; **{summary['stopped_by_max_time']}**"
            out.append(line)
    recipe = os.environ.get("AUDIOKIT_RECIPE_CMD")
    if recipe:
        out += ["", "## Commands", "", f"- recipe: `{recipe}`"]
    path = exp_dir / "RESULTS.md"
    tmp = path.with_name("RESULTS.md.tmp")
    tmp.write_text("\n".join(out) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


if __name__ == "__main__":  # recipes: python -m audiokit.utils.results seeds EXP_DIR SEED_DIR...
    import sys

    if len(sys.argv) < 4 or sys.argv[1] != "seeds":
        sys.exit("usage: python -m audiokit.utils.results seeds EXP_DIR SEED_DIR...")
    print(f"wrote {write_seeds_results_md(Path(sys.argv[2]), [Path(p) for p in sys.argv[3:]])}")
