"""Write docs/config.md, the config reference, from the YAML files under audiokit/conf.

    python docs/gen_config_reference.py            # rewrite docs/config.md
    python docs/gen_config_reference.py --check    # exit 1 if docs/config.md is out of date

Every group, every option (one YAML file) with its header comment, and every key it sets with
its value and inline comment, read straight from the files so the page stays true; a test
(tests/config/test_docs.py) fails when the committed page differs from what this writes.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "audiokit" / "conf"
OUT = REPO / "docs" / "config.md"
KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[\w./+-]+):(?P<value>.*)$")


def split_comment(text: str) -> tuple[str, str]:
    """(value, comment) of the text after a key's colon; a '#' inside quotes is no comment."""
    quote = None
    for i, ch in enumerate(text):
        if ch in "'\"":
            quote = None if quote == ch else (quote or ch)
        elif ch == "#" and quote is None and (i == 0 or text[i - 1].isspace()):
            return text[:i].strip(), text[i + 1:].strip()
    return text.strip(), ""


def header(lines: list[str]) -> str:
    """The file's leading comment block, without Hydra's '@package' line."""
    out = []
    for line in lines:
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if not text.startswith("@package"):
            out.append(text)
    return " ".join(out).strip()


def keys(lines: list[str]) -> list[tuple[str, str, str]]:
    """(dotted key, value, comment) of every key line; list items stay in their parent's value."""
    rows: list[tuple[str, str, str]] = []
    stack: list[tuple[int, str]] = []  # (indent, key) of the open parents
    in_defaults = False
    for line in lines:
        match = KEY_LINE.match(line)
        if line.startswith(" ") and line.lstrip().startswith("#") and rows and not in_defaults:
            key, value, comment = rows[-1]  # an indented comment line continues the last note
            rows[-1] = (key, value, f"{comment} {line.strip().lstrip('#').strip()}".strip())
            continue
        if not match or line.lstrip().startswith(("#", "-")):
            if rows and line.strip().startswith("- ") and not in_defaults:
                key, value, comment = rows[-1]
                item, note = split_comment(line.strip()[2:])
                value = f"{value} [{item}]" if value else f"[{item}]"
                rows[-1] = (key, value.replace("] [", ", "), comment or note)
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = ".".join([k for _, k in stack] + [match["key"]])
        value, comment = split_comment(match["value"])
        in_defaults = key == "defaults"
        stack.append((indent, match["key"]))
        if not in_defaults:
            rows.append((key, value, comment))
    # a parent key without a value of its own is listed only through its children
    parents = {k.rsplit(".", 1)[0] for k, _, _ in rows if "." in k}
    return [(k, v, c) for k, v, c in rows if v or c or k not in parents]


def defaults_list(lines: list[str]) -> list[str]:
    out, inside = [], False
    for line in lines:
        if line.startswith("defaults:"):
            inside = True
            continue
        if inside:
            if line.strip().startswith("- "):
                out.append(split_comment(line.strip()[2:])[0])
            elif line.strip() and not line.startswith(" "):
                break
    return out


def config_files() -> list[Path]:
    """The YAML files of the tree: those git tracks when in a checkout (files another change
    has not committed yet stay out), else every file on disk (an unpacked sdist)."""
    try:
        out = subprocess.run(["git", "ls-files", "--", "*.yaml"], cwd=CONF, check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return sorted(CONF.rglob("*.yaml"))
    return sorted(CONF / line for line in out.splitlines())


def cell(text: str) -> str:
    return text.replace("|", "\\|") if text else ""


def option_section(path: Path, title: str) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    out = [f"### `{title}`", ""]
    if header(lines):
        out += [header(lines), ""]
    defaults = defaults_list(lines)
    if defaults:
        out += ["Defaults: " + ", ".join(f"`{d}`" for d in defaults), ""]
    rows = keys(lines)
    if rows:
        out += ["| key | value | note |", "|---|---|---|"]
        out += [f"| `{k}` | `{cell(v)}` | {cell(c)} |" if v else f"| `{k}` | | {cell(c)} |"
                for k, v, c in rows]
        out.append("")
    return out


def render() -> str:
    out = [
        "# Config reference",
        "",
        "Generated by `python docs/gen_config_reference.py` from `audiokit/conf/` (do not edit",
        "by hand; a test checks that this page matches the files). `audiokit/conf/train.yaml`",
        "composes one option of each group; pick another with `group=option` on the command line",
        "(`model=ast`, `data/augment=speed`), set any key with `key=value`, and print the composed",
        "config with `audiokit-train experiment=... --cfg job`. Keys set by an experiment file",
        "are written with their full path (`# @package _global_`).",
        "",
        "Optional `local` group: `audiokit/conf/local/default.yaml` (untracked) or",
        "`local/default.yaml` in a folder added with `hydra.searchpath=[file:///abs/dir]` is",
        "composed after the experiment when present: machine settings (SLURM partition, data",
        "roots). Your own groups and experiments can live in that folder too.",
        "",
        "## Root: `train.yaml`",
        "",
    ]
    out += option_section(CONF / "train.yaml", "train.yaml")[2:]
    files = config_files()
    groups = sorted({p.parent.relative_to(CONF).as_posix() for p in files if p.parent != CONF})
    for group in groups:
        out += [f"## Group `{group}`", ""]
        for path in [p for p in files if p.parent == CONF / group]:
            out += option_section(path, f"{group}={path.stem}" if not group.startswith(
                "experiment") else f"experiment={path.relative_to(CONF / 'experiment').with_suffix('').as_posix()}")
    return "\n".join(out).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/config.md is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUT.is_file() or OUT.read_text(encoding="utf-8") != text:
            sys.exit("docs/config.md is out of date: run python docs/gen_config_reference.py")
        return
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
