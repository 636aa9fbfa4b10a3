"""One table of every text-to-music row an exp dir has scored (``audiokit-score task=t2m``
writes ``E/scores/<name>/report.json``): adherence per caption fact and Fréchet distances per
judge, a row per scored set (ceiling, chance rows, each generator and guidance scale), so
generators and their CFG sweeps compare at a glance.

    python -m audiokit.music.t2m_table E [NAME ...]   -> E/t2m_table.md (and printed)

Without names, every t2m report of ``E/scores`` in name order.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from audiokit.utils.errors import UserError

FACTS = ("timbre", "tempo", "key", "mode")


def t2m_table(reports: list[dict]) -> list[str]:
    """Markdown lines: ``| row | clips | timbre | tempo | key | mode | FD <judge> ... |``."""
    judges = sorted({j for r in reports for j in r.get("frechet_distance", {})})
    head = ["row", "clips", *FACTS, *(f"FD {j}" for j in judges)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in reports:
        adh = r["adherence"]
        cells = [r["name"], str(r["num_utts"])]
        cells += [f"{100 * adh[f]:.1f} %" if f in adh else "" for f in FACTS]
        fd = r.get("frechet_distance", {})
        cells += [f"{fd[j]:.3f}" if j in fd else "" for j in judges]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_t2m_table(exp_dir: str | Path, names: list[str] | None = None) -> Path:
    exp = Path(exp_dir)
    if names:
        paths = [exp / "scores" / n / "report.json" for n in names]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise UserError(f"no t2m report for {missing} (run audiokit-score task=t2m first)")
    else:
        paths = sorted(exp.glob("scores/*/report.json"))
    reports = [json.loads(p.read_text()) for p in paths]
    reports = [r for r in reports if r.get("task") == "t2m"]
    if not reports:
        raise UserError(f"{exp}/scores: no audiokit-score task=t2m report")
    out = exp / "t2m_table.md"
    out.write_text("\n".join(t2m_table(reports)) + "\n", encoding="utf-8")
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m audiokit.music.t2m_table EXP_DIR [NAME ...]", file=sys.stderr)
        return 2
    try:
        path = write_t2m_table(argv[0], argv[1:])
    except UserError as e:
        print(f"t2m_table: {e}", file=sys.stderr)
        return 1
    print(path.read_text(), end="")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
